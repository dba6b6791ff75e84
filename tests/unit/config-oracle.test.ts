import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, oracleUsage, parseOracleConfig } from '../../native-oracle/config.js';

const env = { SHARD_DATA_DIR: '/tmp/shard-config-test' } as NodeJS.ProcessEnv;

function run(argv: string[], extraEnv: Record<string, string> = {}) {
  const parsed = parseOracleConfig({ argv, env: { ...env, ...extraEnv } });
  if (parsed.kind !== 'run') throw new Error('expected a run config');
  return parsed.config;
}

describe('oracle config', () => {
  it('uses the documented defaults', () => {
    const c = run([]);
    expect(c).toMatchObject({
      host: '127.0.0.1',
      port: 9091,
      threads: 2,
      modelPath: join('/tmp/shard-config-test', 'models', 'target.gguf'),
      modelsDir: join('/tmp/shard-config-test', 'models'),
      allowNoModel: false,
      logLevel: 'info',
      apiKeys: [],
      rateLimitPerMinute: 60,
      maxPromptChars: 16_000,
      maxBodyBytes: 1_048_576,
      queueMax: 16,
      draft: 'auto',
      draftModelPath: join('/tmp/shard-config-test', 'models', 'draft.gguf')
    });
    expect(c.contextSize).toBeUndefined();
    expect(c.maxConcurrent).toBeUndefined();
  });

  it('reads SHARD_* variables, and flags override them', () => {
    const e = {
      SHARD_HOST: '0.0.0.0',
      SHARD_PORT: '8080',
      SHARD_THREADS: '1',
      SHARD_MODEL: 'm/x.gguf',
      SHARD_LOG_LEVEL: 'debug',
      SHARD_API_KEYS: ' k1, k2 ,,',
      SHARD_RATE_LIMIT_PER_MINUTE: '5',
      SHARD_MAX_PROMPT_CHARS: '100',
      SHARD_MAX_BODY_BYTES: '2048',
      SHARD_QUEUE_MAX: '0',
      SHARD_ALLOW_NO_MODEL: 'true',
      SHARD_ALLOWED_HOSTS: 'oracle.lan, box.local'
    };
    expect(run([], e)).toMatchObject({
      host: '0.0.0.0',
      port: 8080,
      threads: 1,
      modelPath: resolve('m/x.gguf'),
      logLevel: 'debug',
      apiKeys: ['k1', 'k2'],
      rateLimitPerMinute: 5,
      maxPromptChars: 100,
      maxBodyBytes: 2048,
      queueMax: 0,
      allowNoModel: true,
      allowedHosts: ['oracle.lan', 'box.local']
    });
    expect(
      run(
        [
          '--host',
          '::1',
          '--port',
          '0',
          '--threads',
          '2',
          '--log-level',
          'warn',
          '--max-concurrent',
          '3'
        ],
        e
      )
    ).toMatchObject({ host: '::1', port: 0, threads: 2, logLevel: 'warn', maxConcurrent: 3 });
    expect(
      run(['--draft', 'none', '--draft-model', 'd.gguf'], { SHARD_DRAFT: 'model' })
    ).toMatchObject({
      draft: 'none',
      draftModelPath: resolve('d.gguf')
    });
    expect(run([], { SHARD_DRAFT: 'Prompt-Lookup' }).draft).toBe('prompt-lookup');
    const r1 = '/ip4/127.0.0.1/tcp/4101/ws/p2p/12D3KooWRelayA';
    const r2 = '/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWRelayB';
    expect(run([]).relays).toEqual([]);
    expect(run([], { SHARD_RELAYS: `${r1}, ${r2}` }).relays).toEqual([r1, r2]);
    expect(run(['--relay', r2, '--relay', r1], { SHARD_RELAYS: r1 }).relays).toEqual([r2, r1]);
  });

  it.each([
    [['--bogus'], /Unknown option '--bogus'.*--help/],
    [['extra'], /positional argument/],
    [['--port', 'abc'], /--port must be an integer, got "abc"/],
    [['--port', '70000'], /--port must be between 0 and 65535, got 70000/],
    [['--threads', '0'], /--threads must be between 1 and 256/],
    [['--log-level', 'loud'], /--log-level must be one of error, warn, info, debug; got "loud"/],
    [['--port'], /argument missing/],
    [['--relay', 'localhost:4001'], /relay address must be a multiaddr ending in \/p2p\/<peer id>/],
    [['--relay', '/ip4/127.0.0.1/tcp/4001'], /got "\/ip4\/127.0.0.1\/tcp\/4001"/],
    [
      ['--draft', 'telepathy'],
      /--draft must be one of auto, none, prompt-lookup, model; got "telepathy"/
    ]
  ])('rejects %j with a specific message', (argv, message) => {
    expect(() => parseOracleConfig({ argv, env })).toThrow(ConfigError);
    expect(() => parseOracleConfig({ argv, env })).toThrow(message);
  });

  it.each([
    ['SHARD_PORT', 'x', /SHARD_PORT must be an integer/],
    ['SHARD_RATE_LIMIT_PER_MINUTE', '-1', /SHARD_RATE_LIMIT_PER_MINUTE must be between 0/],
    ['SHARD_MAX_BODY_BYTES', '10', /SHARD_MAX_BODY_BYTES must be between 1024/],
    ['SHARD_ALLOW_NO_MODEL', 'maybe', /SHARD_ALLOW_NO_MODEL must be true or false/]
  ])('rejects %s=%s with a message naming the variable', (name, value, message) => {
    expect(() => parseOracleConfig({ argv: [], env: { ...env, [name]: value } })).toThrow(message);
  });

  it('--help wins and the usage names every flag and variable with its default', () => {
    expect(parseOracleConfig({ argv: ['--port', '1', '--help'], env })).toEqual({ kind: 'help' });
    const text = oracleUsage(env);
    for (const needle of [
      '--host <addr>',
      'SHARD_HOST',
      '127.0.0.1',
      '--port <n>',
      'SHARD_PORT',
      '9091',
      '--model <path>',
      'SHARD_MODEL',
      '/tmp/shard-config-test/models/target.gguf',
      '--threads <n>',
      'SHARD_THREADS',
      '--log-level <level>',
      'SHARD_LOG_LEVEL',
      '--allow-no-model',
      '--draft <source>',
      'SHARD_DRAFT',
      '--draft-model <path>',
      'SHARD_DRAFT_MODEL',
      '--relay <multiaddr>',
      'SHARD_RELAYS',
      'SHARD_API_KEYS',
      'SHARD_RATE_LIMIT_PER_MINUTE',
      'SHARD_MAX_PROMPT_CHARS',
      '16000',
      'SHARD_MAX_BODY_BYTES',
      '1048576',
      'SHARD_QUEUE_MAX',
      'SHARD_ALLOWED_HOSTS',
      'npm run models'
    ]) {
      expect(text).toContain(needle);
    }
  });
});
