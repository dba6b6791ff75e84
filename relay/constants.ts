/**
 * Limits of relayed connections (circuit relay v2 "limited" connections), with the reason for
 * each size. A relayed connection is end-to-end encrypted (Noise) between the two peers: the
 * relay forwards opaque bytes and cannot see, let alone filter, the protocols inside. What it can
 * do is bound how much each circuit carries and how long it lives, which caps what one pair of
 * peers can make the relay forward (before these limits, 64 MiB went through one circuit in
 * 2.3 s).
 *
 * Shard's own traffic over a circuit: the mesh handshake (one hello each way, at most
 * MAX_HANDSHAKE_BYTES = 8 KiB), the WebRTC signalling a browser uses to upgrade to a direct
 * connection (SDP offer/answer and ICE candidates: a few KiB), and verify sessions for peers that
 * stay relayed until (or instead of) that upgrade. A verify session sends the context once (at
 * most 4096 tokens per frame, about 30 KB of JSON) and then about 100-300 bytes per verify round
 * (a handful of draft token ids out, accepted count and correction back), so a 1,000-token
 * generation moves well under 200 KB. Gossip does not use circuits (it runs over each peer's
 * direct connection to the relay), so it is not counted here.
 */

/**
 * Bytes one relayed connection may carry in each direction: 16 MiB, about 80 1,000-token
 * generations with full context, far above a handshake plus a WebRTC upgrade.
 * A peer whose circuit hits the limit is disconnected; the scout rejoins at the oracle's next
 * work announcement over a fresh circuit.
 */
export const CIRCUIT_DATA_LIMIT_BYTES = 16 * 1024 * 1024;

/**
 * How long one relayed connection may stay open: 15 minutes, longer than any one generation
 * (requests are bounded by their deadlines, minutes at most), short enough that a peer cannot
 * hold relay resources indefinitely. Rejoining after it ends is automatic (see above).
 */
export const CIRCUIT_DURATION_LIMIT_MS = 15 * 60_000;

/**
 * How often the relay checks its circuits against the limits (circuit-limits.ts): 100 ms, so a
 * circuit is cut within a tenth of a second of its duration limit, and the bytes that can pass
 * before a new circuit is first counted stay small (a tenth of a second of traffic).
 */
export const CIRCUIT_SWEEP_MS = 100;

/** Environment variable holding the key that unlocks peer addresses on GET /peers. */
export const ADMIN_KEY_ENV = 'SHARD_RELAY_ADMIN_KEY';
