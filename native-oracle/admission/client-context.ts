/**
 * The client a generation is made for, carried through the request's async work
 * (AsyncLocalStorage): the route guard runs each protected route as its client, and the admitted
 * engine reads it when a generation asks for a slot, so per-client limits hold for chat,
 * completions and the workflows a client starts without each route passing it along.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { AdmissionClass, AdmissionInfo } from './queue.js';

/** The contributor behind a request (priority.ts), when it named one that checked out. */
export interface ContributorPriority {
  /** Contributor public key (hex). */
  identity: string;
  /** Its credit when the request arrived. */
  credit: number;
  /** `contributor` when credit > 0, else `consumer`. */
  class: AdmissionClass;
}

export interface AdmissionClient {
  /** The API key's hash when one was presented, else the client address. */
  id: string;
  /** Set by the priority middleware; absent = a consumer. */
  priority?: ContributorPriority;
  /**
   * How the request's latest generation was admitted; the admitted engine writes it, the chat
   * route reports it (`x-shard-queue-*`, `shard.queue`). Mutable, one object per request.
   */
  admission?: AdmissionInfo;
}

const storage = new AsyncLocalStorage<AdmissionClient>();

/** Runs `fn` (and all async work it starts) as `client`. */
export function runAsClient<T>(client: AdmissionClient, fn: () => T): T {
  return storage.run(client, fn);
}

/** The client of the current async context; undefined outside any request (e.g. tests, start-up). */
export function currentClient(): AdmissionClient | undefined {
  return storage.getStore();
}
