/**
 * The scout registry's implementation (contract in `./index.ts`). All its state is keyed by the
 * peer id string; records, failures and flood-guard windows change only through the methods
 * below; bans are read from and written to the trust ledger.
 */
import type { PeerId } from '@libp2p/interface';
import { MeshProtocolError, type HelloPayload } from '../../../src/lib/protocol/mesh.js';
import { createLogger } from '../../../src/lib/server/log.js';
import {
  DEFAULT_BAN_DURATION_HOURS,
  DEFAULT_MAX_SESSIONS_PER_SCOUT,
  DEFAULT_MIN_ATTEMPTS_BEFORE_BAN,
  DEFAULT_REPUTATION_THRESHOLD,
  DEFAULT_SCOUTS_PER_SESSION,
  EMA_ALPHA,
  HANDSHAKE_TIMEOUT_MS,
  HANDSHAKE_WINDOW_MS,
  MAX_HANDSHAKES_PER_IP_PER_WINDOW,
  MAX_HANDSHAKES_PER_WINDOW,
  MAX_SCOUTS_PER_IP,
  PROTOCOL_BAN_HOURS,
  UNMEASURED_ACCEPTANCE_RATE
} from '../constants.js';
import type { RemoteDraftStats } from '../draft-source.js';
import type { ScoutLink } from '../scout-link.js';
import { createTrustLedger, type TrustLedger } from '../trust/index.js';
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
  /** Peer id → handshake times within the flood-guard window. */
  private readonly handshakeTimes = new Map<string, number[]>();
  /** Direct address → handshake times within the window. */
  private readonly addressTimes = new Map<string, number[]>();
  private readonly connectionTimes = new Map<string, number>();
  private readonly maxSessionsPerScout: number;
  private readonly ledger: TrustLedger;
  private isRunning = false;

  constructor(
    private readonly components: ScoutRegistryComponents,
    private readonly init: ScoutRegistryInit
  ) {
    this.maxSessionsPerScout = init.maxSessionsPerScout ?? DEFAULT_MAX_SESSIONS_PER_SCOUT;
    this.ledger =
      components.ledger ??
      createTrustLedger({
        path: ':memory:',
        reputationThreshold: DEFAULT_REPUTATION_THRESHOLD,
        minAttemptsBeforeBan: DEFAULT_MIN_ATTEMPTS_BEFORE_BAN,
        banDurationHours: DEFAULT_BAN_DURATION_HOURS
      });
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
    return this.ledger.isBanned(peerId);
  }

  noteHandshake(peerId: string): void {
    const count = countInWindow(this.handshakeTimes, peerId);
    if (count > MAX_HANDSHAKES_PER_WINDOW) {
      throw new MeshProtocolError('too-many-streams', `${count} handshakes within a minute`);
    }
  }

  noteAddressHandshake(address: string | null): string | null {
    if (address === null) return null;
    const count = countInWindow(this.addressTimes, address);
    return count > MAX_HANDSHAKES_PER_IP_PER_WINDOW
      ? `${count} handshakes from one address within a minute; try again later`
      : null;
  }

  noteRefusal(peerId: string): void {
    this.failureCounts.set(peerId, this.failures(peerId) + 1);
  }

  admit(peerId: PeerId, hello: HelloPayload, address: string | null = null): string | null {
    const id = peerId.toString();
    if (address !== null) {
      const sameAddress = [...this.scouts.values()].filter(
        (s) => s.address === address && s.peerId.toString() !== id
      ).length;
      if (sameAddress >= MAX_SCOUTS_PER_IP)
        return `${sameAddress} scouts are already registered from this address`;
    }
    const now = Date.now();
    this.scouts.set(id, {
      peerId,
      hello,
      connectedAt: now,
      lastSeenAt: now,
      sessions: 0,
      drafted: 0,
      accepted: 0,
      measuredTokensPerSecond: null,
      draftMsPerToken: null,
      address
    });
    return null;
  }

  noteHeartbeat(peerId: string): void {
    const record = this.scouts.get(peerId);
    if (record) record.lastSeenAt = Date.now();
  }

  noteMeasured(peerId: string, link: Pick<ScoutLink, 'draftMsPerToken' | 'tokensPerSecond'>): void {
    const record = this.scouts.get(peerId);
    if (!record) return;
    const tps = link.tokensPerSecond();
    if (tps > 0) record.measuredTokensPerSecond = tps;
    const ms = link.draftMsPerToken;
    if (ms !== null)
      record.draftMsPerToken =
        record.draftMsPerToken === null
          ? ms
          : record.draftMsPerToken + EMA_ALPHA * (ms - record.draftMsPerToken);
  }

  punish(peerId: string, err: MeshProtocolError): void {
    log.warn('banning peer for a protocol violation', { peer: peerId, reason: err.reason });
    this.noteRefusal(peerId);
    this.ledger.recordOffence(peerId);
    const entry = this.ledger.ban({
      peerId,
      reason: `protocol: ${err.reason}`,
      hours: PROTOCOL_BAN_HOURS,
      failedAttempts: this.failures(peerId)
    });
    this.drop(peerId);
    this.init.onBan?.(entry);
  }

  drop(peerId: string): void {
    this.scouts.delete(peerId);
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
    const { peerIds, accept } = request;
    const pool = this.eligible().filter(
      (s) => (!peerIds || peerIds.includes(s.peerId.toString())) && (!accept || accept(s))
    );
    // Measured figures only: the hello's and heartbeats' draft speeds are claims.
    const ranked = pool
      .map((s) => ({ s, rate: this.acceptanceRate(s), pace: s.draftMsPerToken ?? Infinity }))
      .sort(
        (a, b) =>
          b.rate - a.rate ||
          (a.pace === b.pace ? 0 : a.pace < b.pace ? -1 : 1) ||
          a.s.sessions - b.s.sessions
      )
      .map((x) => x.s);
    const leased = ranked.slice(
      0,
      request.count ?? (peerIds ? peerIds.length : DEFAULT_SCOUTS_PER_SESSION)
    );
    for (const s of leased) s.sessions += 1;
    return leased;
  }

  release(
    leased: ScoutRecord[],
    links: readonly ScoutLink[],
    stats: RemoteDraftStats | null
  ): void {
    for (const s of leased) s.sessions = Math.max(0, s.sessions - 1);
    if (!stats) return;
    // Attribute the session's outcome to the scouts that served it, in equal shares.
    const share = links.length > 0 ? 1 / links.length : 0;
    for (const link of links) {
      const drafted = Math.round(stats.drafted * share);
      const accepted = Math.round(stats.accepted * share);
      if (drafted > 0) this.ledger.recordAcceptance(link.scoutId, drafted, accepted);
      const record = this.scouts.get(link.scoutId);
      if (!record) continue;
      record.drafted += drafted;
      record.accepted += accepted;
      this.noteMeasured(link.scoutId, link);
    }
  }

  prune(now = Date.now()): void {
    for (const times of [this.handshakeTimes, this.addressTimes])
      for (const [id, list] of times)
        if (list.every((t) => now - t > HANDSHAKE_WINDOW_MS)) times.delete(id);
  }

  /** Acceptance from verification: this oracle's history of the scout, else the neutral prior. */
  private acceptanceRate(s: ScoutRecord): number {
    const history = this.ledger.acceptance(s.peerId.toString());
    if (history && history.drafted > 0) return history.accepted / history.drafted;
    return s.drafted > 0 ? s.accepted / s.drafted : UNMEASURED_ACCEPTANCE_RATE;
  }

  private onConnect(evt: CustomEvent<PeerId>): void {
    const id = evt.detail.toString();
    this.connectionTimes.set(id, Date.now());
    if (!this.isBanned(id)) return;
    // A banned peer may still hear why (the handshake answers `banned`, then hangs up); one
    // that does not handshake is hung up on once a handshake would have timed out.
    setTimeout(() => {
      if (this.isBanned(id)) void this.components.node.hangUp(evt.detail).catch(() => undefined);
    }, HANDSHAKE_TIMEOUT_MS).unref?.();
  }

  private onDisconnect(evt: CustomEvent<PeerId>): void {
    const id = evt.detail.toString();
    this.connectionTimes.delete(id);
    this.scouts.delete(id);
  }
}

/** Adds now to `key`'s times within the handshake window and returns how many there are. */
function countInWindow(map: Map<string, number[]>, key: string): number {
  const now = Date.now();
  const recent = (map.get(key) ?? []).filter((t) => now - t < HANDSHAKE_WINDOW_MS);
  recent.push(now);
  map.set(key, recent);
  return recent.length;
}
