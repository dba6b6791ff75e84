/**
 * Failure modes of request admission. Plain errors (no HTTP types): `toHttp()` in
 * native-oracle/http/errors.ts maps them by `name` to 503 responses with Retry-After.
 */

/** The wait queue is at capacity; the caller should retry after `retryAfterS` seconds. */
export class QueueFullError extends Error {
  override name = 'QueueFullError';
  constructor(
    message: string,
    readonly retryAfterS: number,
    readonly queued: number,
    readonly maxQueued: number
  ) {
    super(message);
  }
}

/** The caller's signal fired while it waited for a slot; it left the queue. */
export class AdmissionAbortedError extends Error {
  override name = 'AdmissionAbortedError';
  constructor(options?: { cause?: unknown }) {
    super('request left the queue before it was admitted', options);
  }
}
