/**
 * The oracle's configuration: command-line flags (node:util parseArgs) over SHARD_* environment
 * variables over documented defaults. Pure apart from resolving paths: `main.ts` calls it once,
 * tests call it with their own argv and env.
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { peerIdFromString } from '@libp2p/peer-id';
import { parseLevel, type LogLevel } from '../src/lib/server/log.js';
import { DEFAULT_MAX_TOKENS_LIMIT } from './admission/admitted-engine.js';
import { DEFAULT_CLIENT_QUEUE_MAX } from './admission/queue.js';
import { parseContributorSettings, type ContributorSettings } from './contribution/requests.js';
import type { GpuChoice } from './engine/index.js';
import { isLoopbackHost, normalizeOrigin } from './http/security.js';
import {
  DEFAULT_BAN_DURATION_HOURS,
  DEFAULT_GOLDEN_TICKET_RATE,
  DEFAULT_MIN_ATTEMPTS_BEFORE_BAN,
  DEFAULT_REPUTATION_THRESHOLD
} from './mesh/constants.js';
import { parseRetentionDays, RETENTION_ENV } from './receipts/retention.js';

/** Default HTTP port (the predecessor's control port). */
export const DEFAULT_PORT = 9091;
export const DEFAULT_HOST = '127.0.0.1';
/** llama.cpp threads; always explicit because default settings collapse decoding on 2 cores. */
export const DEFAULT_THREADS = 2;
export const DEFAULT_RATE_LIMIT_PER_MINUTE = 60;
export const DEFAULT_MAX_PROMPT_CHARS = 16_000;
export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;
export const DEFAULT_QUEUE_MAX = 16;

/** Repository root (native-oracle/..), where `build/` lives. */
const REPO_ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));

/** A flag or environment variable has a bad value, or an unknown flag was given. */
export class ConfigError extends Error {
  override name = 'ConfigError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

export interface OracleConfig {
  host: string;
  port: number;
  /** Target model GGUF file. */
  modelPath: string;
  /** sha256 (hex, lowercase) the target model must have; null = only a manifest beside it is checked. */
  modelSha256: string | null;
  /** Directory served read-only at GET /models/<name>.gguf. */
  modelsDir: string;
  threads: number;
  /** llama.cpp context size per sequence; undefined = engine default. */
  contextSize?: number;
  /** Generations at once (llama.cpp sequences); undefined = engine default. */
  maxConcurrent?: number;
  /** Built PWA served at `/`. */
  staticDir: string;
  /** Relay multiaddrs the mesh joins; empty = the oracle runs without a mesh. */
  relays: string[];
  /** Whether requests that say nothing may show their prompt to mesh scouts (`deny` = floor `none`). */
  scoutPrompts: 'allow' | 'deny';
  /** Scouts a request that names no floor may be shown to; `none` when --scout-prompts deny. */
  scoutFloor: ScoutFloorChoice;
  /** Fraction of a reputable scout's sessions that are golden tickets (0..1). */
  goldenTicketRate: number;
  /** Share of golden tickets a scout must pass (0..1). */
  reputationThreshold: number;
  /** Tickets before the threshold rule may ban. */
  minAttemptsBeforeBan: number;
  /** Hours a golden-ticket ban lasts; 0 = permanent. */
  banDurationHours: number;
  /** Oracle peer ids whose signed ban announcements are applied here. */
  trustedOracles: string[];
  /** Scout peer ids the operator vouches for (the `trusted` floor; no probation). */
  trustedScouts: string[];
  /**
   * Contributor keys (64 hex) the operator trusts and API keys mapped to contributor identities
   * (--trusted-contributors, --contributor-keys; docs/contribution.md).
   */
  contributors: ContributorSettings;
  /**
   * llama.cpp compute backend asked for with --gpu / SHARD_GPU; null = not given, which means
   * `cpu` for a generated test model and `auto` for any other (`defaultGpu`).
   */
  gpu: GpuChoice | null;
  /** Default draft source of local requests; `auto` = the draft model when its file exists, else prompt lookup. */
  draft: DraftChoice;
  /** Draft model GGUF file used by `draft: model` (and `auto`). */
  draftModelPath: string;
  /** Start without a model (health "degraded", chat 503) instead of exiting. */
  allowNoModel: boolean;
  logLevel: LogLevel;
  /** Accepted API keys; empty = no key required. */
  apiKeys: string[];
  /** Requests per minute per key or client address; 0 = unlimited. */
  rateLimitPerMinute: number;
  maxPromptChars: number;
  maxBodyBytes: number;
  /** Requests that may wait for a generation slot. */
  queueMax: number;
  /** Extra Host names accepted while listening on loopback (DNS-rebinding guard). */
  allowedHosts: string[];
  /** Keys that are accepted and see every owner's executions; empty = none. */
  operatorKeys: string[];
  /** Origins (`scheme://host[:port]`) allowed cross-origin access; empty = none. */
  corsOrigins: string[];
  /** Model files (`draft.gguf`) under /models served without a key when keys are set. */
  publicModels: string[];
  /** Largest max_tokens one request may ask for. */
  maxTokensLimit: number;
  /** Generations one client may run at once; undefined = half the slots, at least 1. */
  clientMaxConcurrent?: number;
  /** Requests one client may have waiting. */
  clientQueueMax: number;
  /** Listening on a non-loopback address without API keys was explicitly asked for. */
  allowOpen: boolean;
  /** HTTPS certificate and key (PEM, read at start) from --tls-cert/--tls-key; null = plain http. */
  tls: TlsFiles | null;
  /** Days the receipts of ended executions are kept; null = forever. */
  receiptRetentionDays: number | null;
}

export const DRAFT_CHOICES = ['auto', 'none', 'prompt-lookup', 'model'] as const;
export type DraftChoice = (typeof DRAFT_CHOICES)[number];

/** The mesh's scout floors (`ScoutFloor` in native-oracle/mesh/trust), in --scout-floor's words. */
export const SCOUT_FLOOR_CHOICES = ['none', 'trusted', 'reputable', 'any'] as const;
export type ScoutFloorChoice = (typeof SCOUT_FLOOR_CHOICES)[number];
export const DEFAULT_SCOUT_FLOOR: ScoutFloorChoice = 'reputable';

/** The --gpu choices (`GpuChoice` of the engine). */
export const GPU_CHOICES = [
  'auto',
  'cpu',
  'cuda',
  'vulkan',
  'metal'
] as const satisfies readonly GpuChoice[];

/**
 * The backend when --gpu is not given: `cpu` for a generated test model (deterministic logits,
 * what its tests measured), `auto` (a GPU when llama.cpp finds a usable one) for any other model.
 */
export function defaultGpu(isGeneratedTestModel: boolean): GpuChoice {
  return isGeneratedTestModel ? 'cpu' : 'auto';
}

export type ParsedCommand =
  | { kind: 'help' }
  | { kind: 'rotate-receipt-key'; dataDir: string }
  | { kind: 'run'; config: OracleConfig };

/** Describes one flag for parsing and for --help. */
interface FlagSpec {
  flag: string;
  env?: string;
  arg?: string;
  type: 'string' | 'boolean';
  /** Repeatable flag; its env var is comma-separated. */
  isMultiple?: boolean;
  describe: string;
  fallback: (env: NodeJS.ProcessEnv) => string;
}

function defaultDataDir(env: NodeJS.ProcessEnv): string {
  return resolve(env.SHARD_DATA_DIR?.trim() || join(process.cwd(), '.shard'));
}

const FLAGS: FlagSpec[] = [
  {
    flag: 'host',
    env: 'SHARD_HOST',
    arg: 'addr',
    type: 'string',
    describe: 'address to listen on (0.0.0.0 to expose on the network)',
    fallback: () => DEFAULT_HOST
  },
  {
    flag: 'port',
    env: 'SHARD_PORT',
    arg: 'n',
    type: 'string',
    describe: 'TCP port (0 = pick a free one)',
    fallback: () => String(DEFAULT_PORT)
  },
  {
    flag: 'model',
    env: 'SHARD_MODEL',
    arg: 'path',
    type: 'string',
    describe: 'target model GGUF file',
    fallback: (env) => join(defaultDataDir(env), 'models', 'target.gguf')
  },
  {
    flag: 'model-sha256',
    env: 'SHARD_MODEL_SHA256',
    arg: 'hex',
    type: 'string',
    describe:
      'sha256 the target model file must have; checked (streamed, with progress) before loading. Generated models are always checked against their models.json',
    fallback: () => 'none'
  },
  {
    flag: 'threads',
    env: 'SHARD_THREADS',
    arg: 'n',
    type: 'string',
    describe: 'llama.cpp threads (keep <= physical cores)',
    fallback: () => String(DEFAULT_THREADS)
  },
  {
    flag: 'context-size',
    env: 'SHARD_CONTEXT_SIZE',
    arg: 'n',
    type: 'string',
    describe: 'context size in tokens per sequence',
    fallback: () => 'engine default'
  },
  {
    flag: 'max-concurrent',
    env: 'SHARD_MAX_CONCURRENT',
    arg: 'n',
    type: 'string',
    describe: 'generations at once (llama.cpp sequences)',
    fallback: () => 'engine default'
  },
  {
    flag: 'draft',
    env: 'SHARD_DRAFT',
    arg: 'source',
    type: 'string',
    describe:
      'default draft source: auto (draft model if its file exists, else prompt-lookup) | none | prompt-lookup | model',
    fallback: () => 'auto'
  },
  {
    flag: 'draft-model',
    env: 'SHARD_DRAFT_MODEL',
    arg: 'path',
    type: 'string',
    describe: 'draft model GGUF file for --draft model/auto',
    fallback: (env) => join(defaultDataDir(env), 'models', 'draft.gguf')
  },
  {
    flag: 'relay',
    env: 'SHARD_RELAYS',
    arg: 'multiaddr',
    type: 'string',
    isMultiple: true,
    describe:
      'relay to join the scout mesh through (repeatable; env comma-separated); no relay = no mesh',
    fallback: () => 'none'
  },
  {
    flag: 'scout-prompts',
    env: 'SHARD_SCOUT_PROMPTS',
    arg: 'allow|deny',
    type: 'string',
    describe:
      'whether a request that does not say (shard.allow_scouts / x-shard-allow-scouts) may show its prompt to mesh scouts; deny is --scout-floor none (kept for older setups)',
    fallback: () => 'allow'
  },
  {
    flag: 'scout-floor',
    env: 'SHARD_SCOUT_FLOOR',
    arg: 'none|trusted|reputable|any',
    type: 'string',
    describe:
      'which scouts may see the prompt of a request that names no floor: none (no scout), trusted (--trusted-scouts only), reputable (passed probation, not banned, at or above --reputation-threshold; trusted too), any (every welcomed scout, probation included)',
    fallback: () => DEFAULT_SCOUT_FLOOR
  },
  {
    flag: 'golden-ticket-rate',
    env: 'SHARD_GOLDEN_TICKET_RATE',
    arg: 'r',
    type: 'string',
    describe:
      "fraction (0..1) of a reputable scout's sessions that are golden tickets (drafts whose honest answer the oracle knows); 1 audits every session",
    fallback: () => String(DEFAULT_GOLDEN_TICKET_RATE)
  },
  {
    flag: 'reputation-threshold',
    env: 'SHARD_REPUTATION_THRESHOLD',
    arg: 'p',
    type: 'string',
    describe: 'share (0..1) of golden tickets a scout must pass; below it the scout is banned',
    fallback: () => DEFAULT_REPUTATION_THRESHOLD.toFixed(2)
  },
  {
    flag: 'min-attempts-before-ban',
    env: 'SHARD_MIN_ATTEMPTS_BEFORE_BAN',
    arg: 'n',
    type: 'string',
    describe: 'golden tickets a scout takes before the threshold rule may ban it',
    fallback: () => String(DEFAULT_MIN_ATTEMPTS_BEFORE_BAN)
  },
  {
    flag: 'ban-duration-hours',
    env: 'SHARD_BAN_DURATION_HOURS',
    arg: 'h',
    type: 'string',
    describe:
      'hours a golden-ticket ban lasts (0 = permanent); bans live in <data>/scout-trust.sqlite and survive restarts',
    fallback: () => String(DEFAULT_BAN_DURATION_HOURS)
  },
  {
    flag: 'trusted-oracles',
    env: 'SHARD_TRUSTED_ORACLES',
    arg: 'peer ids',
    type: 'string',
    isMultiple: true,
    describe:
      'oracle peer ids whose signed ban announcements this oracle applies (repeatable or comma-separated)',
    fallback: () => 'none'
  },
  {
    flag: 'trusted-contributors',
    env: 'SHARD_TRUSTED_CONTRIBUTORS',
    arg: 'keys',
    type: 'string',
    isMultiple: true,
    describe:
      'contributor public keys (64 hex) you trust: their nodes get trust verified_mesh, may offer the private/personal tiers and internal addresses (repeatable or comma-separated)',
    fallback: () => 'none'
  },
  {
    flag: 'contributor-keys',
    env: 'SHARD_CONTRIBUTOR_KEYS',
    arg: 'key:pubkey',
    type: 'string',
    isMultiple: true,
    describe:
      'API keys that name a contributor for earned priority, as <api key>:<contributor public key> (repeatable or comma-separated)',
    fallback: () => 'none'
  },
  {
    flag: 'trusted-scouts',
    env: 'SHARD_TRUSTED_SCOUTS',
    arg: 'peer ids',
    type: 'string',
    isMultiple: true,
    describe:
      'scout peer ids you vouch for: the trusted floor, and no probation (repeatable or comma-separated; still audited)',
    fallback: () => 'none'
  },
  {
    flag: 'gpu',
    env: 'SHARD_GPU',
    arg: 'auto|cpu|cuda|vulkan|metal',
    type: 'string',
    describe:
      'llama.cpp compute backend of the target and draft models: auto (a GPU when usable, else CPU), cpu, or a GPU backend that must be usable (else the oracle exits 1); /health reports the one in use',
    fallback: () => 'auto for a --model you give, cpu for the generated test models'
  },
  {
    flag: 'static-dir',
    env: 'SHARD_STATIC_DIR',
    arg: 'path',
    type: 'string',
    describe: 'built PWA served at / (npm run build)',
    fallback: () => join(REPO_ROOT, 'build')
  },
  {
    flag: 'allow-no-model',
    env: 'SHARD_ALLOW_NO_MODEL',
    type: 'boolean',
    describe: 'start without a model: /health reports "degraded", chat answers 503',
    fallback: () => 'false'
  },
  {
    flag: 'log-level',
    env: 'SHARD_LOG_LEVEL',
    arg: 'level',
    type: 'string',
    describe: 'error | warn | info | debug',
    fallback: () => 'info'
  },
  {
    flag: 'allow-open',
    env: 'SHARD_ALLOW_OPEN',
    type: 'boolean',
    describe:
      'listen on a non-loopback --host without API keys, so anyone who can reach the port may use the API and read every receipt; without this flag the oracle refuses to start that way',
    fallback: () => 'false'
  },
  {
    flag: 'tls-cert',
    env: 'SHARD_TLS_CERT',
    arg: 'file',
    type: 'string',
    describe:
      'PEM certificate (chain) to serve HTTPS with; needs --tls-key. Phones and other devices need HTTPS for the app to work fully',
    fallback: () => 'none (plain http)'
  },
  {
    flag: 'tls-key',
    env: 'SHARD_TLS_KEY',
    arg: 'file',
    type: 'string',
    describe: 'PEM private key of --tls-cert',
    fallback: () => 'none (plain http)'
  },
  {
    flag: 'operator-key',
    env: 'SHARD_OPERATOR_KEYS',
    arg: 'key',
    type: 'string',
    isMultiple: true,
    describe:
      "API key that also sees and cancels every key's executions (repeatable; env comma-separated). Other keys see only their own",
    fallback: () => 'none'
  },
  {
    flag: 'cors-origin',
    env: 'SHARD_CORS_ORIGINS',
    arg: 'origin',
    type: 'string',
    isMultiple: true,
    describe:
      'origin (https://app.example:8443) whose pages may call this API from the browser (repeatable; env comma-separated). Other origins get no CORS access, and their writes are refused',
    fallback: () => 'none (same origin only)'
  },
  {
    flag: 'public-models',
    env: 'SHARD_PUBLIC_MODELS',
    arg: 'names',
    type: 'string',
    describe:
      'comma-separated model files under /models served without a key when API keys are set, e.g. `draft` so browser scouts can download the draft model',
    fallback: () => 'none (a key is needed when keys are set)'
  },
  {
    flag: 'max-tokens-limit',
    env: 'SHARD_MAX_TOKENS_LIMIT',
    arg: 'n',
    type: 'string',
    describe: 'largest max_tokens one request may ask for; more is a 400 naming the limit',
    fallback: () => String(DEFAULT_MAX_TOKENS_LIMIT)
  },
  {
    flag: 'client-max-concurrent',
    env: 'SHARD_CLIENT_MAX_CONCURRENT',
    arg: 'n',
    type: 'string',
    describe: 'generations one client (API key, else address) may run at once',
    fallback: () => 'half of --max-concurrent, at least 1'
  },
  {
    flag: 'client-queue-max',
    env: 'SHARD_CLIENT_QUEUE_MAX',
    arg: 'n',
    type: 'string',
    describe:
      'requests one client may have waiting for a generation slot; beyond that 503 with Retry-After',
    fallback: () => String(DEFAULT_CLIENT_QUEUE_MAX)
  },
  {
    flag: 'rotate-receipt-key',
    type: 'boolean',
    describe:
      'retire the receipt signing key (its public key stays in <data>/receipt-keyring.json so earlier receipts still verify), create a new one, and exit',
    fallback: () => ''
  },
  { flag: 'help', type: 'boolean', describe: 'print this help and exit', fallback: () => '' }
];

/** Security and limit settings read from the environment only. */
const ENV_ONLY: Array<{ env: string; describe: string; fallback: string }> = [
  {
    env: 'SHARD_API_KEYS',
    describe:
      'comma-separated API keys; when set, /v1/*, /metrics and /models/* (except --public-models) need `Authorization: Bearer <key>` or `X-API-Key: <key>` (401 otherwise; 10 failures a minute from one address, then 429). Each key sees only the executions it created. /health and the app stay open',
    fallback: 'unset (no key needed)'
  },
  {
    env: 'SHARD_RATE_LIMIT_PER_MINUTE',
    describe:
      'token bucket per API key, else per client address, on /v1/*; 429 with Retry-After; 0 disables',
    fallback: String(DEFAULT_RATE_LIMIT_PER_MINUTE)
  },
  {
    env: 'SHARD_MAX_PROMPT_CHARS',
    describe: 'largest total message content per chat request, in characters (413)',
    fallback: String(DEFAULT_MAX_PROMPT_CHARS)
  },
  {
    env: 'SHARD_MAX_BODY_BYTES',
    describe: 'largest request body in bytes (413)',
    fallback: String(DEFAULT_MAX_BODY_BYTES)
  },
  {
    env: 'SHARD_QUEUE_MAX',
    describe: 'requests that may wait for a generation slot; beyond that 503 with Retry-After',
    fallback: String(DEFAULT_QUEUE_MAX)
  },
  {
    env: 'SHARD_ALLOWED_HOSTS',
    describe:
      'comma-separated extra Host names (`name` or `name:port`) accepted while listening on loopback; other names get 403 (DNS-rebinding guard, off when --host is not loopback)',
    fallback: 'localhost and loopback addresses only'
  },
  {
    env: 'SHARD_DATA_DIR',
    describe:
      'data directory; generated models live in <data>/models and are served at /models/<name>.gguf; receipts.sqlite, the receipt signing key and its keyring live here',
    fallback: '<cwd>/.shard'
  },
  {
    env: RETENTION_ENV,
    describe:
      'days to keep the receipts of executions that have ended; older ones are removed whole (at start and hourly), other chains keep verifying. 0 keeps them forever',
    fallback: 'unset (keep forever)'
  }
];

/** The --help text: every flag and environment variable with its default. */
export function oracleUsage(env: NodeJS.ProcessEnv = process.env): string {
  const lines = [
    'Usage: npm run oracle -- [options]     (or: npx tsx native-oracle/main.ts [options])',
    '',
    'Shard oracle: verifies drafts with the target model (llama.cpp) and serves the',
    'OpenAI-compatible API (/v1/chat/completions, /v1/models), /health and the Shard app.',
    '',
    'Options (flags override environment variables):'
  ];
  for (const f of FLAGS) {
    const name = `--${f.flag}${f.arg ? ` <${f.arg}>` : ''}`;
    const envPart = f.env ? `  [env ${f.env}]` : '';
    const def = f.fallback(env);
    lines.push(`  ${name.padEnd(24)} ${f.describe}${envPart}${def ? ` (default: ${def})` : ''}`);
  }
  lines.push('', 'Security and limits (environment only):');
  for (const e of ENV_ONLY)
    lines.push(`  ${e.env.padEnd(28)} ${e.describe} (default: ${e.fallback})`);
  lines.push(
    '',
    'If the model file is missing the oracle exits with code 1 and asks you to run',
    '`npm run models`, unless --allow-no-model is given. Unknown flags exit with code 2.',
    'SIGINT/SIGTERM stop accepting requests, let running generations finish (10 s grace,',
    'then abort them) and free the model.'
  );
  return lines.join('\n');
}

function csv(raw: string | undefined): string[] {
  return (raw ?? '')
    .split(',')
    .map((k) => k.trim())
    .filter((k) => k !== '');
}

function intValue(name: string, raw: string, min: number, max: number): number {
  const trimmed = raw.trim();
  if (!/^-?\d+$/.test(trimmed)) throw new ConfigError(`${name} must be an integer, got "${raw}"`);
  const n = Number(trimmed);
  if (n < min || n > max)
    throw new ConfigError(`${name} must be between ${min} and ${max}, got ${n}`);
  return n;
}

function boolValue(name: string, raw: string): boolean {
  const v = raw.trim().toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(v)) return true;
  if (['0', 'false', 'no', 'off', ''].includes(v)) return false;
  throw new ConfigError(`${name} must be true or false, got "${raw}"`);
}

/**
 * Parses argv (without node and script) and env into a config. Throws ConfigError with a message
 * naming the flag or variable for unknown flags, stray arguments and bad values.
 */
export function parseOracleConfig(options: {
  argv: string[];
  env?: NodeJS.ProcessEnv;
}): ParsedCommand {
  const env = options.env ?? process.env;
  let values: Record<string, string | boolean | string[] | undefined>;
  try {
    const parsed = parseArgs({
      args: options.argv,
      options: Object.fromEntries(
        FLAGS.map((f) => [f.flag, { type: f.type, multiple: f.isMultiple === true }])
      ),
      strict: true,
      allowPositionals: false
    });
    values = parsed.values as Record<string, string | boolean | string[] | undefined>;
  } catch (err) {
    throw new ConfigError(`${(err as Error).message}. Run with --help for the list of options.`, {
      cause: err
    });
  }
  if (values.help) return { kind: 'help' };
  if (values['rotate-receipt-key'])
    return { kind: 'rotate-receipt-key', dataDir: defaultDataDir(env) };

  /** Flag value, else env value (with its name for messages), else undefined. */
  const pick = (flag: string): { name: string; raw: string } | undefined => {
    const spec = FLAGS.find((f) => f.flag === flag)!;
    const v = values[flag];
    if (typeof v === 'string') return { name: `--${flag}`, raw: v };
    if (v === true) return { name: `--${flag}`, raw: 'true' };
    const e = spec.env ? env[spec.env] : undefined;
    if (e !== undefined && e.trim() !== '') return { name: spec.env!, raw: e };
    return undefined;
  };
  const envInt = (name: string, fallback: number, min: number, max: number): number => {
    const raw = env[name];
    return raw === undefined || raw.trim() === '' ? fallback : intValue(name, raw, min, max);
  };
  const optionalInt = (flag: string, min: number, max: number): number | undefined => {
    const p = pick(flag);
    return p ? intValue(p.name, p.raw, min, max) : undefined;
  };

  const logPick = pick('log-level');
  const logLevel = logPick ? parseLevel(logPick.raw) : 'info';
  if (!logLevel) {
    throw new ConfigError(
      `${logPick!.name} must be one of error, warn, info, debug; got "${logPick!.raw}"`
    );
  }
  const modelsDir = join(defaultDataDir(env), 'models');
  const modelPick = pick('model');
  const staticPick = pick('static-dir');
  const draftPick = pick('draft');
  const draft = (draftPick?.raw.trim().toLowerCase() ?? 'auto') as DraftChoice;
  if (!DRAFT_CHOICES.includes(draft)) {
    throw new ConfigError(
      `${draftPick!.name} must be one of ${DRAFT_CHOICES.join(', ')}; got "${draftPick!.raw}"`
    );
  }
  const draftModelPick = pick('draft-model');
  const relays = Array.isArray(values.relay)
    ? values.relay.map((r) => r.trim()).filter((r) => r !== '')
    : csv(env.SHARD_RELAYS);
  for (const relay of relays) {
    if (!relay.startsWith('/') || !relay.includes('/p2p/')) {
      throw new ConfigError(
        `relay address must be a multiaddr ending in /p2p/<peer id>, e.g. /ip4/127.0.0.1/tcp/4101/ws/p2p/12D3Koo...; got "${relay}"`
      );
    }
  }
  const allowPick = pick('allow-no-model');
  const hostPick = pick('host');
  const host = hostPick ? hostPick.raw.trim() : DEFAULT_HOST;
  if (host === '') throw new ConfigError('--host must not be empty');

  const shaPick = pick('model-sha256');
  const modelSha256 = shaPick ? shaPick.raw.trim().toLowerCase() : null;
  if (modelSha256 !== null && !/^[0-9a-f]{64}$/.test(modelSha256)) {
    throw new ConfigError(
      `${shaPick!.name} must be 64 hex characters (a sha256); got "${shaPick!.raw}"`
    );
  }
  let receiptRetentionDays: number | null;
  try {
    receiptRetentionDays = parseRetentionDays(env[RETENTION_ENV]);
  } catch (err) {
    throw new ConfigError((err as Error).message, { cause: err });
  }

  const config: OracleConfig = {
    host,
    port: optionalInt('port', 0, 65_535) ?? DEFAULT_PORT,
    modelPath: modelPick ? resolve(modelPick.raw) : join(modelsDir, 'target.gguf'),
    modelSha256,
    modelsDir,
    threads: optionalInt('threads', 1, 256) ?? DEFAULT_THREADS,
    contextSize: optionalInt('context-size', 64, 1_048_576),
    maxConcurrent: optionalInt('max-concurrent', 1, 64),
    staticDir: staticPick ? resolve(staticPick.raw) : join(REPO_ROOT, 'build'),
    relays,
    draft,
    draftModelPath: draftModelPick ? resolve(draftModelPick.raw) : join(modelsDir, 'draft.gguf'),
    allowNoModel: allowPick ? boolValue(allowPick.name, allowPick.raw) : false,
    logLevel,
    apiKeys: csv(env.SHARD_API_KEYS),
    rateLimitPerMinute: envInt(
      'SHARD_RATE_LIMIT_PER_MINUTE',
      DEFAULT_RATE_LIMIT_PER_MINUTE,
      0,
      1_000_000
    ),
    maxPromptChars: envInt('SHARD_MAX_PROMPT_CHARS', DEFAULT_MAX_PROMPT_CHARS, 1, 100_000_000),
    maxBodyBytes: envInt('SHARD_MAX_BODY_BYTES', DEFAULT_MAX_BODY_BYTES, 1024, 1024 * 1024 * 1024),
    queueMax: envInt('SHARD_QUEUE_MAX', DEFAULT_QUEUE_MAX, 0, 100_000),
    allowedHosts: csv(env.SHARD_ALLOWED_HOSTS),
    tls: parseTls(pick),
    receiptRetentionDays,
    ...parseAccessSettings(values, env, pick, optionalInt),
    ...parseMeshSettings(values, env, pick, optionalInt)
  };
  checkExposure(config);
  return { kind: 'run', config };
}

type Pick = (flag: string) => { name: string; raw: string } | undefined;

/** The HTTPS certificate and key, as read at start. */
export interface TlsFiles {
  certPath: string;
  keyPath: string;
  cert: Buffer;
  key: Buffer;
}

/** --tls-cert and --tls-key: both or neither; each file must be readable PEM. */
function parseTls(pick: Pick): TlsFiles | null {
  const certPick = pick('tls-cert');
  const keyPick = pick('tls-key');
  if (!certPick && !keyPick) return null;
  if (!certPick || !keyPick) {
    const [has, lacks] = certPick ? [certPick.name, '--tls-key'] : [keyPick!.name, '--tls-cert'];
    throw new ConfigError(`${has} needs ${lacks} too (HTTPS takes a certificate and its key)`);
  }
  const read = (p: { name: string; raw: string }): [string, Buffer] => {
    const path = resolve(p.raw.trim());
    let pem: Buffer;
    try {
      pem = readFileSync(path);
    } catch (err) {
      throw new ConfigError(`${p.name}: cannot read ${path} (${(err as Error).message})`, {
        cause: err
      });
    }
    if (!pem.includes('-----BEGIN ')) {
      throw new ConfigError(`${p.name}: ${path} is not a PEM file`);
    }
    return [path, pem];
  };
  const [certPath, cert] = read(certPick);
  const [keyPath, key] = read(keyPick);
  if (!cert.includes('-----BEGIN CERTIFICATE')) {
    throw new ConfigError(`${certPick.name}: ${certPath} holds no certificate`);
  }
  return { certPath, keyPath, cert, key };
}

/** A repeatable flag's values, else its comma-separated environment variable. */
function listSetting(
  values: Record<string, string | boolean | string[] | undefined>,
  env: NodeJS.ProcessEnv,
  flag: string
): string[] {
  const v = values[flag];
  if (Array.isArray(v)) return v.flatMap((x) => csv(x));
  const spec = FLAGS.find((f) => f.flag === flag)!;
  return csv(typeof v === 'string' ? v : env[spec.env!]);
}

/** Operator keys, CORS origins, published models, per-client limits and --allow-open. */
function parseAccessSettings(
  values: Record<string, string | boolean | string[] | undefined>,
  env: NodeJS.ProcessEnv,
  pick: Pick,
  optionalInt: (flag: string, min: number, max: number) => number | undefined
) {
  const corsOrigins = listSetting(values, env, 'cors-origin').map((raw) => {
    const origin = normalizeOrigin(raw);
    if (!origin || raw === '*') {
      throw new ConfigError(
        `--cors-origin / SHARD_CORS_ORIGINS takes origins like https://app.example or http://localhost:5173 (scheme, host and port, no path, no *); got "${raw}"`
      );
    }
    return origin;
  });
  const publicModels = listSetting(values, env, 'public-models').map((raw) => {
    const name = raw.endsWith('.gguf') ? raw : `${raw}.gguf`;
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,200}\.gguf$/.test(name) || name.includes('..'))
      throw new ConfigError(
        `--public-models names files in the models dir (e.g. draft); got "${raw}"`
      );
    return name;
  });
  const allowOpenPick = pick('allow-open');
  return {
    operatorKeys: listSetting(values, env, 'operator-key'),
    corsOrigins,
    publicModels,
    maxTokensLimit: optionalInt('max-tokens-limit', 1, 1_048_576) ?? DEFAULT_MAX_TOKENS_LIMIT,
    clientMaxConcurrent: optionalInt('client-max-concurrent', 1, 64),
    clientQueueMax: optionalInt('client-queue-max', 0, 100_000) ?? DEFAULT_CLIENT_QUEUE_MAX,
    allowOpen: allowOpenPick ? boolValue(allowOpenPick.name, allowOpenPick.raw) : false
  };
}

function numberValue(name: string, raw: string, min: number, max: number): number {
  const trimmed = raw.trim();
  if (!/^-?(\d+\.?\d*|\.\d+)$/.test(trimmed))
    throw new ConfigError(`${name} must be a number, got "${raw}"`);
  const n = Number(trimmed);
  if (n < min || n > max)
    throw new ConfigError(`${name} must be between ${min} and ${max}, got ${n}`);
  return n;
}

/** One of `choices` (case-insensitive), else a ConfigError naming the flag or variable. */
function choiceValue<T extends string>(
  picked: { name: string; raw: string },
  choices: readonly T[]
): T {
  const v = picked.raw.trim().toLowerCase() as T;
  if (!choices.includes(v))
    throw new ConfigError(
      `${picked.name} must be one of ${choices.join(', ')}; got "${picked.raw}"`
    );
  return v;
}

/** Peer ids of --trusted-oracles / --trusted-scouts, each checked to parse as a libp2p peer id. */
function peerIdList(
  values: Record<string, string | boolean | string[] | undefined>,
  env: NodeJS.ProcessEnv,
  flag: string
): string[] {
  return listSetting(values, env, flag).map((id) => {
    try {
      return peerIdFromString(id).toString();
    } catch (err) {
      const spec = FLAGS.find((f) => f.flag === flag)!;
      throw new ConfigError(
        `--${flag} / ${spec.env} takes libp2p peer ids like 12D3KooW...; got "${id}"`,
        { cause: err }
      );
    }
  });
}

/** --trusted-contributors and --contributor-keys, checked; a bad entry is a ConfigError naming the flag. */
function contributorSettings(
  values: Record<string, string | boolean | string[] | undefined>,
  env: NodeJS.ProcessEnv
): ContributorSettings {
  try {
    return parseContributorSettings({
      trustedContributors: listSetting(values, env, 'trusted-contributors'),
      contributorKeys: listSetting(values, env, 'contributor-keys')
    });
  } catch (err) {
    throw new ConfigError((err as Error).message, { cause: err });
  }
}

/**
 * Scout trust and compute settings: the scout floor (--scout-prompts deny is the floor `none`;
 * asking for both deny and another floor is a contradiction, refused), golden tickets, bans,
 * trusted peers and --gpu.
 */
function parseMeshSettings(
  values: Record<string, string | boolean | string[] | undefined>,
  env: NodeJS.ProcessEnv,
  pick: Pick,
  optionalInt: (flag: string, min: number, max: number) => number | undefined
) {
  const promptsPick = pick('scout-prompts');
  const scoutPrompts = promptsPick ? choiceValue(promptsPick, ['allow', 'deny'] as const) : 'allow';
  const floorPick = pick('scout-floor');
  const floor = floorPick ? choiceValue(floorPick, SCOUT_FLOOR_CHOICES) : null;
  if (scoutPrompts === 'deny' && floor !== null && floor !== 'none') {
    throw new ConfigError(
      `${promptsPick!.name} deny keeps prompts away from every scout, but ${floorPick!.name} is ${floor}; give one of them`
    );
  }
  const number = (flag: string, fallback: number, min: number, max: number) => {
    const p = pick(flag);
    return p ? numberValue(p.name, p.raw, min, max) : fallback;
  };
  const gpuPick = pick('gpu');
  return {
    scoutPrompts,
    scoutFloor: scoutPrompts === 'deny' ? ('none' as const) : (floor ?? DEFAULT_SCOUT_FLOOR),
    goldenTicketRate: number('golden-ticket-rate', DEFAULT_GOLDEN_TICKET_RATE, 0, 1),
    reputationThreshold: number('reputation-threshold', DEFAULT_REPUTATION_THRESHOLD, 0, 1),
    minAttemptsBeforeBan:
      optionalInt('min-attempts-before-ban', 1, 1_000_000) ?? DEFAULT_MIN_ATTEMPTS_BEFORE_BAN,
    banDurationHours: number('ban-duration-hours', DEFAULT_BAN_DURATION_HOURS, 0, 1_000_000),
    trustedOracles: peerIdList(values, env, 'trusted-oracles'),
    trustedScouts: peerIdList(values, env, 'trusted-scouts'),
    contributors: contributorSettings(values, env),
    gpu: gpuPick ? choiceValue<GpuChoice>(gpuPick, GPU_CHOICES) : null
  };
}

/**
 * Refuses to listen on a non-loopback address with no API key unless --allow-open says that is
 * meant: such an oracle serves its API, and every receipt, to anyone who can reach the port.
 */
function checkExposure(config: OracleConfig): void {
  const hasKeys = config.apiKeys.length > 0 || config.operatorKeys.length > 0;
  if (isLoopbackHost(config.host) || hasKeys || config.allowOpen) return;
  throw new ConfigError(
    `refusing to listen on ${config.host} without an API key: anyone who can reach it could use the model and read every receipt. ` +
      'Set SHARD_API_KEYS (and serve it behind TLS), listen on 127.0.0.1, or pass --allow-open (SHARD_ALLOW_OPEN=1) if it is meant to be open.'
  );
}
