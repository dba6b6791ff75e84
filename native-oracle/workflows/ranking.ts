/**
 * Candidate ranking for one workflow step: filters (privacy envelope, tier, trust floor,
 * generated test model, capability, residency, health-independent budgets and deadline), then
 * a score whose every term is written into the
 * receipt (`selection_reason`), so a reader can see why the winner won.
 *
 * score = 0.4·|step.required_tags ∩ tags| + 0.2·|policy.capability_tags ∩ tags|
 *       + latency_weight(step)·1/(1 + predicted_ms/1500)   (synthesis 0.5, others 1.0)
 *       + fallback_bias (1 − 0.12·index of the supply tier in policy.fallback_order)
 *       + trust_bonus (0.12 + 0.02·(trust rank − floor rank))
 *       + quality_weight(step)·quality      (synthesis 1.5, planner 0.5, summaries 0.2)
 *       + locality (summaries: +0.35 personal/private, −0.30 public)
 *       − cost_weight(step)·estimated_cost / max estimated cost of the eligible set
 *                                            (summaries 0.6, planner 0.3, synthesis 0.1)
 *       + health (+0.2 healthy, −0.6 unhealthy) − 0.05·queue_depth
 * Ties break by candidate_id ascending. Pure: same input, same ranking.
 */
import { round6 } from '../../src/lib/protocol/provenance.js';
import {
  satisfiesTrustFloor,
  TRUST_RANK,
  type ExecutionPolicy,
  type SupplyTier
} from '../../src/lib/protocol/policy.js';
import { privacyExclusion, privacySupportOf } from '../../src/lib/protocol/privacy.js';
import type {
  CapabilityDescriptor,
  RejectedCandidate,
  StepKind
} from '../../src/lib/protocol/receipts.js';

/**
 * Capability tag of a candidate whose model is a generated test model (random weights: its text
 * is meaningless by design). Such a candidate runs no step unless the policy opts in.
 */
export const GENERATED_TEST_MODEL_TAG = 'generated_test_model';

/** The rejection reason of a generated test model, in plain words and with the way to opt in. */
export const GENERATED_TEST_MODEL_REASON =
  'generated_test_model: its text is meaningless by design (policy.allow_generated_test_model opts in)';

export type WorkStepKind = Extract<StepKind, 'planner' | 'summarize_source' | 'synthesize_brief'>;

export interface StepSpec {
  step_id: string;
  step_kind: WorkStepKind;
  /** The capability a candidate must have (its tag) to run this step at all. */
  capability_tag: 'planning' | 'summarization' | 'synthesis';
  /** Preferred tags; each match adds 0.4. */
  required_tags: string[];
  max_tokens: number;
}

export interface RankableCandidate {
  descriptor: CapabilityDescriptor;
  /** 0..1: how good its output is expected to be (configured; extractive 0.1). */
  quality: number;
}

export interface RankInput {
  step: StepSpec;
  candidates: readonly RankableCandidate[];
  policy: ExecutionPolicy;
  spent: Spent;
  /** Time since the execution started, for the deadline. */
  elapsed_ms: number;
  /** Estimated prompt tokens of this step (chars/4); real counts are used for actual cost. */
  prompt_tokens: number;
}

export interface RankedCandidate {
  descriptor: CapabilityDescriptor;
  quality: number;
  estimated_cost_usd: number;
  predicted_latency_ms: number;
  components: Record<string, number>;
}

export interface Ranking {
  ranked: RankedCandidate[];
  rejected: RejectedCandidate[];
  /** Why the winner won, in words (`winner X (2.31) over Y (1.95): quality +0.50, ...`). */
  explanation: string;
}

const TIER_LATENCY_MS: Record<SupplyTier, number> = { personal: 900, private: 1400, public: 2100 };
// Synthesis is where a stronger model pays off and where waiting longer is acceptable.
const QUALITY_WEIGHT: Record<WorkStepKind, number> = {
  synthesize_brief: 1.5,
  planner: 0.5,
  summarize_source: 0.2
};
const LATENCY_WEIGHT: Record<WorkStepKind, number> = {
  synthesize_brief: 0.5,
  planner: 1,
  summarize_source: 1
};
const COST_WEIGHT: Record<WorkStepKind, number> = {
  summarize_source: 0.6,
  planner: 0.3,
  synthesize_brief: 0.1
};

/** Estimated USD of one step: (prompt tokens + max output tokens) at the candidate's prices. */
export function estimateCost(
  d: CapabilityDescriptor,
  promptTokens: number,
  maxTokens: number
): number {
  return round6(
    (promptTokens * (d.price_per_1k_input_usd ?? 0) +
      maxTokens * (d.price_per_1k_output_usd ?? 0)) /
      1000
  );
}

/** Actual USD of one step from real token counts. */
export function actualCost(
  d: CapabilityDescriptor,
  inputTokens: number,
  outputTokens: number
): number {
  return round6(
    (inputTokens * (d.price_per_1k_input_usd ?? 0) +
      outputTokens * (d.price_per_1k_output_usd ?? 0)) /
      1000
  );
}

function predictedLatencyMs(d: CapabilityDescriptor): number {
  return (d.latency_ms ?? TIER_LATENCY_MS[d.supply_tier]) + 120 * (d.queue_depth ?? 0);
}

/** Whether the candidate matches `data_residency` (local/personal, private, public, or a residency:/region: tag). */
function matchesResidency(d: CapabilityDescriptor, residency: string | null): boolean {
  if (!residency) return true;
  const r = residency.toLowerCase();
  if (r === 'local' || r === 'personal') return d.supply_tier === 'personal';
  if (r === 'private' || r === 'public') return d.supply_tier === r;
  return (d.tags ?? []).includes(`residency:${r}`) || (d.tags ?? []).includes(`region:${r}`);
}

const f3 = (x: number) => x.toFixed(3);

/** USD spent so far (actual costs of completed attempts). */
export interface Spent {
  /** By the whole execution (policy.budget_limit). */
  total_usd: number;
  /** On public-tier candidates (policy.max_public_spend). */
  public_usd: number;
  /** By the current step, all attempts together (policy.step_budget_limit). */
  step_usd: number;
}

/** What is left of each budget (null = no limit). Never below 0: an overspend leaves 0, not less. */
interface RemainingBudgets {
  total_usd: number | null;
  step_usd: number | null;
  public_usd: number | null;
}

/** What is left of the policy's budgets after `spent`; the ranking and fallbacks both use it. */
export function remainingBudgets(policy: ExecutionPolicy, spent: Spent): RemainingBudgets {
  const left = (limit: number | null, used: number) =>
    limit === null ? null : Math.max(0, limit - used);
  return {
    total_usd: left(policy.budget_limit, spent.total_usd),
    step_usd: left(policy.step_budget_limit, spent.step_usd),
    public_usd: left(policy.max_public_spend, spent.public_usd)
  };
}

/**
 * The budget a candidate's estimated cost does not fit, or null when it fits them all. The one
 * budget rule: a candidate passes when its estimate is at most what is left (so a free candidate
 * always passes, even after an overspend).
 */
export function budgetRejection(
  remaining: RemainingBudgets,
  d: CapabilityDescriptor,
  estimatedUsd: number
): 'budget_exceeded' | 'step_budget_exceeded' | 'public_spend_exceeded' | null {
  if (remaining.total_usd !== null && estimatedUsd > remaining.total_usd) return 'budget_exceeded';
  if (remaining.step_usd !== null && estimatedUsd > remaining.step_usd)
    return 'step_budget_exceeded';
  if (
    d.supply_tier === 'public' &&
    remaining.public_usd !== null &&
    estimatedUsd > remaining.public_usd
  )
    return 'public_spend_exceeded';
  return null;
}

/**
 * Why the policy excludes a candidate (the first filter it fails, in the order of the file
 * comment), or null when it is eligible. The privacy envelope comes first: it is the one
 * requirement no fallback may weaken, so its reason is the one recorded.
 */
function exclusionReason(
  input: RankInput,
  d: CapabilityDescriptor,
  est: number,
  latency: number,
  remaining: RemainingBudgets
): string | null {
  const { step, policy } = input;
  const tags = d.tags ?? [];
  const remainingDeadline =
    policy.deadline_ms === null ? null : policy.deadline_ms - input.elapsed_ms;
  return (
    privacyExclusion(policy.privacy, privacySupportOf(tags)) ??
    (!policy.allowed_supply_tiers.includes(d.supply_tier)
      ? 'tier_not_allowed'
      : !satisfiesTrustFloor(d.trust_tier, policy.trust_tier)
        ? 'trust_floor_unmet'
        : tags.includes(GENERATED_TEST_MODEL_TAG) && !policy.allow_generated_test_model
          ? GENERATED_TEST_MODEL_REASON
          : !tags.includes(step.capability_tag)
            ? 'missing_capability'
            : !matchesResidency(d, policy.data_residency)
              ? 'residency_mismatch'
              : (budgetRejection(remaining, d, est) ??
                (remainingDeadline !== null && latency > remainingDeadline
                  ? 'deadline_exceeded'
                  : null)))
  );
}

/** Ranks the candidates for one step (see the file comment for the formula). */
export function rankCandidates(input: RankInput): Ranking {
  const { step, policy } = input;
  const rejected: RejectedCandidate[] = [];
  const remaining = remainingBudgets(policy, input.spent);
  const remainingDeadline =
    policy.deadline_ms === null ? null : policy.deadline_ms - input.elapsed_ms;
  const eligible: Array<{ c: RankableCandidate; est: number; latency: number }> = [];
  for (const c of input.candidates) {
    const d = c.descriptor;
    const est = estimateCost(d, input.prompt_tokens, step.max_tokens);
    const latency = predictedLatencyMs(d);
    const reason = exclusionReason(input, d, est, latency, remaining);
    if (reason) rejected.push({ candidate_id: d.candidate_id, reason });
    else eligible.push({ c, est, latency });
  }
  const maxEst = Math.max(0, ...eligible.map((e) => e.est));
  const ranked: RankedCandidate[] = eligible.map(({ c, est, latency }) => {
    const d = c.descriptor;
    const components: Record<string, number> = {
      required_matches: 0.4 * step.required_tags.filter((t) => (d.tags ?? []).includes(t)).length,
      policy_matches: 0.2 * policy.capability_tags.filter((t) => (d.tags ?? []).includes(t)).length,
      latency_score: LATENCY_WEIGHT[step.step_kind] / (1 + latency / 1500),
      fallback_bias: (() => {
        const i = policy.fallback_order.indexOf(d.supply_tier);
        return i < 0 ? 0.5 : 1 - 0.12 * i;
      })(),
      trust_bonus:
        0.12 + 0.02 * Math.max(0, TRUST_RANK[d.trust_tier] - TRUST_RANK[policy.trust_tier]),
      quality: QUALITY_WEIGHT[step.step_kind] * c.quality,
      locality:
        step.step_kind === 'summarize_source' ? (d.supply_tier === 'public' ? -0.3 : 0.35) : 0,
      cost_penalty: maxEst > 0 ? -COST_WEIGHT[step.step_kind] * (est / maxEst) : 0,
      health: d.healthy === false ? -0.6 : 0.2,
      queue: -0.05 * (d.queue_depth ?? 0)
    };
    const score = Object.values(components).reduce((s, v) => s + v, 0);
    const reason =
      Object.entries(components)
        .map(([k, v]) => `${k}=${f3(v)}`)
        .join(',') +
      `,estimated_cost_usd=${est},remaining_budget_usd=${remaining.total_usd ?? -1},remaining_deadline_ms=${remainingDeadline ?? 'none'}`;
    return {
      descriptor: { ...d, score: Math.round(score * 1000) / 1000, selection_reason: reason },
      quality: c.quality,
      estimated_cost_usd: est,
      predicted_latency_ms: latency,
      components
    };
  });
  ranked.sort(
    (a, b) =>
      (b.descriptor.score ?? 0) - (a.descriptor.score ?? 0) ||
      (a.descriptor.candidate_id < b.descriptor.candidate_id
        ? -1
        : a.descriptor.candidate_id > b.descriptor.candidate_id
          ? 1
          : 0)
  );
  return { ranked, rejected, explanation: explain(ranked, rejected) };
}

function explain(ranked: RankedCandidate[], rejected: RejectedCandidate[]): string {
  const [winner, runnerUp] = ranked;
  const excluded =
    rejected.length > 0
      ? `; excluded ${rejected.map((r) => `${r.candidate_id} (${r.reason})`).join(', ')}`
      : '';
  if (!winner) return `no candidate satisfied the policy${excluded}`;
  const w = winner.descriptor;
  if (!runnerUp)
    return `winner ${w.candidate_id} (${w.score}): the only eligible candidate${excluded}`;
  const deltas = Object.keys(winner.components)
    .map((k) => ({ k, d: winner.components[k]! - runnerUp.components[k]! }))
    .filter((x) => x.d > 0.0005)
    .sort((a, b) => b.d - a.d)
    .slice(0, 3)
    .map((x) => `${x.k} +${f3(x.d)}`);
  return `winner ${w.candidate_id} (${w.score}) over ${runnerUp.descriptor.candidate_id} (${runnerUp.descriptor.score}): ${
    deltas.join(', ') || 'tie broken by candidate_id'
  }${excluded}`;
}

/**
 * Whether a fallback from `failed` to `next` may happen. With allow_fallbacks false (default)
 * the next candidate must be at least as trusted and no more expensive; otherwise any ranked
 * candidate may be tried. Returns the blocking reason when not allowed.
 */
export function fallbackBlockReason(
  policy: ExecutionPolicy,
  failed: RankedCandidate,
  next: RankedCandidate
): string | null {
  if (policy.allow_fallbacks) return null;
  if (TRUST_RANK[next.descriptor.trust_tier] < TRUST_RANK[failed.descriptor.trust_tier]) {
    return `fallback_blocked:lower_trust(${next.descriptor.candidate_id}:${next.descriptor.trust_tier}<${failed.descriptor.trust_tier})`;
  }
  if (next.estimated_cost_usd > failed.estimated_cost_usd) {
    return `fallback_blocked:higher_cost(${next.descriptor.candidate_id}:${next.estimated_cost_usd}>${failed.estimated_cost_usd})`;
  }
  return null;
}
