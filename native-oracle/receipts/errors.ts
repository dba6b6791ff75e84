/** Failures of the receipt store and the node key. */

/** The key file exists but cannot be read as an Ed25519 key. */
export class NodeKeyError extends Error {
  override name = 'NodeKeyError';
}

/** The receipt store file cannot be opened (not a SQLite file, corrupt, unreadable). */
export class ReceiptStoreOpenError extends Error {
  override name = 'ReceiptStoreOpenError';
}

/** A receipt setting (e.g. SHARD_RECEIPT_RETENTION_DAYS) has a bad value. */
export class ReceiptConfigError extends Error {
  override name = 'ReceiptConfigError';
}

/** An append broke the chain rules (unknown execution, closed store, duplicate seq). */
export class ReceiptAppendError extends Error {
  override name = 'ReceiptAppendError';
}

/**
 * A write failed because the disk (or the store file's size limit) is full: SQLITE_FULL, ENOSPC
 * and the like. The HTTP layer answers 507 insufficient_storage; health reports `disk_full` until
 * a later write succeeds.
 */
export class ReceiptStorageFullError extends Error {
  override name = 'ReceiptStorageFullError';
}

/** A stored receipt body cannot be decoded (corrupt or unknown format byte). */
export class ReceiptDecodeError extends Error {
  override name = 'ReceiptDecodeError';
}

/** An idempotency key was reused with a different request body. */
export class IdempotencyConflictError extends Error {
  override name = 'IdempotencyConflictError';
}
