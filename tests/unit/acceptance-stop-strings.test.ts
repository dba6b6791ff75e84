/**
 * The engine's streamed text: deltas never have to be taken back, hold back incomplete UTF-8 and
 * possible stop-string starts, and end exactly before the stop string that completes first,
 * however the text is split into chunks (tokens).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TextStreamer } from '../../native-oracle/engine/text-streamer.js';

/** What a character-by-character stream keeps: text before the first stop string to complete. */
function reference(full: string, stops: string[]): string {
  let start = -1;
  let end = Infinity;
  for (const s of stops) {
    const at = full.indexOf(s);
    if (at >= 0 && (at + s.length < end || (at + s.length === end && at < start))) {
      start = at;
      end = at + s.length;
    }
  }
  return start >= 0 ? full.slice(0, start) : full;
}

function stream(full: string, stops: string[], cuts: number[]) {
  const ends = [...new Set(cuts.map((c) => Math.min(c, full.length))), full.length].sort(
    (a, b) => a - b
  );
  const streamer = new TextStreamer(stops);
  const deltas: string[] = [];
  for (const end of ends) {
    const delta = streamer.update(full.slice(0, end));
    deltas.push(delta.text);
    if (delta.isStopped) break;
  }
  const done = streamer.finish(full);
  deltas.push(done.tail);
  return { streamed: deltas.join(''), text: done.text, deltas };
}

describe('streamed text and stop strings', () => {
  it('equals the character-by-character result for any chunking (property)', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: fc.constantFrom('a', 'b', 'c', ' '), maxLength: 40 }),
        fc.array(
          fc.string({ unit: fc.constantFrom('a', 'b', 'c', ' '), minLength: 1, maxLength: 4 }),
          { maxLength: 3 }
        ),
        fc.array(fc.integer({ min: 1, max: 40 }), { maxLength: 10 }),
        (full, stops, cuts) => {
          const { streamed, text } = stream(full, stops, cuts);
          const expected = reference(full, stops);
          expect(text).toBe(expected);
          expect(streamed).toBe(expected);
        }
      ),
      { numRuns: 3000 }
    );
  });

  it('holds back a possible stop-string start until it is decided', () => {
    const streamer = new TextStreamer(['END']);
    expect(streamer.update('hello E')).toEqual({ text: 'hello ', isStopped: false });
    expect(streamer.update('hello EN')).toEqual({ text: '', isStopped: false });
    expect(streamer.update('hello ENd')).toEqual({ text: 'ENd', isStopped: false });
    expect(streamer.update('hello ENd END more')).toEqual({ text: ' ', isStopped: true });
    expect(streamer.finish('hello ENd END more')).toEqual({ text: 'hello ENd ', tail: '' });
  });

  it('holds back an incomplete UTF-8 character (U+FFFD at the end) until it completes', () => {
    const streamer = new TextStreamer([]);
    expect(streamer.update('caf\uFFFD')).toEqual({ text: 'caf', isStopped: false });
    expect(streamer.update('café')).toEqual({ text: 'é', isStopped: false });
  });
});
