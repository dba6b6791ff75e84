/**
 * The capacity registry: every candidate that may run a workflow step, with its tier (personal:
 * this machine; private: the team's nodes; public: the mesh), trust tier, capability tags,
 * prices per 1k input/output tokens, measured latency (EWMA) and health.
 *
 * Candidates: the local oracle's engine (when a model is loaded), remote oracles from the config,
 * the extractive engine (always available unless disabled), and the contributed nodes of the
 * contributor control plane (`contribution.activeNodes()`, read again at every ranking: a node
 * whose heartbeats stop leaves the list) with the tier, trust and prices they registered. A
 * contributed node is asked for a signed attestation of every answer (checked against the key
 * it registered with), an untrusted contributor's endpoint may not be an internal address
 * (ssrf.ts), and each step it serves that passed those checks credits its contributor
 * (`verified_steps_served`).
 *
 * Configuration (documented in native-oracle/workflows/README.md): a JSON file named by
 * SHARD_WORKFLOW_CONFIG, or inline JSON in SHARD_WORKFLOW_CONFIG_JSON; both absent = defaults.
 * Tier rules enforced at load: a remote can never claim trust `local`; a `personal` remote must
 * be on a loopback address; a `private` remote must either carry a peer_id from
 * team.peer_allowlist or use the shared team key (team.team_key_env), sent as its bearer token.
 *
 * Privacy: each candidate declares the TEE it runs in (`supports_tee`: none | sgx | sev) and the
 * encrypted computation it can do (`supports_encryption`: none | fhe), default none; they become
 * the `tee:<mode>` / `encryption:<scheme>` capability tags the ranking checks a request's privacy
 * envelope against (src/lib/protocol/privacy.ts). They are the operator's declarations.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import type { TargetEngine } from '../engine/index.js';
import { SupplyTierSchema, TrustTierSchema } from '../../src/lib/protocol/policy.js';
import {
  encryptionTag,
  EncryptionSchemeSchema,
  teeTag,
  TeeModeSchema,
  type EncryptionScheme,
  type TeeMode
} from '../../src/lib/protocol/privacy.js';
import type { CapabilityDescriptor, ExecutionReceipt } from '../../src/lib/protocol/receipts.js';
import { createLogger } from '../../src/lib/server/log.js';
import {
  toCapabilityDescriptor,
  type ActiveNode,
  type ContributionService
} from '../contribution/index.js';
import { WorkflowConfigError } from './errors.js';
import {
  createEngineExecutor,
  createExtractiveExecutor,
  createRemoteExecutor,
  type StepExecutor
} from './executors.js';
import { GENERATED_TEST_MODEL_TAG, type RankableCandidate } from './ranking.js';

const price = z.number().finite().min(0);
const DEFAULT_LLM_TAGS = ['planning', 'summarization', 'synthesis', 'reasoning'];

const LocalConfigSchema = z.strictObject({
  enabled: z.boolean().default(true),
  candidate_id: z.string().min(1).default('local-oracle'),
  display_name: z.string().min(1).default('local oracle'),
  supply_tier: z.enum(['personal', 'private']).default('personal'),
  trust_tier: TrustTierSchema.default('local'),
  price_per_1k_input_usd: price.default(0),
  price_per_1k_output_usd: price.default(0),
  tags: z.array(z.string()).default(DEFAULT_LLM_TAGS),
  quality: z.number().min(0).max(1).default(0.6),
  timeout_ms: z.number().int().min(100).default(120_000),
  supports_tee: TeeModeSchema.default('none'),
  supports_encryption: EncryptionSchemeSchema.default('none')
});

const RemoteConfigSchema = z.strictObject({
  candidate_id: z.string().min(1).max(128),
  display_name: z.string().min(1).optional(),
  endpoint: z.url({ protocol: /^https?$/ }),
  supply_tier: SupplyTierSchema,
  trust_tier: TrustTierSchema,
  tags: z.array(z.string()).default(['planning', 'summarization']),
  price_per_1k_input_usd: price,
  price_per_1k_output_usd: price,
  /** Expected latency of one step before any measurement, ms. */
  latency_ms: z.number().min(0).optional(),
  model: z.string().optional(),
  /** Env var holding the remote's API key. */
  api_key_env: z.string().optional(),
  /** libp2p peer id of the node (private tier via allow-list). */
  peer_id: z.string().optional(),
  /** Private tier via the shared team key. */
  use_team_key: z.boolean().default(false),
  timeout_ms: z.number().int().min(100).default(60_000),
  quality: z.number().min(0).max(1).default(0.5),
  /** The enclave the remote runs in (operator's declaration). */
  supports_tee: TeeModeSchema.default('none'),
  /** Encrypted computation the remote can do (operator's declaration). */
  supports_encryption: EncryptionSchemeSchema.default('none')
});

const WorkflowConfigSchema = z.strictObject({
  local: LocalConfigSchema.default(LocalConfigSchema.parse({})),
  extractive: z
    .strictObject({
      enabled: z.boolean().default(true),
      /** The enclave this oracle process runs in, when it runs in one. */
      supports_tee: TeeModeSchema.default('none')
    })
    .default({ enabled: true, supports_tee: 'none' }),
  team: z
    .strictObject({
      peer_allowlist: z.array(z.string()).default([]),
      team_key_env: z.string().optional()
    })
    .default({ peer_allowlist: [] }),
  remotes: z.array(RemoteConfigSchema).default([])
});
export type WorkflowConfig = z.infer<typeof WorkflowConfigSchema>;
export type WorkflowConfigInput = z.input<typeof WorkflowConfigSchema>;

/** Parses and checks a config object. Throws WorkflowConfigError naming the field and rule. */
export function parseWorkflowConfig(
  raw: unknown,
  env: NodeJS.ProcessEnv = process.env
): WorkflowConfig {
  const parsed = WorkflowConfigSchema.safeParse(raw ?? {});
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new WorkflowConfigError(
      `workflow config ${issue.path.map(String).join('.') || '(root)'}: ${issue.message}`
    );
  }
  const config = parsed.data;
  const ids = new Set<string>([config.local.candidate_id, 'extractive']);
  for (const r of config.remotes) {
    const where = `workflow config remote ${r.candidate_id}`;
    if (ids.has(r.candidate_id)) throw new WorkflowConfigError(`${where}: duplicate candidate_id`);
    ids.add(r.candidate_id);
    if (r.trust_tier === 'local')
      throw new WorkflowConfigError(`${where}: trust tier local is reserved for this machine`);
    if (r.supply_tier === 'personal' && !isLoopback(r.endpoint)) {
      throw new WorkflowConfigError(
        `${where}: personal tier requires a loopback endpoint (this machine)`
      );
    }
    if (r.supply_tier === 'private') {
      const allowListed = r.peer_id !== undefined && config.team.peer_allowlist.includes(r.peer_id);
      const teamKey =
        r.use_team_key && config.team.team_key_env ? env[config.team.team_key_env] : undefined;
      if (!allowListed && !teamKey) {
        throw new WorkflowConfigError(
          `${where}: private tier requires a peer_id listed in team.peer_allowlist or use_team_key with team.team_key_env set`
        );
      }
    }
  }
  return config;
}

/** Reads SHARD_WORKFLOW_CONFIG (file) or SHARD_WORKFLOW_CONFIG_JSON (inline); defaults otherwise. */
export function loadWorkflowConfig(env: NodeJS.ProcessEnv = process.env): WorkflowConfig {
  const file = env.SHARD_WORKFLOW_CONFIG?.trim();
  const inline = env.SHARD_WORKFLOW_CONFIG_JSON?.trim();
  let raw: unknown = {};
  try {
    if (file) raw = JSON.parse(readFileSync(file, 'utf8'));
    else if (inline) raw = JSON.parse(inline);
  } catch (err) {
    throw new WorkflowConfigError(
      `cannot read workflow config ${file ?? 'SHARD_WORKFLOW_CONFIG_JSON'}: ${(err as Error).message}`,
      { cause: err }
    );
  }
  return parseWorkflowConfig(raw, env);
}

function isLoopback(endpoint: string): boolean {
  const host = new URL(endpoint).hostname;
  return host === 'localhost' || host === '[::1]' || host === '::1' || /^127\./.test(host);
}

export interface RegisteredCandidate extends RankableCandidate {
  executor: StepExecutor;
  timeout_ms: number;
  /** Called after an attempt on it completed (its `completed` receipt); e.g. credits a contributor. */
  onCompleted?: (receipt: ExecutionReceipt) => void;
}

/** What the registry reads from the contributor control plane. */
export type ContributedCapacity = Pick<ContributionService, 'activeNodes' | 'credit'>;

const log = createLogger('shard:oracle:workflows');

/** Expected quality of a contributed node's model before anything is known of it. */
const CONTRIBUTED_QUALITY = 0.5;
/** Per-attempt timeout of a contributed node, like a configured remote's default. */
const CONTRIBUTED_TIMEOUT_MS = 60_000;

/**
 * One live contributed node as a candidate: a remote executor that asks for the node's signed
 * attestation and, unless the contributor is operator-trusted, refuses internal addresses.
 */
export function contributedCandidate(
  node: ActiveNode,
  contribution: Pick<ContributionService, 'credit'>
): RegisteredCandidate {
  const d = toCapabilityDescriptor(node);
  const tierTag = node.supply_tier === 'public' ? 'public_specialist' : 'private_mesh';
  return {
    descriptor: { ...d, tags: [...DEFAULT_LLM_TAGS, tierTag, 'contributed'] },
    quality: CONTRIBUTED_QUALITY,
    timeout_ms: CONTRIBUTED_TIMEOUT_MS,
    executor: createRemoteExecutor({
      endpoint: node.endpoint,
      supplyTier: node.supply_tier,
      model: node.model_id,
      attestationSigner: node.contributor,
      isSsrfGuarded: node.trust_tier !== 'verified_mesh'
    }),
    onCompleted(receipt) {
      try {
        contribution.credit(node.contributor, 'verified_steps_served', 1, {
          source: 'workflow',
          ref: receipt.receipt_id,
          node_id: node.node_id,
          execution_id: receipt.execution_id
        });
      } catch (err) {
        log.warn('could not credit a verified step', { node: node.node_id, err });
      }
    }
  };
}

/** Latency EWMA weight of the newest measurement. */
const LATENCY_EWMA_ALPHA = 0.3;
/** Consecutive failures after which a candidate reads unhealthy. */
const UNHEALTHY_AFTER_FAILURES = 3;
/** An unhealthy candidate reads healthy again (one trial) after this long. */
const UNHEALTHY_COOLDOWN_MS = 30_000;

export interface CapacityRegistry {
  /** Current candidates with live latency/health in their descriptors. */
  candidates(): RegisteredCandidate[];
  /** Descriptors for GET /v1/capabilities. */
  descriptors(): CapabilityDescriptor[];
  /** Records the outcome of one attempt (latency EWMA on success, health on failures). */
  recordOutcome(candidateId: string, outcome: { ok: boolean; latency_ms?: number }): void;
  /** Sets the local oracle's endpoint once the server listens. */
  setLocalEndpoint(url: string): void;
  /** Adds a candidate at run time (tests, mesh discovery). Replaces one with the same id. */
  add(candidate: RegisteredCandidate): void;
}

export interface RegistryOptions {
  config: WorkflowConfig;
  engine: TargetEngine | null;
  /**
   * True when `engine` serves a generated test model (random weights: its text is meaningless
   * by design). The local candidate then carries the `generated_test_model` tag, so it runs no
   * step unless a request's policy sets allow_generated_test_model. Default false.
   */
  isGeneratedTestModel?: boolean;
  env?: NodeJS.ProcessEnv;
  now?: () => number;
  /** Live contributed nodes (the control plane); default none. */
  contribution?: ContributedCapacity;
}

/** The privacy capability tags of a candidate's declarations (none declared: no tag). */
function privacyTags(tee: TeeMode, encryption: EncryptionScheme): string[] {
  return [
    ...(tee !== 'none' ? [teeTag(tee)] : []),
    ...(encryption !== 'none' ? [encryptionTag(encryption)] : [])
  ];
}

/** Builds the registry from a parsed config and the (optional) local engine. */
export function createCapacityRegistry(options: RegistryOptions): CapacityRegistry {
  const env = options.env ?? process.env;
  const now = options.now ?? Date.now;
  const { config } = options;
  const list: RegisteredCandidate[] = [];
  if (options.engine && config.local.enabled) {
    const l = config.local;
    const isTestModel = options.isGeneratedTestModel === true;
    list.push({
      descriptor: {
        candidate_id: l.candidate_id,
        display_name: isTestModel ? `${l.display_name} (generated test model)` : l.display_name,
        kind: 'local_engine',
        supply_tier: l.supply_tier,
        trust_tier: l.trust_tier,
        capability_tier: 'local',
        model_id: options.engine.modelId,
        price_per_1k_input_usd: l.price_per_1k_input_usd,
        price_per_1k_output_usd: l.price_per_1k_output_usd,
        tags: [
          ...l.tags,
          ...(l.supply_tier === 'personal' ? ['personal_local'] : ['private_mesh']),
          ...privacyTags(l.supports_tee, l.supports_encryption),
          ...(isTestModel ? [GENERATED_TEST_MODEL_TAG] : [])
        ],
        healthy: true
      },
      quality: l.quality,
      timeout_ms: l.timeout_ms,
      executor: createEngineExecutor(options.engine)
    });
  }
  for (const r of config.remotes) {
    const teamKey =
      r.use_team_key && config.team.team_key_env ? env[config.team.team_key_env] : undefined;
    const apiKey = r.api_key_env ? env[r.api_key_env] : undefined;
    list.push({
      descriptor: {
        candidate_id: r.candidate_id,
        display_name: r.display_name ?? r.candidate_id,
        kind: 'remote_oracle',
        supply_tier: r.supply_tier,
        trust_tier: r.trust_tier,
        capability_tier: 'remote',
        public_api: r.supply_tier === 'public',
        endpoint: r.endpoint,
        model_id: r.model ?? null,
        latency_ms: r.latency_ms ?? null,
        price_per_1k_input_usd: r.price_per_1k_input_usd,
        price_per_1k_output_usd: r.price_per_1k_output_usd,
        tags: [
          ...r.tags,
          r.supply_tier === 'public'
            ? 'public_specialist'
            : r.supply_tier === 'private'
              ? 'private_mesh'
              : 'personal_local',
          ...privacyTags(r.supports_tee, r.supports_encryption)
        ],
        healthy: true
      },
      quality: r.quality,
      timeout_ms: r.timeout_ms,
      executor: createRemoteExecutor({
        endpoint: r.endpoint,
        supplyTier: r.supply_tier,
        apiKey: teamKey ?? apiKey ?? null,
        model: r.model ?? null
      })
    });
  }
  if (config.extractive.enabled) {
    list.push({
      descriptor: {
        candidate_id: 'extractive',
        display_name: 'extractive engine',
        kind: 'extractive',
        supply_tier: 'personal',
        trust_tier: 'local',
        capability_tier: 'extractive',
        model_id: 'extractive-bm25',
        price_per_1k_input_usd: 0,
        price_per_1k_output_usd: 0,
        latency_ms: 5,
        tags: [
          'planning',
          'summarization',
          'synthesis',
          'extractive',
          'low_cost',
          'personal_local',
          ...privacyTags(config.extractive.supports_tee, 'none')
        ],
        healthy: true
      },
      quality: 0.1,
      timeout_ms: 10_000,
      executor: createExtractiveExecutor()
    });
  }
  const health = new Map<string, { failures: number; unhealthySince: number | null }>();
  const isHealthy = (id: string) => {
    const h = health.get(id);
    if (!h || h.unhealthySince === null) return true;
    return now() - h.unhealthySince >= UNHEALTHY_COOLDOWN_MS;
  };
  const { contribution } = options;
  // Contributed nodes are read at every call: one whose heartbeats stopped is simply gone.
  const all = (): RegisteredCandidate[] => [
    ...list,
    ...(contribution?.activeNodes() ?? []).map((n) => contributedCandidate(n, contribution!))
  ];
  return {
    candidates: () =>
      all().map((c) => ({
        ...c,
        descriptor: { ...c.descriptor, healthy: isHealthy(c.descriptor.candidate_id) }
      })),
    descriptors: () =>
      all().map((c) => ({ ...c.descriptor, healthy: isHealthy(c.descriptor.candidate_id) })),
    recordOutcome(candidateId, outcome) {
      const c = list.find((x) => x.descriptor.candidate_id === candidateId);
      const h = health.get(candidateId) ?? { failures: 0, unhealthySince: null };
      if (outcome.ok) {
        h.failures = 0;
        h.unhealthySince = null;
        // Contributed nodes report their latency in heartbeats; configured ones are measured.
        if (c && outcome.latency_ms !== undefined) {
          const prev = c.descriptor.latency_ms;
          c.descriptor.latency_ms = Math.round(
            prev == null
              ? outcome.latency_ms
              : prev + LATENCY_EWMA_ALPHA * (outcome.latency_ms - prev)
          );
        }
      } else {
        h.failures += 1;
        if (h.failures >= UNHEALTHY_AFTER_FAILURES) h.unhealthySince = now();
      }
      health.set(candidateId, h);
    },
    setLocalEndpoint(url) {
      for (const c of list) if (c.descriptor.kind === 'local_engine') c.descriptor.endpoint = url;
    },
    add(candidate) {
      const i = list.findIndex(
        (c) => c.descriptor.candidate_id === candidate.descriptor.candidate_id
      );
      if (i >= 0) list[i] = candidate;
      else
        list.splice(Math.max(0, list.length - (config.extractive.enabled ? 1 : 0)), 0, candidate);
    }
  };
}
