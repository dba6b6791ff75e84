import { lpStream } from '@libp2p/utils';
import { multiaddr } from '@multiformats/multiaddr';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMeshNode, type MeshNode } from '../../native-oracle/mesh/node-peer.js';
import { WORK_TOPIC } from '../../src/lib/protocol/mesh.js';
import {
  getJson,
  spawnRelay,
  waitFor,
  type RelayReady,
  type SpawnedProcess
} from './mesh-harness.js';

const ECHO = '/shard-test/echo/1.0.0';

describe('relay (real process, loopback)', () => {
  let relay: SpawnedProcess<RelayReady>;
  const nodes: MeshNode[] = [];

  beforeAll(async () => {
    relay = await spawnRelay();
  });
  afterAll(async () => {
    await Promise.all(nodes.map((n) => n.stop()));
    await relay?.stop();
  });

  const wsAddr = () => relay.ready.multiaddrs.find((a) => a.includes('/ws/'))!;
  const tcpAddr = () => relay.ready.multiaddrs.find((a) => !a.includes('/ws/'))!;

  it('relays a stream between two peers that only know the relay, and forwards gossip', async () => {
    // B: reachable only through the relay (no listen addresses of its own), dials over WebSockets.
    const b = await createMeshNode({ listen: [] });
    const a = await createMeshNode({ listen: [] });
    const c = await createMeshNode({ listen: [] });
    nodes.push(a, b, c);
    await b.handle(
      ECHO,
      async (stream) => {
        const lp = lpStream(stream);
        const msg = await lp.read();
        await lp.write(msg.subarray());
        await stream.close();
      },
      { runOnLimitedConnection: true }
    );
    await b.dial(multiaddr(wsAddr()));
    const circuit = await waitFor('a circuit address on B', () =>
      b.getMultiaddrs().find((m) => m.toString().includes('/p2p-circuit'))
    );
    await a.dial(multiaddr(tcpAddr()));
    const stream = await a.dialProtocol(circuit, ECHO, { runOnLimitedConnection: true });
    const lp = lpStream(stream);
    await lp.write(new TextEncoder().encode('hello through the relay'));
    expect(new TextDecoder().decode((await lp.read()).subarray())).toBe('hello through the relay');
    const viaRelay = a.getConnections(b.peerId);
    expect(viaRelay.some((conn) => conn.remoteAddr.toString().includes('/p2p-circuit'))).toBe(true);

    // Gossip: C is connected to the relay only; A's message must be forwarded by the relay.
    await c.dial(multiaddr(tcpAddr()));
    c.services.pubsub.subscribe(WORK_TOPIC);
    a.services.pubsub.subscribe(WORK_TOPIC);
    const received = new Promise<string>((resolve) => {
      c.services.pubsub.addEventListener('message', (evt) => {
        if (evt.detail.topic === WORK_TOPIC) resolve(new TextDecoder().decode(evt.detail.data));
      });
    });
    await waitFor('relay to see C subscribed', async () => {
      const topo = await getJson<{ connectedPeers: number }>(relay.ready.httpPort, '/topology');
      return topo.connectedPeers >= 3 && a.services.pubsub.getSubscribers(WORK_TOPIC).length > 0;
    });
    expect(c.getConnections(a.peerId)).toHaveLength(0);
    // Publish repeatedly until delivered: mesh formation (GRAFT) is asynchronous.
    let delivered: string | null = null;
    void received.then((m) => (delivered = m));
    await waitFor('gossip delivery through the relay', async () => {
      if (delivered) return true;
      await a.services.pubsub.publish(WORK_TOPIC, new TextEncoder().encode('work for scouts'));
      await new Promise((r) => setTimeout(r, 200));
      return delivered;
    });
    expect(delivered).toBe('work for scouts');

    const peers = await getJson<{
      count: number;
      peers: Array<{ peerId: string; hasReservation: boolean }>;
    }>(relay.ready.httpPort, '/peers');
    expect(peers.count).toBeGreaterThanOrEqual(3);
    expect(peers.peers.find((p) => p.peerId === b.peerId.toString())?.hasReservation).toBe(true);
  });

  it('keeps serving others through a flood of junk connections and garbage hop streams', async () => {
    const [a, b] = nodes;
    const flooder = await createMeshNode({ listen: [], isRelayListening: false });
    nodes.push(flooder);
    const relayPeer = await flooder.dial(multiaddr(tcpAddr()));
    // 60 hop streams carrying bytes that are not a circuit-relay message.
    const junk = new Uint8Array(512).fill(0xff);
    await Promise.allSettled(
      Array.from({ length: 60 }, async () => {
        const stream = await relayPeer.newStream('/libp2p/circuit/relay/0.2.0/hop', {
          runOnLimitedConnection: true
        });
        stream.send(junk);
        await stream.close().catch(() => undefined);
      })
    );
    // 30 raw TCP connections that send garbage instead of a multistream handshake.
    const [host, port] = [tcpAddr().split('/')[2], Number(tcpAddr().split('/')[4])];
    await Promise.all(
      Array.from(
        { length: 30 },
        () =>
          new Promise<void>((resolve) => {
            const socket = connect({ host, port }, () => socket.end(Buffer.alloc(2048, 0x41)));
            socket.on('close', () => resolve());
            socket.on('error', () => resolve());
          })
      )
    );
    const health = await getJson<{ status: string }>(relay.ready.httpPort, '/health');
    expect(health.status).toBe('ok');
    expect(relay.proc.exitCode).toBeNull();
    // The relayed echo between A and B still works.
    const circuit = b.getMultiaddrs().find((m) => m.toString().includes('/p2p-circuit'))!;
    const stream = await a.dialProtocol(circuit, ECHO, { runOnLimitedConnection: true });
    const lp = lpStream(stream);
    await lp.write(new TextEncoder().encode('still here'));
    expect(new TextDecoder().decode((await lp.read()).subarray())).toBe('still here');
  });

  it('serves /health and /topology with dialable ws addresses, and joins another relay by --bootstrap', async () => {
    const health = await getJson<{ status: string; peerId: string }>(
      relay.ready.httpPort,
      '/health'
    );
    expect(health).toMatchObject({ status: 'ok', peerId: relay.ready.peerId });
    const topo = await getJson<{ wsAddrs: string[] }>(relay.ready.httpPort, '/topology');
    expect(topo.wsAddrs.length).toBeGreaterThan(0);
    for (const a of topo.wsAddrs) expect(a).toMatch(new RegExp(`/ws/p2p/${relay.ready.peerId}$`));

    const second = await spawnRelay(['--bootstrap', tcpAddr(), '--reconnect-seconds', '1']);
    try {
      await waitFor('the first relay to list the second', async () => {
        const peers = await getJson<{ peers: Array<{ peerId: string }> }>(
          relay.ready.httpPort,
          '/peers'
        );
        return peers.peers.some((p) => p.peerId === second.ready.peerId);
      });
    } finally {
      expect(await second.stop('SIGTERM')).toBe(0);
    }
  });

  it('rejects unknown flags with a usage error and exit code 2', async () => {
    await expect(spawnRelay(['--no-such-flag'])).rejects.toThrow(/usage error/);
  });
});
