/**
 * A draft source backed by a local draft model (the generated draft, or any GGUF sharing the
 * target's tokenizer), run with node-llama-cpp. It keeps a small pool of sequences and reuses each
 * one's KV cache across rounds: only the tokens the target committed since the last call are
 * evaluated, and the draft's own rejected guesses are erased first.
 *
 * Greedy requests get argmax drafts. Sampling requests (`sampling` set) get drafts sampled from
 * the draft model's own tempered distribution (returned as `probs`), each drawn by inverse CDF
 * over ascending token ids with the target's own uniform for that position when the request
 * brings `uniforms`: the draft then proposes exactly what the target will draw wherever the two
 * distributions agree, which is what the target's position-keyed acceptance rewards.
 */
import { type LlamaContextSequence, type Token } from 'node-llama-cpp';
import { createLogger } from '../../src/lib/server/log.js';
import { createSeededRng, sampleFrom, type Rng } from './acceptance.js';
import { EngineDisposedError, GenerationAbortedError } from './errors.js';
import type { DraftProposal, DraftSource, GpuChoice } from './index.js';
import { loadModel } from './load-model.js';
import { sharedPrefix } from './shared-prefix.js';

const log = createLogger('shard:oracle:draft');

/** Probabilities below this are dropped from returned draft distributions (then renormalised). */
const MIN_REPORTED_PROBABILITY = 1e-6;

export interface DraftModelSourceOptions {
  modelPath: string;
  /** llama.cpp threads for the draft model. Required: defaults collapse on small machines. */
  threads: number;
  /** Tokens per sequence. Default 4096. */
  contextSize?: number;
  /** Concurrent drafting sequences. Default 2. */
  sequences?: number;
  /** Label in stats. Default 'draft-model'. */
  name?: string;
  /** llama.cpp backend (see TargetEngineOptions.gpu). Default `cpu`. */
  gpu?: GpuChoice;
  /** Seed of the draft's sampler when a request brings no seed of its own. Default 1. */
  seed?: number;
}

export interface DraftModelSource extends DraftSource {
  readonly vocabularySize: number;
  /** Frees the draft model; pending and later draft() calls reject with EngineDisposedError. */
  dispose(): Promise<void>;
}

/** Loads the draft model and returns a DraftSource. Throws ModelLoadError. */
export async function createDraftModelSource(
  options: DraftModelSourceOptions
): Promise<DraftModelSource> {
  const sequenceCount = Math.max(1, options.sequences ?? 2);
  const {
    llama: loadedLlama,
    model: loadedModel,
    context
  } = await loadModel({
    modelPath: options.modelPath,
    threads: options.threads,
    contextSize: options.contextSize ?? 4096,
    sequences: sequenceCount,
    gpu: options.gpu
  });
  const vocabularySize = loadedModel.fileInfo.metadata.tokenizer.ggml.tokens.length;
  const free: LlamaContextSequence[] = Array.from({ length: sequenceCount }, () =>
    context.getSequence()
  );
  const waiters: Array<{ resolve: (s: LlamaContextSequence) => void; reject: (e: Error) => void }> =
    [];
  const rng: Rng = createSeededRng(options.seed ?? 1);
  let isDisposed = false;

  const acquire = async (
    context: readonly number[],
    signal: AbortSignal
  ): Promise<LlamaContextSequence> => {
    if (free.length > 0) {
      // Prefer the sequence whose cached tokens share the longest prefix with this context.
      let bestIndex = 0;
      let bestShared = -1;
      free.forEach((s, i) => {
        const shared = sharedPrefix(s.contextTokens, context);
        if (shared > bestShared) {
          bestShared = shared;
          bestIndex = i;
        }
      });
      return free.splice(bestIndex, 1)[0];
    }
    return new Promise((resolve, reject) => {
      const waiter = {
        resolve: (s: LlamaContextSequence) => {
          signal.removeEventListener('abort', onAbort);
          resolve(s);
        },
        reject
      };
      const onAbort = () => {
        const at = waiters.indexOf(waiter);
        if (at >= 0) waiters.splice(at, 1);
        reject(new GenerationAbortedError({ cause: signal.reason }));
      };
      if (signal.aborted) return onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
      waiters.push(waiter);
    });
  };
  const release = (s: LlamaContextSequence) => {
    const next = waiters.shift();
    if (next) next.resolve(s);
    else free.push(s);
  };

  return {
    name: options.name ?? 'draft-model',
    vocabularySize,
    async draft({ context: committed, k, signal, sampling }): Promise<DraftProposal | null> {
      if (isDisposed) throw new EngineDisposedError('draft model source');
      if (k <= 0 || committed.length === 0) return null;
      const sequence = await acquire(committed, signal);
      const random = sampling?.seed !== undefined ? createSeededRng(sampling.seed) : rng;
      try {
        // 1. Align the KV cache with committed[0..n-1): keep the shared prefix, erase the rest.
        const n = committed.length;
        let keep = Math.min(sharedPrefix(sequence.contextTokens, committed), n - 1);
        if (keep < sequence.nextTokenIndex) {
          await sequence.eraseContextTokenRanges([{ start: keep, end: sequence.nextTokenIndex }]);
          keep = sequence.nextTokenIndex;
        }
        // Invariant: the cache holds exactly committed[0..keep).
        let input = committed.slice(keep) as Token[];
        const tokens: number[] = [];
        const probs: Array<Array<[number, number]>> = [];
        // 2. Draft k tokens, one evaluation each (the first also catches up on new context).
        for (let i = 0; i < k; i++) {
          if (signal.aborted) throw new GenerationAbortedError({ cause: signal.reason });
          const last = input.length - 1;
          const results = await sequence.controlledEvaluate(
            input.map((t, j) =>
              j === last
                ? [
                    t,
                    sampling && sampling.temperature > 0
                      ? {
                          generateNext: {
                            probabilities: true,
                            // topK 0 = whole vocabulary (node-llama-cpp defaults to 40).
                            options: {
                              temperature: sampling.temperature,
                              topP: sampling.topP,
                              topK: 0,
                              minP: 0
                            }
                          }
                        }
                      : { generateNext: { token: true, options: { temperature: 0 } } }
                  ]
                : t
            )
          );
          const next = results[last]?.next;
          let token: number | undefined;
          if (sampling && sampling.temperature > 0) {
            const q = trimDistribution(next?.probabilities);
            if (q.length === 0) break;
            const u = sampling.uniforms?.[i];
            token = u === undefined ? sampleFrom(q, random) : inverseCdfByTokenId(q, u);
            probs.push(q);
          } else {
            token = next?.token ?? undefined;
          }
          if (token === undefined || token === null || loadedModel.isEogToken(token as Token))
            break;
          tokens.push(token);
          input = [token as Token];
        }
        if (tokens.length === 0) return null;
        return sampling && sampling.temperature > 0
          ? { tokens, probs: probs.slice(0, tokens.length) }
          : { tokens };
      } finally {
        release(sequence);
      }
    },
    async dispose() {
      if (isDisposed) return;
      isDisposed = true;
      for (const waiter of waiters.splice(0))
        waiter.reject(new EngineDisposedError('draft model source'));
      try {
        await context.dispose();
        await loadedModel.dispose();
        await loadedLlama.dispose();
      } catch (err) {
        log.warn('draft model dispose failed', { error: err });
      }
    }
  };
}

/** The token whose interval over ascending token ids holds `u` (the target's own rule). */
function inverseCdfByTokenId(q: ReadonlyArray<readonly [number, number]>, u: number): number {
  const byId = [...q].sort((a, b) => a[0] - b[0]);
  let rest = u;
  for (const [t, p] of byId) {
    rest -= p;
    if (rest < 0) return t;
  }
  return byId[byId.length - 1][0];
}

/** Drops negligible probabilities and renormalises, so the sampled token and q agree exactly. */
function trimDistribution(probabilities: Map<number, number> | undefined): Array<[number, number]> {
  if (!probabilities) return [];
  const kept: Array<[number, number]> = [];
  let total = 0;
  for (const [t, p] of probabilities) {
    if (p >= MIN_REPORTED_PROBABILITY) {
      kept.push([t, p]);
      total += p;
    }
  }
  return total > 0 ? kept.map(([t, p]) => [t, p / total]) : [];
}
