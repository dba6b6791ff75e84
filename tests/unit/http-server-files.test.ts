/**
 * The oracle server without a model (the real degraded mode, not a mock): static app, model
 * files with Range, isolation headers, auth on /v1, plugins. Real HTTP on 127.0.0.1:0.
 */
import { request as httpRequest } from 'node:http';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { parseRange } from '../../native-oracle/http/model-files.js';
import { envelopeErrors, jsonResponse } from '../../native-oracle/http/router.js';
import { jsonBody } from '../../native-oracle/http/validate.js';
import { createOracleServer, type OracleServer } from '../../native-oracle/server.js';

const ISOLATION = {
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-embedder-policy': 'require-corp'
};

function expectIsolated(res: Response) {
  for (const [k, v] of Object.entries(ISOLATION)) expect(res.headers.get(k)).toBe(v);
}

describe('parseRange', () => {
  it.each([
    [undefined, 100, undefined],
    ['bytes=0-9', 100, { start: 0, end: 9 }],
    ['bytes=90-', 100, { start: 90, end: 99 }],
    ['bytes=-10', 100, { start: 90, end: 99 }],
    ['bytes=-1000', 100, { start: 0, end: 99 }],
    ['bytes=50-1000', 100, { start: 50, end: 99 }],
    ['bytes=100-', 100, 'unsatisfiable'],
    ['bytes=-0', 100, 'unsatisfiable'],
    ['bytes=9-3', 100, undefined],
    ['bytes=0-1,5-6', 100, undefined],
    ['items=0-1', 100, undefined],
    ['bytes=-', 100, undefined]
  ])('%s of %i bytes -> %j', (header, size, expected) => {
    expect(parseRange(header, size)).toEqual(expected);
  });
});

describe('oracle server without a model', () => {
  let dir: string;
  let server: OracleServer;
  let keyed: OracleServer;
  const model = Buffer.alloc(5000);
  const events: string[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'shard-h2-'));
    for (let i = 0; i < model.length; i++) model[i] = (i * 7) & 0xff;
    mkdirSync(join(dir, 'models'));
    mkdirSync(join(dir, 'build'));
    writeFileSync(join(dir, 'models', 'draft.gguf'), model);
    writeFileSync(join(dir, 'models', 'notes.txt'), 'not a model');
    writeFileSync(join(dir, 'secret.gguf'), 'outside');
    symlinkSync(join(dir, 'secret.gguf'), join(dir, 'models', 'escape.gguf'));
    writeFileSync(join(dir, 'build', 'index.html'), '<!doctype html><title>Shard</title>');
    server = createOracleServer({
      engine: null,
      host: '127.0.0.1',
      port: 0,
      staticDir: join(dir, 'build'),
      modelsDir: join(dir, 'models'),
      plugins: [
        (router, ctx) => {
          router.use('/v1/agents/*', envelopeErrors);
          router.post('/v1/agents/tasks', jsonBody(z.object({ n: z.number() })), (c) =>
            jsonResponse({ ok: true, got: c.req.valid('json') })
          );
          ctx.setPeers(() => [{ peer_id: 'peer-a' }, { peer_id: 'peer-b' }]);
          ctx.setTopology(() => ({ status: 'mesh', nodes: 3 }));
          return {
            start: ({ url }) => void events.push(`start ${url.startsWith('http://127.0.0.1:')}`),
            stop: () => void events.push('stop')
          };
        }
      ]
    });
    keyed = createOracleServer({
      engine: null,
      host: '127.0.0.1',
      port: 0,
      modelsDir: join(dir, 'models'),
      apiKeys: ['sk-one', 'sk-two']
    });
    await server.start();
    await keyed.start();
  });

  afterAll(async () => {
    await server?.stop();
    await keyed?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('reports degraded health with plugin-supplied peers, isolated', async () => {
    const res = await fetch(`${server.url}/health`);
    expect(res.status).toBe(200);
    expectIsolated(res);
    const body = await res.json();
    expect(body).toMatchObject({
      status: 'degraded',
      model: null,
      peers: 2,
      ready_for_inference: false
    });
    expect(body.uptime_ms).toBeGreaterThanOrEqual(0);
    const alias = await (await fetch(`${server.url}/v1/system/health`)).json();
    expect(alias.status).toBe('degraded');
    expect(await (await fetch(`${server.url}/v1/system/peers`)).json()).toEqual({
      peers: [{ peer_id: 'peer-a' }, { peer_id: 'peer-b' }],
      count: 2
    });
    expect(await (await fetch(`${server.url}/v1/system/topology`)).json()).toEqual({
      status: 'mesh',
      nodes: 3
    });
    expect(events).toEqual(['start true']);
  });

  it('answers chat with 503 model_not_loaded and lists no models', async () => {
    const res = await fetch(`${server.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ messages: [{ role: 'user', content: 'hi' }] })
    });
    expect(res.status).toBe(503);
    expectIsolated(res);
    expect(res.headers.get('retry-after')).toBe('30');
    expect((await res.json()).error).toMatchObject({
      type: 'server_error',
      code: 'model_not_loaded'
    });
    expect(await (await fetch(`${server.url}/v1/models`)).json()).toEqual({
      object: 'list',
      data: []
    });
  });

  it('serves the app shell with COOP/COEP and an SPA fallback', async () => {
    for (const path of ['/', '/chat/some-route']) {
      const res = await fetch(`${server.url}${path}`);
      expect(res.status).toBe(200);
      expectIsolated(res);
      expect(await res.text()).toContain('<title>Shard</title>');
    }
    const missingAsset = await fetch(`${server.url}/missing.js`);
    expect(missingAsset.status).toBe(404);
    expect((await missingAsset.json()).error.code).toBe('not_found');
  });

  it('serves a model file whole, with the right length and bytes', async () => {
    const res = await fetch(`${server.url}/models/draft.gguf`);
    expect(res.status).toBe(200);
    expectIsolated(res);
    expect(res.headers.get('content-length')).toBe('5000');
    expect(res.headers.get('accept-ranges')).toBe('bytes');
    expect(Buffer.from(await res.arrayBuffer()).equals(model)).toBe(true);
  });

  it.each([
    ['bytes=10-19', 10, 19],
    ['bytes=4990-', 4990, 4999],
    ['bytes=-7', 4993, 4999]
  ])('serves Range %s as 206 with content-range', async (range, start, end) => {
    const res = await fetch(`${server.url}/models/draft.gguf`, { headers: { range } });
    expect(res.status).toBe(206);
    expect(res.headers.get('content-range')).toBe(`bytes ${start}-${end}/5000`);
    expect(res.headers.get('content-length')).toBe(String(end - start + 1));
    expect(Buffer.from(await res.arrayBuffer()).equals(model.subarray(start, end + 1))).toBe(true);
  });

  it('answers an unsatisfiable range with 416, HEAD without a body, and a matching ETag with 304', async () => {
    const r416 = await fetch(`${server.url}/models/draft.gguf`, {
      headers: { range: 'bytes=6000-' }
    });
    expect(r416.status).toBe(416);
    expect(r416.headers.get('content-range')).toBe('bytes */5000');
    expect((await r416.json()).error.code).toBe('range_not_satisfiable');
    const head = await fetch(`${server.url}/models/draft.gguf`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe('5000');
    expect((await head.arrayBuffer()).byteLength).toBe(0);
    const etag = head.headers.get('etag')!;
    const cached = await fetch(`${server.url}/models/draft.gguf`, {
      headers: { 'if-none-match': etag }
    });
    expect(cached.status).toBe(304);
  });

  it.each([
    ['/models/notes.txt', 400, 'invalid_model_name'],
    ['/models/..%2Fsecret.gguf', 400, 'invalid_model_name'],
    ['/models/..%2F..%2Fetc%2Fpasswd', 400, 'invalid_model_name'],
    ['/models/.hidden.gguf', 400, 'invalid_model_name'],
    ['/models/absent.gguf', 404, 'not_found'],
    ['/models/escape.gguf', 404, 'not_found']
  ])('refuses %s with %i %s', async (path, status, code) => {
    const res = await fetch(`${server.url}${path}`);
    expect(res.status).toBe(status);
    expect((await res.json()).error.code).toBe(code);
  });

  it('lets plugin routes use the envelope error shape', async () => {
    const ok = await fetch(`${server.url}/v1/agents/tasks`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"n": 3}'
    });
    expect(await ok.json()).toEqual({ ok: true, got: { n: 3 } });
    const bad = await fetch(`${server.url}/v1/agents/tasks`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"n": "x"}'
    });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ ok: false, code: 'invalid_request' });
  });

  it('maps unknown routes to 404 and wrong methods to 405, in the OpenAI shape', async () => {
    const r404 = await fetch(`${server.url}/v1/nope`);
    expect(r404.status).toBe(404);
    expect((await r404.json()).error).toMatchObject({
      type: 'invalid_request_error',
      code: 'not_found'
    });
    const r405 = await fetch(`${server.url}/v1/models`, { method: 'DELETE' });
    expect(r405.status).toBe(405);
    expect(r405.headers.get('allow')).toBe('GET');
  });

  it('requires an API key on /v1 when keys are set, but keeps /health and model files open', async () => {
    const missing = await fetch(`${keyed.url}/v1/models`);
    expect(missing.status).toBe(401);
    expect((await missing.json()).error).toMatchObject({
      type: 'authentication_error',
      code: 'invalid_api_key',
      message: expect.stringMatching(/missing API key/)
    });
    const wrong = await fetch(`${keyed.url}/v1/models`, {
      headers: { authorization: 'Bearer sk-three' }
    });
    expect(wrong.status).toBe(401);
    expect((await wrong.json()).error.message).toBe('invalid API key');
    const bearer = await fetch(`${keyed.url}/v1/models`, {
      headers: { authorization: 'Bearer sk-two' }
    });
    expect(bearer.status).toBe(200);
    const header = await fetch(`${keyed.url}/v1/models`, { headers: { 'x-api-key': 'sk-one' } });
    expect(header.status).toBe(200);
    expect((await fetch(`${keyed.url}/health`)).status).toBe(200);
    // Model files are the operator's: with keys set they need one unless published.
    expect((await fetch(`${keyed.url}/models/draft.gguf`)).status).toBe(401);
    const withKey = await fetch(`${keyed.url}/models/draft.gguf`, {
      headers: { 'x-api-key': 'sk-one' }
    });
    expect(withKey.status).toBe(200);
  });

  it('refuses foreign Host names while bound to loopback (DNS rebinding), except allowed ones', async () => {
    const get = (url: string, host: string) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const u = new URL(url);
        const req = httpRequest(
          { host: u.hostname, port: u.port, path: '/v1/models', headers: { host } },
          (res) => {
            let body = '';
            res.setEncoding('utf8');
            res.on('data', (d: string) => (body += d));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
          }
        );
        req.on('error', reject);
        req.end();
      });
    const evil = await get(server.url, 'evil.example:80');
    expect(evil.status).toBe(403);
    expect(JSON.parse(evil.body).error).toMatchObject({
      type: 'permission_error',
      code: 'host_not_allowed',
      message: expect.stringMatching(/host "evil.example" is not served here/)
    });
    for (const host of ['localhost:1', '127.0.0.1', '[::1]:9']) {
      expect((await get(server.url, host)).status).toBe(200);
    }
    // Only exact loopback names: a subdomain of localhost or 127.0.0.1 is another site.
    for (const host of ['app.localhost', '127.0.0.1.attacker.example']) {
      expect((await get(server.url, host)).status).toBe(403);
    }
    const withAllowed = createOracleServer({
      engine: null,
      host: '127.0.0.1',
      port: 0,
      allowedHosts: ['oracle.lan']
    });
    await withAllowed.start();
    try {
      expect((await get(withAllowed.url, 'oracle.lan:9091')).status).toBe(200);
      expect((await get(withAllowed.url, 'other.lan')).status).toBe(403);
    } finally {
      await withAllowed.stop();
    }
  });

  it('runs plugin stop hooks on stop and then refuses connections', async () => {
    const url = server.url;
    await server.stop();
    expect(events).toEqual(['start true', 'stop']);
    await expect(fetch(`${url}/health`)).rejects.toThrow();
  });
});
