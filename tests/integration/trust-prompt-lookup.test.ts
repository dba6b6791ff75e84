/**
 * Model-free scouts and golden tickets over the real mesh: a scout that declares the
 * prompt-lookup rule (the browser's model-free engine, hello models `['prompt-lookup']`) is
 * audited against that rule, so an honest one clears probation and drafts real prompts under the
 * default `reputable` floor, while one that declares the rule and sends other tokens is banned
 * within the threshold rule's three tickets. The oracle's libp2p peer runs in this process with a
 * real SQLite ledger and the real reference draft model; scouts are in-process peers on loopback.
 */
import '../../src/lib/server/node-compat.js';
import { generateKeyPair } from '@libp2p/crypto/keys';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createMeshNode,
  createOracleMesh,
  type OracleMesh,
  type OracleMeshOptions
} from '../../native-oracle/mesh/index.js';
import type { DraftEngine } from '../../workers/scout/core.js';
import { createPromptLookupEngine } from '../../workers/scout/browser/prompt-lookup.js';
import { createScoutPeer } from '../../workers/scout/scout-peer.js';
import { ensureTestModels } from '../helpers/models.js';
import { waitFor } from './mesh-harness.js';

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

async function startMesh(options: Partial<OracleMeshOptions> = {}): Promise<OracleMesh> {
  const mesh = await createOracleMesh({
    engine: engineInfo,
    draftModelPath: models.draftPath,
    dataDir: mkdtempSync(join(tmpdir(), 'shard-trust-lookup-')),
    announceSeconds: 60,
    trustSeed: 7,
    ...options
  });
  await mesh.start();
  cleanups.push(() => mesh.stop());
  return mesh;
}

async function scoutFor(mesh: OracleMesh, engine: DraftEngine) {
  const privateKey = await generateKeyPair('Ed25519');
  const node = await createMeshNode({ privateKey });
  const peer = createScoutPeer({
    node,
    privateKey,
    engine,
    software: { name: 'trust-lookup-test-scout', version: '0' },
    isAutoJoin: false,
    heartbeatMs: 0
  });
  await peer.start();
  cleanups.push(async () => {
    await peer.stop();
    await node.stop();
  });
  const addr = mesh.multiaddrs().find((a) => !a.includes('p2p-circuit'))!;
  const status = await peer.join(addr);
  return { id: node.peerId.toString(), status };
}

describe('trust: scouts that draft with prompt lookup (no model)', () => {
  it('an honest prompt-lookup scout clears probation and is leased under the default floor', async () => {
    const mesh = await startMesh();
    const engine = createPromptLookupEngine({
      tokenizerFingerprint: engineInfo.tokenizerFingerprint
    });
    expect(engine.models).toEqual(['prompt-lookup']);
    const scout = await scoutFor(mesh, engine);
    expect(scout.status.status).toBe('welcome');
    await mesh.waitForScouts(1, AbortSignal.timeout(45_000));
    const row = mesh.reputation().find((r) => r.peer_id === scout.id)!;
    expect(row.golden_correct).toBeGreaterThanOrEqual(3);
    expect(row.golden_correct).toBe(row.golden_attempts);
    expect(mesh.bans()).toEqual([]);
    expect(mesh.peers().find((p) => p.peer_id === scout.id)?.trust).toBe('reputable');
    const source = mesh.scoutDraftSource();
    expect(source).not.toBeNull();
    expect(source!.name).toContain(scout.id.slice(-8));
  }, 60_000);

  it('a scout that declares prompt lookup but sends other tokens is banned within 3 tickets', async () => {
    const mesh = await startMesh();
    const honest = createPromptLookupEngine({
      tokenizerFingerprint: engineInfo.tokenizerFingerprint
    });
    // The same engine and hello, every drafted token moved to its neighbour in the vocabulary.
    const liar: DraftEngine = {
      ...honest,
      async draft(context, k, signal) {
        const tokens = await honest.draft(context, k, signal);
        return tokens.map((t) => (t + 1) % engineInfo.vocabularySize);
      }
    };
    const scout = await scoutFor(mesh, liar);
    expect(scout.status.status).toBe('welcome');
    await waitFor('a ban', () => mesh.bans().some((b) => b.peer_id === scout.id), 45_000);
    const row = mesh.reputation().find((r) => r.peer_id === scout.id)!;
    expect(row.golden_attempts).toBe(3);
    expect(row.golden_correct).toBe(0);
    expect(mesh.scoutCount()).toBe(0);
  }, 60_000);
});
