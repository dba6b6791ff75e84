/**
 * Limits and rates of the contributor control plane, each with the reason for its size.
 */
import type { CreditKind } from '../../src/lib/protocol/contribution.js';

/**
 * A signed message (or `x-shard-contributor` header) older than this is refused as stale.
 * 30 s is the predecessor's envelope window: long enough for a client with an NTP-synced clock
 * and a slow network, short enough that the nonce store only needs to remember 30 s of traffic
 * (a replay older than the window is refused by its timestamp, not by its nonce).
 */
export const MAX_MESSAGE_AGE_MS = 30_000;

/**
 * A message dated further ahead than this is refused: clocks drift a little; a timestamp far in
 * the future would keep its nonce alive (and the message replayable) for longer than the window.
 */
export const MAX_FUTURE_SKEW_MS = 5_000;

/**
 * Live nonces (within the window) one signer may hold. 1000 per 30 s is ~33 messages a second,
 * far above a node's heartbeat (one per 10 s) plus its requests; a signer beyond it is refused
 * (429) rather than evicting nonces, which would reopen them to replay.
 */
export const MAX_NONCES_PER_SIGNER = 1_000;

/**
 * Live nonces all signers together may hold: bounds the table (about 100 bytes a row, so ~20 MB)
 * when many keys flood the oracle. Past it new messages are refused (429) until entries expire.
 */
export const MAX_NONCES_TOTAL = 200_000;

/**
 * A serving node disappears from the registry feed when its last heartbeat is older than this.
 * Nodes beat every 10 s (the predecessor's default interval): three intervals tolerate two lost
 * or late heartbeats before traffic stops going to a node that may be gone.
 */
export const HEARTBEAT_TIMEOUT_MS = 30_000;

/** Sessions one contributor key may hold: a browser makes one per tab at most. */
export const MAX_SESSIONS_PER_CONTRIBUTOR = 64;

/**
 * Credits per unit of verified work. One credit is about one target-model token of work the
 * network was spared or served:
 * - an accepted draft token saves the oracle one sequential decode step: 1;
 * - a passed golden ticket is one full draft (k ≈ 8 tokens, the scout's default draft length)
 *   that the scout computed for a probe the oracle never commits: 8;
 * - a verified workflow step served by a contributed node is one step's generation (the research
 *   brief's steps produce on the order of 100 tokens): 100.
 * Only other units of this oracle call `credit()` after verifying the work; no HTTP route and no
 * self-reported figure (heartbeats, capacity) ever earns credit.
 */
export const CREDIT_RATES: Record<CreditKind, number> = {
  accepted_draft_tokens: 1,
  golden_tickets_passed: 8,
  verified_steps_served: 100
};

/**
 * Largest amount one `credit()` call may carry: a bug in a caller (or a unit mix-up such as
 * tokens passed as steps) should fail loudly instead of minting millions of credits.
 */
export const MAX_CREDIT_AMOUNT_PER_CALL = 100_000;

/** Credit entries `GET /v1/contribution/credits/:id` lists (newest first). */
export const RECENT_CREDIT_ENTRIES = 20;
