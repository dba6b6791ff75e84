/**
 * The privacy envelope's scout floor reaches the mesh lease (issue 9): an oracle with the mesh
 * plugin, a relay process and a Node scout. With floor `any` the scout drafts (the control);
 * with floor `none` (header or body) or `trusted` (no scout is operator-listed) no scout sees
 * the prompt, and a request that needs a TEE fails before any draft source is chosen.
 */
import '../../src/lib/server/node-compat.js';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTargetEngine, type TargetEngine } from '../../native-oracle/engine/index.js';
import { createOracleMesh, type OracleMesh } from '../../native-oracle/mesh/index.js';
import { meshPlugin } from '../../native-oracle/mesh/plugin.js';
import { createOracleServer, type OracleServer } from '../../native-oracle/server.js';
import { ensureTestModels } from '../helpers/models.js';
import { spawnRelay, spawnTsx, type RelayReady, type SpawnedProcess } from './mesh-harness.js';

const MESSAGES = [
  { role: 'user' as const, content: 'Tell me about the river and the quick brown fox.' }
];

describe('the privacy envelope in chat, with a scout on the mesh', () => {
  let relay: SpawnedProcess<RelayReady>;
  let scout: SpawnedProcess<{ peerId: string }>;
  let engine: TargetEngine;
  let mesh: OracleMesh;
  let server: OracleServer;

  beforeAll(async () => {
    const models = await ensureTestModels();
    engine = await createTargetEngine({ modelPath: models.targetPath, threads: 1 });
    relay = await spawnRelay();
    const relayAddr = relay.ready.multiaddrs.find((a) => !a.includes('/ws/'))!;
    mesh = await createOracleMesh({
      engine,
      relays: [relayAddr],
      announceSeconds: 1,
      draftModelPath: models.draftPath,
      dataDir: mkdtempSync(join(tmpdir(), 'shard-chat-privacy-mesh-'))
    });
    server = createOracleServer({
      engine,
      host: '127.0.0.1',
      port: 0,
      plugins: [meshPlugin(mesh)],
      rateLimitPerMinute: 0
    });
    await server.start();
    scout = await spawnTsx(
      'workers/scout/node-scout.ts',
      ['--relay', relayAddr, '--model', models.draftPath, '--threads', '1'],
      'scout:ready'
    );
    await mesh.waitForScouts(1, AbortSignal.timeout(60_000), 'any');
  }, 120_000);

  afterAll(async () => {
    await scout?.stop('SIGKILL');
    await server?.stop();
    await relay?.stop();
    await engine?.dispose();
  });

  async function chat(body: Record<string, unknown>, headers: Record<string, string> = {}) {
    const res = await fetch(`${server.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-shard-speculation': 'on', ...headers },
      body: JSON.stringify({ messages: MESSAGES, max_tokens: 16, ...body })
    });
    const json = (await res.json()) as { error?: { code: string; param: string } };
    return { status: res.status, source: res.headers.get('x-shard-draft-source') ?? '', json };
  }

  it('floor any lets the scout draft; floor none or trusted keeps the prompt from it', async () => {
    const any = await chat({}, { 'x-shard-privacy': '{"scout_floor":"any"}' });
    expect(any.source).toMatch(/^scout:/);

    const noneHeader = await chat({}, { 'x-shard-privacy': '{"scout_floor":"none"}' });
    expect(noneHeader.status).toBe(200);
    expect(noneHeader.source).not.toMatch(/^scout:/);

    const noneBody = await chat({ shard: { privacy: { scout_floor: 'none' } } });
    expect(noneBody.status).toBe(200);
    expect(noneBody.source).not.toMatch(/^scout:/);

    const trusted = await chat({ shard: { privacy: { scout_floor: 'trusted' } } });
    expect(trusted.status).toBe(200);
    expect(trusted.source).not.toMatch(/^scout:/);

    const optOut = await chat({ shard: { allow_scouts: false, privacy: { scout_floor: 'any' } } });
    expect(optOut.source).not.toMatch(/^scout:/);
  });

  it('a request that needs a TEE is refused (400) instead of being drafted anywhere', async () => {
    const tee = await chat({ shard: { privacy: { requires_tee: true, scout_floor: 'any' } } });
    expect(tee.status).toBe(400);
    expect(tee.json.error?.code).toBe('privacy_unsatisfiable');
    const bad = await chat({}, { 'x-shard-privacy': '{"scout_floor":1}' });
    expect(bad.status).toBe(400);
    expect(bad.json.error?.param).toBe('x-shard-privacy');
  });
});
