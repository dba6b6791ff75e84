/**
 * Issue #10, the oracle's HTTP guards over real HTTP on loopback: DNS rebinding (finding 1),
 * cross-site writes and CORS (finding 2), failed-key throttling (finding 4), model files behind
 * the key (finding 12), nested JSON bodies (finding 13), and a key on every route that reveals or
 * changes state. Real oracle server, real engine on the generated target model.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTargetEngine, type TargetEngine } from '../../native-oracle/engine/index.js';
import { createOracleServer, type OracleServer } from '../../native-oracle/server.js';
import { workflowPlugin } from '../../native-oracle/workflows/index.js';
import { ensureTestModels } from '../helpers/models.js';

const KEY = 'sk-hardening-guards';
const APP_ORIGIN = 'https://app.example';
const MESSAGES = [{ role: 'user', content: 'Say something about the harbour.' }];
const TASK = {
  workflow_kind: 'research_brief',
  question: 'Does the harbour flood?',
  sources: [
    { id: 's1', title: 'Tides', content: 'The harbour floods at spring tides twice a year.' },
    { id: 's2', content: 'A new wall was built in the harbour to stop the floods.' }
  ]
};

let engine: TargetEngine;
let open: OracleServer;
let keyed: OracleServer;
let throttled: OracleServer;
const dirs: string[] = [];

function tmp(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(dir);
  return dir;
}

beforeAll(async () => {
  const { targetPath } = await ensureTestModels();
  engine = await createTargetEngine({
    modelPath: targetPath,
    threads: 1,
    maxConcurrent: 1,
    contextSize: 256
  });
  const modelsDir = tmp('shard-guards-models-');
  writeFileSync(join(modelsDir, 'target.gguf'), Buffer.from('GGUF target bytes'));
  writeFileSync(join(modelsDir, 'draft.gguf'), Buffer.from('GGUF draft bytes'));
  const common = { engine, host: '127.0.0.1', port: 0, rateLimitPerMinute: 0 };
  open = createOracleServer({
    ...common,
    allowedHosts: ['oracle.lan', 'box.lan:4444'],
    corsOrigins: [APP_ORIGIN],
    plugins: [workflowPlugin({ dataDir: tmp('shard-guards-open-'), config: {} })]
  });
  keyed = createOracleServer({
    ...common,
    apiKeys: [KEY],
    modelsDir,
    publicModels: ['draft.gguf'],
    plugins: [workflowPlugin({ dataDir: tmp('shard-guards-keyed-'), config: {} })]
  });
  throttled = createOracleServer({ ...common, engine: null, apiKeys: [KEY] });
  await Promise.all([open.start(), keyed.start(), throttled.start()]);
});

afterAll(async () => {
  await Promise.all([open?.stop(), keyed?.stop(), throttled?.stop()]);
  await engine?.dispose();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** A raw request (fetch cannot set Host); resolves with status, headers and body text. */
function raw(
  server: OracleServer,
  options: { method?: string; path: string; headers?: Record<string, string>; body?: string }
): Promise<{
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}> {
  const url = new URL(server.url);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: url.hostname,
        port: url.port,
        method: options.method ?? 'GET',
        path: options.path,
        headers: options.headers ?? {}
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
      }
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

const portOf = (server: OracleServer) => new URL(server.url).port;

describe('DNS rebinding: the Host guard matches loopback names exactly (finding 1)', () => {
  it.each([
    '127.0.0.1.attacker.example',
    'localhost.attacker.example',
    '127.0.0.1.nip.io',
    'evil.localhost',
    'box.lan:1'
  ])('refuses Host %s with 403 on reads and writes', async (host) => {
    const name = host.includes(':') ? host : `${host}:${portOf(open)}`;
    const read = await raw(open, { path: '/v1/executions', headers: { host: name } });
    expect(read.status).toBe(403);
    expect(JSON.parse(read.text).error.code).toBe('host_not_allowed');
    const write = await raw(open, {
      method: 'POST',
      path: '/v1/agents/tasks',
      headers: { host: name, 'content-type': 'application/json' },
      body: JSON.stringify(TASK)
    });
    expect(write.status).toBe(403);
  });

  it.each(['localhost', '127.0.0.1', '127.3.4.5', '[::1]', 'oracle.lan', 'box.lan:4444'])(
    'serves Host %s',
    async (host) => {
      const name = host.includes(':') && !host.startsWith('[') ? host : `${host}:${portOf(open)}`;
      const res = await raw(open, { path: '/v1/models', headers: { host: name } });
      expect(res.status).toBe(200);
    }
  );
});

describe('cross-site writes and CORS (finding 2)', () => {
  async function chat(headers: Record<string, string>, body?: string) {
    return raw(open, {
      method: 'POST',
      path: '/v1/chat/completions',
      headers: { host: `127.0.0.1:${portOf(open)}`, ...headers },
      body: body ?? JSON.stringify({ messages: MESSAGES, max_tokens: 2 })
    });
  }

  it.each([
    ['text/plain; x=application/json'],
    ['text/plain;charset=application/json'],
    ['application/jsonx'],
    ['application/merge-patch+json'],
    ['multipart/form-data; boundary=application/json']
  ])('refuses content-type %s with 415', async (type) => {
    const res = await chat({ 'content-type': type });
    expect(res.status).toBe(415);
    expect(JSON.parse(res.text).error.code).toBe('unsupported_media_type');
  });

  it('refuses a body without a content type with 415', async () => {
    const res = await chat({});
    expect(res.status).toBe(415);
    expect(JSON.parse(res.text).error.message).toMatch(/content-type is missing/);
  });

  it('accepts application/json with or without charset', async () => {
    for (const type of ['application/json', 'Application/JSON; charset=UTF-8']) {
      const res = await chat({ 'content-type': type });
      expect(res.status).toBe(200);
    }
  });

  it('refuses a state-changing request from another origin with 403', async () => {
    const fromEvil = await chat({
      'content-type': 'application/json',
      origin: 'https://evil.example'
    });
    expect(fromEvil.status).toBe(403);
    expect(JSON.parse(fromEvil.text).error.code).toBe('cross_origin_forbidden');
    const task = await raw(open, {
      method: 'POST',
      path: '/v1/agents/tasks',
      headers: {
        host: `127.0.0.1:${portOf(open)}`,
        'content-type': 'application/json',
        origin: 'http://localhost:3000'
      },
      body: JSON.stringify(TASK)
    });
    expect(task.status).toBe(403);
    const siteOnly = await chat({
      'content-type': 'application/json',
      'sec-fetch-site': 'cross-site'
    });
    expect(siteOnly.status).toBe(403);
  });

  it('answers a preflight 204 for a listed origin and 403 for others', async () => {
    const preflight = (origin: string) =>
      raw(open, {
        method: 'OPTIONS',
        path: '/v1/chat/completions',
        headers: {
          host: `127.0.0.1:${portOf(open)}`,
          origin,
          'access-control-request-method': 'POST',
          'access-control-request-headers': 'content-type, authorization'
        }
      });
    const listed = await preflight(APP_ORIGIN);
    expect(listed.status).toBe(204);
    expect(listed.headers['access-control-allow-origin']).toBe(APP_ORIGIN);
    expect(listed.headers['access-control-allow-methods']).toMatch(/POST/);
    expect(listed.headers['access-control-allow-headers']).toMatch(/authorization/);
    expect(listed.headers['access-control-allow-headers']).toMatch(/content-type/);
    const other = await preflight('https://evil.example');
    expect(other.status).toBe(403);
    expect(other.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('serves a listed origin with Access-Control-Allow-Origin, others without it', async () => {
    const listed = await chat({ 'content-type': 'application/json', origin: APP_ORIGIN });
    expect(listed.status).toBe(200);
    expect(listed.headers['access-control-allow-origin']).toBe(APP_ORIGIN);
    const same = await chat({
      'content-type': 'application/json',
      origin: `http://127.0.0.1:${portOf(open)}`,
      'sec-fetch-site': 'same-origin'
    });
    expect(same.status).toBe(200);
    const read = await raw(open, {
      path: '/v1/models',
      headers: { host: `127.0.0.1:${portOf(open)}`, origin: 'https://evil.example' }
    });
    expect(read.headers['access-control-allow-origin']).toBeUndefined();
  });
});

describe('with API keys set, everything that reveals or changes state needs one', () => {
  it.each([
    ['GET', '/v1/models'],
    ['GET', '/v1/system/peers'],
    ['GET', '/v1/system/topology'],
    ['GET', '/v1/executions'],
    ['GET', '/v1/capabilities'],
    ['POST', '/v1/agents/tasks'],
    ['POST', '/v1/chat/completions'],
    ['GET', '/metrics'],
    ['GET', '/models/target.gguf'],
    ['HEAD', '/models/target.gguf']
  ])('%s %s answers 401 without a key', async (method, path) => {
    const res = await fetch(`${keyed.url}${path}`, {
      method,
      ...(method === 'POST'
        ? { headers: { 'content-type': 'application/json' }, body: JSON.stringify(TASK) }
        : {})
    });
    expect(res.status).toBe(401);
  });

  it('serves a model file with the key, and a published one without (finding 12)', async () => {
    const withKey = await fetch(`${keyed.url}/models/target.gguf`, {
      headers: { authorization: `Bearer ${KEY}` }
    });
    expect(withKey.status).toBe(200);
    expect(await withKey.text()).toBe('GGUF target bytes');
    const published = await fetch(`${keyed.url}/models/draft.gguf`);
    expect(published.status).toBe(200);
    expect(await published.text()).toBe('GGUF draft bytes');
    expect((await fetch(`${keyed.url}/health`)).status).toBe(200);
  });
});

describe('failed API keys are throttled per client address (finding 4)', () => {
  it('answers 429 with Retry-After after a few wrong keys, even for the right key', async () => {
    const statuses: number[] = [];
    let last: Response | undefined;
    for (let i = 0; i < 200; i++) {
      last = await fetch(`${throttled.url}/v1/models`, {
        headers: { authorization: `Bearer sk-guess-${i}` }
      });
      statuses.push(last.status);
    }
    const unauthorized = statuses.filter((s) => s === 401).length;
    expect(unauthorized).toBeGreaterThan(0);
    expect(unauthorized).toBeLessThanOrEqual(10);
    expect(statuses.filter((s) => s === 429).length).toBe(200 - unauthorized);
    expect(Number(last!.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect((await last!.json()).error.message).toMatch(/too many failed API-key attempts/);
    const right = await fetch(`${throttled.url}/v1/models`, {
      headers: { authorization: `Bearer ${KEY}` }
    });
    expect(right.status).toBe(429);
  });
});

describe('deeply nested JSON bodies (finding 13)', () => {
  it('answers 400 naming the field instead of 500', async () => {
    // Written as text: JSON.stringify itself would overflow the stack at this depth.
    const levels = 5000;
    const schema =
      '{"type":"object","properties":{"a":'.repeat(levels) +
      '{"type":"string"}' +
      '}}'.repeat(levels);
    const deepBody =
      `{"messages":${JSON.stringify(MESSAGES)},"max_tokens":2,` +
      `"response_format":{"type":"json_schema","json_schema":{"name":"deep","schema":${schema}}}}`;
    const res = await fetch(`${open.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: deepBody
    });
    expect(res.status).toBe(400);
    const body = await res.json();
    expect(body.error.param).toBe('response_format');
    expect(body.error.message).toMatch(/response_format\.json_schema\.schema.*nested more than 64/);
    // Still serving.
    const next = await fetch(`${open.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ messages: MESSAGES, max_tokens: 2 })
    });
    expect(next.status).toBe(200);
  });
});
