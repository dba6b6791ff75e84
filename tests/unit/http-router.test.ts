/**
 * The oracle's HTTP layer without a model: malformed paths, which routes the API-key guard
 * covers, the envelope error shape of a route group, and the one SSE writer (heartbeats,
 * backpressure, abort on disconnect). Real HTTP on 127.0.0.1:0.
 */
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { envelopeErrors, jsonResponse } from '../../native-oracle/http/router.js';
import { eventStream } from '../../native-oracle/http/sse.js';
import { createOracleServer, type OracleServer } from '../../native-oracle/server.js';

const KEY = 'sk-router-test';
const BIG_EVENT = 'x'.repeat(64 * 1024);
const BIG_EVENTS = 512;

/** What the SSE test routes observed, for the tests to wait on. */
const seen = { bigSent: 0, isBigDone: false, isAborted: false };

let server: OracleServer;

beforeAll(async () => {
  server = createOracleServer({
    engine: null,
    host: '127.0.0.1',
    port: 0,
    apiKeys: [KEY],
    plugins: [
      (router) => {
        router.use('/v1/agents/*', envelopeErrors);
        router.get('/v1/agents/ping', () => jsonResponse({ ok: true }));
        router.get('/sse/heartbeat', (c) =>
          eventStream(
            c,
            async (sink) => {
              await sink.send('first');
              await new Promise((resolve) => setTimeout(resolve, 400));
              await sink.send('last');
            },
            { heartbeatMs: 50 }
          )
        );
        router.get('/sse/big', (c) =>
          eventStream(c, async (sink) => {
            for (let i = 0; i < BIG_EVENTS && !sink.signal.aborted; i++) {
              await sink.send(BIG_EVENT);
              seen.bigSent = i + 1;
            }
            seen.isBigDone = true;
          })
        );
        router.get('/sse/endless', (c) =>
          eventStream(c, async (sink) => {
            await sink.send('hello');
            await new Promise((resolve) =>
              sink.signal.addEventListener('abort', resolve, { once: true })
            );
            seen.isAborted = true;
          })
        );
      }
    ]
  });
  await server.start();
});

afterAll(async () => {
  await server?.stop();
});

/** GET with node:http so the test controls reading (pause) and the raw bytes. */
function open(path: string): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const u = new URL(server.url);
    const req = httpRequest({ host: u.hostname, port: u.port, path }, resolve);
    req.on('error', reject);
    req.end();
  });
}

describe('paths and guards', () => {
  it.each(['/v1/models/%E0%A4%A', '/models/%ZZ.gguf', '/chat/%E0%A4%A'])(
    'answers malformed percent-encoding in %s with a clear 400',
    async (path) => {
      const res = await fetch(`${server.url}${path}`, { headers: { 'x-api-key': KEY } });
      expect(res.status).toBe(400);
      expect(res.headers.get('content-type')).toMatch(/^application\/json/);
      expect((await res.json()).error).toMatchObject({
        type: 'invalid_request_error',
        code: 'invalid_path',
        message: expect.stringMatching(/malformed percent-encoding/)
      });
    }
  );

  it('refuses a Host the adapter cannot parse with the Host guard’s 403, not a bare 400', async () => {
    const u = new URL(server.url);
    const raw = await new Promise<string>((resolve, reject) => {
      const socket = connect(Number(u.port), u.hostname, () =>
        socket.write('GET /health HTTP/1.1\r\nHost: a b\r\nConnection: close\r\n\r\n')
      );
      let text = '';
      socket.on('data', (d) => (text += String(d)));
      socket.on('end', () => resolve(text));
      socket.on('error', reject);
    });
    expect(raw.split('\r\n')[0]).toBe('HTTP/1.1 403 Forbidden');
    expect(JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4)).error).toMatchObject({
      code: 'host_not_allowed',
      message: 'malformed Host header'
    });
  });

  it('keeps /v1/system/health open and answers unknown /v1 paths 404 without a key', async () => {
    expect((await fetch(`${server.url}/v1/system/health`)).status).toBe(200);
    expect((await fetch(`${server.url}/v1/system/peers`)).status).toBe(401);
    const unknown = await fetch(`${server.url}/v1/nope`);
    expect(unknown.status).toBe(404);
    expect((await unknown.json()).error.type).toBe('invalid_request_error');
  });

  it('matches a route with a trailing slash', async () => {
    const res = await fetch(`${server.url}/v1/models/`, { headers: { 'x-api-key': KEY } });
    expect(res.status).toBe(200);
    expect((await res.json()).object).toBe('list');
  });

  it('uses the envelope shape for every error of an envelope group, the guard’s 401 included', async () => {
    const missing = await fetch(`${server.url}/v1/agents/ping`);
    expect(missing.status).toBe(401);
    expect(await missing.json()).toMatchObject({ ok: false, code: 'invalid_api_key' });
    const wrongMethod = await fetch(`${server.url}/v1/agents/ping`, {
      method: 'POST',
      headers: { 'x-api-key': KEY }
    });
    expect(wrongMethod.status).toBe(405);
    expect(await wrongMethod.json()).toMatchObject({ ok: false, code: 'method_not_allowed' });
    const absent = await fetch(`${server.url}/v1/agents/absent`);
    expect(absent.status).toBe(404);
    expect(await absent.json()).toMatchObject({ ok: false, detail: expect.any(String) });
  });
});

describe('the SSE writer', () => {
  it('sends `: ping` comment lines while the producer is quiet', async () => {
    const res = await fetch(`${server.url}/sse/heartbeat`);
    expect(res.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.headers.get('cross-origin-embedder-policy')).toBe('require-corp');
    const text = await res.text();
    expect(text.startsWith('data: first\n\n')).toBe(true);
    expect(text.endsWith('data: last\n\n')).toBe(true);
    expect(text.match(/^: ping$/gm)?.length ?? 0).toBeGreaterThanOrEqual(2);
  });

  it('holds the producer while the client does not read (backpressure), then delivers all', async () => {
    seen.bigSent = 0;
    seen.isBigDone = false;
    const res = await open('/sse/big');
    res.pause();
    await vi.waitFor(() => expect(seen.bigSent).toBeGreaterThan(0), { timeout: 5000 });
    // An unbuffered writer would queue all 32 MiB at once; give it time to run ahead.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(seen.isBigDone).toBe(false);
    expect(seen.bigSent * BIG_EVENT.length).toBeLessThan(16 * 1024 * 1024);
    let events = 0;
    let tail = '';
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => {
      const text = tail + chunk;
      const blocks = text.split('\n\n');
      tail = blocks.pop()!;
      events += blocks.length;
    });
    res.resume();
    await new Promise((resolve) => res.on('end', resolve));
    expect(events).toBe(BIG_EVENTS);
    expect(seen.isBigDone).toBe(true);
  });

  it('fires the producer’s signal when the client goes away', async () => {
    seen.isAborted = false;
    const res = await open('/sse/endless');
    await new Promise((resolve) => res.once('data', resolve));
    res.destroy();
    await vi.waitFor(() => expect(seen.isAborted).toBe(true), { timeout: 5000 });
  });
});
