/* eslint-disable @typescript-eslint/no-explicit-any -- HTTP JSON bodies are asserted field by field; typing each response adds nothing here */
/**
 * The contributor control plane over HTTP on a real oracle process (native-oracle/main.ts on
 * loopback, no model needed): a contributor goes session → participation → register →
 * heartbeats → deregister; the state survives a restart on the same SQLite file; replayed, stale
 * and wrongly signed messages are refused with clear errors and change nothing; the routes sit
 * behind the API-key guard.
 */
import { spawn } from 'node:child_process';
import { ed25519 } from '@noble/curves/ed25519.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  signContributorHeader,
  signEnvelope,
  type ContributionMessageType,
  type PayloadOf
} from '../../src/lib/protocol/contribution.js';

const ROOT = resolve(import.meta.dirname, '../..');
const MAIN = join(ROOT, 'native-oracle/main.ts');
const API_KEY = 'contribution-test-key';
const keyA = new Uint8Array(32).fill(11);
const keyB = new Uint8Array(32).fill(12);
const pubA = bytesToHex(ed25519.getPublicKey(keyA));

let dataDir: string;

/** Starts the oracle CLI on a free loopback port; resolves once it prints its ready line. */
async function startOracle() {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', MAIN, '--port', '0', '--allow-no-model'],
    {
      cwd: ROOT,
      env: { ...process.env, SHARD_DATA_DIR: dataDir, SHARD_API_KEYS: API_KEY },
      stdio: ['ignore', 'pipe', 'pipe']
    }
  );
  let stdout = '';
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const url = await new Promise<string>((resolveUrl, reject) => {
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
      const m = /Shard oracle ready: (http:\/\/\S+)/.exec(stdout);
      if (m) resolveUrl(m[1]!);
    });
    child.once('exit', (code) => reject(new Error(`oracle exited early (${code}): ${stderr}`)));
  });
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return {
    url,
    async stop() {
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    }
  };
}

type Oracle = Awaited<ReturnType<typeof startOracle>>;
let oracle: Oracle;

const auth = { authorization: `Bearer ${API_KEY}` };

async function post(path: string, body: unknown, headers: Record<string, string> = auth) {
  const res = await fetch(`${oracle.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body)
  });
  return { status: res.status, json: (await res.json()) as Record<string, any> };
}

async function get(path: string, headers: Record<string, string> = auth) {
  const res = await fetch(`${oracle.url}${path}`, { headers });
  return { status: res.status, json: (await res.json()) as Record<string, any> };
}

const sign = <T extends ContributionMessageType>(
  type: T,
  payload: PayloadOf<T>,
  opts: { key?: Uint8Array; ts?: number } = {}
) =>
  signEnvelope(type, payload, {
    secretKey: opts.key ?? keyA,
    ...(opts.ts !== undefined ? { timestampMs: opts.ts } : {})
  });

const heartbeat = (sessionId: string, queueDepth: number) =>
  sign('node.heartbeat', {
    session_id: sessionId,
    role: 'verifier',
    queue_depth: queueDepth,
    node_latency_ms: 24,
    uptime_seconds: 15,
    capability_tier: 'gpu_fast',
    gpu_available: true,
    public_api: true
  });

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'shard-contribution-http-'));
  oracle = await startOracle();
});
afterAll(async () => {
  await oracle?.stop().catch(() => undefined);
  rmSync(dataDir, { recursive: true, force: true });
});

describe('contribution control plane over HTTP', () => {
  let sessionId: string;
  let nodeId: string;

  it('needs the API key like every /v1 route', async () => {
    const res = await post('/v1/contribution/sessions', sign('session.create', {}), {});
    expect(res.status).toBe(401);
  });

  it('takes a contributor from session to participation, registration and heartbeats', async () => {
    const created = await post(
      '/v1/contribution/sessions',
      sign('session.create', { label: 'rig' })
    );
    expect(created.status).toBe(201);
    expect(created.json).toMatchObject({
      ok: true,
      detail: 'session created',
      session: { contributor: pubA, label: 'rig', participation_enabled: false, nodes: [] }
    });
    sessionId = created.json.session.session_id;

    const on = await post(
      '/v1/contribution/participation',
      sign('participation.set', { session_id: sessionId, enabled: true })
    );
    expect(on.json).toMatchObject({ ok: true, detail: 'participation enabled' });

    const reg = await post(
      '/v1/contribution/register-node',
      sign('node.register', {
        session_id: sessionId,
        role: 'verifier',
        capacity: 1,
        price_per_1k_output_usd: 0.002,
        endpoint: 'http://127.0.0.1:9'
      })
    );
    expect(reg.status).toBe(200);
    expect(reg.json).toMatchObject({
      ok: true,
      detail: 'registered',
      node: {
        role: 'verifier',
        supply_tier: 'public',
        trust_tier: 'public_specialist',
        healthy: false
      }
    });
    nodeId = reg.json.node.node_id;
    expect((await get('/v1/contribution/nodes')).json).toMatchObject({ count: 0 });

    for (const depth of [3, 0]) {
      const hb = await post('/v1/contribution/heartbeat', heartbeat(sessionId, depth));
      expect(hb.json).toMatchObject({ ok: true, detail: 'heartbeat accepted' });
    }
    const feed = (await get('/v1/contribution/nodes')).json;
    expect(feed.count).toBe(1);
    expect(feed.nodes[0]).toMatchObject({
      node_id: nodeId,
      contributor: pubA,
      endpoint: 'http://127.0.0.1:9',
      price_per_1k_output_usd: 0.002,
      health: { healthy: true, queue_depth: 0, node_latency_ms: 24, capability_tier: 'gpu_fast' }
    });
  });

  it('refuses replayed, stale and wrongly signed messages with clear errors, changing nothing', async () => {
    const before = (await get(`/v1/contribution/sessions/${sessionId}`)).json.session;

    const off = sign('participation.set', { session_id: sessionId, enabled: false });
    expect((await post('/v1/contribution/participation', off)).status).toBe(200);
    const on = sign('participation.set', { session_id: sessionId, enabled: true });
    expect((await post('/v1/contribution/participation', on)).status).toBe(200);
    const replay = await post('/v1/contribution/participation', off);
    expect(replay.status).toBe(409);
    expect(replay.json).toMatchObject({ ok: false, code: 'replayed_nonce' });
    expect(replay.json.detail).toContain('replay refused');

    const stale = await post(
      '/v1/contribution/participation',
      sign(
        'participation.set',
        { session_id: sessionId, enabled: false },
        { ts: Date.now() - 60_000 }
      )
    );
    expect(stale.status).toBe(401);
    expect(stale.json).toMatchObject({ ok: false, code: 'stale_message' });
    expect(stale.json.detail).toMatch(/older than 30 s are refused/);

    const otherKey = await post(
      '/v1/contribution/participation',
      sign('participation.set', { session_id: sessionId, enabled: false }, { key: keyB })
    );
    expect(otherKey.status).toBe(403);
    expect(otherKey.json).toMatchObject({ ok: false, code: 'session_key_mismatch' });

    const msg = sign('participation.set', { session_id: sessionId, enabled: true });
    const forged = await post('/v1/contribution/participation', {
      ...msg,
      payload: { ...msg.payload, enabled: false }
    });
    expect(forged.status).toBe(401);
    expect(forged.json).toMatchObject({ ok: false, code: 'invalid_signature' });

    const unknownField = await post('/v1/contribution/heartbeat', {
      ...heartbeat(sessionId, 0),
      extra: 1
    });
    expect(unknownField.status).toBe(400);
    expect(unknownField.json.detail).toContain('extra');

    const after = (await get(`/v1/contribution/sessions/${sessionId}`)).json.session;
    expect(after.participation_enabled).toBe(true);
    expect(after.nodes).toEqual(before.nodes);
  });

  it('identifies a request by its signed x-shard-contributor header, once per nonce', async () => {
    const header = signContributorHeader({
      method: 'GET',
      path: '/v1/contribution/identity',
      secretKey: keyA
    });
    const who = await get('/v1/contribution/identity', { ...auth, 'x-shard-contributor': header });
    expect(who.json).toEqual({ ok: true, identity: pubA, credit: 0 });
    const again = await get('/v1/contribution/identity', {
      ...auth,
      'x-shard-contributor': header
    });
    expect(again.status).toBe(401);
    expect(again.json).toMatchObject({ code: 'invalid_contributor_header' });
    expect(again.json.detail).toContain('replay');
    expect((await get('/v1/contribution/identity')).status).toBe(401);
    const credits = (await get(`/v1/contribution/credits/${pubA}`)).json;
    expect(credits).toMatchObject({ ok: true, identity: pubA, credits: 0 });
    expect(credits.rates).toMatchObject({ accepted_draft_tokens: 1 });
  });

  it('keeps sessions, nodes and the nonce store across a restart on the same SQLite file', async () => {
    const replayAfter = sign('participation.set', { session_id: sessionId, enabled: false });
    expect((await post('/v1/contribution/participation', replayAfter)).status).toBe(200);
    expect(
      (
        await post(
          '/v1/contribution/participation',
          sign('participation.set', { session_id: sessionId, enabled: true })
        )
      ).status
    ).toBe(200);
    await oracle.stop();
    expect(existsSync(join(dataDir, 'contribution.sqlite'))).toBe(true);
    oracle = await startOracle();

    const session = (await get(`/v1/contribution/sessions/${sessionId}`)).json.session;
    expect(session).toMatchObject({ contributor: pubA, participation_enabled: true });
    expect(session.nodes.map((n: { node_id: string }) => n.node_id)).toEqual([nodeId]);
    expect((await get('/v1/contribution/nodes')).json.count).toBe(1);

    const replay = await post('/v1/contribution/participation', replayAfter);
    expect(replay.json).toMatchObject({ ok: false, code: 'replayed_nonce' });

    const hb = await post('/v1/contribution/heartbeat', heartbeat(sessionId, 1));
    expect(hb.json.node.last_heartbeat.queue_depth).toBe(1);
    const gone = await post(
      '/v1/contribution/deregister-node',
      sign('node.deregister', { session_id: sessionId, role: 'verifier' })
    );
    expect(gone.json).toMatchObject({ ok: true, detail: 'deregistered', node_id: nodeId });
    expect((await get('/v1/contribution/nodes')).json.count).toBe(0);
    const late = await post('/v1/contribution/heartbeat', heartbeat(sessionId, 0));
    expect(late.status).toBe(409);
    expect(late.json).toMatchObject({ code: 'node_not_registered' });
  });
});
