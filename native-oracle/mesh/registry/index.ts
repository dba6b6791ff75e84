/**
 * The oracle's scout registry: which peers passed the handshake (records with their hello and
 * measured figures), how often each failed, the handshake flood guard (per peer and per
 * address), and the leasing of eligible scouts to generation sessions. Bans live in the trust
 * ledger (SQLite), so they survive restarts; the registry reads and writes them there.
 *
 * It holds no stream handler; the handshake service admits scouts into it and the oracle mesh
 * leases from it. `start()` follows the node's connections (a record lives as long as its
 * connection; a banned peer that reconnects is hung up on); `stop()` stops following them.
 */
import type { PeerId, Startable } from '@libp2p/interface';
import type { HelloPayload, MeshProtocolError } from '../../../src/lib/protocol/mesh.js';
import type { ScoutLink } from '../scout-link.js';
import type { RemoteDraftStats } from '../draft-source.js';
import type { MeshNode } from '../node-peer.js';
import type { BanEntry, TrustLedger } from '../trust/index.js';
import { ScoutRegistryService } from './scout-registry.js';

/** What the registry knows about one scout that passed the handshake. */
export interface ScoutRecord {
  peerId: PeerId;
  hello: HelloPayload;
  connectedAt: number;
  /** Last handshake or signed heartbeat, ms since the epoch. */
  lastSeenAt: number;
  /** Sessions leased to it now. */
  sessions: number;
  /** Draft tokens of its finished sessions (shared equally among a session's scouts). */
  drafted: number;
  accepted: number;
  /** Draft speed measured on this oracle's verify streams; null before any. Never self-reported. */
  measuredTokensPerSecond: number | null;
  /** Smoothed ms per drafted token measured on verify streams (tickets included); null before any. */
  draftMsPerToken: number | null;
  /** The remote IP of a direct connection; null when relayed (the relay caps those per client). */
  address: string | null;
}

export interface ScoutRegistryComponents {
  /** The libp2p node: connections (eligibility, hanging up on banned peers) and peer events. */
  node: Pick<MeshNode, 'getConnections' | 'hangUp' | 'addEventListener' | 'removeEventListener'>;
  /** Bans, offences and acceptance history; default an in-memory ledger (unit tests). */
  ledger?: TrustLedger;
}

export interface ScoutRegistryInit {
  /** Sessions one scout serves at once; default `DEFAULT_MAX_SESSIONS_PER_SCOUT` (2). */
  maxSessionsPerScout?: number;
  /** Called after the registry banned a peer for a protocol violation (the mesh announces it). */
  onBan?(entry: BanEntry): void;
}

export interface LeaseRequest {
  /** Lease only these scouts (those of them that are eligible); default any. */
  peerIds?: string[];
  /** Scouts to lease; default `peerIds.length` when given, else 1. */
  count?: number;
  /** Only scouts this accepts (the request's scout floor); default all eligible. */
  accept?(record: ScoutRecord): boolean;
}

export interface ScoutRegistry extends Startable {
  /** Follows the node's peer events; idempotent. */
  start(): void;
  /** Stops following them; records are kept. */
  stop(): void;
  /** Scouts that passed the handshake and are still connected (banned ones are removed). */
  readonly size: number;
  get(peerId: string): ScoutRecord | undefined;
  /** Handshake refusals and protocol offences of a peer so far. */
  failures(peerId: string): number;
  /** When the current connection of a peer opened; undefined when not tracked. */
  connectedAt(peerId: string): number | undefined;
  isBanned(peerId: string): boolean;
  /**
   * Records a handshake attempt (flood guard). Throws `MeshProtocolError('too-many-streams')`
   * once a peer exceeds `MAX_HANDSHAKES_PER_WINDOW` within `HANDSHAKE_WINDOW_MS`.
   */
  noteHandshake(peerId: string): void;
  /**
   * Counts a handshake from a direct address (null = relayed, not counted) and returns why it is
   * refused when that address started more than `MAX_HANDSHAKES_PER_IP_PER_WINDOW` handshakes
   * within `HANDSHAKE_WINDOW_MS` (null when it may go on). A refusal, not a ban: other peers
   * behind the same address did nothing wrong.
   */
  noteAddressHandshake(address: string | null): string | null;
  /** Counts a handshake refusal (tokenizer, role, version) against a peer; does not ban it. */
  noteRefusal(peerId: string): void;
  /**
   * Registers a scout whose hello was accepted (replacing an older record of the peer). Returns
   * why it is refused instead when `MAX_SCOUTS_PER_IP` scouts are registered from its address.
   */
  admit(peerId: PeerId, hello: HelloPayload, address?: string | null): string | null;
  /** A signed heartbeat from a registered scout: refreshes `lastSeenAt` (its claims are ignored). */
  noteHeartbeat(peerId: string): void;
  /** Takes the draft pace a verify stream measured (a ticket's or a session's). */
  noteMeasured(peerId: string, link: Pick<ScoutLink, 'draftMsPerToken' | 'tokensPerSecond'>): void;
  /**
   * Drops a peer that broke the protocol: bans it in the ledger for `PROTOCOL_BAN_HOURS`,
   * counts the offence, forgets its record and hangs up. Sessions it served carry on with
   * their other scouts.
   */
  punish(peerId: string, err: MeshProtocolError): void;
  /** Forgets a peer's record and hangs up (after a ban decided elsewhere). */
  drop(peerId: string): void;
  /** Registered, connected, not banned and below `maxSessionsPerScout` sessions. */
  eligible(): ScoutRecord[];
  /**
   * Leases the best eligible scouts that `accept` admits, ranked by what this oracle measured
   * only: acceptance rate from verification (history in the ledger), then draft pace (ms per
   * token on verify streams), then least busy. Self-reported speeds are never used. Counts a
   * session on each; returns an empty array when none is eligible.
   */
  lease(request: LeaseRequest): ScoutRecord[];
  /**
   * Returns a lease taken by `lease()` and attributes the session's figures to the scouts whose
   * links served it (record and ledger history); call once per lease. `stats` null = a golden
   * ticket: nothing is attributed.
   */
  release(leased: ScoutRecord[], links: readonly ScoutLink[], stats: RemoteDraftStats | null): void;
  /** Forgets flood-guard windows that ended (called periodically; bans expire in the ledger). */
  prune(now?: number): void;
}

/** Creates the registry; call `start()` before the node accepts handshakes. */
export function createScoutRegistry(
  components: ScoutRegistryComponents,
  init: ScoutRegistryInit = {}
): ScoutRegistry {
  return new ScoutRegistryService(components, init);
}
