/**
 * Issue #10, access settings as pure logic: the exact loopback Host rule (finding 1), the
 * per-client admission queue (finding 9), the JSON depth guard (finding 13), and the oracle's
 * configuration of keys, origins, published models, limits and --allow-open.
 */
import { describe, expect, it } from 'vitest';
import { createAdmissionQueue } from '../../native-oracle/admission/queue.js';
import { createRateLimiter } from '../../native-oracle/admission/rate-limit.js';
import { ConfigError, oracleUsage, parseOracleConfig } from '../../native-oracle/config.js';
import { checkJsonDepth, MAX_JSON_DEPTH } from '../../native-oracle/http/json-guard.js';
import { checkHostHeader, isLoopbackHost } from '../../native-oracle/http/security.js';

const env = { SHARD_DATA_DIR: '/tmp/shard-access-test' } as NodeJS.ProcessEnv;

function run(argv: string[], extraEnv: Record<string, string> = {}) {
  const parsed = parseOracleConfig({ argv, env: { ...env, ...extraEnv } });
  if (parsed.kind !== 'run') throw new Error('expected a run config');
  return parsed.config;
}

describe('loopback Host rule (finding 1)', () => {
  it.each([
    ['localhost', true],
    ['LOCALHOST', true],
    ['127.0.0.1', true],
    ['127.255.0.9', true],
    ['::1', true],
    ['[::1]', true],
    ['127.0.0.1.attacker.example', false],
    ['127.evil.example', false],
    ['localhost.attacker.example', false],
    ['foo.localhost', false],
    ['128.0.0.1', false],
    ['0.0.0.0', false]
  ])('isLoopbackHost(%s) is %s', (host, expected) => {
    expect(isLoopbackHost(host)).toBe(expected);
  });

  it.each([
    ['localhost:9091', undefined],
    ['127.1:9091', undefined],
    ['[::1]:9091', undefined],
    ['oracle.lan:9091', undefined],
    ['box.lan:4444', undefined],
    ['box.lan:4445', 'host_not_allowed'],
    ['127.0.0.1.attacker.example:9091', 'host_not_allowed'],
    ['user@localhost:9091', 'host_not_allowed'],
    [undefined, 'host_not_allowed']
  ])('checkHostHeader(%s)', (host, code) => {
    expect(checkHostHeader(host, ['oracle.lan', 'box.lan:4444'])?.code).toBe(code);
  });
});

describe('per-client admission (finding 9)', () => {
  it('caps one client and lets another take a free slot past its waiters', async () => {
    const q = createAdmissionQueue({
      maxConcurrent: 2,
      maxQueued: 8,
      maxConcurrentPerClient: 1,
      maxQueuedPerClient: 2
    });
    const a1 = await q.acquire(undefined, 'a');
    const a2 = q.acquire(undefined, 'a');
    const a3 = q.acquire(undefined, 'a');
    await expect(q.acquire(undefined, 'a')).rejects.toMatchObject({
      name: 'QueueFullError',
      message: expect.stringMatching(/per-client queue limit 2/)
    });
    // A slot is free and a's waiters cannot use it: b runs at once.
    const b1 = await q.acquire(undefined, 'b');
    expect(q.snapshot()).toMatchObject({ active: 2, queued: 2 });
    a1();
    (await a2)();
    b1();
    (await a3)();
    expect(q.snapshot()).toMatchObject({ active: 0, queued: 0 });
  });

  it('hands a freed slot round-robin: the client served least recently goes first', async () => {
    const q = createAdmissionQueue({ maxConcurrent: 1, maxQueued: 8 });
    const held = await q.acquire(undefined, 'a');
    const order: string[] = [];
    const waiting = ['a', 'a', 'a', 'b'].map((client) =>
      q.acquire(undefined, client).then((release) => {
        order.push(client);
        release();
      })
    );
    held();
    await Promise.all(waiting);
    expect(order).toEqual(['b', 'a', 'a', 'a']);
  });
});

describe('failed-auth limiter peek', () => {
  it('peek reports an empty bucket without taking from it', () => {
    let t = 0;
    const limiter = createRateLimiter({ perMinute: 2, now: () => t });
    expect(limiter.peek('x')).toMatchObject({ isAllowed: true });
    limiter.take('x');
    limiter.take('x');
    expect(limiter.peek('x')).toMatchObject({ isAllowed: false, retryAfterS: 30 });
    t += 30_000;
    expect(limiter.peek('x')).toMatchObject({ isAllowed: true });
  });
});

describe('JSON depth guard (finding 13)', () => {
  const nest = (levels: number) => {
    let v: unknown = 'leaf';
    for (let i = 0; i < levels; i++) v = { a: v };
    return v;
  };

  it('accepts bodies up to MAX_JSON_DEPTH levels and refuses deeper ones naming the field', () => {
    expect(() => checkJsonDepth({ messages: [{ content: 'x' }] })).not.toThrow();
    expect(() => checkJsonDepth(nest(MAX_JSON_DEPTH))).not.toThrow();
    let caught: unknown;
    try {
      checkJsonDepth({ response_format: nest(MAX_JSON_DEPTH) });
    } catch (err) {
      caught = err;
    }
    expect(caught).toMatchObject({
      status: 400,
      param: 'response_format',
      message: expect.stringMatching(/response_format\.a\.a.*nested more than 64 levels/)
    });
    // Iterative: a depth that would overflow a recursive walk is refused, not a crash.
    expect(() => checkJsonDepth(nest(200_000))).toThrow(/nested more than 64/);
  });
});

describe('oracle config: access settings', () => {
  it('defaults: no operator keys, no CORS origins, nothing published, limits', () => {
    expect(run([])).toMatchObject({
      operatorKeys: [],
      corsOrigins: [],
      publicModels: [],
      maxTokensLimit: 4096,
      clientQueueMax: 4,
      allowOpen: false
    });
    expect(run([]).clientMaxConcurrent).toBeUndefined();
  });

  it('reads flags and environment variables', () => {
    expect(
      run([], {
        SHARD_OPERATOR_KEYS: 'op1, op2',
        SHARD_CORS_ORIGINS: 'https://app.example, http://localhost:5173/',
        SHARD_PUBLIC_MODELS: 'draft',
        SHARD_MAX_TOKENS_LIMIT: '1024',
        SHARD_CLIENT_MAX_CONCURRENT: '2',
        SHARD_CLIENT_QUEUE_MAX: '1'
      })
    ).toMatchObject({
      operatorKeys: ['op1', 'op2'],
      corsOrigins: ['https://app.example', 'http://localhost:5173'],
      publicModels: ['draft.gguf'],
      maxTokensLimit: 1024,
      clientMaxConcurrent: 2,
      clientQueueMax: 1
    });
    expect(
      run([
        '--operator-key',
        'op3',
        '--cors-origin',
        'https://a.example:8443',
        '--public-models',
        'draft.gguf,bench-draft',
        '--max-tokens-limit',
        '64'
      ])
    ).toMatchObject({
      operatorKeys: ['op3'],
      corsOrigins: ['https://a.example:8443'],
      publicModels: ['draft.gguf', 'bench-draft.gguf'],
      maxTokensLimit: 64
    });
  });

  it('refuses a non-loopback host without keys unless --allow-open', () => {
    const call = () => parseOracleConfig({ argv: ['--host', '0.0.0.0'], env });
    expect(call).toThrow(ConfigError);
    expect(call).toThrow(/refusing to listen on 0.0.0.0 without an API key.*--allow-open/);
    expect(run(['--host', '0.0.0.0', '--allow-open']).allowOpen).toBe(true);
    expect(run(['--host', '0.0.0.0'], { SHARD_ALLOW_OPEN: '1' }).allowOpen).toBe(true);
    expect(run(['--host', '0.0.0.0'], { SHARD_API_KEYS: 'k' }).host).toBe('0.0.0.0');
    expect(run(['--host', '::1']).host).toBe('::1');
  });

  it.each([
    [['--cors-origin', '*'], /--cors-origin/],
    [['--cors-origin', 'https://a.example/path'], /no path/],
    [['--public-models', '../secret'], /--public-models/],
    [['--max-tokens-limit', '0'], /--max-tokens-limit must be between 1/]
  ])('rejects %j by name', (argv, message) => {
    expect(() => parseOracleConfig({ argv, env })).toThrow(message);
  });

  it('documents the settings in --help', () => {
    const text = oracleUsage(env);
    for (const needle of [
      '--allow-open',
      'SHARD_ALLOW_OPEN',
      '--operator-key',
      'SHARD_OPERATOR_KEYS',
      '--cors-origin',
      'SHARD_CORS_ORIGINS',
      '--public-models',
      '--max-tokens-limit',
      '--client-max-concurrent',
      '--client-queue-max'
    ])
      expect(text).toContain(needle);
  });
});
