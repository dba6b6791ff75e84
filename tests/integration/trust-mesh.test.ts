/**
 * Trust over the real mesh: the oracle's libp2p peer in this process with a real SQLite ledger
 * in a temp dir and the real reference draft model; scouts as in-process peers on loopback
 * (honest ones run llama.cpp on the generated draft model) or as the real Node scout process.
 */
import '../../src/lib/server/node-compat.js';
import { generateKeyPair } from '@libp2p/crypto/keys';
import { multiaddr } from '@multiformats/multiaddr';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createMeshNode,
  createOracleMesh,
  type MeshNode,
  type OracleMesh,
  type OracleMeshOptions
} from '../../native-oracle/mesh/index.js';
import { predictTicketsToBan } from '../../native-oracle/mesh/trust/detection.js';
import { serializeEngine, type DraftEngine } from '../../workers/scout/core.js';
import { createLlamaDraftEngine } from '../../workers/scout/llama-draft-engine.js';
import { createScoutPeer, type ScoutPeer } from '../../workers/scout/scout-peer.js';
import { ensureTestModels } from '../helpers/models.js';
import {
  spawnRelay,
  spawnTsx,
  waitFor,
  type RelayReady,
  type SpawnedProcess
} from './mesh-harness.js';

const RULE = { reputationThreshold: 0.7, minAttemptsBeforeBan: 3 };

let models: Awaited<ReturnType<typeof ensureTestModels>>;
let engineInfo: OracleMeshOptions['engine'];
const cleanups: Array<() => Promise<unknown>> = [];

beforeAll(async () => {
  models = await ensureTestModels();
  engineInfo = {
    modelId: 'target',
    tokenizerFingerprint: models.manifest.tokenizerFingerprint,
    vocabularySize: models.manifest.vocabSize
  };
});

afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

async function startMesh(options: Partial<OracleMeshOptions> = {}) {
  const mesh = await createOracleMesh({
    engine: engineInfo,
    draftModelPath: models.draftPath,
    dataDir: mkdtempSync(join(tmpdir(), 'shard-trust-')),
    announceSeconds: 60,
    trustSeed: 1,
    ...options
  });
  await mesh.start();
  cleanups.push(() => mesh.stop());
  return mesh;
}

const directAddr = (mesh: OracleMesh) => mesh.multiaddrs().find((a) => !a.includes('p2p-circuit'))!;

/** An in-process scout peer joined to `mesh` directly; `contexts` records what it was shown. */
async function scoutFor(mesh: OracleMesh | null, engine: DraftEngine) {
  const privateKey = await generateKeyPair('Ed25519');
  const node: MeshNode = await createMeshNode({ privateKey });
  const refusals: string[] = [];
  const peer: ScoutPeer = createScoutPeer({
    node,
    privateKey,
    engine,
    software: { name: 'trust-test-scout', version: '0' },
    isAutoJoin: false,
    heartbeatMs: 0,
    onEvent: (e) => {
      if (e.type === 'oracle:refused') refusals.push(e.reason);
    }
  });
  await peer.start();
  cleanups.push(async () => {
    await peer.stop();
    await node.stop();
  });
  const status = mesh ? await peer.join(directAddr(mesh)) : null;
  return { node, peer, id: node.peerId.toString(), status, refusals };
}

/** Records every context a draft engine is asked about. */
function recording(engine: DraftEngine, seen: number[][]): DraftEngine {
  return {
    ...engine,
    async draft(context, k, signal) {
      seen.push([...context]);
      return engine.draft(context, k, signal);
    }
  };
}

/** Cheats (random tokens) on the sessions whose first six context tokens hash below `rate`. */
function cheating(engine: DraftEngine, rate: number, seed: number): DraftEngine {
  let s = seed;
  const random = () => (s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32;
  return {
    ...engine,
    async draft(context, k, signal) {
      const honest = await engine.draft(context, k, signal);
      let h = seed;
      for (const t of context.slice(0, 6)) h = Math.imul(h ^ t, 2654435761) >>> 0;
      return h / 2 ** 32 < rate ? honest.map(() => Math.floor(random() * 5000)) : honest;
    }
  };
}

const noModel = (fingerprint: string, draft: DraftEngine['draft']): DraftEngine => ({
  name: 'no-model',
  tokenizerFingerprint: fingerprint,
  draft,
  async dispose() {}
});

describe('trust: probation, golden tickets and bans over the real mesh', () => {
  it('a scout without a model never sees a real prompt under the default floor and is banned within 3 tickets', async () => {
    const mesh = await startMesh();
    const seen: number[][] = [];
    const random = (n: number) =>
      Array.from({ length: n }, (_, i) => (i * 7919 + seen.length * 31) % 5000);
    const scout = await scoutFor(
      mesh,
      recording(
        noModel(engineInfo.tokenizerFingerprint, async (_c, k) => random(k)),
        seen
      )
    );
    expect(scout.status?.status).toBe('welcome');
    // Real sessions asked for while it is on probation lease nobody.
    for (let i = 0; !mesh.bans().some((b) => b.peer_id === scout.id); i++) {
      expect(mesh.scoutDraftSource()).toBeNull();
      expect(mesh.scoutDraftSource({ peerIds: [scout.id] })).toBeNull();
      await new Promise((r) => setTimeout(r, 50));
      if (i > 600) throw new Error('no ban within 30 s');
    }
    const row = mesh.reputation().find((r) => r.peer_id === scout.id)!;
    expect(row.golden_attempts).toBe(3);
    expect(row.golden_correct).toBe(0);
    expect(seen.length).toBeGreaterThan(0);
    // Banned: hung up on, then refused at the handshake with `banned`.
    await waitFor('hung up', () => scout.node.getConnections(mesh.node.peerId).length === 0);
    const again = await scout.peer.join(directAddr(mesh));
    expect(again.status === 'refused' ? again.reason : again.status).toMatch(/^banned/);
  }, 60_000);

  it('cheaters on 100%, 50% and 20% of tickets are banned within the predicted 99th percentile; an honest twin is not', async () => {
    const mesh = await startMesh({ goldenTicketRate: 1 });
    const rates = [1, 0.5, 0.2];
    const predicted = rates.map((f) => predictTicketsToBan(f, RULE, { trials: 4000 }).p99);
    // One llama.cpp sequence shared by all four scouts: calls must take turns.
    const base = serializeEngine(
      await createLlamaDraftEngine({ modelPath: models.draftPath, threads: 1 })
    );
    cleanups.push(() => base.dispose());
    const cheaters = [];
    for (const [i, f] of rates.entries())
      cheaters.push(await scoutFor(mesh, cheating(base, f, 11 + i)));
    const honest = await scoutFor(mesh, base);
    for (const [i, c] of cheaters.entries()) {
      await waitFor(
        `ban of the ${rates[i]} cheater`,
        () => mesh.bans().some((b) => b.peer_id === c.id),
        150_000
      );
      const row = mesh.reputation().find((r) => r.peer_id === c.id)!;
      expect(row.golden_attempts).toBeLessThanOrEqual(predicted[i]);
    }
    await waitFor(
      'honest tickets',
      () => (mesh.reputation().find((r) => r.peer_id === honest.id)?.golden_attempts ?? 0) > 20,
      120_000
    );
    const row = mesh.reputation().find((r) => r.peer_id === honest.id)!;
    expect(row.golden_correct).toBe(row.golden_attempts);
    expect(mesh.bans().some((b) => b.peer_id === honest.id)).toBe(false);
  }, 240_000);

  it('draft token ids at or above the vocabulary size are an offence counted in the ledger', async () => {
    const mesh = await startMesh();
    const scout = await scoutFor(
      mesh,
      noModel(engineInfo.tokenizerFingerprint, async (_c, k) =>
        Array(k).fill(engineInfo.vocabularySize)
      )
    );
    expect(scout.status?.status).toBe('welcome');
    await waitFor('ban', () => mesh.bans().find((b) => b.peer_id === scout.id), 30_000);
    expect(mesh.bans().find((b) => b.peer_id === scout.id)?.reason).toBe('protocol: malformed');
    expect(mesh.reputation().find((r) => r.peer_id === scout.id)?.protocol_offences).toBe(1);
  }, 60_000);

  it('a self-reported draft speed does not change which scout is leased first', async () => {
    const mesh = await startMesh();
    const base = serializeEngine(
      await createLlamaDraftEngine({ modelPath: models.draftPath, threads: 1 })
    );
    cleanups.push(() => base.dispose());
    // The braggart claims a million tokens/s and drafts slowly; the modest one claims 1 and is fast.
    const braggart = await scoutFor(mesh, {
      ...base,
      async draft(context, k, signal) {
        await new Promise((r) => setTimeout(r, 25 * k));
        return base.draft(context, k, signal);
      },
      tokensPerSecond: () => 1e6
    });
    const modest = await scoutFor(mesh, { ...base, tokensPerSecond: () => 1 });
    await mesh.waitForScouts(2, AbortSignal.timeout(60_000));
    const source = mesh.scoutDraftSource();
    expect(source?.name).toBe(`scout:${modest.id.slice(-8)}`);
    source?.end();
    expect(
      mesh.peers().find((p) => p.peer_id === braggart.id)?.claimed_draft_tokens_per_second
    ).toBe(1e6);
  }, 90_000);
});

describe('trust: bans survive restarts and travel to trusting oracles', () => {
  let relay: SpawnedProcess<RelayReady>;
  beforeAll(async () => {
    relay = await spawnRelay();
    cleanups.push(() => relay.stop());
  });

  it('a ban survives a restart (same key file, same ledger) and the peer is refused with `banned`', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'shard-trust-restart-'));
    const keyFile = join(dataDir, 'mesh.key');
    const first = await startMesh({ dataDir, keyFile });
    const scout = await scoutFor(
      first,
      noModel(engineInfo.tokenizerFingerprint, async () => [])
    );
    await first.ban(scout.id, { reason: 'test ban' });
    const firstId = first.peerId;
    await first.stop();
    const second = await startMesh({ dataDir, keyFile });
    expect(second.peerId).toBe(firstId);
    expect(second.bans().map((b) => b.peer_id)).toEqual([scout.id]);
    const status = await scout.peer.join(directAddr(second));
    expect(status).toMatchObject({ status: 'refused' });
    expect(status.reason).toMatch(/^banned/);
  }, 60_000);

  it('a signed ban is applied by an oracle that trusts the signer and ignored by one that does not', async () => {
    const relayAddr = relay.ready.multiaddrs.find((a) => !a.includes('/ws/'))!;
    const origin = await startMesh({ relays: [relayAddr] });
    const trusting = await startMesh({ relays: [relayAddr], trustedOracles: [origin.peerId] });
    const sceptic = await startMesh({ relays: [relayAddr], trustedOracles: [] });
    // Gossip needs the meshes to have joined the topic through the relay: warm up until both
    // receivers saw an announcement.
    let warmups = 0;
    await waitFor(
      'gossip mesh',
      async () => {
        await origin.ban(`warm-up-${warmups++}`, { reason: 'warm-up', hours: 0.001 });
        return (
          trusting.ticketStats().announcementsApplied > 0 &&
          sceptic.ticketStats().announcementsIgnored > 0
        );
      },
      30_000
    );
    const ignoredBefore = sceptic.ticketStats().announcementsIgnored;
    const victim = (
      await scoutFor(
        null,
        noModel('x', async () => [])
      )
    ).id;
    await origin.ban(victim, { reason: 'golden tickets: 0/3 passed' });
    await waitFor(
      'trusted ban applied',
      () => trusting.bans().some((b) => b.peer_id === victim),
      20_000
    );
    await waitFor(
      'untrusted ban seen',
      () => sceptic.ticketStats().announcementsIgnored > ignoredBefore,
      20_000
    );
    const applied = trusting.bans().find((b) => b.peer_id === victim)!;
    expect(applied.source).toBe(origin.peerId);
    expect(applied.reason).toContain('golden tickets: 0/3 passed');
    // The sceptic received the same announcements and applied none of them.
    expect(sceptic.bans()).toEqual([]);
  }, 60_000);
});

describe('trust: the real Node scout', () => {
  it('clears probation within seconds and is never banned over 200 golden tickets', async () => {
    const mesh = await startMesh({ goldenTicketRate: 1 });
    const started = Date.now();
    const scout = await spawnTsx<{ peerId: string }>(
      'workers/scout/node-scout.ts',
      ['--oracle', directAddr(mesh), '--model', models.draftPath, '--threads', '1'],
      'scout:ready'
    );
    cleanups.push(() => scout.stop('SIGKILL'));
    const id = scout.ready.peerId;
    await waitFor(
      'probation cleared',
      () => mesh.peers().find((p) => p.peer_id === id)?.trust === 'reputable',
      60_000
    );
    const probationSeconds = (Date.now() - started) / 1000;
    expect(probationSeconds).toBeLessThan(60);
    await waitFor(
      '200 tickets',
      () => (mesh.reputation().find((r) => r.peer_id === id)?.golden_attempts ?? 0) >= 200,
      400_000
    );
    const row = mesh.reputation().find((r) => r.peer_id === id)!;
    expect(row.is_banned).toBe(false);
    expect(row.golden_correct / row.golden_attempts).toBeGreaterThanOrEqual(0.99);
    expect(mesh.bans()).toEqual([]);
  }, 480_000);
});

describe('trust: connection limits (issue 10, finding 11)', () => {
  it('fresh peer ids from one address cannot fill the table; a scout arriving through the relay still joins', async () => {
    const relay = await spawnRelay();
    cleanups.push(() => relay.stop());
    const relayAddr = relay.ready.multiaddrs.find((a) => !a.includes('/ws/'))!;
    const cap = 4;
    const mesh = await startMesh({
      relays: [relayAddr],
      limits: { maxDirectConnectionsPerIp: cap }
    });
    const circuit = await waitFor('circuit address', () =>
      mesh.multiaddrs().find((a) => a.includes('/p2p-circuit'))
    );
    const target = directAddr(mesh);
    const outcomes: boolean[] = [];
    for (let i = 0; i < cap * 2; i++) {
      const node = await createMeshNode({ isRelayListening: false });
      cleanups.push(async () => node.stop());
      outcomes.push(
        await node.dial(multiaddr(target), { signal: AbortSignal.timeout(5_000) }).then(
          (c) => c.status === 'open',
          () => false
        )
      );
    }
    // The first `cap` got in; connections over the cap were denied (or closed at once).
    expect(outcomes.slice(0, cap).every(Boolean)).toBe(true);
    await waitFor('per-address cap holds', () => {
      const direct = mesh.node
        .getConnections()
        .filter(
          (c) => c.direction === 'inbound' && !c.remoteAddr.toString().includes('p2p-circuit')
        );
      return direct.length <= cap;
    });
    const base = serializeEngine(
      await createLlamaDraftEngine({ modelPath: models.draftPath, threads: 1 })
    );
    cleanups.push(() => base.dispose());
    const honest = await scoutFor(null, base);
    await honest.node.dial(multiaddr(relayAddr));
    const status = await honest.peer.join(circuit);
    expect(status.status).toBe('welcome');
  }, 90_000);
});
