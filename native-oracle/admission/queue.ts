/**
 * Admission control for generations: at most `maxConcurrent` run at once (the engine's llama.cpp
 * sequences), the rest wait in a bounded queue. A waiter whose signal fires leaves the queue; a
 * full queue rejects at once with QueueFullError carrying a Retry-After estimate.
 *
 * Per client (an API key, else a client address; `acquire(signal, client)`), at most
 * `maxConcurrentPerClient` generations run and `maxQueuedPerClient` wait, so one client cannot
 * hold every slot and the whole queue (issue #10, finding 9). A freed slot goes to the waiter
 * whose client runs the fewest generations, then whose client was served least recently, then
 * the oldest: with one client that is strict FIFO (a newcomer never overtakes a waiter), with
 * several it is round-robin between them.
 */
import { AdmissionAbortedError, QueueFullError } from './errors.js';

export interface AdmissionQueueOptions {
  /** Generations allowed at once; at least 1. */
  maxConcurrent: number;
  /** Requests allowed to wait; 0 means "no waiting, reject when busy". Default 16. */
  maxQueued?: number;
  /** Generations one client may run at once; default `maxConcurrent` (no per-client cap). */
  maxConcurrentPerClient?: number;
  /** Requests one client may have waiting; default `maxQueued` (no per-client cap). */
  maxQueuedPerClient?: number;
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
   * Waits for a slot. Resolves with a release function that must be called when the generation
   * ends. `client` names who asks (default: one shared anonymous client). Throws QueueFullError
   * when `maxQueued` requests already wait or `client` already has `maxQueuedPerClient` waiting,
   * and AdmissionAbortedError when `signal` fires first (the waiter is removed from the queue).
   */
  acquire(signal?: AbortSignal, client?: string): Promise<Release>;
  snapshot(): AdmissionSnapshot;
}

/** Default queue length when SHARD_QUEUE_MAX is not set. */
export const DEFAULT_QUEUE_MAX = 16;

/**
 * Default requests one client may have waiting. A person's app waits on one or two (a chat and a
 * workflow step); four leaves room for that while a client firing a batch cannot fill the queue
 * (16) that everybody shares.
 */
export const DEFAULT_CLIENT_QUEUE_MAX = 4;

/**
 * Default generations one client may run at once: half the slots (rounded up, at least one), so
 * with two or more slots another client always finds one free.
 */
export function defaultClientMaxConcurrent(maxConcurrent: number): number {
  return Math.max(1, Math.ceil(maxConcurrent / 2));
}

/** `maxConcurrentPerClient` value meaning defaultClientMaxConcurrent of the queue's slots. */
export const CLIENT_FAIR_SHARE = -1;

/**
 * The per-client options for the server's queue from its settings: `clientMaxConcurrent` (default
 * defaultClientMaxConcurrent of the engine's slots, applied in createAdmissionQueue) and
 * `clientQueueMax` (default DEFAULT_CLIENT_QUEUE_MAX).
 */
export function clientLimits(options: {
  clientMaxConcurrent?: number;
  clientQueueMax?: number;
}): Pick<AdmissionQueueOptions, 'maxConcurrentPerClient' | 'maxQueuedPerClient'> {
  return {
    maxConcurrentPerClient: options.clientMaxConcurrent ?? CLIENT_FAIR_SHARE,
    maxQueuedPerClient: options.clientQueueMax ?? DEFAULT_CLIENT_QUEUE_MAX
  };
}

interface Waiter {
  client: string;
  grant: (release: Release) => void;
}

/** Per-client state, kept only while the client runs or waits. */
interface ClientState {
  active: number;
  queued: number;
  /** Grant counter value at the client's last grant: lower = served less recently. */
  lastGrant: number;
}

/** The anonymous client of acquire() calls that name none. */
const ANONYMOUS = '';

/**
 * Creates an admission queue. `maxConcurrentPerClient: CLIENT_FAIR_SHARE` means
 * defaultClientMaxConcurrent(maxConcurrent); the server passes it when no setting was given.
 */
export function createAdmissionQueue(options: AdmissionQueueOptions): AdmissionQueue {
  const maxConcurrent = Math.max(1, Math.floor(options.maxConcurrent));
  const maxQueued = Math.max(0, Math.floor(options.maxQueued ?? DEFAULT_QUEUE_MAX));
  const perClientRaw = options.maxConcurrentPerClient ?? maxConcurrent;
  const maxConcurrentPerClient =
    perClientRaw === CLIENT_FAIR_SHARE
      ? defaultClientMaxConcurrent(maxConcurrent)
      : Math.max(1, Math.floor(perClientRaw));
  const maxQueuedPerClient = Math.max(0, Math.floor(options.maxQueuedPerClient ?? maxQueued));
  const waiters: Waiter[] = [];
  const clients = new Map<string, ClientState>();
  let active = 0;
  let grants = 0;
  // Exponentially weighted mean time a slot is held, for the Retry-After estimate.
  let meanHoldMs = 1000;

  const stateOf = (client: string): ClientState => {
    let s = clients.get(client);
    if (!s) {
      s = { active: 0, queued: 0, lastGrant: -1 };
      clients.set(client, s);
    }
    return s;
  };
  const forget = (client: string) => {
    const s = clients.get(client);
    if (s && s.active === 0 && s.queued === 0) clients.delete(client);
  };
  const canRun = (client: string) => (clients.get(client)?.active ?? 0) < maxConcurrentPerClient;

  /** The waiter a free slot goes to (see the file comment), or -1 when none may run. */
  const nextWaiter = (): number => {
    let best = -1;
    for (let i = 0; i < waiters.length; i++) {
      const s = clients.get(waiters[i]!.client)!;
      if (s.active >= maxConcurrentPerClient) continue;
      if (best < 0) {
        best = i;
        continue;
      }
      const b = clients.get(waiters[best]!.client)!;
      if (s.active < b.active || (s.active === b.active && s.lastGrant < b.lastGrant)) best = i;
    }
    return best;
  };

  const makeRelease = (client: string): Release => {
    const startedAt = Date.now();
    const s = stateOf(client);
    s.active += 1;
    s.lastGrant = grants++;
    let isReleased = false;
    return () => {
      if (isReleased) return;
      isReleased = true;
      meanHoldMs = 0.8 * meanHoldMs + 0.2 * (Date.now() - startedAt);
      s.active -= 1;
      forget(client);
      const i = nextWaiter();
      // Hand the slot straight to the chosen waiter: `active` stays the same, so no newcomer
      // can slip in between the release and the waiter's wake-up.
      if (i >= 0) {
        const [next] = waiters.splice(i, 1);
        stateOf(next!.client).queued -= 1;
        next!.grant(makeRelease(next!.client));
      } else active -= 1;
    };
  };

  const queueFull = (message: string): Promise<never> => {
    const waitS = (meanHoldMs * (waiters.length + 1)) / maxConcurrent / 1000;
    const retryAfterS = Math.min(60, Math.max(1, Math.ceil(waitS)));
    return Promise.reject(
      new QueueFullError(
        `${message}; retry in ${retryAfterS} s`,
        retryAfterS,
        waiters.length,
        maxQueued
      )
    );
  };

  return {
    acquire(signal?: AbortSignal, client: string = ANONYMOUS): Promise<Release> {
      if (signal?.aborted)
        return Promise.reject(new AdmissionAbortedError({ cause: signal.reason }));
      // Free slot and nobody waiting who could take it: run now.
      if (active < maxConcurrent && canRun(client) && nextWaiter() < 0) {
        active += 1;
        return Promise.resolve(makeRelease(client));
      }
      if (waiters.length >= maxQueued) {
        return queueFull(
          `server busy: ${active} generations running and ${waiters.length} waiting (queue limit ${maxQueued})`
        );
      }
      const own = stateOf(client);
      if (own.queued >= maxQueuedPerClient) {
        forget(client);
        return queueFull(
          `too many requests from this client: it has ${own.active} generations running and ${own.queued} waiting (per-client queue limit ${maxQueuedPerClient})`
        );
      }
      return new Promise<Release>((resolve, reject) => {
        const onAbort = () => {
          const i = waiters.indexOf(waiter);
          if (i >= 0) {
            waiters.splice(i, 1);
            own.queued -= 1;
            forget(client);
          }
          reject(new AdmissionAbortedError({ cause: signal?.reason }));
        };
        const waiter: Waiter = {
          client,
          grant: (release) => {
            signal?.removeEventListener('abort', onAbort);
            resolve(release);
          }
        };
        waiters.push(waiter);
        own.queued += 1;
        signal?.addEventListener('abort', onAbort, { once: true });
      });
    },
    snapshot: () => ({ active, queued: waiters.length, maxConcurrent, maxQueued })
  };
}
