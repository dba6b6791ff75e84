/**
 * The oracle's scout registry on its own: leasing order, session caps, release and attribution,
 * bans and their expiry. The node is a stand-in (mock: connections are a list the test controls).
 */
import { generateKeyPair } from '@libp2p/crypto/keys';
import { TypedEventEmitter, type Connection, type PeerId } from '@libp2p/interface';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { describe, expect, it } from 'vitest';
import { BAN_MS } from '../../native-oracle/mesh/constants.js';
import type { RemoteDraftStats } from '../../native-oracle/mesh/draft-source.js';
import {
  createScoutRegistry,
  type ScoutRegistryComponents
} from '../../native-oracle/mesh/registry/index.js';
import type { ScoutLink } from '../../native-oracle/mesh/scout-link.js';
import {
  MESH_PROTOCOL_VERSION,
  MeshProtocolError,
  type HelloPayload
} from '../../src/lib/protocol/mesh.js';

class FakeNode extends TypedEventEmitter<Record<string, CustomEvent<PeerId>>> {
  connected: PeerId[] = [];
  hungUp: string[] = [];
  getConnections(peer?: PeerId): Connection[] {
    return this.connected
      .filter((p) => !peer || p.equals(peer))
      .map((remotePeer) => ({ remotePeer }) as unknown as Connection);
  }
  async hangUp(peer: PeerId): Promise<void> {
    this.hungUp.push(peer.toString());
    this.connected = this.connected.filter((p) => !p.equals(peer));
  }
}

const hello = (peerId: PeerId, draftTokensPerSecond: number | null): HelloPayload => ({
  role: 'scout',
  peerId: peerId.toString(),
  software: { name: 'test-scout', version: '0' },
  protocolVersion: MESH_PROTOCOL_VERSION,
  models: ['draft'],
  tokenizerFingerprint: 'fp',
  draftTokensPerSecond,
  sentAtMs: Date.now(),
  nonce: 'n'.repeat(16)
});

const stats = (drafted: number, accepted: number): RemoteDraftStats => ({
  rounds: 1,
  scoutRounds: 1,
  drafted,
  accepted,
  waitedMs: 0,
  skippedByGovernor: 0
});

const linkOf = (peerId: PeerId, tokensPerSecond = 0) =>
  ({ scoutId: peerId.toString(), tokensPerSecond: () => tokensPerSecond }) as unknown as ScoutLink;

async function setup(speeds: Array<number | null>, maxSessionsPerScout?: number) {
  const node = new FakeNode();
  const registry = createScoutRegistry({ node } as unknown as ScoutRegistryComponents, {
    maxSessionsPerScout
  });
  registry.start();
  const ids: PeerId[] = [];
  for (const speed of speeds) {
    const id = peerIdFromPrivateKey(await generateKeyPair('Ed25519'));
    node.connected.push(id);
    registry.admit(id, hello(id, speed));
    ids.push(id);
  }
  return { node, registry, ids };
}

describe('scout registry', () => {
  it('leases the fastest scout first while none has drafted, then the one with the best acceptance', async () => {
    const { registry, ids } = await setup([20, 80, 50]);
    const [slow, fast, middle] = ids;
    const first = registry.lease({ count: 1 });
    expect(first.map((s) => s.peerId)).toEqual([fast]);
    // The fast scout served badly, the slow one well: acceptance now ranks before speed.
    registry.release(first, [linkOf(fast)], stats(10, 1));
    const second = registry.lease({ count: 1, peerIds: [slow.toString()] });
    registry.release(second, [linkOf(slow)], stats(10, 9));
    expect(registry.lease({ count: 3 }).map((s) => s.peerId)).toEqual([slow, middle, fast]);
    expect(registry.get(fast.toString())).toMatchObject({ drafted: 10, accepted: 1 });
  });

  it('a scout at its session cap is not eligible until a lease is released', async () => {
    const { registry, ids } = await setup([10], 2);
    const a = registry.lease({ count: 1 });
    const b = registry.lease({ count: 1 });
    expect(registry.lease({ count: 1 })).toEqual([]);
    expect(registry.eligible()).toEqual([]);
    registry.release(a, [], stats(0, 0));
    expect(registry.eligible().map((s) => s.peerId)).toEqual([ids[0]]);
    registry.release(b, [], stats(0, 0));
    expect(registry.get(ids[0].toString())?.sessions).toBe(0);
  });

  it('a punished scout is dropped, banned for BAN_MS and hung up on; prune forgets the ban after it', async () => {
    const { node, registry, ids } = await setup([10, 10]);
    const [bad, good] = ids;
    registry.punish(bad.toString(), new MeshProtocolError('malformed', 'test'));
    expect(registry.get(bad.toString())).toBeUndefined();
    expect(registry.isBanned(bad.toString())).toBe(true);
    expect(registry.failures(bad.toString())).toBe(1);
    expect(node.connected).toEqual([good]);
    expect(registry.eligible().map((s) => s.peerId)).toEqual([good]);
    registry.prune(Date.now() + BAN_MS + 1);
    expect(registry.isBanned(bad.toString())).toBe(false);
    expect(registry.failures(bad.toString())).toBe(1);
  });

  it('a disconnected scout leaves the registry; a banned peer that reconnects is hung up on', async () => {
    const { node, registry, ids } = await setup([10, 10]);
    const [gone, bad] = ids;
    node.connected = node.connected.filter((p) => !p.equals(gone));
    node.safeDispatchEvent('peer:disconnect', { detail: gone });
    expect(registry.get(gone.toString())).toBeUndefined();
    registry.punish(bad.toString(), new MeshProtocolError('malformed', 'test'));
    node.connected.push(bad);
    node.safeDispatchEvent('peer:connect', { detail: bad });
    expect(node.hungUp).toEqual([bad.toString(), bad.toString()]);
    expect(node.connected).toEqual([]);
  });
});
