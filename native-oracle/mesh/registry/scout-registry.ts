/**
 * The scout registry's implementation (contract in `./index.ts`). All its state is keyed by the
 * peer id string; records, bans, failures and flood-guard windows change only through the
 * methods below.
 */
import type { PeerId } from '@libp2p/interface';
import { MeshProtocolError, type HelloPayload } from '../../../src/lib/protocol/mesh.js';
import { createLogger } from '../../../src/lib/server/log.js';
import {
  BAN_MS,
  DEFAULT_MAX_SESSIONS_PER_SCOUT,
  DEFAULT_SCOUTS_PER_SESSION,
  HANDSHAKE_WINDOW_MS,
  MAX_HANDSHAKES_PER_WINDOW,
  UNMEASURED_ACCEPTANCE_RATE
} from '../constants.js';
import type { RemoteDraftStats } from '../draft-source.js';
import type { ScoutLink } from '../scout-link.js';
import type {
  LeaseRequest,
  ScoutRecord,
  ScoutRegistry,
  ScoutRegistryComponents,
  ScoutRegistryInit
} from './index.js';

const log = createLogger('shard:oracle:mesh');

export class ScoutRegistryService implements ScoutRegistry {
  private readonly scouts = new Map<string, ScoutRecord>();
  private readonly failureCounts = new Map<string, number>();
  /** Peer id → ban expiry, ms since the epoch. */
  private readonly banned = new Map<string, number>();
  /** Peer id → handshake times within the flood-guard window. */
  private readonly handshakeTimes = new Map<string, number[]>();
  private readonly connectionTimes = new Map<string, number>();
  private readonly maxSessionsPerScout: number;
  private isRunning = false;

  constructor(
    private readonly components: ScoutRegistryComponents,
    init: ScoutRegistryInit
  ) {
    this.maxSessionsPerScout = init.maxSessionsPerScout ?? DEFAULT_MAX_SESSIONS_PER_SCOUT;
    this.onConnect = this.onConnect.bind(this);
    this.onDisconnect = this.onDisconnect.bind(this);
  }

  start(): void {
    if (this.isRunning) return;
    this.components.node.addEventListener('peer:connect', this.onConnect);
    this.components.node.addEventListener('peer:disconnect', this.onDisconnect);
    this.isRunning = true;
  }

  stop(): void {
    this.components.node.removeEventListener('peer:connect', this.onConnect);
    this.components.node.removeEventListener('peer:disconnect', this.onDisconnect);
    this.isRunning = false;
  }

  get size(): number {
    return this.scouts.size;
  }

  get(peerId: string): ScoutRecord | undefined {
    return this.scouts.get(peerId);
  }

  failures(peerId: string): number {
    return this.failureCounts.get(peerId) ?? 0;
  }

  connectedAt(peerId: string): number | undefined {
    return this.connectionTimes.get(peerId);
  }

  isBanned(peerId: string): boolean {
    return (this.banned.get(peerId) ?? 0) > Date.now();
  }

  noteHandshake(peerId: string): void {
    const now = Date.now();
    const recent = (this.handshakeTimes.get(peerId) ?? []).filter(
      (t) => now - t < HANDSHAKE_WINDOW_MS
    );
    recent.push(now);
    this.handshakeTimes.set(peerId, recent);
    if (recent.length > MAX_HANDSHAKES_PER_WINDOW) {
      throw new MeshProtocolError(
        'too-many-streams',
        `${recent.length} handshakes within a minute`
      );
    }
  }

  noteRefusal(peerId: string): void {
    this.failureCounts.set(peerId, this.failures(peerId) + 1);
  }

  admit(peerId: PeerId, hello: HelloPayload): void {
    const now = Date.now();
    this.scouts.set(peerId.toString(), {
      peerId,
      hello,
      connectedAt: now,
      lastSeenAt: now,
      sessions: 0,
      drafted: 0,
      accepted: 0,
      measuredTokensPerSecond: null
    });
  }

  noteHeartbeat(peerId: string, draftTokensPerSecond: number | null): void {
    const record = this.scouts.get(peerId);
    if (!record) return;
    record.lastSeenAt = Date.now();
    record.measuredTokensPerSecond = draftTokensPerSecond;
  }

  punish(peerId: string, err: MeshProtocolError): void {
    log.warn('dropping peer', { peer: peerId, reason: err.reason });
    this.banned.set(peerId, Date.now() + BAN_MS);
    this.scouts.delete(peerId);
    this.noteRefusal(peerId);
    const peer = this.components.node
      .getConnections()
      .find((c) => c.remotePeer.toString() === peerId)?.remotePeer;
    if (peer)
      void this.components.node
        .hangUp(peer)
        .catch((e: unknown) => log.debug('hang up failed', { peer: peerId, error: e }));
  }

  eligible(): ScoutRecord[] {
    return [...this.scouts.values()].filter(
      (s) =>
        !this.isBanned(s.peerId.toString()) &&
        this.components.node.getConnections(s.peerId).length > 0 &&
        s.sessions < this.maxSessionsPerScout
    );
  }

  lease(request: LeaseRequest): ScoutRecord[] {
    const { peerIds } = request;
    const pool = peerIds
      ? this.eligible().filter((s) => peerIds.includes(s.peerId.toString()))
      : this.eligible();
    const leased = pool
      .sort(
        (a, b) =>
          acceptanceRate(b) - acceptanceRate(a) ||
          draftSpeed(b) - draftSpeed(a) ||
          a.sessions - b.sessions
      )
      .slice(0, request.count ?? (peerIds ? peerIds.length : DEFAULT_SCOUTS_PER_SESSION));
    for (const s of leased) s.sessions += 1;
    return leased;
  }

  release(leased: ScoutRecord[], links: readonly ScoutLink[], stats: RemoteDraftStats): void {
    for (const s of leased) s.sessions = Math.max(0, s.sessions - 1);
    // Attribute the session's outcome to the scouts that served it, in equal shares.
    const share = links.length > 0 ? 1 / links.length : 0;
    for (const link of links) {
      const record = this.scouts.get(link.scoutId);
      if (!record) continue;
      record.drafted += Math.round(stats.drafted * share);
      record.accepted += Math.round(stats.accepted * share);
      const tps = link.tokensPerSecond();
      if (tps > 0) record.measuredTokensPerSecond = tps;
    }
  }

  prune(now = Date.now()): void {
    for (const [id, times] of this.handshakeTimes)
      if (times.every((t) => now - t > HANDSHAKE_WINDOW_MS)) this.handshakeTimes.delete(id);
    for (const [id, until] of this.banned) if (until < now) this.banned.delete(id);
  }

  private onConnect(evt: CustomEvent<PeerId>): void {
    const id = evt.detail.toString();
    if (this.isBanned(id)) void this.components.node.hangUp(evt.detail).catch(() => undefined);
    else this.connectionTimes.set(id, Date.now());
  }

  private onDisconnect(evt: CustomEvent<PeerId>): void {
    const id = evt.detail.toString();
    this.connectionTimes.delete(id);
    this.scouts.delete(id);
  }
}

function acceptanceRate(s: ScoutRecord): number {
  return s.drafted > 0 ? s.accepted / s.drafted : UNMEASURED_ACCEPTANCE_RATE;
}

function draftSpeed(s: ScoutRecord): number {
  return s.measuredTokensPerSecond ?? s.hello.draftTokensPerSecond ?? 0;
}
