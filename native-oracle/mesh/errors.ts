/**
 * Failures of the oracle's mesh unit. Peer misbehaviour itself is `MeshProtocolError` (from the
 * shared protocol); these are the oracle-side outcomes.
 */

/** A scout link ended (peer gone, stream reset, protocol error); the session goes on without it. */
export class ScoutLinkClosedError extends Error {
  override name = 'ScoutLinkClosedError';
}

/** The mesh was used before `start()` or after `stop()`. */
export class MeshNotStartedError extends Error {
  override name = 'MeshNotStartedError';
}
