/**
 * Seeded property-based fuzzing of the oracle's HTTP edge (issue #10): ONE oracle on loopback
 * (createOracleServer with the real engine on the generated target model, the workflow plugin and
 * the contribution plugin, the generated model files under /models), then for every POST route and
 * every route with a path parameter: arbitrary JSON bodies, near-valid bodies (one field mutated
 * or an unknown field added), raw garbage bytes under right and wrong content types, and odd path
 * segments. Properties of every answer: never a 5xx (but 503/507 with their documented codes),
 * every status >= 400 carries `{ error: { message, type, code } }`, the oracle still serves
 * afterwards, and rejected input changes no state (the execution list, one finished execution's
 * receipts, the contribution nodes, session and credits are the same before and after).
 * Runs per surface are printed as one JSON line per surface after the file.
 * `SHARD_FUZZ_RUNS=10 npx vitest run tests/integration/fuzz-http.test.ts` runs ten times more.
 */
import fc from 'fast-check';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { contributionPlugin } from '../../native-oracle/contribution/index.js';
import { createTargetEngine, type TargetEngine } from '../../native-oracle/engine/index.js';
import { createOracleServer, type OracleServer } from '../../native-oracle/server.js';
import { workflowPlugin } from '../../native-oracle/workflows/index.js';
import {
  signEnvelope,
  type ContributionMessageType,
  type PayloadOf
} from '../../src/lib/protocol/contribution.js';
import {
  anyJson,
  fuzzRuns,
  nearValid,
  oddSegment,
  rawBody,
  type RawBody
} from '../helpers/fuzz-arbitraries.js';
import { ensureTestModels } from '../helpers/models.js';

/** Seeds of the properties (fixed: a failure reproduces with the same seed and path). */
const SEED = {
  json: 1010,
  nearValid: 1011,
  raw: 1012,
  path: 1013,
  headers: 1014,
  requestLine: 1015
} as const;
/** Runs per route and kind; with ~13 body routes and ~10 path routes the file stays under ~60 s. */
const RUNS = {
  json: fuzzRuns(60),
  nearValid: fuzzRuns(100),
  raw: fuzzRuns(50),
  path: fuzzRuns(80)
};

/** 5xx statuses the API documents, with the error codes that may come with them. */
const DOCUMENTED_5XX: Record<number, readonly string[]> = {
  503: ['queue_full', 'engine_busy', 'request_aborted', 'shutdown_in_progress', 'model_not_loaded'],
  507: ['insufficient_storage']
};

const keyA = new Uint8Array(32).fill(31);
const sign = <T extends ContributionMessageType>(type: T, payload: PayloadOf<T>) =>
  signEnvelope(type, payload, { secretKey: keyA });

let dir: string;
let engine: TargetEngine;
let server: OracleServer;
let sessionId: string;
let executionId: string;
const summary = new Map<string, { runs: number; statuses: Record<number, number> }>();

interface Answer {
  status: number;
  contentType: string;
  text: string;
}

/** Sends one request; reads the whole answer (a model file's body is cancelled, not read). */
async function send(
  method: string,
  path: string,
  body?: Uint8Array | string,
  headers: Record<string, string> = {}
): Promise<Answer> {
  const res = await fetch(`${server.url}${path}`, {
    method,
    headers,
    ...(body !== undefined ? { body: body as string | Uint8Array<ArrayBuffer> } : {})
  });
  const contentType = res.headers.get('content-type') ?? '';
  if (
    contentType.startsWith('application/octet-stream') ||
    contentType.startsWith('text/event-stream')
  ) {
    await res.body?.cancel();
    return { status: res.status, contentType, text: '' };
  }
  return { status: res.status, contentType, text: await res.text() };
}

/** The properties every answer must hold; records the status under `surface`. */
function check(surface: string, answer: Answer, what: string): void {
  const entry = summary.get(surface) ?? { runs: 0, statuses: {} };
  entry.runs += 1;
  entry.statuses[answer.status] = (entry.statuses[answer.status] ?? 0) + 1;
  summary.set(surface, entry);
  const where = `${surface} ${what}: ${answer.status} ${answer.text.slice(0, 300)}`;
  if (answer.status < 400) return;
  expect(answer.contentType, where).toMatch(/^application\/json/);
  const body = JSON.parse(answer.text) as { error?: Record<string, unknown> };
  expect(typeof body.error?.message, where).toBe('string');
  expect(typeof body.error?.type, where).toBe('string');
  expect(typeof body.error?.code, where).toBe('string');
  if (answer.status >= 500) {
    expect(DOCUMENTED_5XX[answer.status], where).toBeDefined();
    expect(DOCUMENTED_5XX[answer.status], where).toContain(body.error!.code);
  }
}

/** What rejected input must never change. */
async function snapshot(): Promise<string> {
  const get = async (path: string) => {
    const res = await fetch(`${server.url}${path}`);
    const json = (await res.json()) as Record<string, unknown>;
    return { status: res.status, json };
  };
  const executions = await get('/v1/executions?limit=500');
  const ids = (
    (executions.json.executions ?? executions.json.data) as Array<{
      execution_id: string;
    }>
  )
    .map((e) => e.execution_id)
    .sort();
  const receipts = await get(`/v1/executions/${executionId}/receipts`);
  const nodes = await get('/v1/contribution/nodes');
  const session = await get(`/v1/contribution/sessions/${sessionId}`);
  const credits = await get(
    `/v1/contribution/credits/${signEnvelope('session.create', {}, { secretKey: keyA }).signer_pubkey_hex}`
  );
  return JSON.stringify({ ids, receipts, nodes, session, credits });
}

/** Execution ids now (to tell accepted tasks, which may add one, from rejected ones). */
async function executionCount(): Promise<number> {
  const res = await fetch(`${server.url}/v1/executions?limit=500`);
  const json = (await res.json()) as Record<string, unknown>;
  return ((json.executions ?? json.data) as unknown[]).length;
}

async function isServing(): Promise<void> {
  const res = await fetch(`${server.url}/health`);
  expect(res.status).toBe(200);
  await res.body?.cancel();
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'shard-fuzz-http-'));
  const { targetPath } = await ensureTestModels();
  engine = await createTargetEngine({ modelPath: targetPath, threads: 1, maxConcurrent: 1 });
  server = createOracleServer({
    engine,
    host: '127.0.0.1',
    port: 0,
    rateLimitPerMinute: 0,
    queueMax: 16,
    clientQueueMax: 16,
    modelsDir: dirname(targetPath),
    isGeneratedTestModel: true,
    plugins: [
      workflowPlugin({ dataDir: join(dir, 'wf'), config: {}, isGeneratedTestModel: true }),
      contributionPlugin({ dataDir: dir })
    ]
  });
  await server.start();
  // State the fuzzing must leave alone: one finished execution, one contributor session.
  const task = await fetch(`${server.url}/v1/agents/tasks?wait=true`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(validTask)
  });
  expect(task.status).toBe(201);
  executionId = ((await task.json()) as { execution: { execution_id: string } }).execution
    .execution_id;
  const created = await fetch(`${server.url}/v1/contribution/sessions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(sign('session.create', { label: 'fuzz' }))
  });
  expect(created.status).toBe(201);
  sessionId = ((await created.json()) as { session: { session_id: string } }).session.session_id;
}, 120_000);

afterAll(async () => {
  for (const [surface, { runs, statuses }] of summary)
    console.log(JSON.stringify({ fuzz: 'http', surface, runs, statuses }));
  await server?.stop();
  await engine?.dispose();
  rmSync(dir, { recursive: true, force: true });
});

const validTask = {
  workflow_kind: 'research_brief',
  question: 'Does coffee affect sleep?',
  sources: [
    { id: 'sleep', title: 'Caffeine and sleep', content: 'Caffeine before bed reduced sleep.' }
  ]
};

/** Valid bodies of every POST route (built lazily: envelopes need the session id). */
function bodyRoutes(): Array<{
  path: string;
  valid: () => unknown;
  state: 'none' | 'tasks' | 'strict';
}> {
  const node = { session_id: sessionId, role: 'verifier' as const };
  return [
    {
      path: '/v1/chat/completions',
      valid: () => ({ messages: [{ role: 'user', content: 'river' }], max_tokens: 1 }),
      state: 'none'
    },
    { path: '/v1/completions', valid: () => ({ prompt: 'river', max_tokens: 1 }), state: 'none' },
    { path: '/v1/embeddings', valid: () => ({ input: 'river' }), state: 'none' },
    { path: '/v1/agents/tasks', valid: () => validTask, state: 'tasks' },
    {
      path: '/v1/contribution/sessions',
      valid: () => sign('session.create', { label: 'x' }),
      state: 'strict'
    },
    {
      path: '/v1/contribution/participation',
      valid: () => sign('participation.set', { session_id: sessionId, enabled: false }),
      state: 'strict'
    },
    {
      path: '/v1/contribution/register-node',
      valid: () =>
        sign('node.register', { ...node, capacity: 2, endpoint: 'http://127.0.0.1:9/v1' }),
      state: 'strict'
    },
    {
      path: '/v1/contribution/heartbeat',
      valid: () =>
        sign('node.heartbeat', {
          ...node,
          queue_depth: 0,
          node_latency_ms: 1,
          uptime_seconds: 1
        }),
      state: 'strict'
    },
    {
      path: '/v1/contribution/deregister-node',
      valid: () => sign('node.deregister', node),
      state: 'strict'
    },
    {
      path: `/v1/executions/${'exec-unknown'}/cancel`,
      valid: () => ({}),
      state: 'strict'
    }
  ];
}

/** Posts each generated body; checks the answer; returns how many were accepted (2xx). */
async function fuzzBodies<T>(
  surface: string,
  arb: fc.Arbitrary<T>,
  toRequest: (v: T) => { body: Uint8Array | string; headers: Record<string, string> },
  path: string,
  seed: number,
  numRuns: number
): Promise<number> {
  let accepted = 0;
  await fc.assert(
    fc.asyncProperty(arb, async (v) => {
      const { body, headers } = toRequest(v);
      const answer = await send('POST', path, body, headers);
      check(surface, answer, JSON.stringify(v)?.slice(0, 200) ?? String(v));
      if (answer.status < 300) accepted += 1;
    }),
    { seed, numRuns }
  );
  return accepted;
}

const json = { 'content-type': 'application/json' };

describe('fuzzing every POST body', () => {
  it.each([
    '/v1/chat/completions',
    '/v1/completions',
    '/v1/embeddings',
    '/v1/agents/tasks',
    '/v1/contribution/sessions',
    '/v1/contribution/participation',
    '/v1/contribution/register-node',
    '/v1/contribution/heartbeat',
    '/v1/contribution/deregister-node',
    '/v1/executions/exec-unknown/cancel'
  ])(
    '%s: arbitrary JSON, near-valid bodies and raw bytes',
    async (path) => {
      const route = bodyRoutes().find((r) => r.path === path)!;
      const before = await snapshot();
      const countBefore = await executionCount();
      let accepted = 0;
      accepted += await fuzzBodies(
        `POST ${path} json`,
        anyJson,
        (v) => ({ body: JSON.stringify(v), headers: json }),
        path,
        SEED.json,
        RUNS.json
      );
      accepted += await fuzzBodies(
        `POST ${path} near-valid`,
        nearValid(route.valid()),
        (m) => ({ body: JSON.stringify(m.value), headers: json }),
        path,
        SEED.nearValid,
        RUNS.nearValid
      );
      accepted += await fuzzBodies(
        `POST ${path} raw`,
        rawBody,
        (r: RawBody) => ({
          body: r.body,
          headers: (r.contentType === null ? {} : { 'content-type': r.contentType }) as Record<
            string,
            string
          >
        }),
        path,
        SEED.raw,
        RUNS.raw
      );
      await isServing();
      if (route.state === 'strict') {
        // Signed envelopes mutated or replaced are all refused, so nothing may change at all.
        expect(accepted).toBe(0);
        expect(await snapshot()).toBe(before);
      } else if (route.state === 'tasks') {
        // A mutation that is still a valid task (odd unicode in the question) runs; nothing else.
        expect(await executionCount()).toBe(countBefore + accepted);
      } else {
        expect(await snapshot()).toBe(before);
      }
    },
    60_000
  );
});

/** GET (or POST) routes with one path parameter; `{}` marks where the odd segment goes. */
const PATH_ROUTES: Array<{ method: string; template: string }> = [
  { method: 'GET', template: '/v1/models/{}' },
  { method: 'GET', template: '/v1/executions/{}' },
  { method: 'GET', template: '/v1/executions/{}/receipts' },
  { method: 'GET', template: '/v1/executions/{}/receipts/verify' },
  { method: 'GET', template: '/v1/executions/{}/events' },
  { method: 'GET', template: '/v1/executions/{}/provenance' },
  { method: 'POST', template: '/v1/executions/{}/cancel' },
  { method: 'GET', template: '/v1/contribution/sessions/{}' },
  { method: 'GET', template: '/v1/contribution/credits/{}' },
  { method: 'GET', template: '/models/{}' }
];

describe('fuzzing path parameters', () => {
  it.each(PATH_ROUTES)(
    '$method $template: odd segments',
    async ({ method, template }) => {
      const before = await snapshot();
      const surface = `${method} ${template} path`;
      await fc.assert(
        fc.asyncProperty(
          oddSegment,
          fc.constantFrom('', '?format=x', '?limit=-1', '/..'),
          async (seg, tail) => {
            const path = template.replace('{}', seg) + tail;
            const answer = await send(
              method,
              path,
              method === 'POST' ? '{}' : undefined,
              method === 'POST' ? json : {}
            );
            check(surface, answer, path.slice(0, 200));
          }
        ),
        { seed: SEED.path, numRuns: RUNS.path }
      );
      await isServing();
      expect(await snapshot()).toBe(before);
    },
    60_000
  );

  it('regression (seed 1013, path "52:1"): a path over 16 KiB answers 431 with the JSON error body', async () => {
    // Node's HTTP parser refused it before any route with a bare `431` and no body.
    const answer = await send('POST', `/v1/executions/${'x'.repeat(20_000)}/cancel`, '{}', json);
    check('regression long path', answer, 'x * 20000');
    expect(answer.status).toBe(431);
    expect(JSON.parse(answer.text).error.code).toBe('headers_too_large');
    await isServing();
  });

  it('GET /models/:file: odd Range and conditional headers', async () => {
    const surface = 'GET /models/target.gguf headers';
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.constantFrom(
            'bytes=0-0',
            'bytes=-1',
            'bytes=5-1',
            'bytes=0-',
            'bytes=99999999999-',
            'bytes=a-b',
            'bytes=0-1,2-3',
            'items=0-1',
            'bytes=-0',
            'bytes=1e3-2e3'
          ),
          fc.tuple(fc.integer(), fc.integer()).map(([a, b]) => `bytes=${a}-${b}`),
          fc.string({ maxLength: 30 }).map((s) => s.replace(/[^\x20-\x7e]/g, ''))
        ),
        async (range) => {
          const answer = await send('GET', '/models/target.gguf', undefined, {
            range,
            'if-none-match': range
          });
          check(surface, answer, range);
        }
      ),
      { seed: SEED.headers, numRuns: RUNS.path }
    );
    await isServing();
  }, 60_000);
});

/** Sends raw bytes; resolves with the status code and the head of the reply (0 when none). */
function rawRequest(text: string): Promise<{ status: number; head: string }> {
  return new Promise((resolve) => {
    const socket = connect(Number(new URL(server.url).port), '127.0.0.1');
    let reply = '';
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => (reply += d));
    socket.on('error', () => undefined);
    socket.on('close', () =>
      resolve({
        status: Number(/^HTTP\/1\.[01] (\d{3})/.exec(reply)?.[1] ?? 0),
        head: reply.split('\r\n\r\n')[0] ?? ''
      })
    );
    socket.setTimeout(5_000, () => socket.destroy());
    socket.end(text);
  });
}

describe('fuzzing raw request lines', () => {
  it('odd request targets, methods and headers over raw TCP: an HTTP answer, never a 5xx, JSON errors', async () => {
    const surface = 'raw request line';
    const target = fc.oneof(
      fc.constantFrom(
        '/health',
        '/v1/models',
        '//[',
        'http://[',
        'http://127.0.0.1/v1/models',
        '*',
        '/v1/models/%',
        '/v1/executions?limit=%zz',
        '/%2e%2e/%2e%2e/etc/passwd',
        '/models/..%2fmodels.json'
      ),
      oddSegment.map((s) => `/v1/executions/${s}`),
      fc.string({ unit: 'binary-ascii', maxLength: 40 }).map((s) => s.replace(/\s/g, ''))
    );
    const method = fc.constantFrom('GET', 'POST', 'OPTIONS', 'HEAD', 'DELETE', 'PUT', 'BREW');
    const header = fc.constantFrom(
      'Content-Type: application/json',
      'Content-Length: 0',
      'Content-Length: -1',
      'Content-Length: 99999999999',
      'Transfer-Encoding: chunked',
      'Origin: https://evil.example',
      'Sec-Fetch-Site: cross-site',
      'X-Shard-Privacy: {"tee_mode":1}',
      'X-Shard-Contributor: a.b.c.d',
      'Authorization: Bearer x'
    );
    await fc.assert(
      fc.asyncProperty(method, target, fc.array(header, { maxLength: 3 }), async (m, t, hs) => {
        const lines = [`${m} ${t} HTTP/1.1`, 'Host: 127.0.0.1', 'Connection: close', ...hs];
        const { status, head } = await rawRequest(`${lines.join('\r\n')}\r\n\r\n`);
        const entry = summary.get(surface) ?? { runs: 0, statuses: {} };
        entry.runs += 1;
        entry.statuses[status] = (entry.statuses[status] ?? 0) + 1;
        summary.set(surface, entry);
        const where = `${m} ${t.slice(0, 100)} ${hs.join('|')}: ${head.slice(0, 200)}`;
        expect(status, where).toBeGreaterThanOrEqual(100);
        expect(status, where).toBeLessThan(500);
        if (status >= 400 && m !== 'HEAD')
          expect(head.toLowerCase(), where).toContain('content-type: application/json');
      }),
      { seed: SEED.requestLine, numRuns: RUNS.path }
    );
    await isServing();
  }, 60_000);
});
