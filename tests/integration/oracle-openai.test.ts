/**
 * The official `openai` client against the oracle server running the real target engine
 * (llama.cpp on the generated GGUF model) on 127.0.0.1:0.
 */
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createDraftModelSource,
  createTargetEngine,
  type DraftModelSource,
  type TargetEngine
} from '../../native-oracle/engine/index.js';
import { createOracleServer, type OracleServer } from '../../native-oracle/server.js';
import { ensureTestModels } from '../helpers/models.js';

const PROMPT = [
  { role: 'system' as const, content: 'You are a terse assistant.' },
  { role: 'user' as const, content: 'Tell me about the river and the old bridge.' }
];

let engine: TargetEngine;
let draft: DraftModelSource;
let server: OracleServer;
let client: OpenAI;

beforeAll(async () => {
  const { targetPath, draftPath } = await ensureTestModels();
  draft = await createDraftModelSource({ modelPath: draftPath, threads: 1 });
  engine = await createTargetEngine({
    modelPath: targetPath,
    threads: 1,
    maxConcurrent: 2,
    defaultDraftSource: draft
  });
  server = createOracleServer({ engine, host: '127.0.0.1', port: 0, rateLimitPerMinute: 0 });
  await server.start();
  client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'unused', maxRetries: 0 });
});

afterAll(async () => {
  await server?.stop();
  await engine?.dispose();
  await draft?.dispose();
});

/** Parses an SSE body into its `data:` payloads, asserting the framing on the way. */
function sseEvents(text: string): string[] {
  expect(text.endsWith('data: [DONE]\n\n')).toBe(true);
  const blocks = text.split('\n\n');
  expect(blocks.pop()).toBe('');
  return blocks.map((block) => {
    expect(block.startsWith('data: ')).toBe(true);
    expect(block.includes('\n')).toBe(false);
    return block.slice('data: '.length);
  });
}

describe('OpenAI-compatible chat completions (real engine)', () => {
  it('answers a greedy request with the OpenAI shape, usage, finish_reason "length" and shard stats', async () => {
    const { data, response } = await client.chat.completions
      .create({ model: engine.modelId, messages: PROMPT, max_tokens: 12, temperature: 0 })
      .withResponse();
    expect(data.id).toMatch(/^chatcmpl-[0-9a-f]{24}$/);
    expect(data.object).toBe('chat.completion');
    expect(data.model).toBe(engine.modelId);
    expect(Math.abs(data.created - Date.now() / 1000)).toBeLessThan(120);
    expect(data.choices).toHaveLength(1);
    const choice = data.choices[0]!;
    expect(choice.index).toBe(0);
    expect(choice.message.role).toBe('assistant');
    expect(typeof choice.message.content).toBe('string');
    expect(choice.message.content!.length).toBeGreaterThan(0);
    expect(choice.finish_reason).toBe('length');
    expect(data.usage!.completion_tokens).toBe(12);
    expect(data.usage!.prompt_tokens).toBe(engine.countChatTokens(PROMPT));
    expect(data.usage!.total_tokens).toBe(data.usage!.prompt_tokens + 12);
    const shard = (data as unknown as { shard: Record<string, unknown> }).shard;
    expect(shard).toMatchObject({ mode: expect.stringMatching(/^(standard|speculative)$/) });
    expect(shard.drafted).toBeGreaterThanOrEqual(shard.accepted as number);
    expect(response.headers.get('x-shard-inference-mode')).toBe(shard.mode);
    expect(response.headers.get('x-shard-drafted')).toBe(String(shard.drafted));
    expect(response.headers.get('x-shard-accepted')).toBe(String(shard.accepted));
    expect(response.headers.get('cross-origin-embedder-policy')).toBe('require-corp');
  });

  it('streams the same greedy content as the non-streaming call, with usage when asked', async () => {
    const request = { model: engine.modelId, messages: PROMPT, max_tokens: 24, temperature: 0 };
    // Same decoding path for both (plain greedy), so the outputs must match byte for byte.
    const options = { headers: { 'x-shard-speculation': 'off' } };
    const whole = await client.chat.completions.create(request, options);
    const stream = await client.chat.completions.create(
      { ...request, stream: true, stream_options: { include_usage: true } },
      options
    );
    const chunks: OpenAI.Chat.Completions.ChatCompletionChunk[] = [];
    for await (const chunk of stream) chunks.push(chunk);
    const content = chunks.map((c) => c.choices[0]?.delta.content ?? '').join('');
    expect(content).toBe(whole.choices[0]!.message.content);
    expect(chunks[0]!.choices[0]!.delta.role).toBe('assistant');
    expect(new Set(chunks.map((c) => c.id)).size).toBe(1);
    expect(chunks.every((c) => c.object === 'chat.completion.chunk')).toBe(true);
    const finals = chunks.filter((c) => c.choices[0]?.finish_reason);
    expect(finals).toHaveLength(1);
    expect(finals[0]!.choices[0]!.finish_reason).toBe(whole.choices[0]!.finish_reason);
    const usageChunk = chunks.at(-1)!;
    expect(usageChunk.choices).toEqual([]);
    expect(usageChunk.usage).toEqual(whole.usage);
  });

  it('frames SSE as `data: <json>\\n\\n` ending with [DONE], and puts shard stats on the final chunk', async () => {
    const res = await fetch(`${server.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ messages: PROMPT, max_tokens: 6, stream: true })
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(res.headers.get('cross-origin-opener-policy')).toBe('same-origin');
    const events = sseEvents(await res.text());
    expect(events.at(-1)).toBe('[DONE]');
    const parsed = events.slice(0, -1).map((e) => JSON.parse(e));
    const final = parsed.at(-1);
    expect(final.choices[0]).toMatchObject({ delta: {}, finish_reason: 'length' });
    expect(final.shard).toMatchObject({
      mode: expect.any(String),
      drafted: expect.any(Number),
      accepted: expect.any(Number),
      acceptance_rate: expect.any(Number),
      governor: { is_speculating: expect.any(Boolean), reason: expect.any(String) }
    });
    // Without include_usage no usage chunk and no usage field.
    expect(parsed.every((p) => !('usage' in p))).toBe(true);
  });

  it('honours x-shard-speculation: off gives standard decoding with nothing drafted', async () => {
    const { data, response } = await client.chat.completions
      .create(
        { model: engine.modelId, messages: PROMPT, max_tokens: 16 },
        { headers: { 'x-shard-speculation': 'off' } }
      )
      .withResponse();
    expect(response.headers.get('x-shard-inference-mode')).toBe('standard');
    expect(response.headers.get('x-shard-drafted')).toBe('0');
    expect(
      (data as unknown as { shard: { governor: { is_speculating: boolean } } }).shard.governor
        .is_speculating
    ).toBe(false);
  });

  it('x-shard-speculation: on drafts with the draft model and reports the stats in headers and body', async () => {
    const { data, response } = await client.chat.completions
      .create(
        { model: engine.modelId, messages: PROMPT, max_tokens: 32 },
        { headers: { 'x-shard-speculation': 'on' } }
      )
      .withResponse();
    const shard = (data as unknown as { shard: Record<string, number | string | null> }).shard;
    expect(shard.mode).toBe('speculative');
    expect(shard.draft_source).toBe('draft-model');
    expect(shard.drafted).toBeGreaterThan(0);
    expect(shard.accepted).toBeLessThanOrEqual(shard.drafted as number);
    expect(shard.acceptance_rate).toBeCloseTo(
      (shard.accepted as number) / (shard.drafted as number),
      10
    );
    expect(response.headers.get('x-shard-inference-mode')).toBe('speculative');
    expect(response.headers.get('x-shard-draft-source')).toBe('draft-model');
    expect(Number(response.headers.get('x-shard-drafted'))).toBe(shard.drafted);
    expect(Number(response.headers.get('x-shard-accepted'))).toBe(shard.accepted);
    expect(data.usage!.completion_tokens).toBe(32);
  });

  it('the body field shard.speculation selects speculation when no header is sent', async () => {
    const res = await fetch(`${server.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ messages: PROMPT, max_tokens: 8, shard: { speculation: 'on' } })
    });
    expect(res.headers.get('x-shard-inference-mode')).toBe('speculative');
    const off = await fetch(`${server.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-shard-speculation': 'off' },
      body: JSON.stringify({ messages: PROMPT, max_tokens: 8, shard: { speculation: 'on' } })
    });
    // The header wins over the body.
    expect(off.headers.get('x-shard-inference-mode')).toBe('standard');
  });

  it('stops at a stop string with finish_reason "stop"', async () => {
    const first = await client.chat.completions.create({
      model: engine.modelId,
      messages: PROMPT,
      max_tokens: 24
    });
    const text = first.choices[0]!.message.content!;
    const words = text.trim().split(/\s+/);
    expect(words.length).toBeGreaterThan(2);
    const stop = words[2]!;
    const stopped = await client.chat.completions.create({
      model: engine.modelId,
      messages: PROMPT,
      max_tokens: 24,
      stop: [stop]
    });
    expect(stopped.choices[0]!.finish_reason).toBe('stop');
    expect(stopped.choices[0]!.message.content).toBe(text.slice(0, text.indexOf(stop)));
  });

  it('constrains the output to a JSON schema given as response_format', async () => {
    const reply = await client.chat.completions.create({
      model: engine.modelId,
      messages: PROMPT,
      max_tokens: 60,
      response_format: {
        type: 'json_schema',
        json_schema: {
          name: 'verdict',
          schema: {
            type: 'object',
            properties: { ok: { type: 'boolean' }, level: { enum: ['low', 'high'] } },
            required: ['ok', 'level']
          }
        }
      }
    });
    const parsed = JSON.parse(reply.choices[0]!.message.content!);
    expect(Object.keys(parsed).sort()).toEqual(['level', 'ok']);
    expect(typeof parsed.ok).toBe('boolean');
    expect(['low', 'high']).toContain(parsed.level);
    expect(reply.choices[0]!.finish_reason).toBe('stop');
  });

  it('passes sampling settings through: a seeded sample repeats and differs from greedy', async () => {
    const base = { model: engine.modelId, messages: PROMPT, max_completion_tokens: 32 };
    const off = { headers: { 'x-shard-speculation': 'off' } };
    const greedy = await client.chat.completions.create({ ...base, temperature: 0 }, off);
    const sampled = { ...base, temperature: 1.5, top_p: 0.95, seed: 7 };
    const a = await client.chat.completions.create(sampled, off);
    const b = await client.chat.completions.create(sampled, off);
    expect(a.usage!.completion_tokens).toBe(32);
    expect(a.choices[0]!.message.content).toBe(b.choices[0]!.message.content);
    expect(a.choices[0]!.message.content).not.toBe(greedy.choices[0]!.message.content);
  });

  it('lists and retrieves the model, and 404s an unknown one', async () => {
    const list = await client.models.list();
    expect(list.data.map((m) => m.id)).toEqual([engine.modelId]);
    expect(list.data[0]).toMatchObject({ object: 'model', owned_by: 'shard' });
    const one = await client.models.retrieve(engine.modelId);
    expect(one.id).toBe(engine.modelId);
    await expect(client.models.retrieve('gpt-nope')).rejects.toMatchObject({ status: 404 });
  });

  it('reports healthy with the model id', async () => {
    const health = await (await fetch(`${server.url}/health`)).json();
    expect(health).toMatchObject({
      status: 'ok',
      model: engine.modelId,
      ready_for_inference: true,
      peers: 0,
      queue: { active: 0, queued: 0, max_concurrent: 2 }
    });
  });
});
