/**
 * Failures of the chat page, one class per mode. Every message is plain words a user can act on;
 * the page shows it beside the control that caused it.
 */

/** The oracle could not be reached, or answered the chat request with an HTTP error. */
export class ChatRequestError extends Error {
  override name = 'ChatRequestError';
  constructor(
    message: string,
    /** HTTP status; 0 when no answer came (offline, refused connection). */
    readonly status: number,
    options?: { cause?: unknown }
  ) {
    super(message, options);
  }
}

/** The reply started streaming and then broke (error event, bad data, cut connection). */
export class ChatStreamError extends Error {
  override name = 'ChatStreamError';
}

/** The conversation store (IndexedDB) failed: private mode, quota, or a blocked upgrade. */
export class ConversationStoreError extends Error {
  override name = 'ConversationStoreError';
}

/** The message of any thrown value, for display. */
export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
