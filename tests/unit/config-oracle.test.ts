import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  ConfigError,
  defaultGpu,
  oracleUsage,
  parseOracleConfig
} from '../../native-oracle/config.js';

/** Two real Ed25519 peer ids (their public keys are inlined in the id). */
const ORACLE_ID = '12D3KooWFDFPpw3J4aYeQFbhYoQFddJ2AhCVgCvgnVGsXTHTdG1Q';
const SCOUT_ID = '12D3KooWNLpQNPdSzgWoZDecXpSY5dqUnCesypgyJervDAwQB4Vh';

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

  it('mesh trust and --gpu: documented defaults, variables, flags', () => {
    expect(run([])).toMatchObject({
      scoutPrompts: 'allow',
      scoutFloor: 'reputable',
      goldenTicketRate: 0.05,
      reputationThreshold: 0.7,
      minAttemptsBeforeBan: 3,
      banDurationHours: 24,
      trustedOracles: [],
      trustedScouts: [],
      gpu: null
    });
    const e = {
      SHARD_SCOUT_FLOOR: 'Any',
      SHARD_GOLDEN_TICKET_RATE: '0.2',
      SHARD_REPUTATION_THRESHOLD: '.9',
      SHARD_MIN_ATTEMPTS_BEFORE_BAN: '5',
      SHARD_BAN_DURATION_HOURS: '0',
      SHARD_TRUSTED_ORACLES: ` ${ORACLE_ID} ,`,
      SHARD_TRUSTED_SCOUTS: `${SCOUT_ID},${ORACLE_ID}`,
      SHARD_GPU: 'vulkan'
    };
    expect(run([], e)).toMatchObject({
      scoutFloor: 'any',
      goldenTicketRate: 0.2,
      reputationThreshold: 0.9,
      minAttemptsBeforeBan: 5,
      banDurationHours: 0,
      trustedOracles: [ORACLE_ID],
      trustedScouts: [SCOUT_ID, ORACLE_ID],
      gpu: 'vulkan'
    });
    expect(
      run(
        [
          '--scout-floor',
          'trusted',
          '--golden-ticket-rate',
          '1',
          '--reputation-threshold',
          '0.5',
          '--min-attempts-before-ban',
          '10',
          '--ban-duration-hours',
          '1.5',
          '--trusted-scouts',
          SCOUT_ID,
          '--trusted-oracles',
          `${ORACLE_ID},${SCOUT_ID}`,
          '--gpu',
          'cpu'
        ],
        e
      )
    ).toMatchObject({
      scoutFloor: 'trusted',
      goldenTicketRate: 1,
      reputationThreshold: 0.5,
      minAttemptsBeforeBan: 10,
      banDurationHours: 1.5,
      trustedScouts: [SCOUT_ID],
      trustedOracles: [ORACLE_ID, SCOUT_ID],
      gpu: 'cpu'
    });
  });

  it('--scout-prompts deny is the scout floor none, and contradicting it is refused', () => {
    expect(run(['--scout-prompts', 'deny'])).toMatchObject({
      scoutPrompts: 'deny',
      scoutFloor: 'none'
    });
    expect(run([], { SHARD_SCOUT_PROMPTS: 'deny', SHARD_SCOUT_FLOOR: 'none' }).scoutFloor).toBe(
      'none'
    );
    expect(run(['--scout-prompts', 'allow', '--scout-floor', 'any']).scoutFloor).toBe('any');
    expect(() => run(['--scout-prompts', 'deny', '--scout-floor', 'any'])).toThrow(
      /--scout-prompts deny keeps prompts away from every scout, but --scout-floor is any/
    );
  });

  it('--gpu defaults to cpu for the generated test models and auto for a model you give', () => {
    expect(defaultGpu(true)).toBe('cpu');
    expect(defaultGpu(false)).toBe('auto');
  });

  it.each([
    [['--scout-floor', 'friends'], /--scout-floor must be one of none, trusted, reputable, any/],
    [['--scout-prompts', 'maybe'], /--scout-prompts must be one of allow, deny; got "maybe"/],
    [['--golden-ticket-rate', '1.5'], /--golden-ticket-rate must be between 0 and 1, got 1.5/],
    [['--golden-ticket-rate', 'often'], /--golden-ticket-rate must be a number, got "often"/],
    [['--reputation-threshold=-0.1'], /--reputation-threshold must be between 0 and 1/],
    [['--min-attempts-before-ban', '0'], /--min-attempts-before-ban must be between 1/],
    [['--min-attempts-before-ban', '2.5'], /--min-attempts-before-ban must be an integer/],
    [['--ban-duration-hours=-1'], /--ban-duration-hours must be between 0/],
    [
      ['--trusted-scouts', 'alice'],
      /--trusted-scouts \/ SHARD_TRUSTED_SCOUTS takes libp2p peer ids.*"alice"/
    ],
    [['--trusted-oracles', `${ORACLE_ID},x`], /--trusted-oracles \/ SHARD_TRUSTED_ORACLES.*"x"/],
    [['--gpu', 'tpu'], /--gpu must be one of auto, cpu, cuda, vulkan, metal; got "tpu"/]
  ])('rejects mesh/gpu setting %j with a message naming the flag', (argv, message) => {
    expect(() => parseOracleConfig({ argv, env })).toThrow(ConfigError);
    expect(() => parseOracleConfig({ argv, env })).toThrow(message);
  });

  it.each([
    ['SHARD_SCOUT_FLOOR', 'everyone', /SHARD_SCOUT_FLOOR must be one of none/],
    ['SHARD_GOLDEN_TICKET_RATE', '2', /SHARD_GOLDEN_TICKET_RATE must be between 0 and 1/],
    ['SHARD_BAN_DURATION_HOURS', 'forever', /SHARD_BAN_DURATION_HOURS must be a number/],
    ['SHARD_GPU', 'quantum', /SHARD_GPU must be one of/],
    ['SHARD_TRUSTED_SCOUTS', 'bob', /SHARD_TRUSTED_SCOUTS takes libp2p peer ids.*"bob"/]
  ])('rejects %s=%s with a message naming the variable (mesh/gpu)', (name, value, message) => {
    expect(() => parseOracleConfig({ argv: [], env: { ...env, [name]: value } })).toThrow(message);
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
      'npm run models',
      '--scout-floor <none|trusted|reputable|any>',
      'SHARD_SCOUT_FLOOR',
      '(default: reputable)',
      'deny is --scout-floor none',
      '--golden-ticket-rate <r>',
      'SHARD_GOLDEN_TICKET_RATE',
      '(default: 0.05)',
      '--reputation-threshold <p>',
      'SHARD_REPUTATION_THRESHOLD',
      '(default: 0.70)',
      '--min-attempts-before-ban <n>',
      'SHARD_MIN_ATTEMPTS_BEFORE_BAN',
      '--ban-duration-hours <h>',
      'SHARD_BAN_DURATION_HOURS',
      '(default: 24)',
      '--trusted-oracles <peer ids>',
      'SHARD_TRUSTED_ORACLES',
      '--trusted-scouts <peer ids>',
      'SHARD_TRUSTED_SCOUTS',
      '--gpu <auto|cpu|cuda|vulkan|metal>',
      'SHARD_GPU',
      'auto for a --model you give, cpu for the generated test models'
    ]) {
      expect(text).toContain(needle);
    }
  });
});
