import { describe, expect, it } from 'vitest';
import { ChainMirror } from '../../src/lib/protocol/mesh-chain.js';
import {
  decode,
  encode,
  ScoutFrameSchema,
  type OracleFrame,
  type ScoutFrame
} from '../../src/lib/protocol/mesh.js';
import {
  createScoutStats,
  lyingEngine,
  runScoutSession,
  type DraftEngine,
  type FrameChannel
} from '../../workers/scout/core.js';

/** In-memory duplex: what the test writes, the scout reads, and vice versa. */
function channelPair() {
  const toScout: Array<Uint8Array | null> = [];
  const toOracle: ScoutFrame[] = [];
  let wakeScout: (() => void) | null = null;
  let wakeOracle: (() => void) | null = null;
  const scout: FrameChannel = {
    async read() {
      while (toScout.length === 0) await new Promise<void>((r) => (wakeScout = r));
      return toScout.shift()!;
    },
    async write(frames) {
      for (const f of frames) toOracle.push(decode(ScoutFrameSchema, f));
      wakeOracle?.();
    },
    async close() {},
    abort() {}
  };
  return {
    scout,
    sent: toOracle,
    send(frame: OracleFrame | Uint8Array | null) {
      toScout.push(frame === null ? null : frame instanceof Uint8Array ? frame : encode(frame));
      wakeScout?.();
    },
    /** Resolves once the scout has sent at least n frames. */
    async waitFrames(n: number) {
      while (toOracle.length < n) await new Promise<void>((r) => (wakeOracle = r));
    }
  };
}

/** A deterministic toy engine (mock: protocol logic needs no model): next token = (last + 1) % 50. */
const countingEngine: DraftEngine = {
  name: 'counting',
  tokenizerFingerprint: 'fp',
  async draft(context, k) {
    const out: number[] = [];
    let last = context[context.length - 1] ?? 0;
    for (let i = 0; i < k; i++) out.push((last = (last + 1) % 50));
    return out;
  },
  async dispose() {}
};

describe('scout core session (mock: deterministic toy engine, in-memory channel)', () => {
  it('drafts a chain ahead within the lookahead and every frame passes the oracle mirror', async () => {
    const pair = channelPair();
    const stats = createScoutStats();
    const done = runScoutSession({ channel: pair.scout, engine: countingEngine, stats });
    const mirror = new ChainMirror(12);
    pair.send({ type: 'open', sessionId: 's1', k: 4, lookahead: 12 });
    pair.send({ type: 'draft-request', position: 0, k: 4, lookahead: 12 });
    pair.send({ type: 'context', base: 0, tokens: [7, 8, 9] });
    mirror.noteCommittedEnd(3);
    // Batches double along the chain (1, 1, 2, 4, 4) until the lookahead of 12 is full.
    await pair.waitFrames(5);
    for (const f of pair.sent) if (f.type === 'draft') mirror.accept(f);
    expect(pair.sent.map((f) => (f.type === 'draft' ? f.tokens.length : 0))).toEqual([
      1, 1, 2, 4, 4
    ]);
    expect(mirror.lookup([7, 8, 9], 8).tokens).toEqual([10, 11, 12, 13, 14, 15, 16, 17]);
    // The oracle accepts two drafts and corrects the third: a new chain from the corrected end.
    pair.send({ type: 'verify-result', position: 3, drafted: 4, accepted: 2, correction: 40 });
    pair.send({ type: 'context', base: 3, tokens: [10, 11, 40] });
    mirror.noteCommittedEnd(6);
    let seen = pair.sent.length;
    while (mirror.lookup([7, 8, 9, 10, 11, 40], 4).tokens.length < 4) {
      await pair.waitFrames(seen + 1);
      for (const f of pair.sent.slice(seen)) if (f.type === 'draft') mirror.accept(f);
      seen = pair.sent.length;
    }
    expect(mirror.lookup([7, 8, 9, 10, 11, 40], 4).tokens).toEqual([41, 42, 43, 44]);
    expect(stats).toMatchObject({ accepted: 2, verified: 4, protocolErrors: 0 });
    pair.send({ type: 'close', reason: 'done' });
    expect((await done).reason).toBe('oracle closed: done');
  });

  it.each([
    ['a malformed frame', new TextEncoder().encode('{"type":"context","base":-1}'), 'malformed'],
    [
      'a draft request for a stale position',
      encode({ type: 'draft-request', position: 9, k: 4, lookahead: 8 }),
      'stale-position'
    ],
    [
      'a context past the committed end',
      encode({ type: 'context', base: 5, tokens: [1] }),
      'out-of-order'
    ]
  ])('answers %s with an error frame and ends the session', async (_name, bytes, reason) => {
    const pair = channelPair();
    const stats = createScoutStats();
    const done = runScoutSession({ channel: pair.scout, engine: countingEngine, stats });
    pair.send({ type: 'open', sessionId: 's2', k: 4, lookahead: 8 });
    pair.send(bytes);
    expect((await done).reason).toBe(`protocol error: ${reason}`);
    expect(pair.sent.at(-1)).toMatchObject({ type: 'error', reason });
    expect(stats.protocolErrors).toBe(1);
  });

  it('keeps serving after an engine error and drafts again on the next context', async () => {
    let calls = 0;
    const flaky: DraftEngine = {
      ...countingEngine,
      async draft(context, k) {
        calls += 1;
        if (calls === 1) throw new Error('invalid UTF-8 byte');
        return countingEngine.draft(context, k);
      }
    };
    let onError!: () => void;
    const engineFailed = new Promise<void>((r) => (onError = r));
    const pair = channelPair();
    const done = runScoutSession({
      channel: pair.scout,
      engine: flaky,
      stats: createScoutStats(),
      onEvent: (e) => e.type === 'engine:error' && onError()
    });
    pair.send({ type: 'open', sessionId: 's3', k: 2, lookahead: 2 });
    pair.send({ type: 'draft-request', position: 0, k: 2, lookahead: 2 });
    pair.send({ type: 'context', base: 0, tokens: [1] });
    await engineFailed;
    expect(pair.sent).toHaveLength(0);
    pair.send({ type: 'context', base: 1, tokens: [5] });
    await pair.waitFrames(1);
    expect(pair.sent[0]).toMatchObject({ type: 'draft', position: 2, tokens: [6] });
    pair.send(null);
    expect((await done).reason).toBe('oracle closed the stream');
  });

  it('drafts ahead while the oracle verifies, and abandons a batch at once when its chain dies', async () => {
    // An engine whose calls finish only when the test says, or when their signal aborts.
    const calls: Array<{
      view: number[];
      k: number;
      signal: AbortSignal;
      finish(tokens: number[]): void;
    }> = [];
    let onCall: (() => void) | null = null;
    const held: DraftEngine = {
      ...countingEngine,
      draft(context, k, signal) {
        return new Promise<number[]>((resolve, reject) => {
          signal?.addEventListener('abort', () => reject(signal.reason), { once: true });
          calls.push({ view: [...context], k, signal: signal!, finish: resolve });
          onCall?.();
        });
      }
    };
    const nextCall = async (n: number) => {
      while (calls.length < n) await new Promise<void>((r) => (onCall = r));
      return calls[n - 1];
    };
    const pair = channelPair();
    const stats = createScoutStats();
    const done = runScoutSession({ channel: pair.scout, engine: held, stats });
    // The oracle's order: the context, then the request.
    pair.send({ type: 'open', sessionId: 's4', k: 2, lookahead: 4 });
    pair.send({ type: 'context', base: 0, tokens: [7, 8, 9] });
    pair.send({ type: 'draft-request', position: 3, k: 2, lookahead: 4 });
    (await nextCall(1)).finish([10]);
    (await nextCall(2)).finish([11]);
    // The oracle took [10, 11] for a verify pass; no context has come back, yet the scout goes
    // on drafting the chain optimistically (lookahead 4 > k 2).
    const ahead = await nextCall(3);
    expect(ahead.view).toEqual([7, 8, 9, 10, 11]);
    // The verify rejects 11 and commits the correction 40: the chain is dead mid-batch.
    pair.send({ type: 'verify-result', position: 3, drafted: 2, accepted: 1, correction: 40 });
    pair.send({ type: 'context', base: 3, tokens: [10, 40] });
    const fresh = await nextCall(4);
    expect(ahead.signal.aborted).toBe(true);
    expect(fresh.view).toEqual([7, 8, 9, 10, 40]);
    fresh.finish([41]);
    await pair.waitFrames(3);
    expect(pair.sent[2]).toMatchObject({ type: 'draft', position: 5, tokens: [41] });
    // An abandoned batch is not an engine error.
    expect(stats.engineErrors).toBe(0);
    pair.send({ type: 'close', reason: 'done' });
    expect((await done).reason).toBe('oracle closed: done');
  }, 10_000);

  it('a lying engine keeps the pace and length but not the tokens', async () => {
    let seed = 1;
    const liar = lyingEngine(
      countingEngine,
      256,
      () => (seed = (seed * 16807) % 2147483647) / 2147483647
    );
    const drafted = await liar.draft([1, 2, 3], 6);
    expect(drafted).toHaveLength(6);
    expect(drafted).not.toEqual(await countingEngine.draft([1, 2, 3], 6));
    expect(drafted.every((t) => t >= 0 && t < 256)).toBe(true);
  });
});
