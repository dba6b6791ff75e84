/**
 * The Shard relay: a Node libp2p peer that browsers and Node peers dial over WebSockets or TCP,
 * that relays connections between peers that cannot reach each other (circuit relay v2) and that
 * forwards the mesh's gossip topics. It knows nothing of tokens.
 *
 * Limits are sized for hundreds of browsers: many reservations, relayed connections capped at
 * CIRCUIT_DATA_LIMIT_BYTES / CIRCUIT_DURATION_LIMIT_MS (constants.ts says why: above Shard's own
 * traffic; the relay cannot look inside the end-to-end encrypted circuits, so a size and time cap
 * is the control it has; circuit-limits.ts enforces them), no per-IP colocation penalty in
 * gossipsub, and a higher inbound connection rate per IP (many browsers share one NAT).
 */
import { noise } from '@chainsafe/libp2p-noise';
import { yamux } from '@chainsafe/libp2p-yamux';
import { circuitRelayServer, type CircuitRelayService } from '@libp2p/circuit-relay-v2';
import { gossipsub, type GossipSub } from '@libp2p/gossipsub';
import { identify, type Identify } from '@libp2p/identify';
import type { PrivateKey } from '@libp2p/interface';
import { ping, type Ping } from '@libp2p/ping';
import { tcp } from '@libp2p/tcp';
import { webSockets } from '@libp2p/websockets';
import { multiaddr } from '@multiformats/multiaddr';
import { createLibp2p, type Libp2p } from 'libp2p';
import { MESH_TOPICS } from '../src/lib/protocol/mesh.js';
import { relayGossipOptions } from '../src/lib/protocol/mesh-gossip.js';
import { createLogger } from '../src/lib/server/log.js';
import { enforceCircuitLimits } from './circuit-limits.js';
import { CIRCUIT_DATA_LIMIT_BYTES, CIRCUIT_DURATION_LIMIT_MS } from './constants.js';

const log = createLogger('shard:relay');

export interface RelayOptions {
  /** Interface to listen on; default `0.0.0.0`. */
  host?: string;
  /** TCP port; default 4001 (0 = any free port). */
  tcpPort?: number;
  /** WebSocket port; default 4101 (0 = any free port). Put TLS (wss) in front with a proxy. */
  wsPort?: number;
  /** Persistent identity; default a fresh key (the CLI loads one from --key-file). */
  privateKey?: PrivateKey;
  /** Other relays to join; dialled at start and re-dialled every `reconnectSeconds`. */
  bootstrap?: string[];
  /** Default 20. */
  reconnectSeconds?: number;
  /** Circuit reservations held at once; default 1024. */
  maxReservations?: number;
  /** Connections held at once; default 2048. */
  maxConnections?: number;
  /** Extra addresses to announce (e.g. the public wss address behind a proxy). */
  announce?: string[];
  /** Bytes one relayed connection may carry in each direction; default CIRCUIT_DATA_LIMIT_BYTES. */
  circuitDataLimitBytes?: number;
  /** How long one relayed connection may stay open; default CIRCUIT_DURATION_LIMIT_MS. */
  circuitDurationLimitMs?: number;
}

export type RelayNode = Libp2p<{
  identify: Identify;
  ping: Ping;
  pubsub: GossipSub;
  relay: CircuitRelayService;
}>;

export interface RelayPeerInfo {
  peerId: string;
  addrs: string[];
  /** True when any connection to the peer is limited (relayed). */
  isLimited: boolean;
  direction: 'inbound' | 'outbound';
  hasReservation: boolean;
}

export interface RelayTopology {
  role: 'relay';
  peerId: string;
  /** Every address to dial this relay on, each with /p2p/<id>. */
  listenAddrs: string[];
  /** WebSocket addresses (what browsers dial), each with /p2p/<id>. */
  wsAddrs: string[];
  tcpAddrs: string[];
  topics: string[];
  connectedPeers: number;
  reservations: number;
}

export interface Relay {
  readonly node: RelayNode;
  readonly peerId: string;
  start(): Promise<void>;
  /** Closes every connection and stops listening; idempotent. */
  stop(): Promise<void>;
  multiaddrs(): string[];
  topology(): RelayTopology;
  peers(): RelayPeerInfo[];
  health(): {
    status: 'ok';
    peerId: string;
    uptimeMs: number;
    connectedPeers: number;
    reservations: number;
    rssBytes: number;
    /** CPU time the relay process used so far (user + system), ms. */
    cpuMs: number;
  };
}

/** Builds a relay (not yet listening); call `start()`. */
export async function createRelay(options: RelayOptions = {}): Promise<Relay> {
  const host = options.host ?? '0.0.0.0';
  const tcpPort = options.tcpPort ?? 4001;
  const wsPort = options.wsPort ?? 4101;
  const reconnectMs = Math.max(1, options.reconnectSeconds ?? 20) * 1000;
  const bootstrap = options.bootstrap ?? [];
  const family = host.includes(':') ? 'ip6' : 'ip4';

  const node: RelayNode = await createLibp2p({
    ...(options.privateKey ? { privateKey: options.privateKey } : {}),
    start: false,
    addresses: {
      listen: [`/${family}/${host}/tcp/${tcpPort}`, `/${family}/${host}/tcp/${wsPort}/ws`],
      ...(options.announce?.length ? { appendAnnounce: options.announce } : {})
    },
    transports: [tcp(), webSockets()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionManager: {
      maxConnections: options.maxConnections ?? 2048,
      // Many browsers behind one NAT (or all tests on loopback) dial from one IP.
      inboundConnectionThreshold: 100,
      maxIncomingPendingConnections: 256
    },
    // Keep-alive pings: phones and busy browser tabs answer late; a 10 s floor on the adaptive
    // timeout keeps them connected while dead peers still drop within a minute.
    connectionMonitor: {
      pingInterval: 15_000,
      pingTimeout: { minTimeout: 10_000, maxTimeout: 60_000 }
    },
    services: {
      identify: identify(),
      ping: ping({ runOnLimitedConnection: true }),
      pubsub: gossipsub(relayGossipOptions()),
      relay: circuitRelayServer({
        reservations: {
          maxReservations: options.maxReservations ?? 1024,
          // No limits announced in the circuit handshake: that would make peers treat relayed
          // connections as "limited" (circuit-limits.ts says why that breaks the mesh); the
          // relay enforces CIRCUIT_DATA_LIMIT_BYTES / CIRCUIT_DURATION_LIMIT_MS itself.
          applyDefaultLimit: false
        },
        maxInboundHopStreams: 4096,
        maxOutboundStopStreams: 4096
      })
    }
  });

  const startedAt = Date.now();
  let timer: ReturnType<typeof setInterval> | null = null;
  let stopLimits: (() => void) | null = null;
  let isStopped = false;

  const withPeerId = (addr: string) =>
    addr.includes('/p2p/') ? addr : `${addr}/p2p/${node.peerId.toString()}`;
  const multiaddrs = () => node.getMultiaddrs().map((a) => withPeerId(a.toString()));

  async function dialBootstrap(): Promise<void> {
    const connected = new Set(node.getConnections().map((c) => c.remotePeer.toString()));
    await Promise.all(
      bootstrap.map(async (addr) => {
        const target = multiaddr(addr);
        const peer = target.getComponents().find((c) => c.name === 'p2p')?.value;
        if (peer === node.peerId.toString() || (peer && connected.has(peer))) return;
        try {
          await node.dial(target, { signal: AbortSignal.timeout(10_000) });
          log.info('joined bootstrap relay', { addr });
        } catch (err) {
          log.warn('bootstrap dial failed', { addr, error: err });
        }
      })
    );
  }

  return {
    node,
    get peerId() {
      return node.peerId.toString();
    },
    async start() {
      await node.start();
      stopLimits = enforceCircuitLimits(node, {
        dataLimitBytes: options.circuitDataLimitBytes ?? CIRCUIT_DATA_LIMIT_BYTES,
        durationLimitMs: options.circuitDurationLimitMs ?? CIRCUIT_DURATION_LIMIT_MS
      });
      for (const topic of MESH_TOPICS) node.services.pubsub.subscribe(topic);
      log.info('relay listening', { peerId: node.peerId.toString(), addrs: multiaddrs() });
      if (bootstrap.length > 0) {
        void dialBootstrap();
        timer = setInterval(() => void dialBootstrap(), reconnectMs);
        timer.unref();
      }
    },
    async stop() {
      if (isStopped) return;
      isStopped = true;
      if (timer) clearInterval(timer);
      stopLimits?.();
      await node.stop();
      log.info('relay stopped');
    },
    multiaddrs,
    topology() {
      const all = multiaddrs();
      return {
        role: 'relay',
        peerId: node.peerId.toString(),
        listenAddrs: all,
        wsAddrs: all.filter((a) => a.includes('/ws')),
        tcpAddrs: all.filter((a) => !a.includes('/ws')),
        topics: [...MESH_TOPICS],
        connectedPeers: node.getPeers().length,
        reservations: node.services.relay.reservations.size
      };
    },
    peers() {
      const reservations = node.services.relay.reservations;
      const byPeer = new Map<string, RelayPeerInfo>();
      for (const conn of node.getConnections()) {
        const id = conn.remotePeer.toString();
        const existing = byPeer.get(id);
        const isLimited = conn.limits != null;
        if (existing) {
          existing.addrs.push(conn.remoteAddr.toString());
          existing.isLimited ||= isLimited;
          continue;
        }
        byPeer.set(id, {
          peerId: id,
          addrs: [conn.remoteAddr.toString()],
          isLimited,
          direction: conn.direction,
          hasReservation: reservations.has(conn.remotePeer)
        });
      }
      return [...byPeer.values()];
    },
    health() {
      return {
        status: 'ok',
        peerId: node.peerId.toString(),
        uptimeMs: Date.now() - startedAt,
        connectedPeers: node.getPeers().length,
        reservations: node.services.relay.reservations.size,
        rssBytes: process.memoryUsage().rss,
        cpuMs: Math.round((process.cpuUsage().user + process.cpuUsage().system) / 1000)
      };
    }
  };
}
