/**
 * The scout's draft loop, framework-free (no Node or DOM types): it serves one verify stream
 * (one generation session of one oracle) with any `DraftEngine` — node-llama-cpp in the Node
 * scout, wllama or web-llm in the browser scout.
 *
 * Per session, two loops run:
 *  1. Reader: applies the oracle's frames. `context` moves the committed context (the chain
 *     survives when the oracle accepted along it, else a new chain starts); `draft-request`
 *     (re)starts drafting at the committed end; `verify-result` updates the acceptance stats.
 *  2. Drafter: while active, drafts along the chain in doubling batches (1, 1, 2, 4, ... up to
 *     `k`), up to `lookahead` tokens past the committed context, and sends each batch as a
 *     `draft` frame. Drafting continues while the oracle verifies (optimistically assuming
 *     acceptance), up to the lookahead. A batch in flight when its chain dies is aborted (the
 *     engine's signal), and one that finishes for a chain that changed is dropped.
 * Invariant: every sent frame continues `committed + chain` exactly as the oracle will check it
 * (`ChainMirror`), so an honest scout is never reported for out-of-order or stale drafts.
 */
import { ScoutChain } from '../../src/lib/protocol/mesh-chain.js';
import {
  decode,
  encode,
  MeshProtocolError,
  OracleFrameSchema,
  type ScoutFrame
} from '../../src/lib/protocol/mesh.js';
import type { TokenizerSketch } from '../../src/lib/protocol/tokenizer-sketch.js';

/** A draft model the scout runs. Greedy (deterministic) drafting is expected. */
export interface DraftEngine {
  /** Label for logs and stats, e.g. `llama.cpp:draft-q8` or `wllama:tiny`. */
  readonly name: string;
  /**
   * Fingerprint of the vocabulary whose ids the engine drafts in. Must equal the oracle's
   * target tokenizer fingerprint, or the handshake is refused, unless `tokenizerSketch` is set.
   */
  readonly tokenizerFingerprint: string;
  /**
   * The engine's id → text table in short, sent in the hello when set: an oracle judges the
   * tokenizer by it instead of the fingerprint (src/lib/protocol/tokenizer-sketch.ts). Set by
   * engines whose tokenizer is not the target's GGUF file (web-llm); default none.
   */
  readonly tokenizerSketch?: TokenizerSketch;
  /** Model ids announced in the hello. */
  readonly models?: readonly string[];
  /**
   * Drafts up to `k` tokens continuing `context` (token ids, prompt included). Called with
   * contexts that mostly extend the previous one, so engines should reuse their KV cache.
   * Must honour `signal`. May return fewer than k tokens (e.g. at end of sequence).
   */
  draft(context: readonly number[], k: number, signal?: AbortSignal): Promise<number[]>;
  /** Measured draft speed, tokens/s; optional. */
  tokensPerSecond?(): number;
  /** Frees the model. */
  dispose(): Promise<void>;
}

/** One framed, ordered, bidirectional channel (a length-prefixed libp2p stream in practice). */
export interface FrameChannel {
  /** Next frame, or null when the remote closed its side. */
  read(signal?: AbortSignal): Promise<Uint8Array | null>;
  write(frames: Uint8Array[]): Promise<void>;
  close(): Promise<void>;
  abort(err: Error): void;
}

/** Scout-wide counters (shared by all sessions). */
export interface ScoutStats {
  sessions: number;
  activeSessions: number;
  /** Draft tokens sent. */
  drafted: number;
  /** Draft tokens the oracles' verify results reported as accepted. */
  accepted: number;
  /** Draft tokens the oracles verified (accepted or rejected). */
  verified: number;
  engineErrors: number;
  protocolErrors: number;
}

export function createScoutStats(): ScoutStats {
  return {
    sessions: 0,
    activeSessions: 0,
    drafted: 0,
    accepted: 0,
    verified: 0,
    engineErrors: 0,
    protocolErrors: 0
  };
}

export type ScoutSessionEvent =
  | { type: 'session:open'; sessionId: string }
  | { type: 'session:close'; sessionId: string; reason: string }
  | { type: 'engine:error'; sessionId: string; message: string }
  | { type: 'protocol:error'; sessionId: string; reason: string; message: string };

export interface ScoutSessionOptions {
  channel: FrameChannel;
  engine: DraftEngine;
  stats: ScoutStats;
  signal?: AbortSignal;
  onEvent?(event: ScoutSessionEvent): void;
}

/**
 * Wraps an engine so concurrent sessions take turns (one model, one KV cache). Each call waits
 * for the previous one; an aborted waiter gives up its turn.
 */
export function serializeEngine(engine: DraftEngine): DraftEngine {
  let tail: Promise<unknown> = Promise.resolve();
  return {
    name: engine.name,
    tokenizerFingerprint: engine.tokenizerFingerprint,
    tokenizerSketch: engine.tokenizerSketch,
    models: engine.models,
    draft(context, k, signal) {
      const run = tail.then(() => {
        if (signal?.aborted) throw signal.reason ?? new Error('aborted');
        return engine.draft(context, k, signal);
      });
      tail = run.catch(() => undefined);
      return run;
    },
    tokensPerSecond: engine.tokensPerSecond ? () => engine.tokensPerSecond!() : undefined,
    dispose: () => engine.dispose()
  };
}

/**
 * Wraps an engine so it drafts uniformly random token ids below `maxId`, at the engine's own
 * pace (the `--lie` mode of scouts, for tests and demos: acceptance drops, output never changes).
 */
export function lyingEngine(
  engine: DraftEngine,
  maxId: number,
  random: () => number = Math.random
): DraftEngine {
  return {
    name: `${engine.name}+lie`,
    tokenizerFingerprint: engine.tokenizerFingerprint,
    tokenizerSketch: engine.tokenizerSketch,
    models: engine.models,
    async draft(context, k, signal) {
      const honest = await engine.draft(context, k, signal);
      return honest.map(() => Math.floor(random() * maxId));
    },
    tokensPerSecond: engine.tokensPerSecond ? () => engine.tokensPerSecond!() : undefined,
    dispose: () => engine.dispose()
  };
}

/**
 * Serves one verify stream until the oracle closes it, the channel fails, or `signal` aborts.
 * A frame the protocol rejects is answered with an `error` frame and ends the session.
 * Resolves with the reason the session ended; never rejects.
 */
export async function runScoutSession(options: ScoutSessionOptions): Promise<{ reason: string }> {
  const { channel, engine, stats } = options;
  const chain = new ScoutChain();
  const controller = new AbortController();
  const abortFromOutside = () => controller.abort();
  options.signal?.addEventListener('abort', abortFromOutside, { once: true });
  let sessionId = '?';
  let k = 1;
  let lookahead = 1;
  let isOpen = false;
  let isActive = false;
  /** The oracle asked for drafts in this session (a draft-request arrived). */
  let wasRequested = false;
  /** Aborted when the chain being drafted dies (a context that does not run along it). */
  let chainAbort = new AbortController();
  let wake: (() => void) | null = null;
  const poke = () => {
    const w = wake;
    wake = null;
    w?.();
  };
  const send = (frame: ScoutFrame) => channel.write([encode(frame)]);

  stats.sessions += 1;
  stats.activeSessions += 1;

  // 2. Drafter.
  const drafter = (async () => {
    while (!controller.signal.aborted) {
      const room = chain.committed.length + lookahead - chain.frontier;
      if (!isActive || room <= 0) {
        await new Promise<void>((resolve) => {
          const onAbort = () => resolve();
          wake = () => {
            controller.signal.removeEventListener('abort', onAbort);
            resolve();
          };
          controller.signal.addEventListener('abort', onAbort, { once: true });
        });
        continue;
      }
      const epoch = chain.epoch;
      const chainSignal = chainAbort.signal;
      const view = chain.view();
      const batch = Math.max(1, Math.min(k, room, chain.chain.length));
      let tokens: number[];
      try {
        // Batches double along a chain (1, 1, 2, 4, ... k): the first token of a fresh chain
        // reaches the oracle after one draft step, the rest follow in larger, cheaper frames.
        tokens = await engine.draft(view, batch, AbortSignal.any([controller.signal, chainSignal]));
      } catch (err) {
        if (controller.signal.aborted) break;
        // The chain died under this batch and the engine stopped: not an engine error.
        const isAbandoned =
          chainSignal.aborted &&
          (err === chainSignal.reason || (err as Error | undefined)?.name === 'AbortError');
        if (isAbandoned) continue;
        stats.engineErrors += 1;
        options.onEvent?.({
          type: 'engine:error',
          sessionId,
          message: (err as Error).message ?? String(err)
        });
        // Keep the session: wait for the next context (a new view) before drafting again.
        isActive = false;
        continue;
      }
      // The chain moved while drafting: these tokens continue a view that no longer exists.
      if (chain.epoch !== epoch || chain.frontier !== view.length) continue;
      if (tokens.length === 0) {
        isActive = false;
        continue;
      }
      const frame = chain.extend(tokens.slice(0, batch));
      if (!frame) continue;
      stats.drafted += frame.tokens.length;
      const tps = engine.tokensPerSecond?.();
      await send({
        type: 'draft',
        ...frame,
        ...(tps !== undefined && Number.isFinite(tps) ? { tokensPerSecond: tps } : {})
      });
    }
  })().catch(() => controller.abort());

  // 1. Reader.
  let reason = 'closed';
  try {
    for (;;) {
      const bytes = await channel.read(controller.signal);
      if (bytes === null) {
        reason = 'oracle closed the stream';
        break;
      }
      const frame = decode(OracleFrameSchema, bytes);
      if (frame.type === 'open') {
        if (isOpen) throw new MeshProtocolError('out-of-order', 'second open on one stream');
        isOpen = true;
        sessionId = frame.sessionId;
        k = frame.k;
        lookahead = frame.lookahead;
        options.onEvent?.({ type: 'session:open', sessionId });
        continue;
      }
      if (!isOpen) throw new MeshProtocolError('out-of-order', `${frame.type} before open`);
      if (frame.type === 'context') {
        // A context that leaves the chain kills it: the batch in flight is abandoned at once
        // (rejected speculation costs the scout at most the token step in progress), so the
        // new chain's first token is not queued behind a batch nobody will verify.
        if (!chain.applyContext(frame)) {
          chainAbort.abort();
          chainAbort = new AbortController();
        }
        // A new view: resume drafting (also after an engine error or an empty draft).
        if (wasRequested) isActive = true;
        poke();
      } else if (frame.type === 'draft-request') {
        if (frame.position !== chain.committed.length) {
          throw new MeshProtocolError(
            'stale-position',
            `draft request at ${frame.position}, committed end is ${chain.committed.length}`
          );
        }
        k = frame.k;
        lookahead = frame.lookahead;
        wasRequested = true;
        isActive = true;
        poke();
      } else if (frame.type === 'verify-result') {
        stats.verified += frame.drafted;
        stats.accepted += Math.min(frame.accepted, frame.drafted);
      } else if (frame.type === 'close') {
        reason = `oracle closed: ${frame.reason}`;
        break;
      } else {
        reason = `oracle error ${frame.reason}: ${frame.message}`;
        break;
      }
    }
  } catch (err) {
    if (err instanceof MeshProtocolError) {
      stats.protocolErrors += 1;
      reason = `protocol error: ${err.reason}`;
      options.onEvent?.({
        type: 'protocol:error',
        sessionId,
        reason: err.reason,
        message: err.message
      });
      await send({ type: 'error', reason: err.reason, message: err.message.slice(0, 500) }).catch(
        () => undefined
      );
      channel.abort(err);
    } else if (!controller.signal.aborted) {
      reason = `stream ended: ${(err as Error).message}`;
    } else {
      reason = 'scout stopped';
    }
  } finally {
    controller.abort();
    poke();
    options.signal?.removeEventListener('abort', abortFromOutside);
    await drafter;
    await channel.close().catch(() => undefined);
    stats.activeSessions -= 1;
    options.onEvent?.({ type: 'session:close', sessionId, reason });
  }
  return { reason };
}
