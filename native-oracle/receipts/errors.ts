/** Failures of the receipt store and the node key. */

/** The key file exists but cannot be read as an Ed25519 key. */
export class NodeKeyError extends Error {
  override name = 'NodeKeyError';
}

/** An append broke the chain rules (unknown execution, closed store, duplicate seq). */
export class ReceiptAppendError extends Error {
  override name = 'ReceiptAppendError';
}

/** A stored receipt body cannot be decoded (corrupt or unknown format byte). */
export class ReceiptDecodeError extends Error {
  override name = 'ReceiptDecodeError';
}

/** An idempotency key was reused with a different request body. */
export class IdempotencyConflictError extends Error {
  override name = 'IdempotencyConflictError';
}
