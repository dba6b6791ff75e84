/**
 * The TypeScript SDK (src/lib/sdk) end to end against a live oracle process serving the
 * generated model: chat (whole and streamed), a research_brief submitted, awaited and its
 * receipts verified client-side (pinned to the oracle's key, and a tampered copy refused), and
 * a contributor's session → participation → register → heartbeat → deregister with the node
 * visible in the registry feed in between.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ShardApiError, ShardClient } from '../../src/lib/sdk/index.js';
import { QUESTION, SOURCES } from './workflow-fixtures.js';
import { startSdkOracle, type SdkOracle } from './sdk-oracle.js';

let oracle: SdkOracle;
let client: ShardClient;

beforeAll(async () => {
  oracle = await startSdkOracle();
  client = new ShardClient({ baseUrl: `${oracle.url}/` });
});
afterAll(async () => {
  await oracle?.stop();
});

describe('ShardClient (TypeScript) against a live oracle', () => {
  it('chats whole and streamed; the streamed text equals the whole reply (greedy)', async () => {
    const request = {
      model: 'default',
      messages: [{ role: 'user' as const, content: 'Tell me about the river.' }],
      max_tokens: 16,
      temperature: 0
    };
    const whole = await client.chat.completions.create(request);
    expect(whole.object).toBe('chat.completion');
    expect(whole.choices[0]!.message.content!.length).toBeGreaterThan(0);
    expect(whole.usage!.completion_tokens).toBeGreaterThan(0);
    expect(whole.shard).toBeDefined();

    const stream = await client.chat.completions.create({ ...request, stream: true });
    let text = '';
    let last;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? '';
      last = chunk;
    }
    expect(text).toBe(whole.choices[0]!.message.content);
    expect(last!.choices[0]!.finish_reason).toBe(whole.choices[0]!.finish_reason);
  });

  it('turns an error body into ShardApiError with the oracle’s status and code', async () => {
    const err = await client.chat.completions
      .create({ model: 'no-such-model', messages: [{ role: 'user', content: 'x' }] })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ShardApiError);
    expect(err).toMatchObject({ status: 404, code: 'model_not_found' });
  });

  it('runs a research_brief and verifies its receipts locally, pinned to the oracle key', async () => {
    const accepted = await client.workflows.submit({ question: QUESTION, sources: SOURCES });
    expect(accepted.execution_id).toMatch(/^exec-/);
    const bundle = await client.workflows.wait(accepted.execution_id, { timeoutMs: 170_000 });
    expect(bundle.execution.status).toBe('completed');
    expect(bundle.ok).toBe(true);
    expect(bundle.receipts.length).toBe(bundle.execution.receipt_count);
    expect(bundle.provenance.nodes.length).toBeGreaterThan(0);

    const key = bundle.receipts[0]!.node_identity as string;
    const check = await client.workflows.verifyReceipts(accepted.execution_id, {
      trustedKeys: [key]
    });
    expect(check).toMatchObject({ ok: true, verified: bundle.receipts.length, signer_keys: [key] });

    const untrusted = await client.workflows.verifyReceipts(bundle.receipts, {
      trustedKeys: ['0'.repeat(64)]
    });
    expect(untrusted.first_bad?.reason).toBe('untrusted_signer');
    const tampered = structuredClone(bundle.receipts);
    (tampered[1] as Record<string, unknown>).timestamp_ms = 1;
    const broken = await client.workflows.verifyReceipts(tampered);
    expect(broken).toMatchObject({ ok: false, first_bad: { index: 1, reason: 'bad_signature' } });
  });

  it('drives the contribution control plane with signed messages', async () => {
    const contributor = await client.contribution.createSession({ label: 'sdk-ts' });
    expect(contributor.publicKeyHex).toMatch(/^[0-9a-f]{64}$/);
    expect((await contributor.setParticipation(true)).participation_enabled).toBe(true);
    const node = await contributor.registerNode({
      role: 'verifier',
      capacity: 1,
      endpoint: 'http://127.0.0.1:9'
    });
    expect(node).toMatchObject({
      role: 'verifier',
      trust_tier: 'public_specialist',
      healthy: false
    });
    const beat = await contributor.heartbeat({
      role: 'verifier',
      queue_depth: 0,
      node_latency_ms: 24,
      uptime_seconds: 15,
      capability_tier: 'gpu_fast',
      gpu_available: true,
      public_api: true
    });
    expect(beat.healthy).toBe(true);
    const feed = await client.contribution.nodes();
    expect(feed).toEqual([
      expect.objectContaining({ node_id: node.node_id, contributor: contributor.publicKeyHex })
    ]);
    const status = await contributor.status();
    expect(status.nodes.map((n) => n.node_id)).toEqual([node.node_id]);
    expect((await contributor.credits()).credits).toBe(0);
    const gone = await contributor.deregisterNode({ role: 'verifier' });
    expect(gone.node_id).toBe(node.node_id);
    expect(await client.contribution.nodes()).toEqual([]);
    const late = await contributor
      .heartbeat({ role: 'verifier', queue_depth: 0, node_latency_ms: 1, uptime_seconds: 1 })
      .catch((e: unknown) => e);
    expect(late).toMatchObject({ name: 'ShardApiError', status: 409, code: 'node_not_registered' });
  });

  it('signs x-shard-contributor on every request when given a contributor key', async () => {
    const key = client.contribution.generateKey();
    const identified = new ShardClient({ baseUrl: oracle.url, contributorKey: key });
    const contributor = await identified.contribution.createSession({ secretKey: key });
    // Two calls in a row: each carries a fresh nonce, so neither is a replay.
    for (let i = 0; i < 2; i++) {
      expect(await identified.contribution.whoami()).toEqual({
        identity: contributor.publicKeyHex,
        credit: 0
      });
    }
    const anonymous = await client.contribution.whoami().catch((e: unknown) => e);
    expect(anonymous).toMatchObject({ status: 401, code: 'contributor_required' });
  });
});
