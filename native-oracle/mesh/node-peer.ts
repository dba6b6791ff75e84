/**
 * A leaf libp2p peer for Node processes of the mesh (the oracle, the Node scout): TCP and
 * WebSockets, circuit relay client (so peers behind relays can reach it and it can reach them),
 * WebRTC (node-datachannel) listening through the relay reservation (so a browser scout that
 * reached it over a relayed circuit can upgrade to a direct connection), identify, ping and
 * gossipsub with the mesh's leaf settings. The browser scout builds its own
 * node with browser transports; everything above the node is shared.
 */
import '../../src/lib/server/node-compat.js';
import { noise } from '@chainsafe/libp2p-noise';
import { yamux } from '@chainsafe/libp2p-yamux';
import { circuitRelayTransport } from '@libp2p/circuit-relay-v2';
import { gossipsub, type GossipSub } from '@libp2p/gossipsub';
import { identify, type Identify } from '@libp2p/identify';
import type { PrivateKey } from '@libp2p/interface';
import { ping, type Ping } from '@libp2p/ping';
import { tcp } from '@libp2p/tcp';
import { webRTC } from '@libp2p/webrtc';
import { webSockets } from '@libp2p/websockets';
import type { Multiaddr } from '@multiformats/multiaddr';
import { createLibp2p, type Libp2p } from 'libp2p';
import { leafGossipOptions } from '../../src/lib/protocol/mesh-gossip.js';

export type MeshNode = Libp2p<{ identify: Identify; ping: Ping; pubsub: GossipSub }>;

export interface MeshNodeOptions {
  privateKey?: PrivateKey;
  /** Listen addresses; default TCP on 127.0.0.1, any port. */
  listen?: string[];
  /** Also accept connections relayed through relays this node connects to; default true. */
  isRelayListening?: boolean;
  /**
   * Also accept WebRTC connections signalled over relayed circuits (`/p2p-circuit/webrtc`
   * addresses: browsers upgrade to a direct connection); default true. Needs relay listening.
   */
  isWebRtcListening?: boolean;
  /** Start listening right away; default true. */
  isStarted?: boolean;
  /**
   * Connection limits for a node many strangers dial (the oracle); default libp2p's, with the
   * inbound rate and pending limits below. `maxDirectConnectionsPerIp` denies an inbound direct
   * connection from an IP that holds that many already (relayed ones are not counted: their
   * address is the relay's).
   */
  limits?: {
    maxConnections?: number;
    maxIncomingPendingConnections?: number;
    inboundConnectionThreshold?: number;
    maxDirectConnectionsPerIp?: number;
  };
}

/** Creates a leaf mesh node (started unless `isStarted: false`). */
export async function createMeshNode(options: MeshNodeOptions = {}): Promise<MeshNode> {
  const listen = [...(options.listen ?? ['/ip4/127.0.0.1/tcp/0'])];
  const isRelayListening = options.isRelayListening !== false;
  const isWebRtcListening = isRelayListening && options.isWebRtcListening !== false;
  if (isRelayListening) listen.push('/p2p-circuit');
  if (isWebRtcListening) listen.push('/webrtc');
  const limits = options.limits ?? {};
  const perIp = limits.maxDirectConnectionsPerIp;
  let node: MeshNode | null = null;
  const created = await createLibp2p({
    ...(options.privateKey ? { privateKey: options.privateKey } : {}),
    start: options.isStarted ?? true,
    addresses: { listen },
    transports: [
      tcp(),
      webSockets(),
      circuitRelayTransport({ reservationCompletionTimeout: 10_000 }),
      ...(isWebRtcListening ? [webRTC()] : [])
    ],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionManager: {
      inboundConnectionThreshold: limits.inboundConnectionThreshold ?? 100,
      maxIncomingPendingConnections: limits.maxIncomingPendingConnections ?? 64,
      ...(limits.maxConnections ? { maxConnections: limits.maxConnections } : {})
    },
    ...(perIp
      ? {
          connectionGater: {
            denyInboundConnection: (maConn: { remoteAddr: Multiaddr }) => {
              const ip = directIp(maConn.remoteAddr);
              if (ip === null || node === null) return false;
              const held = node
                .getConnections()
                .filter((c) => c.direction === 'inbound' && directIp(c.remoteAddr) === ip).length;
              return held >= perIp;
            }
          }
        }
      : {}),
    // A busy peer answers keep-alive pings late; do not drop the relay for a slow second.
    connectionMonitor: {
      pingInterval: 15_000,
      pingTimeout: { minTimeout: 10_000, maxTimeout: 60_000 }
    },
    services: {
      identify: identify(),
      ping: ping({ runOnLimitedConnection: true }),
      pubsub: gossipsub(leafGossipOptions())
    }
  });
  node = created;
  return created;
}

/**
 * The IP of a direct connection's address; null for a relayed (circuit) one, whose address is
 * the relay's (the relay bounds its clients per IP).
 */
export function directIp(addr: Multiaddr): string | null {
  const components = addr.getComponents();
  if (components.some((c) => c.name === 'p2p-circuit')) return null;
  return components.find((c) => c.name === 'ip4' || c.name === 'ip6')?.value ?? null;
}
