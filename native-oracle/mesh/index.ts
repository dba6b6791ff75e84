/**
 * The oracle's libp2p peer: it joins relays, advertises drafting work on `shard-work`, accepts
 * scouts through the signed handshake (refusing a tokenizer that differs from the target's),
 * keeps a registry of eligible scouts, and leases them to generation sessions as a remote
 * `DraftSource`. Nothing a scout says about itself is trusted: new scouts pass golden tickets
 * on probation before they see a real prompt, every scout is audited at the ticket rate, and
 * the request's scout floor decides who may see its prompt. Scouts that fail tickets or break
 * the protocol are banned in a SQLite ledger (bans survive restarts and are announced, signed,
 * to oracles that trust this one); the sessions they served carry on with the others, the
 * oracle's own drafting or plain decoding.
 *
 * Units: `handshake/` (the handshake protocol handler), `registry/` (records, flood guard,
 * leasing), `trust/` (ledger, golden tickets, probation, bans), `scout-link.ts` (one verify
 * stream), `draft-source.ts` (one session's draft source), `oracle-mesh.ts` (node lifecycle,
 * announcements, topology; implements this contract). Trust model and detection math:
 * `README.md`.
 *
 * Wiring into the HTTP server: `createOracleServer({ ..., plugins: [meshPlugin(mesh)] })`.
 */
import { generateKeyPair } from '@libp2p/crypto/keys';
import type { PrivateKey } from '@libp2p/interface';
import { loadOrCreateKey } from '../../relay/key-file.js';
import type { ContributionMessageTarget } from '../contribution/dispatch.js';
import type { DraftSource, TargetEngine } from '../engine/index.js';
import {
  MAX_DIRECT_CONNECTIONS_PER_IP,
  ORACLE_INBOUND_CONNECTION_THRESHOLD,
  ORACLE_MAX_CONNECTIONS,
  ORACLE_MAX_INCOMING_PENDING
} from './constants.js';
import type { MeshCreditSink } from './credits.js';
import type { RemoteDraftSource } from './draft-source.js';
import { createMeshNode, type MeshNode } from './node-peer.js';
import { OracleMeshService } from './oracle-mesh.js';
import type { ConnectionInfo } from './round-trip.js';
import type { AuditorStats } from './trust/auditor.js';
import type { BanEntry, ReputationEntry, ScoutFloor } from './trust/index.js';

export { scoutIdentity, type MeshCreditSink } from './credits.js';
export { createMeshNode, type MeshNode } from './node-peer.js';
export type { ConnectionInfo, ConnectionKind } from './round-trip.js';
export type { BanEntry, ReputationEntry, ScoutFloor } from './trust/index.js';
export { SCOUT_FLOORS } from './trust/index.js';

export interface OracleMeshOptions {
  /**
   * The target engine scouts draft for: its model id and tokenizer fingerprint go into the
   * hello and announcements; draft token ids at or above its `vocabularySize` are an offence.
   */
  engine: Pick<TargetEngine, 'modelId' | 'tokenizerFingerprint' | 'vocabularySize'>;
  /** Relay multiaddrs to join (with /p2p/<id>); re-dialled every `reconnectSeconds`. */
  relays?: string[];
  /** Own listen addresses; default TCP on 127.0.0.1, any port. */
  listen?: string[];
  /** The oracle's identity; default the key in `keyFile`, else a fresh Ed25519 key. */
  privateKey?: PrivateKey;
  /**
   * File holding the oracle's libp2p key (created on first use, mode 0600; the relay's format),
   * so its peer id, and what other oracles trust, stay the same across restarts. Default none
   * (a fresh identity per start); the oracle CLI passes `<data dir>/mesh.key`.
   */
  keyFile?: string;
  /**
   * Directory of the reputation ledger (`scout-trust.sqlite`: golden-ticket records, acceptance
   * history, bans). Default SHARD_DATA_DIR, else `<cwd>/.shard`.
   */
  dataDir?: string;
  /**
   * The draft model the oracle serves at /models/draft.gguf: golden tickets are scored against
   * it (run here on one thread). Default: the generated pair's draft beside the target, when the
   * models dir holds a generated pair whose target is `engine.modelId` with the same tokenizer;
   * null (or no such pair) disables tickets, and then no scout becomes `reputable`.
   */
  draftModelPath?: string | null;
  /** Sentences golden-ticket contexts start from; default the bundled public-domain corpus. */
  ticketCorpus?: string[];
  /** Fraction of a reputable scout's sessions that are golden tickets; default 0.05. 1 = every session. */
  goldenTicketRate?: number;
  /** Share of tickets a scout must pass; default 0.70. */
  reputationThreshold?: number;
  /** Tickets before the threshold rule may ban; default 3. */
  minAttemptsBeforeBan?: number;
  /** Hours a golden-ticket ban lasts; default 24 (0 = permanent). */
  banDurationHours?: number;
  /** Tickets a new scout must pass before it sees a real prompt; default 3. */
  probationTickets?: number;
  /** Oracles (peer ids) whose signed ban announcements this oracle applies; default none. */
  trustedOracles?: string[];
  /** Scouts (peer ids) the operator vouches for: the `trusted` floor, and no probation; default none. */
  trustedScouts?: string[];
  /** Floor of requests that name none; default `reputable`. */
  scoutFloor?: ScoutFloor;
  /** Seed of golden-ticket choices (tests); default random. */
  trustSeed?: number;
  /** Connection limits of the oracle's node; defaults in constants.ts (issue 10, finding 11). */
  limits?: {
    maxConnections?: number;
    maxIncomingPendingConnections?: number;
    inboundConnectionThreshold?: number;
    maxDirectConnectionsPerIp?: number;
  };
  /**
   * Scouts leased per generation session; default 1. Greedy scouts on the same draft model
   * produce the same chain, so a second one only hedges against a slow or failing first.
   */
  scoutsPerSession?: number;
  /** Draft tokens per verify round asked of scouts; default 8. */
  draftLength?: number;
  /**
   * How far scouts may draft past the committed context; default draftLength. Larger values let
   * a scout keep drafting while the oracle verifies, which pays when whole rounds are accepted
   * and the scout has its own CPU.
   */
  lookahead?: number;
  /**
   * Default true: scout sources wait for drafts within the engine governor's budget. False: every
   * round waits up to UNGOVERNED_MAX_WAIT_MS for k drafts (benchmarks' "governor off"). Whether a
   * round drafts is the engine's governor's decision either way.
   */
  isGoverned?: boolean;
  /** Seconds between work announcements; default 5. */
  announceSeconds?: number;
  /** Seconds between relay re-dials; default 20. */
  reconnectSeconds?: number;
  /** Sessions one scout serves at once; default 2. */
  maxSessionsPerScout?: number;
  /**
   * Where verified scout work is credited (the contribution service's `credit`): accepted draft
   * tokens per verify session and passed golden tickets, under the scout's Ed25519 public key
   * (credits.ts). Default none: nothing is credited.
   */
  credit?: MeshCreditSink;
  /**
   * The contributor control plane (the contribution service): when given, signed control
   * messages are also taken over the mesh on `/shard/contribution/1.0.0`
   * (contribution-handler.ts), through the same dispatch as the `/v1/contribution/*` routes.
   * Default none: the protocol is not handled.
   */
  contribution?: ContributionMessageTarget;
}

/** A connected peer as /v1/system/peers shows it (snake_case like the rest of the API). */
export interface MeshPeerInfo {
  peer_id: string;
  addrs: string[];
  /**
   * Round trip to the peer, ms: the lowest of its connections' latest libp2p pings (every 15 s),
   * else the ping made when it connected; null before either.
   */
  rtt_ms: number | null;
  /** Each open connection: remote address, kind (webrtc, relayed, websockets, tcp) and its rtt. */
  connections: ConnectionInfo[];
  role: string | null;
  connected_at: number;
  last_seen_at: number;
  verified: boolean;
  handshake_failures: number;
  tokenizer_fingerprint: string | null;
  /** Measured on this oracle's verify streams; null before any. */
  draft_tokens_per_second: number | null;
  /** What the scout claimed in its hello (shown, never used for ranking). */
  claimed_draft_tokens_per_second: number | null;
  /** `trusted`, `reputable`, `probation` or `banned`. */
  trust: string;
  sessions: number;
  drafted: number;
  accepted: number;
  acceptance_rate: number;
  [field: string]: unknown;
}

export interface ScoutDraftSourceRequest {
  /** Whether the request allows scouts to see its prompt; false returns null. Default true. */
  isPromptShareable?: boolean;
  /** Override the number of scouts for this session. */
  scouts?: number;
  /** Override `isGoverned` (budgeted or fixed waits) for this session (benchmarks compare both). */
  isGoverned?: boolean;
  /** Used in rounds where no scout draft is usable. */
  fallback?: DraftSource | null;
  /** Lease exactly these scouts (those of them that are eligible); default the best ones. */
  peerIds?: string[];
  /**
   * Who may see this prompt (see `ScoutFloor`); default the mesh's `scoutFloor` (`reputable`).
   * `none` returns null.
   */
  scoutFloor?: ScoutFloor;
}

export interface OracleMesh {
  readonly node: MeshNode;
  readonly peerId: string;
  /**
   * Starts the node, registers the handshake handler, subscribes to the mesh topics, dials the
   * relays and starts announcing. Call once.
   */
  start(): Promise<void>;
  /** Stops announcing and re-dialling, removes the handler and stops the node. */
  stop(): Promise<void>;
  /** Own addresses, each ending in /p2p/<own id>. */
  multiaddrs(): string[];
  peers(): MeshPeerInfo[];
  topology(): Record<string, unknown>;
  /**
   * Eligible scouts now (handshake passed, connected, not banned, below their session cap) that
   * `floor` admits (default the mesh's floor).
   */
  scoutCount(floor?: ScoutFloor): number;
  /**
   * A draft source backed by leased scouts for one generation session, or null when no scout
   * is eligible or the prompt may not be shown to scouts. The session ends when generation
   * stops calling it (idle) or on `end()`. Throws `MeshNotStartedError` before `start()`.
   */
  scoutDraftSource(request?: ScoutDraftSourceRequest): RemoteDraftSource | null;
  /** Resolves once `n` scouts are eligible under `floor` (default the mesh's), or rejects on `signal`. */
  waitForScouts(n: number, signal?: AbortSignal, floor?: ScoutFloor): Promise<void>;
  /** The reputation ledger, most recently seen first (GET /v1/system/reputation). */
  reputation(): ReputationEntry[];
  /** Active bans, newest first (GET /v1/system/bans). */
  bans(): BanEntry[];
  /**
   * Bans a peer by hand (reason and hours default to `operator` and `banDurationHours`): its
   * sessions end, the handshake refuses it, and the ban is announced to trusting oracles.
   */
  ban(peerId: string, options?: { reason?: string; hours?: number }): Promise<BanEntry>;
  /** Lifts a ban; true when there was one. */
  unban(peerId: string): boolean;
  /** Golden-ticket and ban-announcement counters since start (benchmarks, metrics). */
  ticketStats(): TrustStats;
}

/** Counters of the trust unit since start. */
export interface TrustStats extends AuditorStats {
  /** Ban announcements applied (signed by a trusted oracle) and ignored (any other signer). */
  announcementsApplied: number;
  announcementsIgnored: number;
}

/** Creates the oracle's mesh peer (its node is created, not started); call `start()`. */
export async function createOracleMesh(options: OracleMeshOptions): Promise<OracleMesh> {
  const privateKey =
    options.privateKey ??
    (options.keyFile
      ? (await loadOrCreateKey(options.keyFile)).key
      : await generateKeyPair('Ed25519'));
  const node = await createMeshNode({
    privateKey,
    listen: options.listen,
    isStarted: false,
    limits: {
      maxConnections: ORACLE_MAX_CONNECTIONS,
      maxIncomingPendingConnections: ORACLE_MAX_INCOMING_PENDING,
      inboundConnectionThreshold: ORACLE_INBOUND_CONNECTION_THRESHOLD,
      maxDirectConnectionsPerIp: MAX_DIRECT_CONNECTIONS_PER_IP,
      ...options.limits
    }
  });
  return new OracleMeshService(node, privateKey, options);
}
