/**
 * Errors of the Shard SDK: one class per failure mode, `name` equal to the class name.
 */

/** The oracle answered with an HTTP error; `code` and `detail` are its own. */
export class ShardApiError extends Error {
  override name = 'ShardApiError';
  constructor(
    message: string,
    readonly status: number,
    readonly code: string | null,
    readonly body: unknown
  ) {
    super(message);
  }
}

/** The oracle answered something that is not the documented shape. */
export class ShardResponseError extends Error {
  override name = 'ShardResponseError';
}

/** `workflows.wait()` ran out of time before the execution ended. */
export class ShardTimeoutError extends Error {
  override name = 'ShardTimeoutError';
}
