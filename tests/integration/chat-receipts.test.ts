/* eslint-disable @typescript-eslint/no-explicit-any -- HTTP JSON bodies are asserted field by field */
/**
 * Every chat answer carries a signed receipt (issue 12) and honours the privacy envelope
 * (issue 9): the official `openai` client against a real oracle (generated models, real
 * llama.cpp) with the workflow plugin's SQLite receipt store and two API keys. A whole reply
 * and a stream's final chunk name the receipt; it is served under the execution routes,
 * verifies in the oracle and with the browser's own code, its hashes match the request and the
 * answer, and another key cannot read it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { workflowPlugin } from '../../native-oracle/workflows/index.js';
import { chatMessagesSha256, chatOutputSha256 } from '../../src/lib/protocol/chat-receipt.js';
import { verifyReceiptChain } from '../../src/lib/protocol/receipt-chain.js';
import { startOracleHarness, type OracleHarness } from './openai-harness.js';
import { tempDir } from './workflow-fixtures.js';

const ALICE = 'sk-alice-chat-0123456789';
const BOB = 'sk-bob-chat-0123456789';
const MESSAGES = [
  { role: 'system' as const, content: 'Answer briefly.' },
  { role: 'user' as const, content: 'Tell me about the river.' }
];

describe('chat receipts', () => {
  const tmp = tempDir('shard-chat-receipts-');
  let h: OracleHarness;

  beforeAll(async () => {
    h = await startOracleHarness({
      apiKeys: [ALICE, BOB],
      plugins: [
        (router, ctx) =>
          workflowPlugin({
            dataDir: tmp.dir,
            config: {},
            onReady: (service) => ctx.setReceiptStore(service.store)
          })(router, ctx)
      ]
    });
  }, 120_000);
  afterAll(async () => {
    await h?.stop();
    tmp.remove();
  });

  async function get(key: string, path: string) {
    const res = await fetch(`${h.url}${path}`, { headers: { authorization: `Bearer ${key}` } });
    return { status: res.status, json: (await res.json()) as any };
  }

  async function postChat(body: unknown, headers: Record<string, string> = {}) {
    const res = await fetch(`${h.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ALICE}`, 'content-type': 'application/json', ...headers },
      body: JSON.stringify(body)
    });
    return { status: res.status, headers: res.headers, json: (await res.json()) as any };
  }

  /** Fetches the receipts of `executionId` as `key` and checks them as a browser would. */
  async function verifiedChatReceipt(executionId: string) {
    const listed = await get(ALICE, `/v1/executions/${executionId}/receipts`);
    expect(listed.status).toBe(200);
    const verify = await get(ALICE, `/v1/executions/${executionId}/receipts/verify`);
    expect(verify.json.valid).toBe(true);
    const local = verifyReceiptChain(listed.json.receipts, {
      head: listed.json.head,
      trustedKeys: verify.json.node_public_keys
    });
    expect(local.ok).toBe(true);
    expect(listed.json.receipts).toHaveLength(1);
    return listed.json.receipts[0];
  }

  it('a whole reply names its receipt; it verifies, its hashes match, another key cannot read it', async () => {
    const { data, response } = await h.client.chat.completions
      .create({ model: 'default', messages: MESSAGES, max_tokens: 12 })
      .withResponse();
    const shard = (data as any).shard;
    const ref = shard.receipt;
    expect(ref.execution_id).toMatch(/^exec-/);
    expect(response.headers.get('x-shard-receipt')).toBe(ref.links.receipts);
    expect(response.headers.get('x-shard-execution-id')).toBe(ref.execution_id);

    const receipt = await verifiedChatReceipt(ref.execution_id);
    expect(receipt.receipt_id).toBe(ref.receipt_id);
    expect(receipt.workflow_kind).toBe('chat');
    expect(receipt.step_kind).toBe('chat_completion');
    const chat = receipt.chat;
    expect(chat.messages_sha256).toBe(chatMessagesSha256(MESSAGES));
    expect(chat.output_sha256).toBe(chatOutputSha256(data.choices[0]!.message.content!));
    expect(chat).toMatchObject({
      model: h.engine.modelId,
      stream: false,
      mode: shard.mode,
      drafted: shard.drafted,
      accepted: shard.accepted,
      completion_tokens: data.usage!.completion_tokens,
      prompt_tokens: data.usage!.prompt_tokens,
      finish_reason: data.choices[0]!.finish_reason,
      privacy: { requires_tee: false, encrypted: false, scout_floor: 'reputable' }
    });
    expect(chat.total_ms).toBeGreaterThanOrEqual(chat.first_token_ms);
    expect(chat.queue_ms).toBeGreaterThanOrEqual(0);
    // Only hashes: neither the prompt nor the answer is in the receipt.
    expect(JSON.stringify(receipt)).not.toContain('river');

    const summary = await get(ALICE, `/v1/executions/${ref.execution_id}`);
    expect(summary.json.status ?? summary.json.execution?.status).toBe('completed');
    for (const path of ['', '/receipts', '/receipts/verify'])
      expect((await get(BOB, `/v1/executions/${ref.execution_id}${path}`)).status).toBe(404);
  });

  it("a stream's final chunk names its receipt, whose output hash is the streamed text", async () => {
    const stream = await h.client.chat.completions.create({
      model: 'default',
      messages: MESSAGES,
      max_tokens: 12,
      stream: true
    });
    let text = '';
    let ref: any = null;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta?.content ?? '';
      if ((chunk as any).shard) ref = (chunk as any).shard.receipt;
    }
    expect(ref?.execution_id).toMatch(/^exec-/);
    const receipt = await verifiedChatReceipt(ref.execution_id);
    expect(receipt.chat.stream).toBe(true);
    expect(receipt.chat.output_sha256).toBe(chatOutputSha256(text));
  });

  it('a stream the client stops still gets a receipt, with finish_reason stopped', async () => {
    const controller = new AbortController();
    const res = await fetch(`${h.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ALICE}`, 'content-type': 'application/json' },
      body: JSON.stringify({ messages: MESSAGES, max_tokens: 400, stream: true }),
      signal: controller.signal
    });
    const executionId = res.headers.get('x-shard-execution-id')!;
    const reader = res.body!.getReader();
    await reader.read();
    controller.abort();
    // The receipt is written once the oracle notices the disconnect.
    let receipts: any[] = [];
    for (let i = 0; i < 100 && receipts.length === 0; i++) {
      const listed = await get(ALICE, `/v1/executions/${executionId}/receipts`);
      receipts = listed.status === 200 ? listed.json.receipts : [];
      if (receipts.length === 0) await new Promise((r) => setTimeout(r, 100));
    }
    expect(receipts[0]?.chat?.finish_reason).toBe('stopped');
    expect(receipts[0].outcome).toBe('stopped');
  });

  it('the receipt records the privacy envelope; allow_scouts false is scout floor none', async () => {
    const res = await postChat(
      { messages: MESSAGES, max_tokens: 4, shard: { allow_scouts: false } },
      { 'x-shard-privacy': JSON.stringify({ scout_floor: 'trusted' }) }
    );
    expect(res.status).toBe(200);
    const receipt = await verifiedChatReceipt(res.json.shard.receipt.execution_id);
    expect(receipt.chat.privacy.scout_floor).toBe('none');
  });

  it('refuses what the envelope asks and this oracle cannot honour, and bad envelopes, by name', async () => {
    const tee = await postChat({
      messages: MESSAGES,
      max_tokens: 4,
      shard: { privacy: { requires_tee: true } }
    });
    expect(tee.status).toBe(400);
    expect(tee.json.error.code).toBe('privacy_unsatisfiable');
    expect(tee.json.error.message).toContain('TEE');

    const fhe = await postChat(
      { messages: MESSAGES, max_tokens: 4 },
      { 'x-shard-privacy': '{"encrypted":true}' }
    );
    expect(fhe.status).toBe(400);
    expect(fhe.json.error.code).toBe('privacy_unsatisfiable');
    expect(fhe.json.error.message).toContain('fhe encryption');

    const badHeader = await postChat(
      { messages: MESSAGES, max_tokens: 4 },
      { 'x-shard-privacy': 'not json' }
    );
    expect(badHeader.status).toBe(400);
    expect(badHeader.json.error.param).toBe('x-shard-privacy');
    expect(badHeader.json.error.message).toContain('x-shard-privacy');

    const badField = await postChat({
      messages: MESSAGES,
      max_tokens: 4,
      shard: { privacy: { scout_floor: 'everyone' } }
    });
    expect(badField.status).toBe(400);
    expect(badField.json.error.message).toContain('scout_floor');

    const disagree = await postChat(
      { messages: MESSAGES, max_tokens: 4, shard: { privacy: { scout_floor: 'any' } } },
      { 'x-shard-privacy': '{"scout_floor":"none"}' }
    );
    expect(disagree.status).toBe(400);
    expect(disagree.json.error.message).toContain('disagree');
  });
});
