/**
 * Limits and defaults of the oracle's mesh peer, each with the reason for its size (the wire
 * limits every peer shares, frame sizes and token bounds, live in `src/lib/protocol/mesh.ts`).
 */

/** Name and version the oracle puts in its signed hello (scouts log it; nothing branches on it). */
export const SOFTWARE = { name: 'shard-oracle', version: '0.1.0' } as const;

// ---------------------------------------------------------------------------------------------
// Handshake
// ---------------------------------------------------------------------------------------------

/**
 * A handshake must complete within this time. A scout answers with one pre-signed frame, so
 * five seconds covers a relayed circuit (tens of ms per message) with a wide margin, while a
 * peer that opens a stream and stays silent holds one of the few handshake slots only briefly.
 */
export const HANDSHAKE_TIMEOUT_MS = 5_000;
/**
 * Handshake streams one peer may have open at once. An honest scout runs one handshake per
 * connection; two leave room for a retry that overlaps the previous attempt closing (the same
 * allowance js-libp2p's ping makes).
 */
export const MAX_INBOUND_HANDSHAKE_STREAMS = 2;
/**
 * The oracle re-signs its own hello after this long. Scouts refuse a hello older than
 * `HELLO_MAX_AGE_MS` (5 min); one minute stays far inside that and costs one signature a minute.
 */
export const HELLO_RESIGN_MS = 60_000;

// ---------------------------------------------------------------------------------------------
// Scout registry
// ---------------------------------------------------------------------------------------------

/**
 * Window of the handshake flood guard. An honest scout handshakes once per connection, a few
 * times per minute at most across reconnects; counting over one minute sees a flood within a
 * few seconds and forgets an honest reconnect burst a minute later.
 */
export const HANDSHAKE_WINDOW_MS = 60_000;
/** More handshakes than this from one peer within `HANDSHAKE_WINDOW_MS` is a flood: the peer is banned. */
export const MAX_HANDSHAKES_PER_WINDOW = 6;
/**
 * How long a peer that broke the protocol stays banned. Long enough that a misbehaving peer
 * cannot simply reconnect into the next session; short enough that a scout that crashed
 * mid-frame (or ran an old build) is back after an operator fixes it, without a restart.
 */
export const BAN_MS = 10 * 60_000;
/**
 * Scouts the oracle advertises room for (`openSlots` in its announcement = this minus the scouts
 * registered). Sessions lease one scout by default, so 64 scouts serve far more concurrent
 * generations than a CPU oracle runs (`maxConcurrent` is a few llama.cpp sequences); past that a
 * new scout only adds heartbeats to process.
 */
export const MAX_ADVERTISED_SCOUTS = 64;
/**
 * Acceptance rate ranked for a scout that has not drafted yet: the middle of [0, 1], so a new
 * scout is leased before one that proved poor and after one that proved good.
 */
export const UNMEASURED_ACCEPTANCE_RATE = 0.5;

// ---------------------------------------------------------------------------------------------
// Oracle mesh: sessions, announcements, relays
// ---------------------------------------------------------------------------------------------

/**
 * Default scouts leased per generation session. Greedy scouts on the same draft model produce
 * the same chain, so a second one only hedges against a slow or failing first.
 */
export const DEFAULT_SCOUTS_PER_SESSION = 1;
/**
 * Default draft tokens per verify round. With the acceptance the generated draft/target pairs
 * reach, E = (1 − a^(k+1)) / (1 − a) gains little past 8 while the verify pass keeps growing.
 */
export const DEFAULT_DRAFT_LENGTH = 8;
/**
 * Default sessions one scout serves at once. A scout runs one draft model with one KV cache and
 * serialises its sessions; a second session keeps it busy while the first waits on a verify.
 */
export const DEFAULT_MAX_SESSIONS_PER_SCOUT = 2;
/**
 * Default seconds between work announcements: scouts that just joined the relay find the oracle
 * within one period; gossip costs one small message per period.
 */
export const DEFAULT_ANNOUNCE_SECONDS = 5;
/**
 * Default seconds between relay re-dials: a relay restart is noticed within this time; a dial of
 * a connected relay is skipped, so the period costs nothing while connected.
 */
export const DEFAULT_RECONNECT_SECONDS = 20;
/** A relay dial that has not completed after this long is abandoned until the next re-dial. */
export const RELAY_DIAL_TIMEOUT_MS = 10_000;
/** Addresses in one announcement: the schema's cap (`WorkAnnouncementSchema.multiaddrs`). */
export const MAX_ANNOUNCED_MULTIADDRS = 16;

// ---------------------------------------------------------------------------------------------
// Verify streams (scout links) and the remote draft source
// ---------------------------------------------------------------------------------------------

/**
 * How long opening a verify stream may take before the scout counts as silent. Stream set-up
 * took 3-5 ms direct and 23-39 ms relayed here; three seconds forgives a loaded peer without
 * delaying a session much (the session starts with the scouts that did open).
 */
export const LINK_OPEN_TIMEOUT_MS = 3_000;
/**
 * Draft frames a scout may send beyond its lookahead between two context updates (flood guard).
 * An honest scout sends at most `lookahead` frames (one token each at worst) per context; the
 * slack absorbs frames already in flight when a context update crosses them.
 */
export const FRAME_FLOOD_SLACK = 16;
/** Rounds between probes while the governor has switched drafting off. */
export const GOVERNOR_PROBE_EVERY_ROUNDS = 8;
/**
 * Wait cap per round with the governor off: a silent scout cannot stall a round longer. One
 * second is many scout draft steps, so a live scout always answers within it.
 */
export const UNGOVERNED_MAX_WAIT_MS = 1_000;
/** Per-token acceptance assumed before any round was verified (a same-family draft model). */
export const PRIOR_ACCEPTANCE = 0.6;
/** Weight of the newest sample in the acceptance and timing estimates (about 4 rounds of memory). */
export const EMA_ALPHA = 0.25;
/**
 * A remote draft session ends after this long without a round. Longer than any verify pass or
 * prompt evaluation between two rounds, short enough that a lease is returned promptly when the
 * engine stops asking (the engine's abort signal usually ends the session first).
 */
export const DRAFT_SESSION_IDLE_MS = 3_000;
/** The oracle's per-token decode time assumed until it is measured (a small CPU model). */
export const INITIAL_TARGET_TOKEN_MS = 30;
