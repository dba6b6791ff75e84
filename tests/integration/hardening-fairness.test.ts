/**
 * Issue #10, finding 9 over real HTTP with the real engine: one client asking for many long
 * generations cannot hold every slot and the whole queue (another client is still served), and
 * `max_tokens` is bounded by the oracle's limit (400 naming the field and the limit).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTargetEngine, type TargetEngine } from '../../native-oracle/engine/index.js';
import { createOracleServer, type OracleServer } from '../../native-oracle/server.js';
import { ensureTestModels } from '../helpers/models.js';

const GREEDY = 'sk-greedy-client';
const POLITE = 'sk-polite-client';
const MESSAGES = [{ role: 'user', content: 'Describe the market square at dawn.' }];

let engine: TargetEngine;
let server: OracleServer;

beforeAll(async () => {
  const { targetPath } = await ensureTestModels();
  engine = await createTargetEngine({ modelPath: targetPath, threads: 1, maxConcurrent: 1 });
  server = createOracleServer({
    engine,
    host: '127.0.0.1',
    port: 0,
    rateLimitPerMinute: 0,
    apiKeys: [GREEDY, POLITE],
    queueMax: 4,
    clientQueueMax: 2,
    maxTokensLimit: 600
  });
  await server.start();
});

afterAll(async () => {
  await server?.stop();
  await engine?.dispose();
});

function chat(key: string, body: Record<string, unknown>) {
  return fetch(`${server.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
    body: JSON.stringify({ messages: MESSAGES, shard: { speculation: 'off' }, ...body })
  });
}

/** Waits (bounded) until the admission queue reaches a state; the queue has no events to await. */
async function waitForQueue(predicate: (s: { active: number; queued: number }) => boolean) {
  const deadline = Date.now() + 30_000;
  while (!predicate(server.admission.snapshot())) {
    if (Date.now() > deadline) throw new Error('queue never reached the state');
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('per-client admission limits (finding 9)', () => {
  it('one client saturating the oracle does not stop a second client from being served', async () => {
    const greedy = Array.from({ length: 8 }, () =>
      chat(GREEDY, { max_tokens: 600 }).then(async (r) => ({
        status: r.status,
        body: await r.json()
      }))
    );
    // The greedy client holds the only slot and as much of the queue as it may.
    await waitForQueue((s) => s.active === 1 && s.queued >= 1);
    const polite = await chat(POLITE, { max_tokens: 4 });
    expect(polite.status).toBe(200);
    expect((await polite.json()).usage.completion_tokens).toBe(4);
    const results = await Promise.all(greedy);
    const refused = results.filter((r) => r.status !== 200);
    // One running and two waiting at most; the rest are told to come back later.
    expect(results.filter((r) => r.status === 200).length).toBeLessThanOrEqual(3);
    for (const r of refused) {
      expect(r.status).toBe(503);
      expect(r.body.error.message).toMatch(/per-client queue limit 2/);
    }
    await waitForQueue((s) => s.active === 0 && s.queued === 0);
  });

  it('refuses max_tokens over the configured limit with 400 naming the field and the limit', async () => {
    for (const field of ['max_tokens', 'max_completion_tokens']) {
      const res = await chat(POLITE, { [field]: 32_768 });
      expect(res.status).toBe(400);
      const body = await res.json();
      expect(body.error.message).toMatch(/max_tokens/);
      expect(body.error.message).toMatch(/limit of 600/);
    }
    const ok = await chat(POLITE, { max_tokens: 600 });
    expect(ok.status).toBe(200);
  });
});
