/**
 * Errors of the contributor control plane: one class per failure mode, `name` equal to the class
 * name, a stable `code` that the HTTP layer (native-oracle/api/contribution.ts) maps to a status.
 * Every refusal happens before anything is written: a refused message changes no state.
 */

/** Base of the control plane's errors; `code` is the wire error code. */
export class ContributionError extends Error {
  override name = 'ContributionError';
  constructor(
    message: string,
    readonly code: string,
    options?: { cause?: unknown }
  ) {
    super(message, options);
  }
}

/** The message does not match its schema (also raised for a type sent to another route). */
export class InvalidContributionMessageError extends ContributionError {
  override name = 'InvalidContributionMessageError';
  constructor(message: string) {
    super(message, 'invalid_request');
  }
}

/** The Ed25519 signature does not verify for the signer key over the message. */
export class InvalidSignatureError extends ContributionError {
  override name = 'InvalidSignatureError';
  constructor(message: string) {
    super(message, 'invalid_signature');
  }
}

/** The timestamp is outside the freshness window (too old, or too far ahead). */
export class StaleMessageError extends ContributionError {
  override name = 'StaleMessageError';
  constructor(message: string) {
    super(message, 'stale_message');
  }
}

/** The (signer, nonce) pair was already accepted within the window. */
export class ReplayedNonceError extends ContributionError {
  override name = 'ReplayedNonceError';
  constructor(message: string) {
    super(message, 'replayed_nonce');
  }
}

/** The nonce store is full for this signer (or for everyone): retry after the window. */
export class NonceLimitError extends ContributionError {
  override name = 'NonceLimitError';
  constructor(
    message: string,
    readonly retryAfterS: number
  ) {
    super(message, 'too_many_messages');
  }
}

/** The session exists but belongs to another key than the signer's. */
export class SessionKeyMismatchError extends ContributionError {
  override name = 'SessionKeyMismatchError';
  constructor(message: string) {
    super(message, 'session_key_mismatch');
  }
}

/** No session with that id. */
export class SessionNotFoundError extends ContributionError {
  override name = 'SessionNotFoundError';
  constructor(message: string) {
    super(message, 'session_not_found');
  }
}

/** The contributor holds the most sessions allowed. */
export class SessionLimitError extends ContributionError {
  override name = 'SessionLimitError';
  constructor(message: string) {
    super(message, 'too_many_sessions');
  }
}

/** A heartbeat or deregistration for a role the session has not registered. */
export class NodeNotRegisteredError extends ContributionError {
  override name = 'NodeNotRegisteredError';
  constructor(message: string) {
    super(message, 'node_not_registered');
  }
}

/** The registration claims a tier (or endpoint) this contributor may not offer. */
export class NodeRegistrationRefusedError extends ContributionError {
  override name = 'NodeRegistrationRefusedError';
  constructor(message: string) {
    super(message, 'registration_refused');
  }
}

/** An `x-shard-contributor` header that is present but malformed, badly signed, stale or replayed. */
export class InvalidContributorHeaderError extends ContributionError {
  override name = 'InvalidContributorHeaderError';
  constructor(
    message: string,
    /** The underlying reason: `malformed`, `invalid_signature`, `stale_message`, `replayed_nonce`, `too_many_messages`. */
    readonly reason: string
  ) {
    super(message, 'invalid_contributor_header');
  }
}

/** A `credit()` call with a bad identity, kind, amount or evidence (a caller's bug). */
export class InvalidCreditError extends ContributionError {
  override name = 'InvalidCreditError';
  constructor(message: string) {
    super(message, 'invalid_credit');
  }
}

/** The SQLite file cannot be opened (damaged, unwritable). */
export class ContributionStoreOpenError extends ContributionError {
  override name = 'ContributionStoreOpenError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, 'store_unavailable', options);
  }
}

/** --contributor-keys or --trusted-contributors is malformed (the oracle refuses to start, exit code 2). */
export class ContributionConfigError extends ContributionError {
  override name = 'ContributionConfigError';
  constructor(message: string) {
    super(message, 'invalid_config');
  }
}
