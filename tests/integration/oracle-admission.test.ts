/**
 * Concurrency against the real engine: queued requests wait their turn, a full queue answers
 * 503 with Retry-After, and clients that go away (mid-stream or while queued) free their place.
 */
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTargetEngine, type TargetEngine } from '../../native-oracle/engine/index.js';
import { createOracleServer, type OracleServer } from '../../native-oracle/server.js';
import { ensureTestModels } from '../helpers/models.js';

const MESSAGES = [{ role: 'user' as const, content: 'Describe the market square at dawn.' }];

let engine: TargetEngine;
let server: OracleServer;
let client: OpenAI;

beforeAll(async () => {
  const { targetPath } = await ensureTestModels();
  engine = await createTargetEngine({ modelPath: targetPath, threads: 1, maxConcurrent: 1 });
  server = createOracleServer({
    engine,
    host: '127.0.0.1',
    port: 0,
    queueMax: 1,
    rateLimitPerMinute: 0
  });
  await server.start();
  client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'x', maxRetries: 0 });
});

afterAll(async () => {
  await server?.stop();
  await engine?.dispose();
});

/** Waits (bounded) until the admission queue reaches a state; the queue has no events to await. */
async function waitForQueue(predicate: (s: { active: number; queued: number }) => boolean) {
  const deadline = Date.now() + 20_000;
  while (!predicate(server.admission.snapshot())) {
    if (Date.now() > deadline)
      throw new Error(
        `queue never reached the state: ${JSON.stringify(server.admission.snapshot())}`
      );
    await new Promise((r) => setTimeout(r, 5));
  }
}

function chat(body: Record<string, unknown>, signal?: AbortSignal) {
  return fetch(`${server.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ messages: MESSAGES, ...body }),
    signal
  });
}

describe('admission (real engine, one sequence, queue of 1)', () => {
  it('queues a request while the slot is busy, 503s the next with Retry-After, then serves the queued one', async () => {
    // Hold the only slot through the same admission queue the engine uses (as a plugin would).
    const release = await server.admission.acquire();
    try {
      const queued = client.chat.completions.create({
        model: engine.modelId,
        messages: MESSAGES,
        max_tokens: 4
      });
      await waitForQueue((s) => s.queued === 1);
      const full = await chat({ max_tokens: 4 });
      expect(full.status).toBe(503);
      expect(Number(full.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      const body = await full.json();
      expect(body.error).toMatchObject({ type: 'server_error', code: 'queue_full' });
      expect(body.error.message).toMatch(/queue limit 1/);
      await expect(
        client.chat.completions.create({ model: engine.modelId, messages: MESSAGES })
      ).rejects.toBeInstanceOf(OpenAI.InternalServerError);
      release();
      const answer = await queued;
      expect(answer.usage!.completion_tokens).toBe(4);
    } finally {
      release();
    }
    await waitForQueue((s) => s.active === 0 && s.queued === 0);
  });

  it('drops a queued request whose client disconnects', async () => {
    const release = await server.admission.acquire();
    try {
      const ac = new AbortController();
      const leaving = chat({ max_tokens: 4 }, ac.signal).catch((e: Error) => e);
      await waitForQueue((s) => s.queued === 1);
      ac.abort();
      await leaving;
      await waitForQueue((s) => s.queued === 0);
    } finally {
      release();
    }
    await waitForQueue((s) => s.active === 0);
    const next = await client.chat.completions.create({
      model: engine.modelId,
      messages: MESSAGES,
      max_tokens: 3
    });
    expect(next.usage!.completion_tokens).toBe(3);
  });

  it('aborts generation when the client disconnects mid-stream, freeing the sequence', async () => {
    const ac = new AbortController();
    const res = await chat(
      { max_tokens: 3000, stream: true, shard: { speculation: 'off' } },
      ac.signal
    );
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let seen = '';
    while (!seen.includes('"content":"') || seen.split('"content":"').length < 3) {
      const { value, done } = await reader.read();
      if (done) throw new Error('stream ended before the test could disconnect');
      seen += decoder.decode(value);
    }
    expect(seen.includes('[DONE]')).toBe(false);
    const before = (await (await fetch(`${server.url}/health`)).json()).chat;
    ac.abort();
    await reader.cancel().catch(() => undefined);
    await waitForQueue((s) => s.active === 0);
    const after = (await (await fetch(`${server.url}/health`)).json()).chat;
    expect(after).toEqual({ ...before, aborted: before.aborted + 1 });
    // With one sequence, this only succeeds if the aborted generation released it.
    const next = await client.chat.completions.create({
      model: engine.modelId,
      messages: MESSAGES,
      max_tokens: 5
    });
    expect(next.usage!.completion_tokens).toBe(5);
    expect(next.choices[0]!.finish_reason).toBe('length');
  });

  it('serves simultaneous requests up to the queue size and refuses the rest with 503, never anything else', async () => {
    const results = await Promise.all(
      Array.from({ length: 5 }, () =>
        chat({ max_tokens: 200 }).then(async (r) => ({
          status: r.status,
          body: await r.json(),
          retry: r.headers.get('retry-after')
        }))
      )
    );
    const ok = results.filter((r) => r.status === 200);
    const busy = results.filter((r) => r.status === 503);
    expect(ok.length + busy.length).toBe(5);
    // The first is admitted and one more may wait: at least two are served.
    expect(ok.length).toBeGreaterThanOrEqual(2);
    for (const r of ok) expect(r.body.usage.completion_tokens).toBeGreaterThan(0);
    for (const r of busy) {
      expect(r.body.error.code).toBe('queue_full');
      expect(Number(r.retry)).toBeGreaterThanOrEqual(1);
    }
    await waitForQueue((s) => s.active === 0 && s.queued === 0);
  });

  it('stop() lets the grace period pass, then cuts a running stream and frees its sequence', async () => {
    const second = createOracleServer({
      engine,
      host: '127.0.0.1',
      port: 0,
      rateLimitPerMinute: 0,
      shutdownGraceMs: 100
    });
    await second.start();
    const res = await fetch(`${second.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ messages: MESSAGES, max_tokens: 3000, stream: true })
    });
    const reader = res.body!.getReader();
    await reader.read();
    await second.stop();
    let text = '';
    const decoder = new TextDecoder();
    for (;;) {
      const part = await reader.read().catch(() => ({ done: true, value: undefined }));
      if (part.done) break;
      text += decoder.decode(part.value);
    }
    expect(text.includes('[DONE]')).toBe(false);
    expect(second.admission.snapshot().active).toBe(0);
    await expect(fetch(`${second.url}/health`)).rejects.toThrow();
    // The engine's only sequence is free again for the first server.
    const next = await client.chat.completions.create({
      model: engine.modelId,
      messages: MESSAGES,
      max_tokens: 2
    });
    expect(next.usage!.completion_tokens).toBe(2);
  });
});
