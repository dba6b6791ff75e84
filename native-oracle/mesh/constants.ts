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
 * A banned peer is hung up on this long after the handshake told it `banned`: hanging up at
 * once could cut the reply off in flight (the scout would see only a closed stream); one second
 * covers a relayed round trip many times over.
 */
export const BANNED_HANGUP_DELAY_MS = 1_000;
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
/**
 * Wait cap per round without a governor budget (speculation forced on, or a source created with
 * `isGoverned: false`): a silent scout cannot stall a round longer. One second is many scout
 * draft steps, so a live scout always answers within it. Whether a round drafts at all is the
 * engine's governor's decision (../engine/governor.ts), never the draft source's.
 */
export const UNGOVERNED_MAX_WAIT_MS = 1_000;
/** Weight of the newest sample in the registry's timing estimates (about 4 rounds of memory). */
export const EMA_ALPHA = 0.25;
/**
 * A remote draft session ends after this long without a round. Longer than any verify pass or
 * prompt evaluation between two rounds, short enough that a lease is returned promptly when the
 * engine stops asking (the engine's abort signal usually ends the session first).
 */
export const DRAFT_SESSION_IDLE_MS = 3_000;

// ---------------------------------------------------------------------------------------------
// Trust: golden tickets, probation, reputation and bans (see README.md, "Trust")
// ---------------------------------------------------------------------------------------------

/**
 * Default fraction of a reputable scout's sessions that are golden tickets (the predecessor's
 * `SHARD_GOLDEN_TICKET_RATE`). One in twenty costs the oracle one small draft-model run per
 * twenty sessions and still sees a scout that cheats on a fifth of its work within tens of
 * tickets (README, "Detection math").
 */
export const DEFAULT_GOLDEN_TICKET_RATE = 0.05;
/** Default share of golden tickets a scout must pass (`SHARD_REPUTATION_THRESHOLD`). */
export const DEFAULT_REPUTATION_THRESHOLD = 0.7;
/** Default tickets before the threshold rule may ban (`SHARD_MIN_ATTEMPTS_BEFORE_BAN`). */
export const DEFAULT_MIN_ATTEMPTS_BEFORE_BAN = 3;
/** Default ban length in hours (`SHARD_BAN_DURATION_HOURS`; 0 = permanent). */
export const DEFAULT_BAN_DURATION_HOURS = 24;
/**
 * Golden tickets a new scout must pass before it is leased for a real prompt. Three is the
 * threshold rule's minimum attempts: after three passes the scout has a reputation the rule has
 * judged, and a scout without the draft model fails each of them (a random token is the
 * reference's choice with probability about 1/vocabulary).
 */
export const DEFAULT_PROBATION_TICKETS = 3;
/**
 * Pause between two probation tickets. An honest scout answers a ticket in tens of ms, so a
 * quarter second between tickets clears probation in about a second, while a peer that joins
 * under many ids costs the oracle at most four small draft-model runs per second per id.
 */
export const PROBATION_TICKET_GAP_MS = 250;
/**
 * How long a ticket round waits for drafts once requested. A live scout answers its first token
 * within one draft step (ms); five seconds forgives a scout whose CPU is busy with other
 * sessions. A scout that kept the stream open and sent nothing in that time fails the ticket.
 */
export const TICKET_ROUND_TIMEOUT_MS = 5_000;
/**
 * Pause after each ticket round before the next context, standing in for the verify pass of a
 * real round (tens of ms for the small CPU models here), jittered ±50% so tickets do not answer
 * with a fixed beat a scout could recognise.
 */
export const TICKET_VERIFY_PACE_MS = 30;
/** Verify rounds per ticket, inclusive range: short generations, like most chat turns' first rounds. */
export const TICKET_ROUNDS_MIN = 2;
export const TICKET_ROUNDS_MAX = 4;
/**
 * A drafted token that is not the reference's argmax still counts as correct when the reference
 * itself nearly tied: it lies in the reference's top `NEAR_TIE_TOP_K` and its probability is
 * within `NEAR_TIE_MARGIN` of the argmax's. llama.cpp logits differ by up to ~2e-2 between
 * backends and batch shapes (FIELD-NOTES), which moves probabilities by far less than 0.1.
 */
export const NEAR_TIE_MARGIN = 0.1;
export const NEAR_TIE_TOP_K = 4;
/** A ticket passes when at least this share of its scored draft tokens is correct. */
export const TICKET_PASS_FRACTION = 0.5;
/**
 * CUSUM of ticket outcomes (README, "Detection math"): a failure adds ln(p1/p0), a pass adds
 * ln((1 - p1)/(1 - p0)), floored at 0; the scout is banned when the sum reaches
 * `CUSUM_BAN_LEVEL`. p0 is the failure rate allowed to an honest scout (tickets lost to drift
 * beyond the margin or to a slow CPU), p1 the lowest cheating rate the test is tuned to catch.
 * The level ln(10^4) makes a false ban of an honest scout failing at p0 a rare event (mean run
 * length above 10^4 tickets, about 200,000 sessions at the default rate).
 */
export const HONEST_TICKET_FAILURE_RATE = 0.02;
export const CHEAT_RATE_TO_DETECT = 0.2;
export const CUSUM_BAN_LEVEL = Math.log(1e4);
/**
 * Ban for a protocol violation (a frame the protocol rejects, a flood): long enough that the
 * peer cannot reconnect into the next session, short enough that a scout that crashed mid-frame
 * or ran an old build is back after its operator fixes it. Same ledger as reputation bans.
 */
export const PROTOCOL_BAN_HOURS = 10 / 60;
/** File of the reputation ledger inside the data dir. */
export const TRUST_LEDGER_FILE = 'scout-trust.sqlite';

// ---------------------------------------------------------------------------------------------
// Connection limits (issue 10 finding 11: 330 fresh peer ids filled the connection table)
// ---------------------------------------------------------------------------------------------

/**
 * Connections the oracle's node holds at most. libp2p's default (300) was filled by one host
 * opening connections under fresh peer ids; the per-address cap below stops that, and this
 * ceiling (each idle connection costs tens of KiB) leaves room for relays, oracles and the
 * `MAX_ADVERTISED_SCOUTS` scouts many times over.
 */
export const ORACLE_MAX_CONNECTIONS = 1_024;
/** Inbound connections still upgrading (noise, yamux) at once; a slow-handshake flood waits. */
export const ORACLE_MAX_INCOMING_PENDING = 32;
/**
 * New inbound connections one host may open per second (libp2p's rate limit per host). Kept
 * high: relayed circuits all arrive from the relay's host, so a low rate would throttle every
 * browser behind a relay; the per-IP cap below is what bounds one host.
 */
export const ORACLE_INBOUND_CONNECTION_THRESHOLD = 100;
/**
 * Direct (non-relayed) connections one IP address may hold. A household or an office NAT runs
 * a few scouts; 32 is generous for that and keeps one host from filling the table. Relayed
 * connections are not counted per address: the oracle sees only the relay's address, and the
 * relay caps reservations per client IP.
 */
export const MAX_DIRECT_CONNECTIONS_PER_IP = 32;
/** Registered scouts behind one direct IP address (the same reasoning as the connection cap). */
export const MAX_SCOUTS_PER_IP = 16;
/** Handshakes one IP address may start per `HANDSHAKE_WINDOW_MS`, across all its peer ids. */
export const MAX_HANDSHAKES_PER_IP_PER_WINDOW = 60;
