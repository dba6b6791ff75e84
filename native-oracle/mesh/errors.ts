/**
 * Failures of the oracle's mesh unit. Peer misbehaviour itself is `MeshProtocolError` (from the
 * shared protocol, with a wire `reason`); these are the oracle-side outcomes.
 */

/** `scoutDraftSource()` was called before `start()` or after `stop()`. */
export class MeshNotStartedError extends Error {
  override name = 'MeshNotStartedError';
}
