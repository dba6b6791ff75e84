/**
 * Failures of the oracle's mesh unit. Peer misbehaviour itself is `MeshProtocolError` (from the
 * shared protocol); these are the oracle-side outcomes.
 */

/** The mesh was used before `start()` or after `stop()`. */
export class MeshNotStartedError extends Error {
  override name = 'MeshNotStartedError';
}
