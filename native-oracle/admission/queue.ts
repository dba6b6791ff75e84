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
 *
 * Earned priority (issue #11): each waiter is in a class, `contributor` (a contributor identity
 * with credit > 0 for verified work) or `consumer` (everyone else). The rule for a freed slot, among
 * the waiters whose client may run:
 *   1. while a consumer waits and the last CONTRIBUTOR_BURST grants in a row went to contributors,
 *      the slot goes to a consumer (by the client rule above);
 *   2. otherwise, when a contributor waits, to the contributor with the most credit (ties by the
 *      client rule);
 *   3. otherwise to a consumer by the client rule.
 * Invariant: while a consumer waits, at most CONTRIBUTOR_BURST admissions in a row go to
 * contributors, so a consumer that is k-th in the consumer order is admitted within
 * k·(CONTRIBUTOR_BURST + 1) admissions, however many contributors arrive. Inside the contributor
 * class the order is by credit alone: more verified work, earlier admission.
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

/** The two admission classes (see the file comment). */
export const ADMISSION_CLASSES = ['contributor', 'consumer'] as const;
export type AdmissionClass = (typeof ADMISSION_CLASSES)[number];

/**
 * Contributor admissions allowed in a row while a consumer waits; the next goes to a consumer.
 * 3 gives contributors three quarters of a busy oracle's slots and bounds a consumer's wait to
 * 4 admissions per consumer ahead of it: a clear reward for verified work that never shuts
 * consumers out.
 */
export const CONTRIBUTOR_BURST = 3;

/** Who asks for a slot: the client (API key hash or address) and its class. */
export interface AdmissionRequest {
  /** Default: one shared anonymous client. */
  client?: string;
  /** Default `consumer`. */
  class?: AdmissionClass;
  /** The contributor's credit (orders the contributor class); default 0. */
  credit?: number;
  signal?: AbortSignal;
}

/** How a request was admitted (shown in `x-shard-queue-*` headers and `shard.queue`). */
export interface AdmissionInfo {
  class: AdmissionClass;
  /** 1-based place in the wait queue when it arrived; 0 when a slot was free. */
  position: number;
  /** Slots granted to other requests while it waited. */
  waited_admissions: number;
}

/** Running and waiting requests of each class. */
export type ClassSnapshot = Record<AdmissionClass, { active: number; queued: number }>;

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
  /**
   * acquire() with a class: the earned-priority rule of the file comment decides who of the
   * waiters gets a freed slot. Resolves with the release function and how it was admitted.
   * Throws like acquire().
   */
  admit(request: AdmissionRequest): Promise<{ release: Release; info: AdmissionInfo }>;
  snapshot(): AdmissionSnapshot;
  /** Running and waiting requests per class (`/health` `queue.by_class`). */
  classSnapshot(): ClassSnapshot;
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
  class: AdmissionClass;
  credit: number;
  /** Grant counter value when it queued (for waited_admissions). */
  grantsAtArrival: number;
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
  const activeByClass: Record<AdmissionClass, number> = { contributor: 0, consumer: 0 };
  let active = 0;
  let grants = 0;
  // Contributor grants in a row made while a consumer waited (rule 1 of the file comment).
  let contributorStreak = 0;
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

  /** Whether waiter a goes before waiter b by the client rule (fewest running, least recent, oldest). */
  const isBefore = (a: Waiter, b: Waiter): boolean => {
    const s = clients.get(a.client)!;
    const t = clients.get(b.client)!;
    return s.active < t.active || (s.active === t.active && s.lastGrant < t.lastGrant);
  };

  /** The waiter a free slot goes to (see the file comment), or -1 when none may run. */
  const nextWaiter = (): number => {
    let consumer = -1;
    let contributor = -1;
    for (let i = 0; i < waiters.length; i++) {
      const w = waiters[i]!;
      if (!canRun(w.client)) continue;
      if (w.class === 'consumer') {
        if (consumer < 0 || isBefore(w, waiters[consumer]!)) consumer = i;
        continue;
      }
      const best = waiters[contributor];
      if (!best || w.credit > best.credit || (w.credit === best.credit && isBefore(w, best)))
        contributor = i;
    }
    // Rule 1: a consumer's turn after CONTRIBUTOR_BURST contributors in a row.
    if (consumer >= 0 && contributorStreak >= CONTRIBUTOR_BURST) return consumer;
    return contributor >= 0 ? contributor : consumer;
  };

  const makeRelease = (client: string, cls: AdmissionClass): Release => {
    const startedAt = Date.now();
    const s = stateOf(client);
    s.active += 1;
    s.lastGrant = grants++;
    activeByClass[cls] += 1;
    let isReleased = false;
    return () => {
      if (isReleased) return;
      isReleased = true;
      meanHoldMs = 0.8 * meanHoldMs + 0.2 * (Date.now() - startedAt);
      s.active -= 1;
      activeByClass[cls] -= 1;
      forget(client);
      const i = nextWaiter();
      // Hand the slot straight to the chosen waiter: `active` stays the same, so no newcomer
      // can slip in between the release and the waiter's wake-up.
      if (i >= 0) grantTo(i);
      else active -= 1;
    };
  };

  /** Removes waiter i from the queue and grants it the slot a release just freed. */
  const grantTo = (i: number) => {
    const [next] = waiters.splice(i, 1);
    const isConsumerWaiting = waiters.some((w) => w.class === 'consumer');
    contributorStreak =
      next!.class === 'contributor' && isConsumerWaiting ? contributorStreak + 1 : 0;
    stateOf(next!.client).queued -= 1;
    next!.grant(makeRelease(next!.client, next!.class));
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

  const admit = (request: AdmissionRequest): Promise<{ release: Release; info: AdmissionInfo }> => {
    const { signal } = request;
    const client = request.client ?? ANONYMOUS;
    const cls = request.class ?? 'consumer';
    if (signal?.aborted) return Promise.reject(new AdmissionAbortedError({ cause: signal.reason }));
    // Free slot and nobody waiting who could take it: run now.
    if (active < maxConcurrent && canRun(client) && nextWaiter() < 0) {
      active += 1;
      const info: AdmissionInfo = { class: cls, position: 0, waited_admissions: 0 };
      return Promise.resolve({ release: makeRelease(client, cls), info });
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
    const position = waiters.length + 1;
    return new Promise((resolve, reject) => {
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
        class: cls,
        credit: cls === 'contributor' ? Math.max(0, request.credit ?? 0) : 0,
        grantsAtArrival: grants,
        grant: (release) => {
          signal?.removeEventListener('abort', onAbort);
          // The grant counter already counts this waiter's own grant.
          const waited = grants - 1 - waiter.grantsAtArrival;
          resolve({ release, info: { class: cls, position, waited_admissions: waited } });
        }
      };
      waiters.push(waiter);
      own.queued += 1;
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  };

  return {
    admit,
    acquire: (signal?: AbortSignal, client?: string) =>
      admit({
        ...(signal ? { signal } : {}),
        ...(client !== undefined ? { client } : {})
      }).then((a) => a.release),
    snapshot: () => ({ active, queued: waiters.length, maxConcurrent, maxQueued }),
    classSnapshot: () => {
      const queuedOf = (cls: AdmissionClass) => waiters.filter((w) => w.class === cls).length;
      return {
        contributor: { active: activeByClass.contributor, queued: queuedOf('contributor') },
        consumer: { active: activeByClass.consumer, queued: queuedOf('consumer') }
      };
    }
  };
}
