/**
 * Round-trip times of the oracle's peers, for /v1/system/peers (the app's network page): one
 * libp2p ping when a connection opens, so a scout's figure is there seconds after it joins, then
 * libp2p's connection monitor, which pings every connection every `pingInterval` (15 s) and
 * keeps the result on the connection (`Connection.rtt`). Nothing here decides anything: the
 * ranking of scouts uses the draft pace measured on verify streams, which includes the trip.
 */
import type { Connection, PeerId } from '@libp2p/interface';
import { createLogger } from '../../src/lib/server/log.js';
import type { MeshNode } from './node-peer.js';

const log = createLogger('shard:oracle:mesh:rtt');

/** A first ping that takes longer than this is left to the connection monitor. */
export const FIRST_PING_TIMEOUT_MS = 5_000;

/** How a connection reaches the peer, as the network page names it. */
export type ConnectionKind = 'webrtc' | 'relayed' | 'websockets' | 'tcp' | 'other';

/** One connection of a peer as /v1/system/peers shows it. */
export interface ConnectionInfo {
  remote_addr: string;
  kind: ConnectionKind;
  /** Last round trip measured on this connection; null before the first. */
  rtt_ms: number | null;
}

/**
 * The kind of a connection: WebRTC (direct, also when negotiated through a relay), relayed
 * (a circuit through a relay, limited), WebSockets, or plain TCP.
 */
export function connectionKind(
  connection: Pick<Connection, 'remoteAddr' | 'limits'>
): ConnectionKind {
  const addr = connection.remoteAddr.toString();
  if (addr.includes('/webrtc')) return 'webrtc';
  if (addr.includes('/p2p-circuit') || connection.limits !== undefined) return 'relayed';
  if (/\/(ws|wss|tls\/ws)(\/|$)/.test(addr)) return 'websockets';
  if (addr.includes('/tcp/')) return 'tcp';
  return 'other';
}

export class RoundTrips {
  /** First ping of each peer since its latest connection opened, ms. */
  private readonly firstPing = new Map<string, number>();
  private readonly controller = new AbortController();

  constructor(
    private readonly node: Pick<MeshNode, 'services' | 'addEventListener' | 'removeEventListener'>
  ) {
    this.onOpen = this.onOpen.bind(this);
    this.onDisconnect = this.onDisconnect.bind(this);
  }

  start(): void {
    this.node.addEventListener('connection:open', this.onOpen);
    this.node.addEventListener('peer:disconnect', this.onDisconnect);
  }

  stop(): void {
    this.controller.abort();
    this.node.removeEventListener('connection:open', this.onOpen);
    this.node.removeEventListener('peer:disconnect', this.onDisconnect);
  }

  /** A connection's entry: its address, kind and the monitor's last round trip. */
  connection(connection: Connection): ConnectionInfo {
    return {
      remote_addr: connection.remoteAddr.toString(),
      kind: connectionKind(connection),
      rtt_ms: typeof connection.rtt === 'number' ? Math.round(connection.rtt) : null
    };
  }

  /**
   * A peer's round trip: the best (lowest) of its connections' latest measurements, else the
   * ping made when it connected; null before either.
   */
  peer(peerId: string, connections: readonly ConnectionInfo[]): number | null {
    const measured = connections.map((c) => c.rtt_ms).filter((ms): ms is number => ms !== null);
    if (measured.length > 0) return Math.min(...measured);
    return this.firstPing.get(peerId) ?? null;
  }

  private onOpen(evt: CustomEvent<Connection>): void {
    const peer: PeerId = evt.detail.remotePeer;
    const signal = AbortSignal.any([
      this.controller.signal,
      AbortSignal.timeout(FIRST_PING_TIMEOUT_MS)
    ]);
    this.node.services.ping
      .ping(peer, { signal })
      .then((ms) => this.firstPing.set(peer.toString(), Math.round(ms)))
      .catch((err: unknown) =>
        log.debug('first ping failed', { peer: peer.toString(), error: err })
      );
  }

  private onDisconnect(evt: CustomEvent<PeerId>): void {
    this.firstPing.delete(evt.detail.toString());
  }
}
