/**
 * The idle scout snapshot, shared by the worker's engine service and the page's mesh host
 * (a separate module so the page does not bundle the worker's engine code).
 */
import type { ScoutSnapshot } from './service.js';

/** The snapshot of a scout that has not started: no engine, no peers, zero counts. */
export function idleScoutSnapshot(): ScoutSnapshot {
  return {
    state: 'idle',
    peerId: null,
    engine: null,
    relays: [],
    oracles: [],
    peers: 0,
    stats: {
      sessions: 0,
      activeSessions: 0,
      drafted: 0,
      accepted: 0,
      verified: 0,
      engineErrors: 0,
      protocolErrors: 0
    },
    currentSession: null,
    download: null,
    lastError: null,
    tokensPerSecond: null
  };
}
