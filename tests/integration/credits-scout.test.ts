/* eslint-disable @typescript-eslint/no-explicit-any -- HTTP JSON bodies are asserted field by field */
/**
 * Scouts earn contributor credit for work the oracle verified (issue 11): a real oracle (target
 * engine, mesh, contribution control plane on a real SQLite file) and a real Node scout (the
 * llama.cpp draft engine on the generated draft model) on loopback. The scout clears probation
 * on golden tickets, drafts for a chat completion, and its contributor identity (the Ed25519
 * public key of its peer id) then holds exactly accepted draft tokens × 1 + passed tickets × 8,
 * shown by `GET /v1/contribution/credits/:id`. What a scout says about itself (a signed
 * heartbeat claiming capacity, a POST to the credit route) earns nothing.
 */
import '../../src/lib/server/node-compat.js';
import { generateKeyPair } from '@libp2p/crypto/keys';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  contributionPlugin,
  createContributionService,
  type ContributionService
} from '../../native-oracle/contribution/index.js';
import { createTargetEngine, type TargetEngine } from '../../native-oracle/engine/index.js';
import {
  createMeshNode,
  createOracleMesh,
  scoutIdentity,
  type OracleMesh
} from '../../native-oracle/mesh/index.js';
import { meshPlugin } from '../../native-oracle/mesh/plugin.js';
import { createOracleServer, type OracleServer } from '../../native-oracle/server.js';
import { signEnvelope } from '../../src/lib/protocol/contribution.js';
import { createLlamaDraftEngine } from '../../workers/scout/llama-draft-engine.js';
import { createScoutPeer } from '../../workers/scout/scout-peer.js';
import { ensureTestModels } from '../helpers/models.js';
import { waitFor } from './mesh-harness.js';

const cleanups: Array<() => Promise<unknown>> = [];
let engine: TargetEngine;
let mesh: OracleMesh;
let service: ContributionService;
let server: OracleServer;
let scoutId: string;
let scoutSecret: Uint8Array;

beforeAll(async () => {
  const models = await ensureTestModels();
  engine = await createTargetEngine({ modelPath: models.targetPath, threads: 1 });
  cleanups.push(() => engine.dispose());
  const dataDir = mkdtempSync(join(tmpdir(), 'shard-credits-scout-'));
  service = createContributionService({ dataDir });
  mesh = await createOracleMesh({
    engine,
    dataDir,
    draftModelPath: models.draftPath,
    announceSeconds: 60,
    trustSeed: 11,
    credit: (identity, kind, amount, evidence) => service.credit(identity, kind, amount, evidence)
  });
  server = createOracleServer({
    engine,
    host: '127.0.0.1',
    port: 0,
    rateLimitPerMinute: 0,
    plugins: [meshPlugin(mesh), contributionPlugin({ service, closeOnStop: true })]
  });
  await server.start();
  cleanups.push(() => server.stop());

  const privateKey = await generateKeyPair('Ed25519');
  scoutSecret = privateKey.raw.slice(0, 32);
  const node = await createMeshNode({ privateKey });
  const peer = createScoutPeer({
    node,
    privateKey,
    engine: await createLlamaDraftEngine({ modelPath: models.draftPath, threads: 1 }),
    software: { name: 'credits-test-scout', version: '0' },
    isAutoJoin: false,
    heartbeatMs: 0
  });
  await peer.start();
  cleanups.push(async () => {
    await peer.stop();
    await node.stop();
  });
  scoutId = node.peerId.toString();
  const status = await peer.join(mesh.multiaddrs().find((a) => !a.includes('p2p-circuit'))!);
  expect(status.status).toBe('welcome');
  // Probation: the honest scout passes golden tickets before it sees a real prompt.
  await mesh.waitForScouts(1, AbortSignal.timeout(60_000));
}, 120_000);

afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

const creditsOf = async (identity: string) =>
  (await (await fetch(`${server.url}/v1/contribution/credits/${identity}`)).json()) as any;

describe('scout credits from verified work', () => {
  it('the identity is the Ed25519 public key of the peer id, as the control plane writes keys', () => {
    const identity = scoutIdentity(scoutId);
    expect(identity).toMatch(/^[0-9a-f]{64}$/);
    expect(identity).toBe(
      signEnvelope('session.create', {}, { secretKey: scoutSecret }).signer_pubkey_hex
    );
  });

  it('credit = accepted draft tokens + passed tickets × 8, on the credit endpoint', async () => {
    const identity = scoutIdentity(scoutId)!;
    const res = await fetch(`${server.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-shard-speculation': 'on' },
      body: JSON.stringify({
        messages: [{ role: 'user', content: 'Tell me about the river and the quick brown fox.' }],
        max_tokens: 48
      })
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-shard-draft-source')).toMatch(/^scout:/);
    await res.json();
    // The session's credit lands when its draft source ends (the generation's end).
    const peerAccepted = () => mesh.peers().find((p) => p.peer_id === scoutId)?.accepted ?? 0;
    const passed = () => mesh.reputation().find((r) => r.peer_id === scoutId)?.golden_correct ?? 0;
    const balance = await waitFor(
      'credits matching the verified work',
      async () => {
        const body = await creditsOf(identity);
        const isSettled =
          body.by_kind.accepted_draft_tokens === peerAccepted() &&
          body.by_kind.golden_tickets_passed === passed() * 8 &&
          peerAccepted() > 0;
        return isSettled ? body : null;
      },
      30_000
    );
    expect(passed()).toBeGreaterThanOrEqual(3);
    expect(balance.credits).toBe(peerAccepted() + passed() * 8);
    const mesh_ = balance.recent.find((e: any) => e.kind === 'accepted_draft_tokens');
    expect(mesh_.evidence.source).toBe('mesh');
    expect(mesh_.evidence.rounds).toMatch(/^\d+-\d+$/);
  }, 60_000);

  it("a scout's self-report earns nothing", async () => {
    const identity = scoutIdentity(scoutId)!;
    const before = (await creditsOf(identity)).credits;
    const sign = <T extends Parameters<typeof signEnvelope>[0]>(
      type: T,
      payload: Parameters<typeof signEnvelope<T>>[1]
    ) => signEnvelope(type, payload, { secretKey: scoutSecret });
    const post = (path: string, body: unknown) =>
      fetch(`${server.url}/v1/contribution/${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body)
      });
    const created = (await (await post('sessions', sign('session.create', {}))).json()) as any;
    const session_id = created.session.session_id;
    await post('participation', sign('participation.set', { session_id, enabled: true }));
    await post('register-node', sign('node.register', { session_id, role: 'scout', capacity: 64 }));
    const beat = await post(
      'heartbeat',
      sign('node.heartbeat', {
        session_id,
        role: 'scout',
        queue_depth: 0,
        node_latency_ms: 1,
        uptime_seconds: 99999
      })
    );
    expect(beat.status).toBe(200);
    const claim = await post(`credits/${identity}`, {
      kind: 'accepted_draft_tokens',
      amount: 100000
    });
    expect(claim.status).toBeGreaterThanOrEqual(400);
    expect((await creditsOf(identity)).credits).toBe(before);
  });
});
