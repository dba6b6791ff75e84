/**
 * The oracle mesh's implementation (contract in `./index.ts`): node lifecycle, relay dials, work
 * announcements, heartbeats, topology, and the composition of the handshake service, the scout
 * registry, the trust policy (ledger, golden tickets, bans) and remote draft sessions.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { Message } from '@libp2p/gossipsub';
import type { PrivateKey } from '@libp2p/interface';
import { multiaddr } from '@multiformats/multiaddr';
import {
  decode,
  encode,
  MAX_GOSSIP_BYTES,
  MESH_TOPICS,
  WORK_RESULT_TOPIC,
  WORK_TOPIC,
  WorkResultSchema,
  type WorkAnnouncement
} from '../../src/lib/protocol/mesh.js';
import { dataDir } from '../../src/lib/server/data-dir.js';
import { createLogger } from '../../src/lib/server/log.js';
import {
  DEFAULT_ANNOUNCE_SECONDS,
  DEFAULT_BAN_DURATION_HOURS,
  DEFAULT_DRAFT_LENGTH,
  DEFAULT_MIN_ATTEMPTS_BEFORE_BAN,
  DEFAULT_RECONNECT_SECONDS,
  DEFAULT_REPUTATION_THRESHOLD,
  DEFAULT_SCOUTS_PER_SESSION,
  MAX_ADVERTISED_SCOUTS,
  MAX_ANNOUNCED_MULTIADDRS,
  RELAY_DIAL_TIMEOUT_MS,
  TRUST_LEDGER_FILE
} from './constants.js';
import { ContributionHandler } from './contribution-handler.js';
import { creditScout } from './credits.js';
import { createRemoteDraftSource, type RemoteDraftSource } from './draft-source.js';
import { MeshNotStartedError } from './errors.js';
import { createHandshake, type Handshake } from './handshake/index.js';
import type {
  MeshPeerInfo,
  OracleMesh,
  OracleMeshOptions,
  ScoutDraftSourceRequest,
  TrustStats
} from './index.js';
import type { MeshNode } from './node-peer.js';
import { createScoutRegistry, type ScoutRecord, type ScoutRegistry } from './registry/index.js';
import { RoundTrips } from './round-trip.js';
import { ScoutLink } from './scout-link.js';
import {
  createTrustLedger,
  type BanEntry,
  type ReputationEntry,
  type ScoutFloor,
  type TrustLedger
} from './trust/index.js';
import { MeshTrust } from './trust/mesh-trust.js';

const log = createLogger('shard:oracle:mesh');

/**
 * The draft source name of a session's scouts: the engine keeps one speculation governor per
 * source name, so the same set of scouts must get the same name whatever order the registry
 * leased them in (the order follows their measured ranking, which moves); otherwise a set of
 * several scouts would start from an unmeasured governor, with its long measuring round, in
 * most sessions.
 */
export function scoutSourceName(peerIds: readonly string[]): string {
  return `scout:${peerIds
    .map((id) => id.slice(-8))
    .sort()
    .join('+')}`;
}

export class OracleMeshService implements OracleMesh {
  private readonly registry: ScoutRegistry;
  private readonly handshake: Handshake;
  private readonly contribution: ContributionHandler | null;
  private readonly ledger: TrustLedger;
  private readonly trust: MeshTrust;
  private readonly roundTrips: RoundTrips;
  private readonly timers: Array<ReturnType<typeof setInterval>> = [];
  private readonly k: number;
  private readonly lookahead: number;
  private isRunning = false;

  constructor(
    readonly node: MeshNode,
    privateKey: PrivateKey,
    private readonly options: OracleMeshOptions
  ) {
    this.k = options.draftLength ?? DEFAULT_DRAFT_LENGTH;
    this.lookahead = options.lookahead ?? this.k;
    this.ledger = createTrustLedger({
      path: join(options.dataDir ?? dataDir(), TRUST_LEDGER_FILE),
      reputationThreshold: options.reputationThreshold ?? DEFAULT_REPUTATION_THRESHOLD,
      minAttemptsBeforeBan: options.minAttemptsBeforeBan ?? DEFAULT_MIN_ATTEMPTS_BEFORE_BAN,
      banDurationHours: options.banDurationHours ?? DEFAULT_BAN_DURATION_HOURS
    });
    this.registry = createScoutRegistry(
      { node, ledger: this.ledger },
      {
        maxSessionsPerScout: options.maxSessionsPerScout,
        onBan: (entry) => void this.trust.announce(entry)
      }
    );
    this.trust = new MeshTrust(
      {
        node,
        privateKey,
        peerId: node.peerId.toString(),
        registry: this.registry,
        ledger: this.ledger,
        openLink: (peerId, sessionId, signal) => {
          const record = this.registry.get(peerId);
          if (!record) return Promise.reject(new Error('scout left'));
          return this.openLink(record, sessionId, signal);
        }
      },
      options
    );
    this.handshake = createHandshake(
      { registrar: node, registry: this.registry, privateKey, peerId: node.peerId },
      { engine: options.engine }
    );
    this.contribution = options.contribution
      ? new ContributionHandler(node, options.contribution)
      : null;
    this.roundTrips = new RoundTrips(node);
    this.onGossip = this.onGossip.bind(this);
    this.onJoin = this.onJoin.bind(this);
  }

  get peerId(): string {
    return this.node.peerId.toString();
  }

  async start(): Promise<void> {
    await this.trust.start();
    this.roundTrips.start();
    await this.node.start();
    this.registry.start();
    this.handshake.addEventListener('scout:join', this.onJoin);
    await this.handshake.start();
    await this.contribution?.start();
    for (const topic of MESH_TOPICS) this.node.services.pubsub.subscribe(topic);
    this.node.services.pubsub.addEventListener('message', this.onGossip);
    this.isRunning = true;
    await this.dialRelays();
    const announceMs = (this.options.announceSeconds ?? DEFAULT_ANNOUNCE_SECONDS) * 1000;
    const reconnectMs = (this.options.reconnectSeconds ?? DEFAULT_RECONNECT_SECONDS) * 1000;
    this.timers.push(setInterval(() => void this.announce(), announceMs));
    this.timers.push(setInterval(() => void this.dialRelays(), reconnectMs));
    for (const t of this.timers) t.unref();
    void this.announce();
    log.info('oracle mesh started', { peerId: this.peerId, addrs: this.multiaddrs() });
  }

  async stop(): Promise<void> {
    this.isRunning = false;
    for (const t of this.timers.splice(0)) clearInterval(t);
    this.roundTrips.stop();
    this.node.services.pubsub.removeEventListener('message', this.onGossip);
    this.handshake.removeEventListener('scout:join', this.onJoin);
    await this.handshake
      .stop()
      .catch((err: unknown) => log.debug('unhandle failed', { error: err }));
    await this.contribution
      ?.stop()
      .catch((err: unknown) => log.debug('unhandle failed', { error: err }));
    await this.trust.stop();
    this.registry.stop();
    await this.node.stop();
    this.ledger.close();
  }

  multiaddrs(): string[] {
    const id = this.peerId;
    return this.node.getMultiaddrs().map((a) => {
      const s = a.toString();
      return s.endsWith(`/p2p/${id}`) ? s : `${s}/p2p/${id}`;
    });
  }

  peers(): MeshPeerInfo[] {
    return this.node.getPeers().map((peer) => {
      const id = peer.toString();
      const rec = this.registry.get(id);
      const at = this.registry.connectedAt(id) ?? Date.now();
      const connections = this.node.getConnections(peer).map((c) => this.roundTrips.connection(c));
      return {
        peer_id: id,
        addrs: connections.map((c) => c.remote_addr),
        rtt_ms: this.roundTrips.peer(id, connections),
        connections,
        role: rec?.hello.role ?? null,
        connected_at: at,
        last_seen_at: rec?.lastSeenAt ?? at,
        verified: rec !== undefined,
        handshake_failures: this.registry.failures(id),
        tokenizer_fingerprint: rec?.hello.tokenizerFingerprint ?? null,
        draft_tokens_per_second: rec?.measuredTokensPerSecond ?? null,
        claimed_draft_tokens_per_second: rec?.hello.draftTokensPerSecond ?? null,
        trust: this.trust.levelOf(id),
        sessions: rec?.sessions ?? 0,
        drafted: rec?.drafted ?? 0,
        accepted: rec?.accepted ?? 0,
        acceptance_rate: rec && rec.drafted > 0 ? rec.accepted / rec.drafted : 0
      };
    });
  }

  topology(): Record<string, unknown> {
    const all = this.multiaddrs();
    return {
      status: 'ok',
      source: 'native-oracle',
      role: 'oracle',
      shard_peer_id: this.peerId,
      listen_addrs: all,
      shard_ws_multiaddr: all.find((a) => a.includes('/ws')) ?? null,
      circuit_addrs: all.filter((a) => a.includes('/p2p-circuit')),
      relays: this.options.relays ?? [],
      relay_reservation_active: all.some((a) => a.includes('/p2p-circuit')),
      known_peer_count: this.node.getPeers().length,
      scouts: this.registry.size,
      model_id: this.options.engine.modelId,
      tokenizer_fingerprint: this.options.engine.tokenizerFingerprint
    };
  }

  scoutCount(floor: ScoutFloor = this.trust.floor): number {
    const admits = this.trust.admits(floor);
    return admits ? this.registry.eligible().filter(admits).length : 0;
  }

  scoutDraftSource(request: ScoutDraftSourceRequest = {}): RemoteDraftSource | null {
    if (!this.isRunning) throw new MeshNotStartedError('oracle mesh is not started');
    if (request.isPromptShareable === false) return null;
    const admits = this.trust.admits(request.scoutFloor ?? this.trust.floor);
    if (!admits) return null;
    const leased = this.registry.lease({
      accept: admits,
      peerIds: request.peerIds,
      count:
        request.scouts ??
        (request.peerIds
          ? request.peerIds.length
          : (this.options.scoutsPerSession ?? DEFAULT_SCOUTS_PER_SESSION))
    });
    if (leased.length === 0) return null;
    const sessionId = randomBytes(8).toString('hex');
    let isReleased = false;
    return createRemoteDraftSource(scoutSourceName(leased.map((s) => s.peerId.toString())), {
      k: this.k,
      lookahead: this.lookahead,
      isGoverned: request.isGoverned ?? this.options.isGoverned ?? true,
      fallback: request.fallback ?? null,
      openLinks: (signal) => this.openLinks(leased, sessionId, signal),
      onEnd: (links, stats, work) => {
        if (isReleased) return;
        isReleased = true;
        this.registry.release(leased, links, stats);
        for (const [scout, w] of work)
          creditScout(this.options.credit, scout, 'accepted_draft_tokens', w.accepted, {
            source: 'mesh',
            ref: `${sessionId}:${scout}`,
            rounds: `${w.firstRound}-${w.lastRound}`
          });
        this.trust.onRealSessionEnd(links.map((l) => l.scoutId));
      }
    });
  }

  waitForScouts(n: number, signal?: AbortSignal, floor?: ScoutFloor): Promise<void> {
    // Probation ends on ticket verdicts, which fire no event: joins wake the check, and a
    // short poll covers verdicts (this is a convenience for tests and start-up scripts).
    return new Promise((resolve, reject) => {
      const timer = setInterval(() => check(), 100);
      const done = () => {
        clearInterval(timer);
        this.handshake.removeEventListener('scout:join', check);
      };
      const check = () => {
        if (this.scoutCount(floor) >= n) {
          done();
          resolve();
        }
      };
      signal?.addEventListener('abort', () => {
        done();
        reject(signal.reason);
      });
      this.handshake.addEventListener('scout:join', check);
      check();
    });
  }

  reputation(): ReputationEntry[] {
    return this.ledger.reputation();
  }

  bans(): BanEntry[] {
    return this.ledger.bans();
  }

  async ban(peerId: string, options: { reason?: string; hours?: number } = {}): Promise<BanEntry> {
    return this.trust.ban(
      peerId,
      options.reason ?? 'operator',
      options.hours ?? this.trust.banDurationHours
    );
  }

  unban(peerId: string): boolean {
    return this.ledger.unban(peerId);
  }

  ticketStats(): TrustStats {
    return {
      ...this.trust.stats,
      announcementsApplied: this.trust.announcements.applied,
      announcementsIgnored: this.trust.announcements.ignored
    };
  }

  private onJoin(evt: CustomEvent<{ toString(): string }>): void {
    this.trust.onJoin(evt.detail.toString());
  }

  /** Opens one verify stream to a scout (a real session's or a golden ticket's: the same). */
  private openLink(
    record: ScoutRecord,
    sessionId: string,
    signal: AbortSignal
  ): Promise<ScoutLink> {
    return ScoutLink.open({
      node: this.node,
      peerId: record.peerId,
      sessionId,
      k: this.k,
      lookahead: this.lookahead,
      vocabularySize: this.options.engine.vocabularySize,
      signal,
      onOffence: (id, err) => this.registry.punish(id, err)
    });
  }

  /** Opens one verify stream per leased scout; resolves with those that opened. */
  private async openLinks(
    leased: ScoutRecord[],
    sessionId: string,
    signal: AbortSignal
  ): Promise<ScoutLink[]> {
    const opened = await Promise.allSettled(leased.map((s) => this.openLink(s, sessionId, signal)));
    const links: ScoutLink[] = [];
    opened.forEach((r, i) => {
      if (r.status === 'fulfilled') links.push(r.value);
      else
        log.warn('scout did not open a verify stream', {
          scout: leased[i].peerId.toString(),
          error: r.reason
        });
    });
    return links;
  }

  /** Publishes a work announcement on `shard-work` (and prunes expired bans and flood windows). */
  private async announce(): Promise<void> {
    if (!this.isRunning) return;
    this.registry.prune();
    const message: WorkAnnouncement = {
      type: 'oracle-announce',
      peerId: this.peerId,
      multiaddrs: this.multiaddrs().slice(0, MAX_ANNOUNCED_MULTIADDRS),
      models: [this.options.engine.modelId],
      tokenizerFingerprint: this.options.engine.tokenizerFingerprint,
      openSlots: Math.max(0, MAX_ADVERTISED_SCOUTS - this.registry.size),
      sentAtMs: Date.now()
    };
    try {
      await this.node.services.pubsub.publish(WORK_TOPIC, encode(message, MAX_GOSSIP_BYTES));
    } catch (err) {
      log.debug('announce failed', { error: err });
    }
  }

  /** Dials every relay not connected now; failures are logged and retried at the next period. */
  private async dialRelays(): Promise<void> {
    for (const addr of this.options.relays ?? []) {
      const target = multiaddr(addr);
      const id = target.getComponents().findLast((c) => c.name === 'p2p')?.value;
      if (id && this.node.getConnections().some((c) => c.remotePeer.toString() === id)) continue;
      try {
        const connection = await this.node.dial(target, {
          signal: AbortSignal.timeout(RELAY_DIAL_TIMEOUT_MS)
        });
        // A relay outranks any scout when the connection manager must prune.
        await this.node.peerStore
          .merge(connection.remotePeer, { tags: { 'shard-relay': { value: 100 } } })
          .catch(() => undefined);
        log.info('joined relay', { addr });
      } catch (err) {
        log.warn('relay dial failed', { addr, error: err });
      }
    }
  }

  /**
   * On `shard-work-result`: a signed heartbeat refreshes its scout's record (its figures are
   * claims and are not used); a signed ban is applied when a trusted oracle signed it. All else
   * is ignored.
   */
  private onGossip(evt: CustomEvent<Message>): void {
    if (evt.detail.topic !== WORK_RESULT_TOPIC) return;
    try {
      const msg = decode(WorkResultSchema, evt.detail.data, MAX_GOSSIP_BYTES);
      if (
        msg.type === 'scout-heartbeat' &&
        evt.detail.type === 'signed' &&
        evt.detail.from.toString() === msg.peerId
      ) {
        this.registry.noteHeartbeat(msg.peerId);
      } else if (msg.type === 'scout-ban') {
        this.trust
          .onAnnouncement(msg)
          .catch((err: unknown) => log.info('ignored a ban announcement', { error: err }));
      }
    } catch (err) {
      log.debug('ignored gossip message', { error: err });
    }
  }
}
