/* eslint-disable @typescript-eslint/no-explicit-any -- HTTP JSON bodies are asserted field by field */
/**
 * Two real oracle processes on loopback (native-oracle/main.ts): B serves the generated target
 * model; A has no model. B's receipt key is trusted by A's operator (SHARD_TRUSTED_CONTRIBUTORS),
 * so B registers with A over the signed control plane as `private` capacity on its loopback
 * endpoint (the test signs B's messages with B's own key file, as B's operator would).
 *   1. A's research_brief under a private-only policy runs every step on B; each step's
 *      completed receipt carries B's attestation, which checks against B's registered key, and
 *      each verified step credits B (`verified_steps_served`).
 *   2. A node registered under another key but pointing at B fails attestation
 *      (`attestation_failed:wrong_signer`): a failed attempt, then a recorded fallback, and no
 *      credit for that key.
 *   3. B stops (no more heartbeats, endpoint gone): the attempt fails and A falls back with a
 *      fallback receipt; the brief still completes.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadOrCreateNodeSigner } from '../../native-oracle/receipts/index.js';
import {
  checkStepAttestation,
  contributorPublicKeyHex,
  signEnvelope,
  type ContributionMessageType,
  type PayloadOf
} from '../../src/lib/protocol/contribution.js';
import { ensureTestModels } from '../helpers/models.js';

const ROOT = resolve(import.meta.dirname, '../..');
const MAIN = join(ROOT, 'native-oracle/main.ts');
const otherKey = new Uint8Array(32).fill(41);
const otherId = contributorPublicKeyHex(otherKey);
/** A node's heartbeat interval (the predecessor's and the docs' 10 s). */
const HEARTBEAT_EVERY_MS = 10_000;

interface Oracle {
  url: string;
  child: ChildProcess;
  stop(): Promise<void>;
}

async function startOracle(args: string[], env: Record<string, string>): Promise<Oracle> {
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN, '--port', '0', ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe']
  });
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
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  return {
    url,
    child,
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    }
  };
}

let dirA: string;
let dirB: string;
let a: Oracle;
let b: Oracle;
let keyB: Uint8Array;
let idB: string;

async function post(path: string, body: unknown) {
  const res = await fetch(`${a.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body)
  });
  return { status: res.status, json: (await res.json()) as any };
}

const sign = <T extends ContributionMessageType>(type: T, payload: PayloadOf<T>, key: Uint8Array) =>
  signEnvelope(type, payload, { secretKey: key });

/** A session with participation on and one `oracle` node at `endpoint`, signed with `key`. */
async function contribute(key: Uint8Array, endpoint: string) {
  const session = await post('/v1/contribution/sessions', sign('session.create', {}, key));
  expect(session.status).toBe(201);
  const id = session.json.session.session_id as string;
  const on = await post(
    '/v1/contribution/participation',
    sign('participation.set', { session_id: id, enabled: true }, key)
  );
  expect(on.status).toBe(200);
  const reg = await post(
    '/v1/contribution/register-node',
    sign(
      'node.register',
      {
        session_id: id,
        role: 'oracle',
        supply_tier: 'private',
        endpoint,
        model_id: 'target',
        price_per_1k_input_usd: 0.0001,
        price_per_1k_output_usd: 0.0002
      },
      key
    )
  );
  expect(reg.status, JSON.stringify(reg.json)).toBe(200);
  return { id, node: reg.json.node };
}

async function heartbeat(key: Uint8Array, sessionId: string) {
  const res = await post(
    '/v1/contribution/heartbeat',
    sign(
      'node.heartbeat',
      {
        session_id: sessionId,
        role: 'oracle',
        queue_depth: 0,
        node_latency_ms: 50,
        uptime_seconds: 5
      },
      key
    )
  );
  expect(res.status).toBe(200);
}

/**
 * Keeps a node alive the way a real node does (a heartbeat every HEARTBEAT_EVERY_MS) while `run`
 * runs: a step on the generated model can take longer than the 30 s heartbeat window here.
 */
async function beating<T>(key: Uint8Array, sessionId: string, run: () => Promise<T>): Promise<T> {
  await heartbeat(key, sessionId);
  const timer = setInterval(
    () => void heartbeat(key, sessionId).catch(() => undefined),
    HEARTBEAT_EVERY_MS
  );
  try {
    return await run();
  } finally {
    clearInterval(timer);
  }
}

async function deregister(key: Uint8Array, sessionId: string) {
  const res = await post(
    '/v1/contribution/deregister-node',
    sign('node.deregister', { session_id: sessionId, role: 'oracle' }, key)
  );
  expect(res.status).toBe(200);
}

async function brief(policy: object) {
  const res = await post('/v1/agents/tasks?wait=true', {
    workflow_kind: 'research_brief',
    question: 'Should the river crossing move upstream?',
    sources: [
      {
        id: 's1',
        title: 'Survey',
        content: 'The river is shallow upstream. Floods reach the old crossing.'
      },
      { id: 's2', content: 'Upstream banks are stable rock. The town grows east of the river.' }
    ],
    policy
  });
  expect([200, 201]).toContain(res.status);
  return res.json;
}

const completedSteps = (receipts: any[]) =>
  receipts.filter((r) => r.event_kind === 'completed' && r.step_id !== 'result');

beforeAll(async () => {
  await ensureTestModels();
  dirA = mkdtempSync(join(tmpdir(), 'shard-two-a-'));
  dirB = mkdtempSync(join(tmpdir(), 'shard-two-b-'));
  // B's receipt key: the key B signs attestations with and registers under.
  const signerB = loadOrCreateNodeSigner(dirB);
  keyB = signerB.secretKey;
  idB = signerB.publicKeyHex;
  b = await startOracle(['--model', join(ROOT, '.shard/models/target.gguf'), '--draft', 'none'], {
    SHARD_DATA_DIR: dirB
  });
  a = await startOracle(['--allow-no-model'], {
    SHARD_DATA_DIR: dirA,
    SHARD_TRUSTED_CONTRIBUTORS: `${idB},${otherId}`
  });
}, 180_000);

afterAll(async () => {
  await a?.stop();
  await b?.stop();
  rmSync(dirA, { recursive: true, force: true });
  rmSync(dirB, { recursive: true, force: true });
});

describe('two oracles: B contributes private capacity to A', () => {
  let sessionB: string;
  let nodeB: any;

  it('routes a private research_brief to B; every step carries B’s verified signature and credits B', async () => {
    ({ id: sessionB, node: nodeB } = await contribute(keyB, b.url));
    expect(nodeB.trust_tier).toBe('verified_mesh');
    await heartbeat(keyB, sessionB);
    const caps = await (await fetch(`${a.url}/v1/capabilities`)).json();
    expect(caps.capabilities.map((c: any) => c.candidate_id)).toContain(nodeB.node_id);

    const bundle = await beating(keyB, sessionB, () =>
      brief({ allowed_supply_tiers: ['private'], fallback_order: ['private'] })
    );
    expect(bundle.ok, bundle.detail).toBe(true);
    const steps = completedSteps(bundle.receipts);
    expect(steps.length).toBeGreaterThanOrEqual(3);
    for (const r of steps) {
      expect(r.selected_candidate.candidate_id).toBe(nodeB.node_id);
      expect(r.supply_tier).toBe('private');
      const att = r.model_metadata.attestation;
      expect(att.signer_pubkey_hex).toBe(idB);
      expect(checkStepAttestation(att, { signer: idB })).toBeNull();
      // The declared prices are what the step was charged at.
      expect(r.actual_cost_usd).toBeGreaterThan(0);
    }
    const verify = await (
      await fetch(`${a.url}/v1/executions/${bundle.execution.execution_id}/receipts/verify`)
    ).json();
    expect(verify.valid).toBe(true);
    const credits = await (await fetch(`${a.url}/v1/contribution/credits/${idB}`)).json();
    expect(credits.by_kind.verified_steps_served).toBe(100 * steps.length);
  }, 180_000);

  it('a node whose answers are not signed by its registered key fails attestation and falls back', async () => {
    await deregister(keyB, sessionB);
    const other = await contribute(otherKey, b.url);
    const bundle = await beating(otherKey, other.id, () =>
      brief({
        allowed_supply_tiers: ['private', 'personal'],
        fallback_order: ['private', 'personal'],
        allow_fallbacks: true
      })
    );
    expect(bundle.ok, bundle.detail).toBe(true);
    const failed = bundle.receipts.filter(
      (r: any) =>
        r.event_kind === 'failed' && r.selected_candidate?.candidate_id === other.node.node_id
    );
    expect(failed.length).toBeGreaterThan(0);
    expect(failed[0].failure_reason).toBe('attestation_failed:wrong_signer');
    const fallback = bundle.receipts.find(
      (r: any) =>
        r.event_kind === 'fallback_applied' && r.parent_receipt_id === failed[0].receipt_id
    );
    expect(fallback.fallback_reason).toBe('attestation_failed:wrong_signer');
    const credits = await (await fetch(`${a.url}/v1/contribution/credits/${otherId}`)).json();
    expect(credits.credits).toBe(0);
    await deregister(otherKey, other.id);
  }, 180_000);

  it('B stops: the attempt on B fails and A falls back with a fallback receipt', async () => {
    ({ id: sessionB, node: nodeB } = await contribute(keyB, b.url));
    await heartbeat(keyB, sessionB);
    await b.stop();
    const bundle = await brief({
      allowed_supply_tiers: ['private', 'personal'],
      fallback_order: ['private', 'personal'],
      allow_fallbacks: true
    });
    expect(bundle.ok, bundle.detail).toBe(true);
    const failed = bundle.receipts.find(
      (r: any) => r.event_kind === 'failed' && r.selected_candidate?.candidate_id === nodeB.node_id
    );
    expect(failed.failure_reason).toMatch(/^request_failed:/);
    const fallback = bundle.receipts.find(
      (r: any) => r.event_kind === 'fallback_applied' && r.parent_receipt_id === failed.receipt_id
    );
    expect(fallback.selected_candidate.candidate_id).toBe('extractive');
  }, 180_000);
});
