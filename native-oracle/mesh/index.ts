/**
 * The oracle's libp2p peer: it joins relays, advertises drafting work on `shard-work`, accepts
 * scouts through the signed handshake (refusing a tokenizer that differs from the target's),
 * keeps a registry of eligible scouts, and leases them to generation sessions as a remote
 * `DraftSource`. Scouts that break the protocol are disconnected and banned for a while; the
 * sessions they served carry on with the others, the oracle's own drafting or plain decoding.
 *
 * Wiring into the HTTP server: `createOracleServer({ ..., plugins: [meshPlugin(mesh)] })`.
 */
import { randomBytes } from 'node:crypto';
import { generateKeyPair } from '@libp2p/crypto/keys';
import type { PeerId, PrivateKey, Stream, Connection } from '@libp2p/interface';
import { lpStream } from '@libp2p/utils';
import { multiaddr } from '@multiformats/multiaddr';
import {
  checkScoutHello,
  decode,
  encode,
  HANDSHAKE_PROTOCOL,
  MAX_HANDSHAKE_BYTES,
  MESH_PROTOCOL_VERSION,
  MESH_TOPICS,
  MeshProtocolError,
  openHello,
  signHello,
  SignedHelloSchema,
  WORK_RESULT_TOPIC,
  WORK_TOPIC,
  WorkResultSchema,
  MAX_GOSSIP_BYTES,
  type HandshakeReply,
  type HelloPayload,
  type WorkAnnouncement
} from '../../src/lib/protocol/mesh.js';
import { createLogger } from '../../src/lib/server/log.js';
import type { DraftSource, TargetEngine } from '../engine/index.js';
import { MeshNotStartedError } from './errors.js';
import {
  createRemoteDraftSource,
  type RemoteDraftSource,
  type RemoteDraftStats
} from './draft-source.js';
import { createMeshNode, type MeshNode } from './node-peer.js';
import { ScoutLink } from './scout-link.js';

export {
  createRemoteDraftSource,
  type RemoteDraftSource,
  type RemoteDraftStats
} from './draft-source.js';
export { createMeshNode, type MeshNode } from './node-peer.js';

const log = createLogger('shard:oracle:mesh');

/** How long a peer that broke the protocol stays banned. */
export const BAN_MS = 10 * 60_000;
/** More handshakes than this from one peer within a minute is a flood: the peer is dropped. */
export const MAX_HANDSHAKES_PER_MINUTE = 6;
/** A handshake must complete within this time. */
export const HANDSHAKE_TIMEOUT_MS = 5_000;
export const SOFTWARE = { name: 'shard-oracle', version: '0.1.0' } as const;

export interface OracleMeshOptions {
  engine: Pick<TargetEngine, 'modelId' | 'tokenizerFingerprint'>;
  /** Relay multiaddrs to join (with /p2p/<id>); re-dialled every `reconnectSeconds`. */
  relays?: string[];
  /** Own listen addresses; default TCP on 127.0.0.1, any port. */
  listen?: string[];
  privateKey?: PrivateKey;
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
  /** Speculation governor; default true. */
  isGoverned?: boolean;
  /** Seconds between work announcements and relay re-dials; default 5 and 20. */
  announceSeconds?: number;
  reconnectSeconds?: number;
  /** Sessions one scout serves at once; default 2. */
  maxSessionsPerScout?: number;
  /**
   * The target's vocabulary size: draft token ids at or above it are a protocol error. Default
   * `engine.vocabularySize` when the engine exposes one, else unchecked here (the engine's own
   * verify still rejects them).
   */
  vocabularySize?: number;
}

/** A connected peer as /v1/system/peers shows it (snake_case like the rest of the API). */
export interface MeshPeerInfo {
  peer_id: string;
  addrs: string[];
  role: string | null;
  connected_at: number;
  last_seen_at: number;
  verified: boolean;
  handshake_failures: number;
  tokenizer_fingerprint: string | null;
  draft_tokens_per_second: number | null;
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
  /** Override the governor for this session (benchmarks compare both). */
  isGoverned?: boolean;
  /** Used in rounds where no scout draft is usable. */
  fallback?: DraftSource | null;
  /** Lease exactly these scouts (those of them that are eligible); default the best ones. */
  peerIds?: string[];
}

export interface OracleMesh {
  readonly node: MeshNode;
  readonly peerId: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  multiaddrs(): string[];
  peers(): MeshPeerInfo[];
  topology(): Record<string, unknown>;
  /** Eligible scouts now (handshake passed, connected, not banned). */
  scoutCount(): number;
  /**
   * A draft source backed by leased scouts for one generation session, or null when no scout
   * is eligible or the prompt may not be shown to scouts. The session ends when generation
   * stops calling it (idle) or on `end()`.
   */
  scoutDraftSource(request?: ScoutDraftSourceRequest): RemoteDraftSource | null;
  /** Resolves once `n` scouts are eligible (or rejects on `signal`). */
  waitForScouts(n: number, signal?: AbortSignal): Promise<void>;
}

interface ScoutRecord {
  peerId: PeerId;
  hello: HelloPayload;
  connectedAt: number;
  lastSeenAt: number;
  sessions: number;
  drafted: number;
  accepted: number;
  measuredTokensPerSecond: number | null;
}

/** Creates the oracle's mesh peer; call `start()`. */
export async function createOracleMesh(options: OracleMeshOptions): Promise<OracleMesh> {
  const privateKey = options.privateKey ?? (await generateKeyPair('Ed25519'));
  const node = await createMeshNode({ privateKey, listen: options.listen, isStarted: false });
  const k = options.draftLength ?? 8;
  const lookahead = options.lookahead ?? k;
  const scoutsPerSession = options.scoutsPerSession ?? 1;
  const vocabularySize =
    options.vocabularySize ??
    (options.engine as { vocabularySize?: number }).vocabularySize ??
    undefined;
  const maxSessionsPerScout = options.maxSessionsPerScout ?? 2;
  const scouts = new Map<string, ScoutRecord>();
  const failures = new Map<string, number>();
  const banned = new Map<string, number>();
  const handshakeTimes = new Map<string, number[]>();
  const connectedAt = new Map<string, number>();
  const scoutListeners = new Set<() => void>();
  const timers: Array<ReturnType<typeof setInterval>> = [];
  let isStarted = false;
  let myHello: Awaited<ReturnType<typeof signHello>> | null = null;
  let helloSignedAt = 0;

  const oracleHello = async () => {
    // Re-sign now and then so the hello stays within the freshness window.
    if (myHello && Date.now() - helloSignedAt < 60_000) return myHello;
    myHello = await signHello(
      {
        role: 'oracle',
        peerId: node.peerId.toString(),
        software: { ...SOFTWARE },
        protocolVersion: MESH_PROTOCOL_VERSION,
        models: [options.engine.modelId],
        tokenizerFingerprint: options.engine.tokenizerFingerprint,
        draftTokensPerSecond: null,
        sentAtMs: Date.now(),
        nonce: randomBytes(12).toString('hex')
      },
      (data) => privateKey.sign(data)
    );
    helloSignedAt = Date.now();
    return myHello;
  };

  const isBanned = (id: string) => (banned.get(id) ?? 0) > Date.now();

  /** Drops a peer that broke the protocol: hang up, forget, ban. Other sessions are unaffected. */
  const punish = (id: string, err: MeshProtocolError) => {
    log.warn('dropping peer', { peer: id, reason: err.reason });
    banned.set(id, Date.now() + BAN_MS);
    scouts.delete(id);
    failures.set(id, (failures.get(id) ?? 0) + 1);
    const peer = node.getConnections().find((c) => c.remotePeer.toString() === id)?.remotePeer;
    if (peer)
      void node
        .hangUp(peer)
        .catch((e: unknown) => log.debug('hang up failed', { peer: id, error: e }));
  };

  async function handleHandshake(stream: Stream, connection: Connection): Promise<void> {
    const remote = connection.remotePeer.toString();
    const lp = lpStream(stream, { maxDataLength: MAX_HANDSHAKE_BYTES });
    const signal = AbortSignal.timeout(HANDSHAKE_TIMEOUT_MS);
    const reply = async (r: HandshakeReply) => {
      await lp.write(encode(r, MAX_HANDSHAKE_BYTES), { signal });
      await stream.close({ signal }).catch(() => undefined);
    };
    try {
      if (isBanned(remote)) {
        await reply({
          type: 'refused',
          reason: 'role-not-accepted',
          message: 'peer is banned after a protocol error',
          hello: await oracleHello()
        });
        return;
      }
      // Flood guard: an honest scout handshakes once per connection (a few times per minute at
      // most, across reconnects).
      const now = Date.now();
      const recent = (handshakeTimes.get(remote) ?? []).filter((t) => now - t < 60_000);
      recent.push(now);
      handshakeTimes.set(remote, recent);
      if (recent.length > MAX_HANDSHAKES_PER_MINUTE) {
        throw new MeshProtocolError(
          'too-many-streams',
          `${recent.length} handshakes within a minute`
        );
      }
      const buf = await lp.read({ signal });
      const hello = decode(SignedHelloSchema, buf.subarray(), MAX_HANDSHAKE_BYTES);
      const publicKey = connection.remotePeer.publicKey;
      if (!publicKey)
        throw new MeshProtocolError(
          'bad-signature',
          'peer id carries no public key (use Ed25519 identities)'
        );
      const payload = await openHello(hello, {
        expectedPeerId: remote,
        verify: (d, s) => publicKey.verify(d, s)
      });
      const refusal = checkScoutHello(payload, {
        tokenizerFingerprint: options.engine.tokenizerFingerprint
      });
      if (refusal) {
        failures.set(remote, (failures.get(remote) ?? 0) + 1);
        log.info('scout refused', { peer: remote, reason: refusal.reason });
        await reply({ type: 'refused', ...refusal, hello: await oracleHello() });
        return;
      }
      scouts.set(remote, {
        peerId: connection.remotePeer,
        hello: payload,
        connectedAt: Date.now(),
        lastSeenAt: Date.now(),
        sessions: 0,
        drafted: 0,
        accepted: 0,
        measuredTokensPerSecond: null
      });
      await reply({ type: 'welcome', hello: await oracleHello() });
      log.info('scout joined', {
        peer: remote,
        draftTokensPerSecond: payload.draftTokensPerSecond
      });
      for (const l of [...scoutListeners]) l();
    } catch (err) {
      const offence =
        err instanceof MeshProtocolError
          ? err
          : /InvalidDataLength|InvalidMessageLength/.test((err as Error).name)
            ? new MeshProtocolError('oversized', 'handshake frame too large', { cause: err })
            : null;
      if (offence) {
        await lp
          .write(
            encode(
              {
                type: 'refused',
                reason: offence.reason,
                message: offence.message.slice(0, 500),
                hello: await oracleHello()
              },
              MAX_HANDSHAKE_BYTES
            ),
            { signal }
          )
          .catch(() => undefined);
        stream.abort(offence);
        punish(remote, offence);
      } else {
        log.debug('handshake ended', { peer: remote, error: err });
        stream.abort(err as Error);
      }
    }
  }

  const eligible = () =>
    [...scouts.values()].filter(
      (s) =>
        !isBanned(s.peerId.toString()) &&
        node.getConnections(s.peerId).length > 0 &&
        s.sessions < maxSessionsPerScout
    );

  const announce = async () => {
    if (!isStarted) return;
    const now = Date.now();
    for (const [id, times] of handshakeTimes)
      if (times.every((t) => now - t > 60_000)) handshakeTimes.delete(id);
    for (const [id, until] of banned) if (until < now) banned.delete(id);
    const message: WorkAnnouncement = {
      type: 'oracle-announce',
      peerId: node.peerId.toString(),
      multiaddrs: multiaddrs().slice(0, 16),
      models: [options.engine.modelId],
      tokenizerFingerprint: options.engine.tokenizerFingerprint,
      openSlots: Math.max(0, 64 - scouts.size),
      sentAtMs: Date.now()
    };
    try {
      await node.services.pubsub.publish(WORK_TOPIC, encode(message, MAX_GOSSIP_BYTES));
    } catch (err) {
      log.debug('announce failed', { error: err });
    }
  };

  const dialRelays = async () => {
    for (const addr of options.relays ?? []) {
      const target = multiaddr(addr);
      const id = target.getComponents().findLast((c) => c.name === 'p2p')?.value;
      if (id && node.getConnections().some((c) => c.remotePeer.toString() === id)) continue;
      try {
        await node.dial(target, { signal: AbortSignal.timeout(10_000) });
        log.info('joined relay', { addr });
      } catch (err) {
        log.warn('relay dial failed', { addr, error: err });
      }
    }
  };

  function multiaddrs(): string[] {
    const id = node.peerId.toString();
    return node.getMultiaddrs().map((a) => {
      const s = a.toString();
      return s.endsWith(`/p2p/${id}`) ? s : `${s}/p2p/${id}`;
    });
  }

  const mesh: OracleMesh = {
    node,
    get peerId() {
      return node.peerId.toString();
    },
    async start() {
      await node.start();
      await node.handle(
        HANDSHAKE_PROTOCOL,
        (stream, connection) => void handleHandshake(stream, connection),
        {
          runOnLimitedConnection: true,
          maxInboundStreams: 2
        }
      );
      node.addEventListener('peer:connect', (evt) => {
        const id = evt.detail.toString();
        if (isBanned(id)) void node.hangUp(evt.detail).catch(() => undefined);
        else connectedAt.set(id, Date.now());
      });
      node.addEventListener('peer:disconnect', (evt) => {
        const id = evt.detail.toString();
        connectedAt.delete(id);
        scouts.delete(id);
      });
      for (const topic of MESH_TOPICS) node.services.pubsub.subscribe(topic);
      node.services.pubsub.addEventListener('message', (evt) => {
        if (evt.detail.topic !== WORK_RESULT_TOPIC) return;
        try {
          const msg = decode(WorkResultSchema, evt.detail.data, MAX_GOSSIP_BYTES);
          if (msg.type === 'scout-heartbeat') {
            const rec = scouts.get(msg.peerId);
            if (rec && evt.detail.type === 'signed' && evt.detail.from.toString() === msg.peerId) {
              rec.lastSeenAt = Date.now();
              rec.measuredTokensPerSecond = msg.draftTokensPerSecond;
            }
          }
        } catch (err) {
          log.debug('ignored gossip message', { error: err });
        }
      });
      isStarted = true;
      await dialRelays();
      const announceMs = (options.announceSeconds ?? 5) * 1000;
      timers.push(setInterval(() => void announce(), announceMs));
      timers.push(setInterval(() => void dialRelays(), (options.reconnectSeconds ?? 20) * 1000));
      for (const t of timers) t.unref();
      void announce();
      log.info('oracle mesh started', { peerId: node.peerId.toString(), addrs: multiaddrs() });
    },
    async stop() {
      isStarted = false;
      for (const t of timers) clearInterval(t);
      await node.stop();
    },
    multiaddrs,
    peers() {
      return node.getPeers().map((peer) => {
        const id = peer.toString();
        const rec = scouts.get(id);
        const at = connectedAt.get(id) ?? Date.now();
        return {
          peer_id: id,
          addrs: node.getConnections(peer).map((c) => c.remoteAddr.toString()),
          role: rec?.hello.role ?? null,
          connected_at: at,
          last_seen_at: rec?.lastSeenAt ?? at,
          verified: rec !== undefined,
          handshake_failures: failures.get(id) ?? 0,
          tokenizer_fingerprint: rec?.hello.tokenizerFingerprint ?? null,
          draft_tokens_per_second:
            rec?.measuredTokensPerSecond ?? rec?.hello.draftTokensPerSecond ?? null,
          sessions: rec?.sessions ?? 0,
          drafted: rec?.drafted ?? 0,
          accepted: rec?.accepted ?? 0,
          acceptance_rate: rec && rec.drafted > 0 ? rec.accepted / rec.drafted : 0
        };
      });
    },
    topology() {
      const all = multiaddrs();
      return {
        status: 'ok',
        source: 'native-oracle',
        role: 'oracle',
        shard_peer_id: node.peerId.toString(),
        listen_addrs: all,
        shard_ws_multiaddr: all.find((a) => a.includes('/ws')) ?? null,
        circuit_addrs: all.filter((a) => a.includes('/p2p-circuit')),
        relays: options.relays ?? [],
        relay_reservation_active: all.some((a) => a.includes('/p2p-circuit')),
        known_peer_count: node.getPeers().length,
        scouts: scouts.size,
        model_id: options.engine.modelId,
        tokenizer_fingerprint: options.engine.tokenizerFingerprint
      };
    },
    scoutCount: () => eligible().length,
    scoutDraftSource(request = {}) {
      if (!isStarted) throw new MeshNotStartedError('oracle mesh is not started');
      if (request.isPromptShareable === false) return null;
      // Lease the best scouts: most accepted first, then fastest, then fewest sessions.
      const pool = request.peerIds
        ? eligible().filter((s) => request.peerIds!.includes(s.peerId.toString()))
        : eligible();
      const chosen = pool
        .sort(
          (a, b) =>
            rate(b) - rate(a) ||
            (b.measuredTokensPerSecond ?? b.hello.draftTokensPerSecond ?? 0) -
              (a.measuredTokensPerSecond ?? a.hello.draftTokensPerSecond ?? 0) ||
            a.sessions - b.sessions
        )
        .slice(0, request.scouts ?? (request.peerIds ? request.peerIds.length : scoutsPerSession));
      if (chosen.length === 0) return null;
      for (const s of chosen) s.sessions += 1;
      const sessionId = randomBytes(8).toString('hex');
      let isReleased = false;
      return createRemoteDraftSource(
        `scout:${chosen.map((s) => s.peerId.toString().slice(-8)).join('+')}`,
        {
          k,
          lookahead,
          isGoverned: request.isGoverned ?? options.isGoverned ?? true,
          fallback: request.fallback ?? null,
          async openLinks(signal) {
            const opened = await Promise.allSettled(
              chosen.map((s) =>
                ScoutLink.open({
                  node,
                  peerId: s.peerId,
                  sessionId,
                  k,
                  lookahead,
                  vocabularySize,
                  signal,
                  onOffence: (id, err) => punish(id, err)
                })
              )
            );
            const links: ScoutLink[] = [];
            opened.forEach((r, i) => {
              if (r.status === 'fulfilled') links.push(r.value);
              else
                log.warn('scout did not open a verify stream', {
                  scout: chosen[i].peerId.toString(),
                  error: r.reason
                });
            });
            return links;
          },
          onEnd(links, stats: RemoteDraftStats) {
            if (isReleased) return;
            isReleased = true;
            for (const s of chosen) s.sessions = Math.max(0, s.sessions - 1);
            // Attribute the session's outcome to the scouts that served it.
            for (const link of links) {
              const rec = scouts.get(link.scoutId);
              if (!rec) continue;
              const share = links.length > 0 ? 1 / links.length : 0;
              rec.drafted += Math.round(stats.drafted * share);
              rec.accepted += Math.round(stats.accepted * share);
              const tps = link.tokensPerSecond();
              if (tps > 0) rec.measuredTokensPerSecond = tps;
            }
          }
        }
      );
    },
    waitForScouts(n, signal) {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (eligible().length >= n) {
            scoutListeners.delete(check);
            resolve();
          }
        };
        signal?.addEventListener('abort', () => {
          scoutListeners.delete(check);
          reject(signal.reason);
        });
        scoutListeners.add(check);
        check();
      });
    }
  };
  return mesh;
}

function rate(s: ScoutRecord): number {
  return s.drafted > 0 ? s.accepted / s.drafted : 0.5;
}
