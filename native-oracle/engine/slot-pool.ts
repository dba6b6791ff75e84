/**
 * The engine's pool of llama.cpp sequences, one per generation that may run at once. A free
 * sequence keeps its KV cache, so the pool hands out the one whose cached tokens share the
 * longest prefix with the new prompt (a follow-up chat turn reuses its conversation's cache).
 */
import { EngineBusyError } from './errors.js';
import { sharedPrefix } from './shared-prefix.js';

/** What the pool needs of a sequence: the tokens in its KV cache (node-llama-cpp's shape). */
interface CachedSequence {
  readonly contextTokens: readonly number[];
}

/** A sequence taken from the pool for one generation. */
export interface Lease<S extends CachedSequence> {
  readonly sequence: S;
  /** Aborted by `abortAll()` (engine dispose); the generation stops at its next check. */
  readonly signal: AbortSignal;
  /** Returns the sequence to the pool; later calls do nothing. */
  release(): void;
}

interface Slot<S> {
  sequence: S;
  controller: AbortController | null;
}

/** Fixed set of sequences, created once with the context and never resized. */
export class SlotPool<S extends CachedSequence> {
  private readonly free: Array<Slot<S>>;
  private readonly active = new Set<Slot<S>>();
  private readonly idle: Array<() => void> = [];

  constructor(sequences: readonly S[]) {
    this.free = sequences.map((sequence) => ({ sequence, controller: null }));
  }

  /** Number of sequences in the pool (free or leased). */
  get size(): number {
    return this.free.length + this.active.size;
  }

  /** True while at least one sequence is free. */
  get hasFree(): boolean {
    return this.free.length > 0;
  }

  /**
   * Called by `generate()` to take a sequence: the free one whose cache shares the longest
   * prefix with `prompt` (the first free one when `prompt` is null). Throws EngineBusyError when
   * none is free.
   */
  acquire(prompt: readonly number[] | null): Lease<S> {
    if (this.free.length === 0) throw new EngineBusyError(this.size);
    let best = 0;
    if (prompt) {
      let bestShared = -1;
      this.free.forEach((candidate, i) => {
        const shared = sharedPrefix(candidate.sequence.contextTokens, prompt);
        if (shared > bestShared) {
          bestShared = shared;
          best = i;
        }
      });
    }
    const [slot] = this.free.splice(best, 1);
    const controller = new AbortController();
    slot.controller = controller;
    this.active.add(slot);
    return {
      sequence: slot.sequence,
      signal: controller.signal,
      release: () => this.release(slot)
    };
  }

  /** Called by the engine's dispose(): aborts every leased sequence's signal with `reason`. */
  abortAll(reason: unknown): void {
    for (const slot of this.active) slot.controller?.abort(reason);
  }

  /**
   * Resolves when no sequence is leased, or after `timeoutMs` (a consumer that stopped iterating
   * without return() never reaches an abort check, so dispose() must not wait for it forever).
   */
  async waitIdle(timeoutMs: number): Promise<void> {
    if (this.active.size === 0) return;
    await Promise.race([
      new Promise<void>((resolve) => this.idle.push(resolve)),
      new Promise<void>((resolve) => setTimeout(resolve, timeoutMs).unref())
    ]);
  }

  private release(slot: Slot<S>): void {
    if (!this.active.delete(slot)) return;
    slot.controller = null;
    this.free.push(slot);
    if (this.active.size === 0) for (const wake of this.idle.splice(0)) wake();
  }
}
