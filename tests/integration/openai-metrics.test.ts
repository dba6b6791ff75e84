/**
 * `GET /metrics` (Prometheus text, prom-client) counts what the oracle does, sits behind the API
 * key when keys are set and is a JSON 404 when disabled; API-like paths no route handles are
 * JSON 404s while app routes still get the app shell.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOracleServer, type OracleServer } from '../../native-oracle/server.js';
import {
  checkAgainstDocument,
  openApiDocument,
  startOracleHarness,
  type OracleHarness
} from './openai-harness.js';

const KEY = 'sk-metrics-test';
const appDir = mkdtempSync(join(tmpdir(), 'shard-app-'));
writeFileSync(join(appDir, 'index.html'), '<!doctype html><title>Shard</title>');

let h: OracleHarness;
let keyed: OracleServer;
let disabled: OracleServer;

beforeAll(async () => {
  h = await startOracleHarness({ staticDir: appDir });
  keyed = createOracleServer({ engine: null, host: '127.0.0.1', port: 0, apiKeys: [KEY] });
  disabled = createOracleServer({ engine: null, host: '127.0.0.1', port: 0, metrics: false });
  await Promise.all([keyed.start(), disabled.start()]);
});

afterAll(async () => {
  await Promise.all([h?.stop(), keyed?.stop(), disabled?.stop()]);
  rmSync(appDir, { recursive: true, force: true });
});

/**
 * Parses Prometheus text exposition: `name{labels} value` samples, failing on any other line
 * (values as Go's ParseFloat reads them, so NaN in any case).
 */
function parsePrometheus(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || /^# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* /.test(line)) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?) (-?[0-9.e+-]+|[Nn]a[Nn]|\+Inf|-Inf)$/.exec(
      line
    );
    expect(m, `not a Prometheus sample line: ${line}`).not.toBeNull();
    samples.set(m![1]!, Number(m![2]));
  }
  return samples;
}

async function scrape(url: string, headers: Record<string, string> = {}) {
  const res = await h.fetch(`${url}/metrics`, { headers });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return parsePrometheus(await res.text());
}

describe('/metrics', () => {
  it('parses as Prometheus text and counts a chat request, its tokens and the queue', async () => {
    const chatKey =
      'shard_http_requests_total{method="POST",route="/v1/chat/completions",status="200"}';
    const before = await scrape(h.url);
    const reply = await h.client.chat.completions.create(
      { model: 'default', messages: [{ role: 'user', content: 'hi' }], max_tokens: 5 },
      { headers: { 'x-shard-speculation': 'on' } }
    );
    const after = await scrape(h.url);
    expect((after.get(chatKey) ?? 0) - (before.get(chatKey) ?? 0)).toBe(1);
    const delta = (name: string) => (after.get(name) ?? 0) - (before.get(name) ?? 0);
    expect(delta('shard_tokens_generated_total')).toBe(reply.usage!.completion_tokens);
    expect(delta('shard_prompt_tokens_total')).toBe(reply.usage!.prompt_tokens);
    const shard = (reply as unknown as { shard: { drafted: number; accepted: number } }).shard;
    expect(delta('shard_draft_tokens_drafted_total')).toBe(shard.drafted);
    expect(delta('shard_draft_tokens_accepted_total')).toBe(shard.accepted);
    expect(after.get('shard_queue_active')).toBe(0);
    expect(after.get('shard_queue_max_concurrent')).toBe(2);
    expect(after.get('shard_scouts_connected')).toBe(0);
    expect(after.has('shard_receipts_written_total')).toBe(true);
    expect(after.has('process_cpu_user_seconds_total')).toBe(true);
    // The scrape itself is counted by route.
    expect(after.get('shard_http_requests_total{method="GET",route="/metrics",status="200"}')).toBe(
      (before.get('shard_http_requests_total{method="GET",route="/metrics",status="200"}') ?? 0) + 1
    );
  });

  it('is behind the API key when keys are set, and a JSON 404 when disabled', async () => {
    const open = await fetch(`${keyed.url}/metrics`);
    expect(open.status).toBe(401);
    expect((await open.json()).error.code).toBe('invalid_api_key');
    expect(
      (await fetch(`${keyed.url}/metrics`, { headers: { authorization: `Bearer ${KEY}` } })).status
    ).toBe(200);
    const off = await fetch(`${disabled.url}/metrics`);
    expect(off.status).toBe(404);
    expect(off.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await off.json()).toEqual({
      error: {
        message: 'no route for GET /metrics',
        type: 'invalid_request_error',
        param: null,
        code: 'not_found'
      }
    });
  });
});

describe('unknown paths', () => {
  it.each(['/api/tags', '/v1/nope', '/openapi.yaml', '/swagger.json', '/v2/models', '/healthz'])(
    '%s is a JSON 404, not the app shell',
    async (path) => {
      const res = await h.fetch(`${h.url}${path}`);
      expect(res.status).toBe(404);
      expect(res.headers.get('content-type')).toMatch(/^application\/json/);
      expect((await res.json()).error).toMatchObject({
        type: 'invalid_request_error',
        code: 'not_found'
      });
    }
  );

  it('app routes still get the app shell', async () => {
    for (const path of ['/', '/chat', '/provenance']) {
      const res = await fetch(`${h.url}${path}`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    }
  });

  it('every recorded response conforms to the OpenAPI document', async () => {
    const api = h.recorded.filter((r) => !r.path.startsWith('/api') && r.status !== 404);
    const { problems } = await checkAgainstDocument(openApiDocument(), api);
    expect(problems).toEqual([]);
  });
});
