/**
 * The research brief form of the provenance explorer, as plain data and rules: policy presets
 * (and which one the current settings match), the editable fallback order, and validation that
 * names the field at fault in plain words before anything is sent. The oracle's own validation
 * (parseAgentTask, parsePolicy) still runs last, so the page never sends what the oracle refuses.
 */
import { parsePolicy, type SupplyTier, type TrustTier } from '$lib/protocol/policy.js';
import { MAX_RESEARCH_SOURCES, parseAgentTask } from '$lib/protocol/workflow.js';

export const SUPPLY_TIERS: readonly SupplyTier[] = ['personal', 'private', 'public'];

export interface SourceRow {
  id: string;
  title: string;
  content: string;
}

/** Everything the form edits besides question and sources. Numbers are kept as typed text. */
export interface PolicyForm {
  tiers: Record<SupplyTier, boolean>;
  trustTier: TrustTier;
  budget: string;
  publicSpend: string;
  deadlineMs: string;
  allowFallbacks: boolean;
  /** Tier preference for fallbacks, most preferred first (only allowed tiers are sent). */
  fallbackOrder: SupplyTier[];
}

export type PresetName = 'balanced' | 'owned' | 'specialist';

export const PRESET_LABELS: Record<PresetName, string> = {
  balanced: 'Balanced',
  owned: 'Stay on my machines',
  specialist: 'Specialist'
};

/** The settings each preset applies (deadline and fallbacks are left as they are). */
export const PRESETS: Record<
  PresetName,
  Pick<PolicyForm, 'tiers' | 'trustTier' | 'budget' | 'publicSpend' | 'fallbackOrder'>
> = {
  balanced: {
    tiers: { personal: true, private: true, public: true },
    trustTier: 'verified_mesh',
    budget: '1.25',
    publicSpend: '0.35',
    fallbackOrder: ['personal', 'private', 'public']
  },
  owned: {
    tiers: { personal: true, private: true, public: false },
    trustTier: 'verified_mesh',
    budget: '1.25',
    publicSpend: '0',
    fallbackOrder: ['personal', 'private', 'public']
  },
  specialist: {
    tiers: { personal: true, private: true, public: true },
    trustTier: 'public_specialist',
    budget: '2',
    publicSpend: '0.75',
    fallbackOrder: ['public', 'private', 'personal']
  }
};

/** The form's starting policy: the balanced preset, 45 s deadline, no cross-line fallbacks. */
export function defaultPolicyForm(): PolicyForm {
  return structuredClone({ ...PRESETS.balanced, deadlineMs: '45000', allowFallbacks: false });
}

/** Applies a preset to `form` (returns a new object). */
export function applyPreset(form: PolicyForm, name: PresetName): PolicyForm {
  return { ...form, ...structuredClone(PRESETS[name]) };
}

/** The preset the settings match exactly, or null (custom settings). */
export function activePreset(form: PolicyForm): PresetName | null {
  for (const name of Object.keys(PRESETS) as PresetName[]) {
    const p = PRESETS[name];
    const isSame =
      SUPPLY_TIERS.every((t) => p.tiers[t] === form.tiers[t]) &&
      p.trustTier === form.trustTier &&
      Number(p.budget) === Number(form.budget) &&
      Number(p.publicSpend) === Number(form.publicSpend) &&
      p.fallbackOrder.join() === form.fallbackOrder.join();
    if (isSame) return name;
  }
  return null;
}

/** Moves `tier` one place earlier (-1) or later (+1) in the fallback order. */
export function moveTier(order: readonly SupplyTier[], tier: SupplyTier, by: -1 | 1): SupplyTier[] {
  const next = [...order];
  const i = next.indexOf(tier);
  const j = i + by;
  if (i < 0 || j < 0 || j >= next.length) return next;
  [next[i], next[j]] = [next[j]!, next[i]!];
  return next;
}

/** Which control an error belongs beside. */
export type FormField =
  'question' | `source-${number}` | 'tiers' | 'budget' | 'publicSpend' | 'deadline' | 'submit';

export type BriefCheck =
  | { ok: true; body: Record<string, unknown>; titles: Record<string, string> }
  | { ok: false; field: FormField; message: string };

const MONEY = /^\d+(\.\d+)?$/;

function amount(text: string): number | null | 'bad' {
  const t = text.trim();
  if (t === '') return null;
  return MONEY.test(t) ? Number(t) : 'bad';
}

/**
 * Checks the form and builds the request body. The first problem comes back with the field it
 * belongs to and a sentence a person can act on.
 */
export function checkBrief(form: {
  question: string;
  sources: readonly SourceRow[];
  policy: PolicyForm;
}): BriefCheck {
  const fail = (field: FormField, message: string): BriefCheck => ({ ok: false, field, message });
  if (!form.question.trim()) return fail('question', 'Write the question the brief should answer.');
  if (form.sources.length > MAX_RESEARCH_SOURCES)
    return fail('submit', `A brief takes at most ${MAX_RESEARCH_SOURCES} sources.`);
  const seen = new Set<string>();
  for (const [i, s] of form.sources.entries()) {
    const id = s.id.trim();
    if (!id) return fail(`source-${i}`, `Source ${i + 1} needs a short id, such as “coffee”.`);
    if (seen.has(id))
      return fail(`source-${i}`, `Source ${i + 1} has the same id as another source (“${id}”).`);
    seen.add(id);
    if (!s.content.trim()) return fail(`source-${i}`, `Source ${i + 1} has no text to read.`);
  }
  const p = form.policy;
  const allowed = SUPPLY_TIERS.filter((t) => p.tiers[t]);
  if (allowed.length === 0)
    return fail('tiers', 'Tick at least one kind of machine (personal, private or public).');
  const budget = amount(p.budget);
  if (budget === 'bad')
    return fail(
      'budget',
      'The budget is an amount in dollars, such as 1.25, or empty for no limit.'
    );
  const publicSpend = amount(p.publicSpend);
  if (publicSpend === 'bad')
    return fail('publicSpend', 'Public spend is an amount in dollars, such as 0.35, or empty.');
  const deadlineText = p.deadlineMs.trim();
  const deadline = deadlineText === '' ? null : Number(deadlineText);
  if (deadline !== null && (!Number.isInteger(deadline) || deadline < 1 || deadline > 3_600_000))
    return fail(
      'deadline',
      'The deadline is a whole number of milliseconds up to 3600000 (one hour), or empty.'
    );
  const body = {
    workflow_kind: 'research_brief',
    question: form.question,
    sources: form.sources.map((s) => ({ id: s.id.trim(), title: s.title, content: s.content })),
    policy: {
      allowed_supply_tiers: allowed,
      trust_tier: p.trustTier,
      budget_limit: budget,
      max_public_spend: publicSpend,
      deadline_ms: deadline,
      allow_fallbacks: p.allowFallbacks,
      fallback_order: p.fallbackOrder.filter((t) => p.tiers[t])
    }
  };
  // The oracle's own rules, last: anything they still refuse is said with its detail.
  const task = parseAgentTask(body);
  if (!task.ok) return fail('submit', `The oracle would refuse this brief: ${task.detail}.`);
  const policy = parsePolicy(body.policy);
  if (!policy.ok) return fail('submit', `The oracle would refuse this policy: ${policy.detail}.`);
  const titles: Record<string, string> = {};
  for (const s of form.sources) if (s.title.trim()) titles[s.id.trim()] = s.title.trim();
  return { ok: true, body, titles };
}

/** An error the oracle answered with, in plain words where the status says enough. */
export function plainOracleError(status: number, detail: string | null): string {
  if (status === 429 || status === 503)
    return 'The oracle is busy right now; wait a moment and run the brief again.';
  if (status === 401 || status === 403)
    return 'The oracle needs an API key for workflows, and this page has none.';
  if (status === 413) return 'The brief is too large for the oracle; shorten the sources.';
  if (status >= 500) return `The oracle failed while accepting the brief (${detail ?? status}).`;
  return `The oracle refused the brief: ${detail ?? `HTTP ${status}`}.`;
}
