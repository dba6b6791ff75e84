/* eslint-disable @typescript-eslint/no-explicit-any -- HTTP JSON bodies are asserted field by field */
/**
 * Earned priority on a real oracle (the real engine on the generated target, one generation
 * slot) over real HTTP on loopback: under a busy oracle a contributor's request overtakes a
 * consumer's; a consumer still runs after at most CONTRIBUTOR_BURST contributor admissions
 * however many contributors queue behind it; a forged or replayed `x-shard-contributor` header is
 * a 401 and earns no place; a key with no credit queues as a consumer; an API key mapped to a
 * contributor (SHARD_CONTRIBUTOR_KEYS) is a contributor. The slot is held through the server's
 * own admission queue, and every step waits on the queue state `/health` reports.
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONTRIBUTOR_BURST } from '../../native-oracle/admission/queue.js';
import {
  createContributionService,
  createRequestIdentifier,
  type ContributionService
} from '../../native-oracle/contribution/index.js';
import { createTargetEngine, type TargetEngine } from '../../native-oracle/engine/index.js';
import { createOracleServer, type OracleServer } from '../../native-oracle/server.js';
import { signContributorHeader } from '../../src/lib/protocol/contribution.js';
import { ensureTestModels } from '../helpers/models.js';

const PATH = '/v1/chat/completions';
const richKey = new Uint8Array(32).fill(21);
const poorKey = new Uint8Array(32).fill(22);
const mappedKey = new Uint8Array(32).fill(23);
const richId = bytesToHex(ed25519.getPublicKey(richKey));
const mappedId = bytesToHex(ed25519.getPublicKey(mappedKey));
const MAPPED_API_KEY = 'mapped-contributor-api-key';

let dir: string;
let engine: TargetEngine;
let contribution: ContributionService;
let server: OracleServer;

const header = (key: Uint8Array) => ({
  'x-shard-contributor': signContributorHeader({ method: 'POST', path: PATH, secretKey: key })
});

/** One chat request; resolves with status, headers and body. */
async function chat(headers: Record<string, string> = {}) {
  const res = await fetch(`${server.url}${PATH}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ messages: [{ role: 'user', content: 'river' }], max_tokens: 2 })
  });
  return { status: res.status, headers: res.headers, json: (await res.json()) as any };
}

async function health(): Promise<any> {
  return (await fetch(`${server.url}/health`)).json();
}

/** Waits until /health's queue shows `queued` waiters (polls; the queue has no HTTP events). */
async function untilQueued(queued: number) {
  for (let i = 0; i < 2000; i++) {
    const h = await health();
    if (h.queue.queued === queued) return h;
    await new Promise((r) => setImmediate(r));
  }
  throw new Error(`the queue never held ${queued} waiters`);
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'shard-priority-'));
  const { targetPath } = await ensureTestModels();
  engine = await createTargetEngine({ modelPath: targetPath, threads: 1, maxConcurrent: 1 });
  contribution = createContributionService({ dataDir: dir });
  // Verified work from earlier (what the mesh and the workflows credit).
  contribution.credit(richId, 'accepted_draft_tokens', 500, { source: 'test', ref: 'rich' });
  contribution.credit(mappedId, 'golden_tickets_passed', 2, { source: 'test', ref: 'mapped' });
  server = createOracleServer({
    engine,
    host: '127.0.0.1',
    port: 0,
    rateLimitPerMinute: 0,
    queueMax: 16,
    clientQueueMax: 16,
    identifyContributor: createRequestIdentifier(contribution, [
      { apiKey: MAPPED_API_KEY, identity: mappedId }
    ])
  });
  await server.start();
}, 120_000);

afterAll(async () => {
  await server?.stop();
  await engine?.dispose();
  contribution?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('earned priority', () => {
  it('a contributor overtakes a consumer that queued first', async () => {
    const hold = await server.admission.acquire();
    const consumer = chat();
    await untilQueued(1);
    const contributor = chat(header(richKey));
    const h = await untilQueued(2);
    expect(h.queue.by_class).toEqual({
      contributor: { active: 0, queued: 1 },
      consumer: { active: 1, queued: 1 }
    });
    hold();
    const [a, b] = await Promise.all([consumer, contributor]);
    expect(b.status).toBe(200);
    expect(b.headers.get('x-shard-queue-class')).toBe('contributor');
    expect(b.headers.get('x-shard-queue-position')).toBe('2');
    expect(b.json.shard.queue).toEqual({
      class: 'contributor',
      position: 2,
      waited_admissions: 0,
      identity: richId,
      credit: 500
    });
    expect(a.status).toBe(200);
    expect(a.headers.get('x-shard-queue-class')).toBe('consumer');
    expect(a.json.shard.queue).toEqual({ class: 'consumer', position: 1, waited_admissions: 1 });
  });

  it(`a consumer waits at most ${CONTRIBUTOR_BURST} contributor admissions, however many queue`, async () => {
    const hold = await server.admission.acquire();
    const consumer = chat();
    await untilQueued(1);
    const contributors: Array<ReturnType<typeof chat>> = [];
    for (let i = 0; i < CONTRIBUTOR_BURST + 2; i++) {
      contributors.push(chat(header(richKey)));
      await untilQueued(i + 2);
    }
    hold();
    const c = await consumer;
    expect(c.status).toBe(200);
    expect(c.json.shard.queue.waited_admissions).toBe(CONTRIBUTOR_BURST);
    const rest = await Promise.all(contributors);
    const waited = rest.map((r) => r.json.shard.queue.waited_admissions).sort((x, y) => x - y);
    // Three contributors before the consumer, the others after it.
    expect(waited).toEqual([0, 1, 2, 4, 5]);
  });

  it('a forged or replayed identity header is a 401 and takes no place', async () => {
    const good = header(richKey)['x-shard-contributor'];
    const [pub, ts, nonce] = good.split('.');
    // Signed by another key but claiming the rich identity.
    const other = signContributorHeader({ method: 'POST', path: PATH, secretKey: poorKey });
    const forged = `${pub}.${ts}.${nonce}.${other.split('.')[3]}`;
    const refused = await chat({ 'x-shard-contributor': forged });
    expect(refused.status).toBe(401);
    expect(refused.json.error.code).toBe('invalid_contributor_header');
    const first = await chat({ 'x-shard-contributor': good });
    expect(first.status).toBe(200);
    const replayed = await chat({ 'x-shard-contributor': good });
    expect(replayed.status).toBe(401);
    expect(replayed.json.error.message).toMatch(/nonce/);
    expect(contribution.credits(richId).credits).toBe(500);
  });

  it('a valid key without credit queues as a consumer; a mapped API key as its contributor', async () => {
    const poor = await chat(header(poorKey));
    expect(poor.status).toBe(200);
    expect(poor.json.shard.queue.class).toBe('consumer');
    const mapped = await chat({ authorization: `Bearer ${MAPPED_API_KEY}` });
    expect(mapped.json.shard.queue).toMatchObject({
      class: 'contributor',
      identity: mappedId,
      credit: 16
    });
  });
});
