/**
 * Streamed output text, framework-free (imports nothing; no llama.cpp): turns the growing
 * detokenized text of a generation into deltas that never have to be taken back, and finds where
 * the output ends at a stop string.
 *
 * The engine detokenizes all generated tokens after each round and passes the whole text to
 * `update()`. Two things are held back until they are decided:
 * - an incomplete UTF-8 character: a token may end in the middle of a multi-byte character,
 *   which the detokenizer renders as U+FFFD at the end of the text;
 * - a tail that could be the start of a stop string.
 * Invariant: no stop string starts before the emitted length (the held-back tails guarantee it),
 * so the result does not depend on how tokens group characters.
 */

/** U+FFFD REPLACEMENT CHARACTER: what the detokenizer shows for a partial UTF-8 sequence. */
const REPLACEMENT_CHARACTER = '\uFFFD';

/** One step of the stream: the new text to emit and whether a stop string has been reached. */
export interface TextDelta {
  text: string;
  isStopped: boolean;
}

/**
 * Holds back undecided text and cuts at the first stop string. Create one per generation with
 * its stop strings (empty strings are the caller's to drop); call `update()` after each round and
 * `finish()` once at the end.
 */
export class TextStreamer {
  private emitted = 0;
  private stoppedAt = -1;
  constructor(private readonly stops: readonly string[]) {}

  /**
   * Called with the full text generated so far (it only grows). Returns the text that is safe to
   * emit now; once `isStopped` is true, later calls return no text.
   */
  update(full: string): TextDelta {
    if (this.stoppedAt >= 0) return { text: '', isStopped: true };
    this.stoppedAt = this.firstStop(full);
    if (this.stoppedAt >= 0) {
      const text = full.slice(this.emitted, this.stoppedAt);
      this.emitted = this.stoppedAt;
      return { text, isStopped: true };
    }
    let safe = full.length;
    while (safe > this.emitted && full[safe - 1] === REPLACEMENT_CHARACTER) safe--;
    let limit = safe;
    for (const stop of this.stops) {
      for (let n = Math.min(stop.length - 1, safe - this.emitted); n > 0; n--) {
        if (full.slice(safe - n, safe) === stop.slice(0, n)) {
          limit = Math.min(limit, safe - n);
          break;
        }
      }
    }
    const text = full.slice(this.emitted, limit);
    this.emitted = limit;
    return { text, isStopped: false };
  }

  /**
   * Called once when generation ends, with the final full text. Returns the whole output (up to
   * the stop string, if one occurs) and the `tail` that was held back and still has to be
   * emitted; a partial character at the very end is emitted as it is.
   */
  finish(full: string): { text: string; tail: string } {
    if (this.stoppedAt < 0) this.stoppedAt = this.firstStop(full);
    const end = this.stoppedAt >= 0 ? this.stoppedAt : full.length;
    const tail = full.slice(this.emitted, Math.max(this.emitted, end));
    this.emitted = Math.max(this.emitted, end);
    return { text: full.slice(0, end), tail };
  }

  /**
   * Start of the stop string that completes first (smallest end; then smallest start), as a
   * character-by-character stream would see it. -1 when none occurs.
   */
  private firstStop(full: string): number {
    let bestStart = -1;
    let bestEnd = Infinity;
    for (const stop of this.stops) {
      const at = full.indexOf(stop, this.emitted);
      if (at < 0) continue;
      const end = at + stop.length;
      if (end < bestEnd || (end === bestEnd && at < bestStart)) {
        bestEnd = end;
        bestStart = at;
      }
    }
    return bestStart;
  }
}
