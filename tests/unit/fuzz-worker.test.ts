/**
 * Seeded property-based fuzzing of two more untrusted edges (issue #10):
 *
 *  1. The browser scout worker's comlink API (workers/scout.worker.ts → worker-edge.ts): raw
 *     messages on the worker's port (arbitrary JSON, near-valid comlink calls: other message
 *     types, property paths such as `['draft','__proto__','x']`, malformed argument lists) and
 *     arbitrary arguments to every method through a real comlink proxy over a MessageChannel.
 *     Properties: nothing throws uncaught, no prototype is polluted, invalid input never reaches
 *     the engine service, refused calls reject with ScoutRequestError, the worker keeps serving.
 *  2. The relay's HTTP API (relay/http.ts, in-process over loopback, a stub relay behind it): odd
 *     request lines, paths, methods and headers over raw TCP. Properties: never a 5xx, never a
 *     crash, every answer is an HTTP response, the server keeps serving.
 *
 * `SHARD_FUZZ_RUNS=10` runs ten times more.
 */
import { connect } from 'node:net';
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { expose, proxy, releaseProxy, wrap, type Endpoint, type Remote } from 'comlink';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Relay } from '../../relay/index.js';
import { startRelayHttp, type RelayHttp } from '../../relay/http.js';
import type { ScoutService } from '../../workers/scout/browser/service.js';
import {
  guardEndpoint,
  guardScoutService,
  ScoutCallSchemas
} from '../../workers/scout/browser/worker-edge.js';
import { anyJson, fuzzRuns, nearValid, oddSegment } from '../helpers/fuzz-arbitraries.js';

const SEED = { raw: 3010, calls: 3011, relay: 3012 } as const;
const RUNS = fuzzRuns(200);
const runs = new Map<string, { runs: number; outcomes: Record<string, number> }>();
const note = (surface: string, outcome: string) => {
  const e = runs.get(surface) ?? { runs: 0, outcomes: {} };
  e.runs += 1;
  e.outcomes[outcome] = (e.outcomes[outcome] ?? 0) + 1;
  runs.set(surface, e);
};
afterAll(() => {
  for (const [surface, { runs: n, outcomes }] of runs)
    console.log(JSON.stringify({ fuzz: 'worker+relay', surface, runs: n, outcomes }));
});

/** A node:worker_threads MessagePort as comlink's Endpoint (comlink's own node adapter). */
function nodeEndpoint(port: MessagePort): Endpoint {
  const listeners = new Map<EventListenerOrEventListenerObject, (data: unknown) => void>();
  return {
    postMessage: (message: unknown, transfer?: Transferable[]) =>
      port.postMessage(message, transfer as never),
    addEventListener: (_type: string, listener: EventListenerOrEventListenerObject) => {
      const l = (data: unknown) => {
        const ev = { data } as MessageEvent;
        if (typeof listener === 'function') listener(ev);
        else listener.handleEvent(ev);
      };
      port.on('message', l);
      listeners.set(listener, l);
    },
    removeEventListener: (_type: string, listener: EventListenerOrEventListenerObject) => {
      const l = listeners.get(listener);
      if (l) port.off('message', l);
      listeners.delete(listener);
    },
    start: () => port.start()
  };
}

/** A stand-in engine service that records every call it receives (what reached the engine). */
function recordingService() {
  const calls: Array<{ method: string; args: unknown[] }> = [];
  const record =
    (method: string, result: unknown) =>
    (...args: unknown[]) => {
      calls.push({ method, args });
      return result;
    };
  const service = {
    subscribe: record('subscribe', undefined),
    snapshot: record('snapshot', { state: 'idle' }),
    prepare: record('prepare', Promise.resolve({ engine: 'prompt-lookup' })),
    choose: record('choose', true),
    engineInfo: record('engineInfo', null),
    draft: record('draft', Promise.resolve([1, 2])),
    cancelDraft: record('cancelDraft', undefined),
    tokensPerSecond: record('tokensPerSecond', null),
    dispose: record('dispose', Promise.resolve())
  };
  return { service: service as unknown as ScoutService, calls };
}

/** Every call that reached the service must satisfy its schema. */
function expectOnlyValidCalls(calls: Array<{ method: string; args: unknown[] }>) {
  for (const { method, args } of calls) {
    const schema = (
      ScoutCallSchemas as Record<string, { safeParse(v: unknown): { success: boolean } }>
    )[method];
    expect(
      schema?.safeParse(args).success,
      `${method}(${JSON.stringify(args)?.slice(0, 200)})`
    ).toBe(true);
  }
}

const protoKeys = () =>
  JSON.stringify(
    [Object.prototype, Function.prototype, Array.prototype].map((p) =>
      Object.getOwnPropertyNames(p).sort()
    )
  );

describe('scout worker messages (comlink edge)', () => {
  let port1: MessagePort;
  let port2: MessagePort;
  let remote: Remote<ScoutService>;
  let recorded: ReturnType<typeof recordingService>;
  const uncaught: unknown[] = [];
  const onUncaught = (err: unknown) => uncaught.push(err);

  beforeAll(() => {
    process.on('uncaughtException', onUncaught);
    ({ port1, port2 } = new MessageChannel());
    recorded = recordingService();
    // Exactly what scout.worker.ts does, with a MessagePort for the worker's `self`.
    expose(guardScoutService(recorded.service), guardEndpoint(nodeEndpoint(port1)));
    remote = wrap<ScoutService>(nodeEndpoint(port2));
  });
  afterAll(() => {
    process.off('uncaughtException', onUncaught);
    port1.close();
    port2.close();
  });

  const validCall = {
    id: 'a-1',
    type: 'APPLY',
    path: ['draft'],
    argumentList: [
      { type: 'RAW', value: [1, 2, 3] },
      { type: 'RAW', value: 2 }
    ]
  };

  it('raw port messages: no uncaught error, no pollution, nothing invalid reaches the service', async () => {
    const before = protoKeys();
    const message = fc.oneof(
      anyJson,
      nearValid(validCall).map((m) => m.value),
      fc.record({
        id: fc.constantFrom('x-1', undefined),
        type: fc.constantFrom('GET', 'SET', 'APPLY', 'CONSTRUCT', 'ENDPOINT', 'RELEASE', 'BOGUS'),
        path: fc.constantFrom(
          [],
          ['draft', '__proto__', 'polluted'],
          ['__proto__', 'polluted'],
          ['constructor', 'prototype', 'polluted'],
          ['draft', 'constructor'],
          ['snapshot'],
          ['dispose']
        ),
        argumentList: fc.oneof(
          fc.constant(5),
          fc.constant('x'),
          fc.array(
            fc.record({ type: fc.constantFrom('RAW', 'HANDLER', 'PROXY'), value: anyJson }),
            { maxLength: 3 }
          )
        ),
        value: fc.constant({ type: 'RAW', value: 'polluted' })
      })
    );
    await fc.assert(
      fc.asyncProperty(message, async (msg) => {
        recorded.calls.length = 0;
        port2.postMessage(msg);
        // The worker still serves: a valid call through comlink round-trips after the garbage.
        expect(await remote.draft([1, 2, 3], 2)).toEqual([1, 2]);
        note('worker raw messages', recorded.calls.length > 1 ? 'reached service' : 'refused');
        expectOnlyValidCalls(recorded.calls);
        expect(uncaught).toEqual([]);
        expect(protoKeys()).toBe(before);
      }),
      { seed: SEED.raw, numRuns: RUNS }
    );
  });

  it('a page callback (comlink proxy) still subscribes through the guard', async () => {
    recorded.calls.length = 0;
    await remote.subscribe(proxy(() => undefined));
    expect(recorded.calls.map((c) => c.method)).toEqual(['subscribe']);
    expect(typeof recorded.calls[0]!.args[0]).toBe('function');
  });

  it("comlink's own RELEASE (no path) passes the guard", async () => {
    const { port1: a, port2: b } = new MessageChannel();
    expose(guardScoutService(recorded.service), guardEndpoint(nodeEndpoint(a)));
    const other = wrap<ScoutService>(nodeEndpoint(b));
    expect(await other.draft([1], 1)).toEqual([1, 2]);
    const reply = new Promise<unknown>((resolve) => b.once('message', resolve));
    other[releaseProxy]();
    // The worker answers the release itself, not a refusal.
    expect(await reply).toMatchObject({ type: 'RAW' });
    expect(uncaught).toEqual([]);
    a.close();
    b.close();
  });

  it('arbitrary arguments to every method: ScoutRequestError or a valid call, never an invalid one', async () => {
    const methods = Object.keys(ScoutCallSchemas).filter((m) => m !== 'subscribe');
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...methods),
        fc.oneof(
          fc.array(anyJson, { maxLength: 4 }),
          fc.tuple(
            fc.array(fc.oneof(fc.integer(), fc.double()), { maxLength: 20 }),
            fc.oneof(fc.integer(), fc.double()),
            fc.oneof(fc.integer(), fc.constant(undefined))
          ),
          nearValid({
            modelUrl: '/models/draft.gguf',
            preferredEngine: 'prompt-lookup',
            threads: 2
          }).map((m) => [m.value])
        ),
        async (method, args) => {
          recorded.calls.length = 0;
          let outcome = 'ok';
          try {
            await (remote as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>)[
              method
            ]!(...(args as unknown[]));
          } catch (err) {
            outcome = (err as Error).name;
            expect(outcome, String(err)).toBe('ScoutRequestError');
            expect(recorded.calls).toEqual([]);
          }
          note(`worker ${method}()`, outcome);
          expectOnlyValidCalls(recorded.calls);
          expect(uncaught).toEqual([]);
        }
      ),
      { seed: SEED.calls, numRuns: RUNS }
    );
  });
});

describe('relay HTTP API (/health, /topology, /peers)', () => {
  let http: RelayHttp;
  const stub = {
    health: () => ({ status: 'ok', peers: 1 }),
    topology: () => ({ relays: ['/ip4/127.0.0.1/tcp/4101/ws'] }),
    peers: () => [{ peerId: '12D3KooWPeer', addrs: ['/ip4/10.0.0.1/tcp/1'] }]
  } as unknown as Relay;
  const uncaught: unknown[] = [];
  const onUncaught = (err: unknown) => uncaught.push(err);

  beforeAll(async () => {
    process.on('uncaughtException', onUncaught);
    http = await startRelayHttp(stub, { host: '127.0.0.1', port: 0, adminKey: 'admin-key' });
  });
  afterAll(async () => {
    process.off('uncaughtException', onUncaught);
    await http?.close();
  });

  /** Sends raw bytes; resolves with the status line's code (0 when the socket closed without one). */
  function rawRequest(text: string): Promise<number> {
    return new Promise((resolve) => {
      const socket = connect(http.port, '127.0.0.1');
      let reply = '';
      socket.setEncoding('latin1');
      socket.on('data', (d: string) => (reply += d));
      socket.on('error', () => undefined);
      socket.on('close', () => resolve(Number(/^HTTP\/1\.[01] (\d{3})/.exec(reply)?.[1] ?? 0)));
      socket.setTimeout(2_000, () => socket.destroy());
      socket.end(text);
    });
  }

  it('regression (seed 3012): a request target that is no URL (`GET //[`) answers 400 and the relay lives', async () => {
    // relay/http.ts passed it to `new URL`, which threw out of the request handler: one
    // request crashed the relay process.
    for (const target of ['//[', 'http://[']) {
      expect(await rawRequest(`GET ${target} HTTP/1.1\r\nHost: x\r\n\r\n`)).toBe(400);
    }
    expect(uncaught).toEqual([]);
    expect((await fetch(`http://127.0.0.1:${http.port}/health`)).status).toBe(200);
  });

  it('odd request lines, paths, methods and headers: never a 5xx, never a crash', async () => {
    const target = fc.oneof(
      fc.constantFrom('/health', '/topology', '/peers', '/peers?x=1', '/health/'),
      fc.constantFrom(
        '/health',
        '/topology',
        '/peers',
        '/',
        '*',
        '//[',
        'http://[',
        'http://x/peers',
        '//health',
        '/peers?x=%zz',
        '/%',
        '/..%2f',
        '/health#x',
        '/' + 'a'.repeat(20_000)
      ),
      oddSegment.map((s) => `/${s}`),
      fc.string({ unit: 'binary-ascii', maxLength: 40 }).map((s) => s.replace(/[\s]/g, ''))
    );
    const method = fc.constantFrom(
      'GET',
      'POST',
      'OPTIONS',
      'HEAD',
      'DELETE',
      'PUT',
      'PATCH',
      'BREW',
      'get'
    );
    const header = fc.oneof(
      fc.constantFrom(
        'Authorization: Bearer admin-key',
        'Authorization: Bearer wrong',
        'Authorization: bearer ',
        'X-Admin-Key: admin-key',
        'X-Admin-Key: ',
        'Origin: https://evil.example',
        'Content-Length: 5',
        'Transfer-Encoding: chunked',
        'Host: ',
        'Authorization: Bearer ' + 'k'.repeat(10_000)
      ),
      fc
        .tuple(
          fc.stringMatching(/^[A-Za-z-]{1,20}$/),
          fc.string({ unit: 'binary-ascii', maxLength: 40 })
        )
        .map(([k, v]) => `${k}: ${v.replace(/[\r\n]/g, '')}`)
    );
    await fc.assert(
      fc.asyncProperty(method, target, fc.array(header, { maxLength: 3 }), async (m, t, hs) => {
        const status = await rawRequest(
          `${m} ${t} HTTP/1.1\r\nHost: 127.0.0.1\r\n${hs.map((h) => `${h}\r\n`).join('')}\r\n`
        );
        note('relay http', String(status));
        expect(uncaught.map((e) => (e as Error).stack?.slice(0, 400))).toEqual([]);
        expect(status, `${m} ${t.slice(0, 100)}`).toBeGreaterThanOrEqual(200);
        expect(status, `${m} ${t.slice(0, 100)}`).toBeLessThan(500);
        expect(uncaught).toEqual([]);
        const health = await fetch(`http://127.0.0.1:${http.port}/health`);
        expect(health.status).toBe(200);
        await health.body?.cancel();
      }),
      { seed: SEED.relay, numRuns: RUNS }
    );
  });
});
