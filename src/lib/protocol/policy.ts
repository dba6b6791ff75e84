/**
 * Routing policy of a workflow execution (`ExecutionPolicy`): which supply tiers may run a step,
 * the trust floor, budgets, deadline and whether fallbacks may cross trust or cost lines.
 *
 * ONE normalization rule (the predecessor had a blank-vs-`{}` inconsistency):
 *   a field that is ABSENT takes its documented default; a PRESENT value is taken literally
 *   (after validation), and `null` is a literal too: it means "no limit" for the nullable
 *   limits (budget_limit, step_budget_limit, max_public_spend, deadline_ms, data_residency).
 *   Omitting `policy`, sending `policy: null` and sending `policy: {}` are therefore the same
 *   thing: all defaults. Arrays are de-duplicated keeping the first occurrence;
 *   `fallback_order` is completed with the allowed tiers it does not name, in allowed order.
 *   `privacy` (the privacy envelope, privacy.ts) follows the same rule field by field; it is
 *   not nullable.
 *
 * Framework-free (zod only): the browser form and the oracle share it.
 */
import { z } from 'zod';
import {
  normalizePrivacy,
  PrivacyEnvelopeInputSchema,
  PrivacyEnvelopeSchema,
  PRIVACY_DEFAULTS
} from './privacy.js';

const SUPPLY_TIERS = ['personal', 'private', 'public'] as const;
const TRUST_TIERS = ['local', 'verified_mesh', 'private_attested', 'public_specialist'] as const;

export const SupplyTierSchema = z.enum(SUPPLY_TIERS);
export type SupplyTier = z.infer<typeof SupplyTierSchema>;
export const TrustTierSchema = z.enum(TRUST_TIERS);
export type TrustTier = z.infer<typeof TrustTierSchema>;

/**
 * Trust order, most trusted last: public_specialist < verified_mesh < private_attested < local.
 * A candidate satisfies a trust floor when its rank is >= the floor's rank; so `local` admits
 * only local candidates and `public_specialist` admits every candidate.
 */
export const TRUST_RANK: Record<TrustTier, number> = {
  public_specialist: 0,
  verified_mesh: 1,
  private_attested: 2,
  local: 3
};

/** True when a candidate of trust tier `candidate` satisfies the trust floor `floor`. */
export function satisfiesTrustFloor(candidate: TrustTier, floor: TrustTier): boolean {
  return TRUST_RANK[candidate] >= TRUST_RANK[floor];
}

/** Product defaults, applied field by field to absent fields. */
export const POLICY_DEFAULTS = {
  allowed_supply_tiers: ['personal', 'private', 'public'] as SupplyTier[],
  trust_tier: 'verified_mesh' as TrustTier,
  /** USD for the whole execution. */
  budget_limit: 1.25 as number | null,
  /** USD per step (all attempts of one step together); null = only the total applies. */
  step_budget_limit: null as number | null,
  /** USD that may be spent on public-tier candidates. */
  max_public_spend: 0.35 as number | null,
  deadline_ms: 45_000 as number | null,
  capability_tags: ['planning', 'summarization', 'synthesis'],
  data_residency: null as string | null,
  /**
   * When false (the default), a fallback after a failure may only go to a candidate that is at
   * least as trusted AND no more expensive (estimated) than the one that failed. When true, any
   * ranked candidate that satisfies the policy may be tried. Every fallback is a receipt.
   */
  allow_fallbacks: false,
  /**
   * When false (the default), a candidate serving a generated test model (capability tag
   * `generated_test_model`: random weights, its text is meaningless by design) runs no step;
   * the ranking records why. True opts in to it, e.g. to test the model path itself.
   */
  allow_generated_test_model: false,
  /** The privacy envelope (privacy.ts): TEE, encryption, scout floor. */
  privacy: PRIVACY_DEFAULTS
};

const usd = z.number().finite().min(0, 'must be >= 0');
const tierList = z.array(SupplyTierSchema);

/** What clients send (every field optional; see the normalization rule above). */
const ExecutionPolicyInputSchema = z.strictObject({
  allowed_supply_tiers: tierList
    .min(1, 'must list at least one tier (omit the field for all tiers)')
    .optional(),
  trust_tier: TrustTierSchema.optional(),
  budget_limit: usd.nullable().optional(),
  step_budget_limit: usd.nullable().optional(),
  max_public_spend: usd.nullable().optional(),
  deadline_ms: z.number().int().min(1).max(3_600_000).nullable().optional(),
  capability_tags: z.array(z.string().trim().min(1).max(64)).max(32).optional(),
  fallback_order: tierList.optional(),
  data_residency: z.string().trim().min(1).max(64).nullable().optional(),
  allow_fallbacks: z.boolean().optional(),
  allow_generated_test_model: z.boolean().optional(),
  privacy: PrivacyEnvelopeInputSchema.optional()
});
export type ExecutionPolicyInput = z.infer<typeof ExecutionPolicyInputSchema>;

/** The normalized policy, as recorded in receipts (`policy_snapshot`). */
export const ExecutionPolicySchema = z.object({
  allowed_supply_tiers: tierList.min(1),
  trust_tier: TrustTierSchema,
  budget_limit: usd.nullable(),
  step_budget_limit: usd.nullable(),
  max_public_spend: usd.nullable(),
  deadline_ms: z.number().int().nullable(),
  capability_tags: z.array(z.string()),
  fallback_order: tierList,
  data_residency: z.string().nullable(),
  allow_fallbacks: z.boolean(),
  /** Absent in receipts written before it existed: false. */
  allow_generated_test_model: z.boolean().default(false),
  /** Absent in receipts written before it existed: the default envelope. */
  privacy: PrivacyEnvelopeSchema.default({ ...PRIVACY_DEFAULTS })
});
export type ExecutionPolicy = z.infer<typeof ExecutionPolicySchema>;

/** Thrown by normalizePolicy when the input breaks a rule zod cannot express alone. */
export class PolicyValidationError extends Error {
  override name = 'PolicyValidationError';
}

function dedupe<T>(items: readonly T[]): T[] {
  return [...new Set(items)];
}

/**
 * Applies the normalization rule to an already schema-validated input (undefined or null =
 * all defaults). Throws PolicyValidationError when fallback_order names a tier not allowed,
 * PrivacyValidationError when the privacy envelope's fields disagree.
 */
export function normalizePolicy(input: ExecutionPolicyInput | null | undefined): ExecutionPolicy {
  const p = input ?? {};
  const pick = <K extends keyof typeof POLICY_DEFAULTS>(key: K): (typeof POLICY_DEFAULTS)[K] =>
    (key in p && (p as Record<string, unknown>)[key] !== undefined
      ? (p as Record<string, unknown>)[key]
      : POLICY_DEFAULTS[key]) as (typeof POLICY_DEFAULTS)[K];
  const allowed = dedupe(pick('allowed_supply_tiers'));
  const requestedOrder = dedupe(p.fallback_order ?? []);
  for (const tier of requestedOrder) {
    if (!allowed.includes(tier)) {
      throw new PolicyValidationError(
        `policy.fallback_order: tier ${tier} is not in allowed_supply_tiers (${allowed.join(', ')})`
      );
    }
  }
  return {
    allowed_supply_tiers: allowed,
    trust_tier: pick('trust_tier'),
    budget_limit: pick('budget_limit'),
    step_budget_limit: pick('step_budget_limit'),
    max_public_spend: pick('max_public_spend'),
    deadline_ms: pick('deadline_ms'),
    capability_tags: dedupe(pick('capability_tags')),
    fallback_order: [...requestedOrder, ...allowed.filter((t) => !requestedOrder.includes(t))],
    data_residency: pick('data_residency'),
    allow_fallbacks: pick('allow_fallbacks'),
    allow_generated_test_model: pick('allow_generated_test_model'),
    privacy: normalizePrivacy(p.privacy, 'policy.privacy')
  };
}

/**
 * Parses untrusted input (anything) into a normalized policy. Returns either the policy or a
 * precise error message naming the field (`policy.<field>: <rule>`).
 */
export function parsePolicy(
  raw: unknown
): { ok: true; policy: ExecutionPolicy } | { ok: false; detail: string } {
  if (raw === undefined || raw === null) return { ok: true, policy: normalizePolicy(undefined) };
  const parsed = ExecutionPolicyInputSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const path = ['policy', ...issue.path.map(String)].join('.');
    return { ok: false, detail: `${path}: ${issue.message}` };
  }
  try {
    return { ok: true, policy: normalizePolicy(parsed.data) };
  } catch (err) {
    return { ok: false, detail: (err as Error).message };
  }
}
