/**
 * A scout on the mesh, for any libp2p node with gossipsub (the Node scout's TCP/WebSockets node
 * or the browser scout's WebSockets/WebRTC node): it listens for oracles' work announcements,
 * joins each compatible oracle through the signed handshake, serves the verify streams those
 * oracles open (one per generation session) with `runScoutSession`, and publishes heartbeats.
 *
 * Browser-safe: imports only libp2p packages that run in browsers, the shared protocol and the
 * framework-free scout core.
 */
import type { GossipSub } from '@libp2p/gossipsub';
import type { Connection, Libp2p, PrivateKey, Stream } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import { lpStream } from '@libp2p/utils';
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr';
import {
  decode,
  encode,
  HANDSHAKE_PROTOCOL,
  HandshakeReplySchema,
  MAX_GOSSIP_BYTES,
  MAX_HANDSHAKE_BYTES,
  MAX_VERIFY_FRAME_BYTES,
  MESH_PROTOCOL_VERSION,
  MeshProtocolError,
  openHello,
  signHello,
  VERIFY_PROTOCOL,
  WORK_RESULT_TOPIC,
  WORK_TOPIC,
  WorkAnnouncementSchema,
  type ScoutHeartbeat,
  type MeshErrorReason
} from '../../src/lib/protocol/mesh.js';
import {
  createScoutStats,
  runScoutSession,
  serializeEngine,
  type DraftEngine,
  type FrameChannel,
  type ScoutSessionEvent,
  type ScoutStats
} from './core.js';

export type ScoutNode = Libp2p<{ pubsub: GossipSub }>;

export interface ScoutPeerOptions {
  node: ScoutNode;
  /** The node's identity key (signs the hello). */
  privateKey: PrivateKey;
  engine: DraftEngine;
  software: { name: string; version: string };
  /** Oracles to join right away (multiaddrs with /p2p/<id>); others are found via `shard-work`. */
  oracles?: string[];
  /** Join oracles seen in work announcements; default true. */
  isAutoJoin?: boolean;
  /** Sessions served at once; default 4. */
  maxSessions?: number;
  /** Heartbeat period on `shard-work-result`; default 5000 ms (0 = none). */
  heartbeatMs?: number;
  onEvent?(event: ScoutPeerEvent): void;
}

export type ScoutPeerEvent =
  | ScoutSessionEvent
  | { type: 'oracle:welcome'; oracle: string }
  | { type: 'oracle:refused'; oracle: string; reason: MeshErrorReason; message: string }
  | { type: 'oracle:error'; oracle: string; message: string };

export interface OracleStatus {
  peerId: string;
  status: 'joining' | 'welcome' | 'refused' | 'error';
  reason?: string;
}

export interface ScoutPeer {
  readonly stats: ScoutStats;
  start(): Promise<void>;
  /** Ends all sessions and stops announcing; does not stop the node or dispose the engine. */
  stop(): Promise<void>;
  /** Handshakes with an oracle; resolves with its status (never rejects). */
  join(oracle: string | Multiaddr): Promise<OracleStatus>;
  oracles(): OracleStatus[];
}

/** Handshake deadline, ms. */
export const JOIN_TIMEOUT_MS = 10_000;

export function createScoutPeer(options: ScoutPeerOptions): ScoutPeer {
  const { node } = options;
  const engine = serializeEngine(options.engine);
  const stats = createScoutStats();
  const statuses = new Map<string, OracleStatus>();
  const controller = new AbortController();
  let heartbeat: ReturnType<typeof setInterval> | null = null;
  const emit = (e: ScoutPeerEvent) => options.onEvent?.(e);

  async function join(target: string | Multiaddr): Promise<OracleStatus> {
    const addr = typeof target === 'string' ? multiaddr(target) : target;
    // The last /p2p/ component names the oracle (a circuit address names the relay first).
    const oracleId =
      addr.getComponents().findLast((c) => c.name === 'p2p')?.value ?? addr.toString();
    const known = statuses.get(oracleId);
    if (known && known.status !== 'error') return known;
    const status: OracleStatus = { peerId: oracleId, status: 'joining' };
    statuses.set(oracleId, status);
    try {
      const signal = AbortSignal.timeout(JOIN_TIMEOUT_MS);
      const stream = await node.dialProtocol(addr, HANDSHAKE_PROTOCOL, {
        runOnLimitedConnection: true,
        signal
      });
      const lp = lpStream(stream, { maxDataLength: MAX_HANDSHAKE_BYTES });
      const hello = await signHello(
        {
          role: 'scout',
          peerId: node.peerId.toString(),
          software: options.software,
          protocolVersion: MESH_PROTOCOL_VERSION,
          models: [...(options.engine.models ?? [options.engine.name])],
          tokenizerFingerprint: options.engine.tokenizerFingerprint,
          ...(options.engine.tokenizerSketch
            ? { tokenizerSketch: options.engine.tokenizerSketch }
            : {}),
          draftEngine: options.engine.name.slice(0, 128),
          draftTokensPerSecond: options.engine.tokensPerSecond?.() ?? null,
          sentAtMs: Date.now(),
          nonce: randomNonce()
        },
        (d) => options.privateKey.sign(d)
      );
      await lp.write(encode(hello, MAX_HANDSHAKE_BYTES), { signal });
      const reply = decode(
        HandshakeReplySchema,
        (await lp.read({ signal })).subarray(),
        MAX_HANDSHAKE_BYTES
      );
      await stream.close().catch(() => undefined);
      const key = peerIdFromString(oracleId).publicKey;
      if (!key)
        throw new MeshProtocolError('bad-signature', 'oracle peer id carries no public key');
      const oracleHello = await openHello(reply.hello, {
        expectedPeerId: oracleId,
        verify: (d, s) => key.verify(d, s)
      });
      if (oracleHello.role !== 'oracle')
        throw new MeshProtocolError('role-not-accepted', `peer answered as ${oracleHello.role}`);
      if (reply.type === 'welcome') {
        status.status = 'welcome';
        emit({ type: 'oracle:welcome', oracle: oracleId });
      } else {
        status.status = 'refused';
        status.reason = `${reply.reason}: ${reply.message}`;
        emit({
          type: 'oracle:refused',
          oracle: oracleId,
          reason: reply.reason,
          message: reply.message
        });
      }
    } catch (err) {
      status.status = 'error';
      status.reason = (err as Error).message;
      emit({ type: 'oracle:error', oracle: oracleId, message: status.reason });
    }
    return status;
  }

  function handleVerify(stream: Stream, connection: Connection): void {
    const oracleId = connection.remotePeer.toString();
    // Only oracles that welcomed this scout may open sessions; at most maxSessions at once.
    if (
      statuses.get(oracleId)?.status !== 'welcome' ||
      stats.activeSessions >= (options.maxSessions ?? 4)
    ) {
      stream.abort(new Error('verify stream refused'));
      return;
    }
    const lp = lpStream(stream, { maxDataLength: MAX_VERIFY_FRAME_BYTES });
    let writeTail: Promise<void> = Promise.resolve();
    const channel: FrameChannel = {
      async read(signal) {
        try {
          return (await lp.read({ signal })).subarray();
        } catch (err) {
          const name = (err as Error).name;
          if (name === 'UnexpectedEOFError') return null;
          if (/InvalidDataLength|InvalidMessageLength/.test(name)) {
            throw new MeshProtocolError(
              'oversized',
              `frame exceeds ${MAX_VERIFY_FRAME_BYTES} bytes`,
              { cause: err }
            );
          }
          throw err;
        }
      },
      write(frames) {
        writeTail = writeTail.then(() => lp.writeV(frames));
        return writeTail;
      },
      close: () => stream.close(),
      abort: (err) => stream.abort(err)
    };
    void runScoutSession({ channel, engine, stats, signal: controller.signal, onEvent: emit });
  }

  function onMessage(evt: CustomEvent<{ topic: string; data: Uint8Array }>): void {
    if (evt.detail.topic !== WORK_TOPIC || options.isAutoJoin === false) return;
    let announcement;
    try {
      announcement = decode(WorkAnnouncementSchema, evt.detail.data, MAX_GOSSIP_BYTES);
    } catch {
      return;
    }
    if (announcement.tokenizerFingerprint !== options.engine.tokenizerFingerprint) return;
    if (statuses.has(announcement.peerId)) return;
    void (async () => {
      for (const addr of announcement.multiaddrs) {
        const status = await join(addr);
        if (status.status !== 'error') return;
        statuses.delete(announcement.peerId);
      }
    })();
  }

  return {
    stats,
    join,
    oracles: () => [...statuses.values()].map((s) => ({ ...s })),
    async start() {
      await node.handle(VERIFY_PROTOCOL, handleVerify, {
        runOnLimitedConnection: true,
        maxInboundStreams: options.maxSessions ?? 4
      });
      node.services.pubsub.subscribe(WORK_TOPIC);
      node.services.pubsub.subscribe(WORK_RESULT_TOPIC);
      node.services.pubsub.addEventListener('message', onMessage as unknown as EventListener);
      node.addEventListener('peer:disconnect', (evt) => {
        // A new connection needs a new handshake.
        statuses.delete(evt.detail.toString());
      });
      const heartbeatMs = options.heartbeatMs ?? 5000;
      if (heartbeatMs > 0) {
        heartbeat = setInterval(() => {
          const msg: ScoutHeartbeat = {
            type: 'scout-heartbeat',
            peerId: node.peerId.toString(),
            draftTokensPerSecond: options.engine.tokensPerSecond?.() ?? null,
            sessions: stats.activeSessions,
            drafted: stats.drafted,
            accepted: stats.accepted,
            sentAtMs: Date.now()
          };
          node.services.pubsub
            .publish(WORK_RESULT_TOPIC, encode(msg, MAX_GOSSIP_BYTES))
            .catch(() => undefined);
        }, heartbeatMs);
      }
      await Promise.all((options.oracles ?? []).map((o) => join(o)));
    },
    async stop() {
      if (heartbeat) clearInterval(heartbeat);
      controller.abort();
      node.services.pubsub.removeEventListener('message', onMessage as unknown as EventListener);
      await node.unhandle(VERIFY_PROTOCOL).catch(() => undefined);
    }
  };
}

function randomNonce(): string {
  const bytes = new Uint8Array(12);
  globalThis.crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}
