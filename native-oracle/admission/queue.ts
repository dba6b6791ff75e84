/**
 * Admission control for generations: at most `maxConcurrent` run at once (the engine's llama.cpp
 * sequences), the rest wait in a bounded FIFO queue. Strict FIFO with slot hand-off means a
 * newcomer never overtakes a waiter, so nobody starves. A waiter whose signal fires leaves the
 * queue; a full queue rejects at once with QueueFullError carrying a Retry-After estimate.
 */
import { AdmissionAbortedError, QueueFullError } from './errors.js';

export interface AdmissionQueueOptions {
  /** Generations allowed at once; at least 1. */
  maxConcurrent: number;
  /** Requests allowed to wait; 0 means "no waiting, reject when busy". Default 16. */
  maxQueued?: number;
}

/** Releases a slot. Idempotent: calling it twice releases once. */
export type Release = () => void;

export interface AdmissionSnapshot {
  active: number;
  queued: number;
  maxConcurrent: number;
  maxQueued: number;
}

export interface AdmissionQueue {
  /**
   * Waits for a slot in FIFO order. Resolves with a release function that must be called when
   * the generation ends. Throws QueueFullError when `maxQueued` requests already wait, and
   * AdmissionAbortedError when `signal` fires first (the waiter is removed from the queue).
   */
  acquire(signal?: AbortSignal): Promise<Release>;
  snapshot(): AdmissionSnapshot;
}

/** Default queue length when SHARD_QUEUE_MAX is not set. */
export const DEFAULT_QUEUE_MAX = 16;

interface Waiter {
  grant: (release: Release) => void;
}

/** Creates an admission queue. */
export function createAdmissionQueue(options: AdmissionQueueOptions): AdmissionQueue {
  const maxConcurrent = Math.max(1, Math.floor(options.maxConcurrent));
  const maxQueued = Math.max(0, Math.floor(options.maxQueued ?? DEFAULT_QUEUE_MAX));
  const waiters: Waiter[] = [];
  let active = 0;
  // Exponentially weighted mean time a slot is held, for the Retry-After estimate.
  let meanHoldMs = 1000;

  const makeRelease = (): Release => {
    const startedAt = Date.now();
    let isReleased = false;
    return () => {
      if (isReleased) return;
      isReleased = true;
      meanHoldMs = 0.8 * meanHoldMs + 0.2 * (Date.now() - startedAt);
      const next = waiters.shift();
      // Hand the slot straight to the oldest waiter: `active` stays the same, so no newcomer
      // can slip in between the release and the waiter's wake-up.
      if (next) next.grant(makeRelease());
      else active -= 1;
    };
  };

  return {
    acquire(signal?: AbortSignal): Promise<Release> {
      if (signal?.aborted)
        return Promise.reject(new AdmissionAbortedError({ cause: signal.reason }));
      if (active < maxConcurrent && waiters.length === 0) {
        active += 1;
        return Promise.resolve(makeRelease());
      }
      if (waiters.length >= maxQueued) {
        const waitS = (meanHoldMs * (waiters.length + 1)) / maxConcurrent / 1000;
        const retryAfterS = Math.min(60, Math.max(1, Math.ceil(waitS)));
        return Promise.reject(
          new QueueFullError(
            `server busy: ${active} generations running and ${waiters.length} waiting (queue limit ${maxQueued}); retry in ${retryAfterS} s`,
            retryAfterS,
            waiters.length,
            maxQueued
          )
        );
      }
      return new Promise<Release>((resolve, reject) => {
        const onAbort = () => {
          const i = waiters.indexOf(waiter);
          if (i >= 0) waiters.splice(i, 1);
          reject(new AdmissionAbortedError({ cause: signal?.reason }));
        };
        const waiter: Waiter = {
          grant: (release) => {
            signal?.removeEventListener('abort', onAbort);
            resolve(release);
          }
        };
        waiters.push(waiter);
        signal?.addEventListener('abort', onAbort, { once: true });
      });
    },
    snapshot: () => ({ active, queued: waiters.length, maxConcurrent, maxQueued })
  };
}
