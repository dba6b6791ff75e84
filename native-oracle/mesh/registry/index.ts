/**
 * The oracle's scout registry: which peers passed the handshake (records with their hello and
 * measured figures), which are banned and how often each failed, the handshake flood guard, and
 * the leasing of eligible scouts to generation sessions.
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
  /** Draft speed measured on verify streams or reported in heartbeats; null before either. */
  measuredTokensPerSecond: number | null;
}

export interface ScoutRegistryComponents {
  /** The libp2p node: connections (eligibility, hanging up on banned peers) and peer events. */
  node: Pick<MeshNode, 'getConnections' | 'hangUp' | 'addEventListener' | 'removeEventListener'>;
}

export interface ScoutRegistryInit {
  /** Sessions one scout serves at once; default `DEFAULT_MAX_SESSIONS_PER_SCOUT` (2). */
  maxSessionsPerScout?: number;
}

export interface LeaseRequest {
  /** Lease only these scouts (those of them that are eligible); default any. */
  peerIds?: string[];
  /** Scouts to lease; default `peerIds.length` when given, else 1. */
  count?: number;
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
  /** Counts a handshake refusal (tokenizer, role, version) against a peer; does not ban it. */
  noteRefusal(peerId: string): void;
  /** Registers a scout whose hello was accepted (replacing an older record of the peer). */
  admit(peerId: PeerId, hello: HelloPayload): void;
  /** A signed heartbeat from a registered scout: refreshes `lastSeenAt` and its draft speed. */
  noteHeartbeat(peerId: string, draftTokensPerSecond: number | null): void;
  /**
   * Drops a peer that broke the protocol: bans it for `BAN_MS`, forgets its record, counts the
   * failure and hangs up. Sessions it served carry on with their other scouts.
   */
  punish(peerId: string, err: MeshProtocolError): void;
  /** Registered, connected, not banned and below `maxSessionsPerScout` sessions. */
  eligible(): ScoutRecord[];
  /**
   * Leases the best eligible scouts (highest acceptance rate, then fastest, then least busy) and
   * counts a session on each. Returns an empty array when none is eligible.
   */
  lease(request: LeaseRequest): ScoutRecord[];
  /**
   * Returns a lease taken by `lease()` and attributes the session's figures to the scouts whose
   * links served it; call once per lease.
   */
  release(leased: ScoutRecord[], links: readonly ScoutLink[], stats: RemoteDraftStats): void;
  /** Forgets expired bans and flood-guard windows (called periodically). */
  prune(now?: number): void;
}

/** Creates the registry; call `start()` before the node accepts handshakes. */
export function createScoutRegistry(
  components: ScoutRegistryComponents,
  init: ScoutRegistryInit = {}
): ScoutRegistry {
  return new ScoutRegistryService(components, init);
}
