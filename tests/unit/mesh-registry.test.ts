/**
 * The oracle's scout registry on its own: leasing order (measured figures only), session caps,
 * release and attribution, bans (in an in-memory trust ledger) and their expiry, per-address
 * caps. The node is a stand-in (mock: connections are a list the test controls).
 */
import { generateKeyPair } from '@libp2p/crypto/keys';
import { TypedEventEmitter, type Connection, type PeerId } from '@libp2p/interface';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { describe, expect, it, vi } from 'vitest';
import {
  HANDSHAKE_TIMEOUT_MS,
  MAX_HANDSHAKES_PER_IP_PER_WINDOW,
  MAX_SCOUTS_PER_IP,
  PROTOCOL_BAN_HOURS
} from '../../native-oracle/mesh/constants.js';
import type { RemoteDraftStats } from '../../native-oracle/mesh/draft-source.js';
import {
  createScoutRegistry,
  type ScoutRegistryComponents
} from '../../native-oracle/mesh/registry/index.js';
import type { ScoutLink } from '../../native-oracle/mesh/scout-link.js';
import { createTrustLedger } from '../../native-oracle/mesh/trust/index.js';
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
  waitedMs: 0
});

const linkOf = (peerId: PeerId, draftMsPerToken: number | null = null) =>
  ({
    scoutId: peerId.toString(),
    tokensPerSecond: () => (draftMsPerToken ? 1000 / draftMsPerToken : 0),
    draftMsPerToken
  }) as unknown as ScoutLink;

async function setup(speeds: Array<number | null>, maxSessionsPerScout?: number) {
  const node = new FakeNode();
  const clock = { now: Date.now() };
  const ledger = createTrustLedger({
    path: ':memory:',
    reputationThreshold: 0.7,
    minAttemptsBeforeBan: 3,
    banDurationHours: 24,
    now: () => clock.now
  });
  const registry = createScoutRegistry({ node, ledger } as unknown as ScoutRegistryComponents, {
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
  return { node, registry, ids, ledger, clock };
}

describe('scout registry', () => {
  it('ranks by measured pace while none has drafted, then by measured acceptance; claimed speeds never count', async () => {
    // Claims: the first says 1e6 tok/s, the others little. Measured: the first is the slowest.
    const { registry, ids, ledger } = await setup([1e6, 1, 2]);
    const [claimant, fast, middle] = ids;
    registry.noteMeasured(claimant.toString(), linkOf(claimant, 40));
    registry.noteMeasured(fast.toString(), linkOf(fast, 2));
    registry.noteMeasured(middle.toString(), linkOf(middle, 10));
    const first = registry.lease({ count: 3 });
    expect(first.map((s) => s.peerId)).toEqual([fast, middle, claimant]);
    // The fast scout served badly, the claimant well: acceptance now ranks before pace.
    registry.release(first, [], stats(0, 0));
    const a = registry.lease({ count: 1, peerIds: [fast.toString()] });
    registry.release(a, [linkOf(fast, 2)], stats(10, 1));
    const b = registry.lease({ count: 1, peerIds: [claimant.toString()] });
    registry.release(b, [linkOf(claimant, 40)], stats(10, 9));
    expect(registry.lease({ count: 3 }).map((s) => s.peerId)).toEqual([claimant, middle, fast]);
    expect(registry.get(fast.toString())).toMatchObject({ drafted: 10, accepted: 1 });
    // The acceptance history is in the ledger (it outlives the connection).
    expect(ledger.acceptance(fast.toString())).toEqual({ sessions: 1, drafted: 10, accepted: 1 });
  });

  it('a lease takes only scouts its floor predicate accepts', async () => {
    const { registry, ids } = await setup([10, 10]);
    const only = ids[1].toString();
    expect(
      registry.lease({ count: 2, accept: (r) => r.peerId.toString() === only }).map((s) => s.peerId)
    ).toEqual([ids[1]]);
  });

  it('per-address caps: registered scouts and handshakes from one IP are refused past their limits; relayed ones are not counted', async () => {
    const { registry } = await setup([]);
    for (let i = 0; i < MAX_SCOUTS_PER_IP; i++) {
      const id = peerIdFromPrivateKey(await generateKeyPair('Ed25519'));
      expect(registry.admit(id, hello(id, null), '10.0.0.1')).toBeNull();
    }
    const extra = peerIdFromPrivateKey(await generateKeyPair('Ed25519'));
    expect(registry.admit(extra, hello(extra, null), '10.0.0.1')).toMatch(/already registered/);
    expect(registry.admit(extra, hello(extra, null), '10.0.0.2')).toBeNull();
    for (let i = 0; i < MAX_HANDSHAKES_PER_IP_PER_WINDOW; i++)
      expect(registry.noteAddressHandshake('10.0.0.3')).toBeNull();
    expect(registry.noteAddressHandshake('10.0.0.3')).toMatch(/handshakes from one address/);
    expect(registry.noteAddressHandshake(null)).toBeNull();
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

  it('a punished scout is dropped, banned in the ledger for PROTOCOL_BAN_HOURS and hung up on; the ban expires on time', async () => {
    const { node, registry, ids, ledger, clock } = await setup([10, 10]);
    const [bad, good] = ids;
    registry.punish(bad.toString(), new MeshProtocolError('malformed', 'test'));
    expect(registry.get(bad.toString())).toBeUndefined();
    expect(registry.isBanned(bad.toString())).toBe(true);
    expect(registry.failures(bad.toString())).toBe(1);
    expect(node.connected).toEqual([good]);
    expect(registry.eligible().map((s) => s.peerId)).toEqual([good]);
    expect(ledger.get(bad.toString())?.protocol_offences).toBe(1);
    expect(ledger.activeBan(bad.toString())?.reason).toBe('protocol: malformed');
    clock.now += PROTOCOL_BAN_HOURS * 3_600_000 - 1;
    expect(registry.isBanned(bad.toString())).toBe(true);
    clock.now += 2;
    expect(registry.isBanned(bad.toString())).toBe(false);
    expect(registry.failures(bad.toString())).toBe(1);
  });

  it('a disconnected scout leaves the registry; a banned peer that reconnects is hung up on once a handshake would have timed out', async () => {
    const { node, registry, ids } = await setup([10, 10]);
    const [gone, bad] = ids;
    node.connected = node.connected.filter((p) => !p.equals(gone));
    node.safeDispatchEvent('peer:disconnect', { detail: gone });
    expect(registry.get(gone.toString())).toBeUndefined();
    registry.punish(bad.toString(), new MeshProtocolError('malformed', 'test'));
    vi.useFakeTimers();
    try {
      node.connected.push(bad);
      node.safeDispatchEvent('peer:connect', { detail: bad });
      // Time to hear `banned` from the handshake first.
      expect(node.hungUp).toEqual([bad.toString()]);
      vi.advanceTimersByTime(HANDSHAKE_TIMEOUT_MS);
      expect(node.hungUp).toEqual([bad.toString(), bad.toString()]);
      expect(node.connected).toEqual([]);
    } finally {
      vi.useRealTimers();
    }
  });
});
