/* eslint-disable @typescript-eslint/no-explicit-any -- HTTP JSON bodies are asserted field by field */
/**
 * Chat forwarding between two oracles on loopback (issue 11): oracle A serves the generated
 * target model; oracle B serves the generated draft model as its target and registers with A as
 * a contributed `oracle` node (signed envelopes, its receipt key = its contributor key, which A's
 * operator trusts). A request to A for B's model is answered by B, attested by B's key and
 * marked `shard.served_by`; a stream is passed through with a final chunk naming B; a request
 * whose privacy envelope B cannot honour gets A's clear 400; an untrusted contributor's loopback
 * endpoint is never called (SSRF guard) and A answers with its own 404.
 */
import { mkdtempSync } from 'node:fs';
import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  contributionPlugin,
  createContributionService,
  type ContributionService
} from '../../native-oracle/contribution/index.js';
import { createTargetEngine, type TargetEngine } from '../../native-oracle/engine/index.js';
import { createOracleServer, type OracleServer } from '../../native-oracle/server.js';
import { contributorPublicKeyHex, signEnvelope } from '../../src/lib/protocol/contribution.js';
import { createNobleSigner } from '../../src/lib/protocol/receipt-chain.js';
import { ensureTestModels } from '../helpers/models.js';

const keyB = new Uint8Array(32).fill(21);
const keyC = new Uint8Array(32).fill(22);
const cleanups: Array<() => Promise<unknown>> = [];
let engineA: TargetEngine;
let engineB: TargetEngine;
let serviceA: ContributionService;
let a: OracleServer;
let b: OracleServer;
let hitsOnB = 0;
let bEndpoint: string;

/** Registers a live `oracle` node of `key` with A: session, participation, node, heartbeat. */
async function register(key: Uint8Array, endpoint: string, model_id: string) {
  let n = 0;
  const sign = <T extends Parameters<typeof signEnvelope>[0]>(
    type: T,
    payload: Parameters<typeof signEnvelope<T>>[1]
  ) => signEnvelope(type, payload, { secretKey: key, nonce: `fwd-${key[0]}-${++n}-${Date.now()}` });
  const post = async (path: string, body: unknown) => {
    const res = await fetch(`${a.url}/v1/contribution/${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body)
    });
    const json = (await res.json()) as any;
    expect(json.ok, JSON.stringify(json)).toBe(true);
    return json;
  };
  const { session } = await post('sessions', sign('session.create', {}));
  const session_id = session.session_id;
  await post('participation', sign('participation.set', { session_id, enabled: true }));
  await post(
    'register-node',
    sign('node.register', { session_id, role: 'oracle', endpoint, model_id })
  );
  await post(
    'heartbeat',
    sign('node.heartbeat', {
      session_id,
      role: 'oracle',
      queue_depth: 0,
      node_latency_ms: 1,
      uptime_seconds: 1
    })
  );
}

beforeAll(async () => {
  const models = await ensureTestModels();
  engineA = await createTargetEngine({ modelPath: models.targetPath, threads: 1 });
  engineB = await createTargetEngine({ modelPath: models.draftPath, threads: 1 });
  cleanups.push(
    () => engineA.dispose(),
    () => engineB.dispose()
  );
  expect(engineA.modelId).not.toBe(engineB.modelId);
  b = createOracleServer({
    engine: engineB,
    host: '127.0.0.1',
    port: 0,
    rateLimitPerMinute: 0,
    attestationSigner: createNobleSigner(keyB)
  });
  await b.start();
  // B's registered endpoint is a counting pass-through in front of it: what reached B.
  const target = new URL(b.url);
  const proxy = createServer((req, res) => {
    hitsOnB += 1;
    const upstream = request(
      {
        host: target.hostname,
        port: target.port,
        path: req.url,
        method: req.method,
        headers: req.headers
      },
      (up) => {
        res.writeHead(up.statusCode!, up.headers);
        up.pipe(res);
      }
    );
    req.pipe(upstream);
  });
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
  bEndpoint = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
  cleanups.push(() => new Promise((r) => proxy.close(r)));
  serviceA = createContributionService({
    dataDir: mkdtempSync(join(tmpdir(), 'shard-forward-')),
    trustedContributors: [contributorPublicKeyHex(keyB)]
  });
  a = createOracleServer({
    engine: engineA,
    host: '127.0.0.1',
    port: 0,
    rateLimitPerMinute: 0,
    plugins: [contributionPlugin({ service: serviceA, closeOnStop: true })]
  });
  await a.start();
  cleanups.push(
    () => a.stop(),
    () => b.stop()
  );
  await register(keyB, bEndpoint, engineB.modelId);
  await register(keyC, bEndpoint, 'ghost-model');
}, 120_000);

afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

const chat = (body: Record<string, unknown>, headers: Record<string, string> = {}) =>
  fetch(`${a.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({
      messages: [{ role: 'user', content: 'Tell me about the river.' }],
      max_tokens: 8,
      ...body
    })
  });

describe('chat forwarding to a contributed oracle', () => {
  it("a request for B's model is answered by B, attested, with served_by", async () => {
    const nodeId = serviceA.activeNodes().find((n) => n.model_id === engineB.modelId)!.node_id;
    const res = await chat({ model: engineB.modelId });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-shard-served-by')).toBe(nodeId);
    const json = (await res.json()) as any;
    expect(json.model).toBe(engineB.modelId);
    expect(json.shard.served_by).toEqual({
      node_id: nodeId,
      endpoint: bEndpoint,
      contributor: contributorPublicKeyHex(keyB),
      attestation_verified: true
    });
    expect(json.shard.attestation.signer_pubkey_hex).toBe(contributorPublicKeyHex(keyB));
  });

  it('A still answers its own model itself (control)', async () => {
    const res = await chat({ model: engineA.modelId });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-shard-served-by')).toBeNull();
    expect(((await res.json()) as any).model).toBe(engineA.modelId);
  });

  it('a stream is passed through; its final chunk names B and says whether it verified', async () => {
    const res = await chat({ model: engineB.modelId, stream: true });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const events = (await res.text())
      .split('\n\n')
      .filter((e) => e.startsWith('data: '))
      .map((e) => e.slice(6));
    expect(events.at(-1)).toBe('[DONE]');
    const chunks = events.slice(0, -1).map((e) => JSON.parse(e) as any);
    expect(chunks.some((c) => (c.choices?.[0]?.delta?.content ?? '') !== '')).toBe(true);
    const last = chunks.at(-1);
    expect(last.shard.served_by.endpoint).toBe(bEndpoint);
    // B does not attest streamed answers: the chunk says so instead of claiming it.
    expect(last.shard.served_by.attestation_verified).toBe(false);
    expect(last.shard.served_by.attestation_failure).toBe('missing');
  });

  it("an envelope B cannot honour gets A's clear error, and B never sees the prompt", async () => {
    const before = hitsOnB;
    const res = await chat(
      { model: engineB.modelId },
      { 'x-shard-privacy': '{"requires_tee":true}' }
    );
    expect(res.status).toBe(400);
    const json = (await res.json()) as any;
    expect(json.error.code).toBe('privacy_unsatisfiable');
    expect(json.error.message).toMatch(/a TEE/);
    expect(hitsOnB).toBe(before);
  });

  it("an untrusted contributor's loopback endpoint is never called: A's own 404", async () => {
    const before = hitsOnB;
    const res = await chat({ model: 'ghost-model' });
    expect(res.status).toBe(404);
    expect(((await res.json()) as any).error.code).toBe('model_not_found');
    expect(hitsOnB).toBe(before);
  });
});
