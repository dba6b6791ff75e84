/**
 * The step runner of one workflow execution: runs a step by ranking the registry's candidates
 * against the policy, dispatching to the best one and, when an attempt fails, falling back down
 * the ranking where the policy allows. Every event is a receipt, chained by parent links.
 *
 * Receipts of one step (predecessor §2.4), parent links in brackets:
 *   candidate_ranked [previous step's completed | root] → dispatched#1 → failed#1
 *   → fallback_applied(selected=#2) → dispatched#2 → completed#2
 * No candidate: candidate_ranked → failed (`{exec}:{step}:none`, no_candidate_satisfied_policy).
 *
 * The policy's privacy envelope travels with every attempt (StepRequest.privacy). Candidates
 * that cannot honour it are excluded by the ranking (rejected_candidates says which and why,
 * the candidate_ranked summary states the envelope), so no attempt and no fallback ever runs on
 * them; when none is left the step fails with an error naming the requirement.
 *
 * Invariants:
 * - only a completed attempt is charged: its actual cost, from the executor's token counts;
 * - every ranked candidate's estimate fits the budgets left when the step starts, and a fallback
 *   is checked again with what has been charged since;
 * - a fallback never goes to a less trusted or more expensive candidate unless
 *   policy.allow_fallbacks;
 * - a cancelled or past-deadline execution takes no fallback;
 * - every attempt runs on a candidate that declares what the privacy envelope requires.
 */
import type { ExecutionPolicy } from '../../src/lib/protocol/policy.js';
import {
  describePrivacyRequirement,
  formatPrivacy,
  isDefaultPrivacy
} from '../../src/lib/protocol/privacy.js';
import type {
  CapabilityDescriptor,
  ExecutionReceipt,
  RejectedCandidate,
  UnsignedReceipt
} from '../../src/lib/protocol/receipts.js';
import { createLogger } from '../../src/lib/server/log.js';
import { StepAttemptError, StepExhaustedError } from './errors.js';
import { abortReason, type StepRequest, type StepResult } from './executors.js';
import {
  actualCost,
  budgetRejection,
  fallbackBlockReason,
  remainingBudgets,
  rankCandidates,
  type RankedCandidate,
  type Ranking,
  type Spent,
  type StepSpec
} from './ranking.js';
import type { CapacityRegistry, RegisteredCandidate } from './registry.js';

const log = createLogger('shard:oracle:workflows');

/** Prompt characters per token for cost estimates before a run (predecessor §2.5: ceil(chars/4)). */
const CHARS_PER_TOKEN_ESTIMATE = 4;

/** Characters of a step's output kept in its completed receipt's `summary`. */
const SUMMARY_CHARS = 140;

/** USD charged so far in one execution (completed attempts only). */
export type Spend = Omit<Spent, 'step_usd'>;

/** What the runner writes; the writer adds receipt id, execution id, workflow kind and time. */
export type ReceiptFields = Omit<
  UnsignedReceipt,
  'receipt_id' | 'execution_id' | 'workflow_kind' | 'timestamp_ms'
>;

/** Where receipts go: the execution's receipt store, stamped. */
export interface ReceiptWriter {
  /** Appends one receipt and returns it as stored. Throws when the store refuses it. */
  emit(fields: ReceiptFields): ExecutionReceipt;
  /** Makes every receipt appended so far durable (called before work is dispatched). */
  flush(): void;
}

/** A step's request without what the runner fills in per attempt. */
export type StepBody = Omit<StepRequest, 'request_id' | 'step_kind' | 'max_tokens' | 'privacy'>;

export interface StepOutcome {
  result: StepResult;
  /** The step's `completed` receipt. */
  receipt: ExecutionReceipt;
  /** The candidates the step's ranking excluded, and why (as in its candidate_ranked receipt). */
  rejected: RejectedCandidate[];
}

export interface StepRunnerOptions {
  executionId: string;
  policy: ExecutionPolicy;
  registry: Pick<CapacityRegistry, 'candidates' | 'recordOutcome'>;
  writer: ReceiptWriter;
  /** Parent of the first step's candidate_ranked receipt: the execution's `planned` receipt. */
  root: ExecutionReceipt;
  /**
   * Aborted by cancellation or the execution deadline; its reason, a StepAttemptError
   * (`cancelled`, `deadline_exceeded`), becomes the attempt's failure_reason.
   */
  signal: AbortSignal;
  /** The model the task names, recorded when an executor reports none; default null. */
  model?: string | null;
  /** Clock for the ranking's deadline filter; default Date.now. */
  now?: () => number;
  /** When the execution started, on `now`'s clock; default now() when the runner is created. */
  startedAt?: number;
}

export interface StepRunner {
  /**
   * Runs one step to its completed receipt. Throws StepExhaustedError when no candidate
   * satisfies the policy, when every candidate the policy allows failed, or when the execution
   * is cancelled or past its deadline; the receipts say which. Throws what the writer throws.
   */
  run(spec: StepSpec, body: StepBody): Promise<StepOutcome>;
  /** The last receipt appended: the parent of whatever the execution records next. */
  readonly tail: ExecutionReceipt;
  /** USD charged so far. */
  readonly spent: Readonly<Spend>;
}

/** Creates the runner of one execution; call `run` once per step, in order. */
export function createStepRunner(options: StepRunnerOptions): StepRunner {
  const now = options.now ?? Date.now;
  const x: Execution = {
    ...options,
    model: options.model ?? null,
    now,
    startedAt: options.startedAt ?? now(),
    spent: { total_usd: 0, public_usd: 0 },
    tail: options.root
  };
  return {
    run: (spec, body) => runStep(x, spec, body),
    get tail() {
      return x.tail;
    },
    get spent() {
      return x.spent;
    }
  };
}

/** First 140 characters of a step output for receipts (whitespace runs → one space, "..." when cut). */
export function stepSummary(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > SUMMARY_CHARS ? `${flat.slice(0, SUMMARY_CHARS)}...` : flat;
}

interface Execution extends Required<Omit<StepRunnerOptions, 'root'>> {
  spent: Spend;
  tail: ExecutionReceipt;
}

interface StepState {
  spec: StepSpec;
  body: StepBody;
  ranking: Ranking;
  byId: Map<string, RegisteredCandidate>;
  /** USD charged to this step (all attempts together), for policy.step_budget_limit. */
  spent_usd: number;
  /** Why each candidate passed over for a fallback was not taken. */
  blocked: string[];
}

/** An attempt that did not complete: its failure_reason. */
interface AttemptFailure {
  failure: string;
  receipt: ExecutionReceipt;
}

function append(x: Execution, fields: ReceiptFields): ExecutionReceipt {
  x.tail = x.writer.emit(fields);
  return x.tail;
}

async function runStep(x: Execution, spec: StepSpec, body: StepBody): Promise<StepOutcome> {
  // 1. Rank against what is left of the budgets and the deadline; record the ranking.
  const candidates = x.registry.candidates();
  const promptChars = body.messages.reduce((s, m) => s + m.content.length, 0);
  const ranking = rankCandidates({
    step: spec,
    candidates,
    policy: x.policy,
    spent: { total_usd: x.spent.total_usd, public_usd: x.spent.public_usd, step_usd: 0 },
    elapsed_ms: x.now() - x.startedAt,
    prompt_tokens: Math.ceil(promptChars / CHARS_PER_TOKEN_ESTIMATE)
  });
  const first = recordRanking(x, spec, ranking);
  const step: StepState = {
    spec,
    body,
    ranking,
    byId: new Map(candidates.map((c) => [c.descriptor.candidate_id, c])),
    spent_usd: 0,
    blocked: []
  };
  let current = first;
  let index = 1;
  for (;;) {
    // 2. One attempt on the current candidate (index = its 1-based rank).
    const attempt = await runAttempt(x, step, current, index);
    if (!('failure' in attempt)) return { ...attempt, rejected: ranking.rejected };
    // 3. Cancellation and the deadline end the step: a cancelled execution wants no more work,
    //    and past the deadline no fallback could finish.
    if (attempt.failure === 'cancelled') throw new StepExhaustedError('execution cancelled');
    if (attempt.failure === 'deadline_exceeded')
      throw new StepExhaustedError(`deadline exceeded during step ${spec.step_kind}`);
    // 4. The next ranked candidate the policy lets us fall back to; a receipt says so.
    const next = nextFallback(x, step, current, index);
    if (!next) {
      const blocked = step.blocked.length > 0 ? `; ${[...new Set(step.blocked)].join('; ')}` : '';
      throw new StepExhaustedError(`all candidates failed for step ${spec.step_kind}${blocked}`);
    }
    append(x, {
      step_id: spec.step_id,
      attempt_id: `${x.executionId}:${spec.step_id}:fallback:${index}`,
      parent_receipt_id: attempt.receipt.receipt_id,
      event_kind: 'fallback_applied',
      step_kind: spec.step_kind,
      ...candidateFields(next.candidate.descriptor),
      capability_match_reason: 'advancing_to_next_ranked_candidate',
      estimated_cost_usd: next.candidate.estimated_cost_usd,
      outcome: 'fallback_applied',
      fallback_reason: attempt.failure,
      agent_identity: 'workflow-controller',
      summary: 'Applying ranked fallback'
    });
    current = next.candidate;
    index = next.index;
  }
}

/**
 * Appends the step's candidate_ranked receipt and returns the winner. With no candidate it also
 * appends the step's `failed` receipt and throws StepExhaustedError naming every rejection.
 */
function recordRanking(x: Execution, spec: StepSpec, ranking: Ranking): RankedCandidate {
  const first = ranking.ranked[0];
  const privacy = x.policy.privacy;
  const envelope = isDefaultPrivacy(privacy) ? '' : `; privacy envelope: ${formatPrivacy(privacy)}`;
  const ranked = append(x, {
    step_id: spec.step_id,
    attempt_id: `${x.executionId}:${spec.step_id}:rank`,
    parent_receipt_id: x.tail.receipt_id,
    event_kind: 'candidate_ranked',
    step_kind: spec.step_kind,
    candidate_rankings: ranking.ranked.map((r) => slim(r.descriptor, true)),
    rejected_candidates: ranking.rejected,
    ...(first ? candidateFields(first.descriptor) : { trust_tier: x.policy.trust_tier }),
    capability_match_reason: first?.descriptor.selection_reason ?? 'no_candidate_satisfied_policy',
    estimated_cost_usd: first?.estimated_cost_usd,
    outcome: 'ranked',
    agent_identity: spec.step_kind,
    summary: `Ranked ${ranking.ranked.length} candidate(s); ${ranking.explanation}${envelope}`
  });
  if (first) return first;
  const requirement = describePrivacyRequirement(privacy);
  const isPrivacyBound =
    requirement !== null && ranking.rejected.some((r) => r.reason.startsWith('privacy_'));
  append(x, {
    step_id: spec.step_id,
    attempt_id: `${x.executionId}:${spec.step_id}:none`,
    parent_receipt_id: ranked.receipt_id,
    event_kind: 'failed',
    step_kind: spec.step_kind,
    trust_tier: x.policy.trust_tier,
    capability_match_reason: 'no_candidate_satisfied_policy',
    outcome: 'failed',
    failure_reason: 'no_candidate_satisfied_policy',
    agent_identity: spec.step_kind,
    summary: isPrivacyBound
      ? `No candidate can honour the privacy envelope (it requires ${requirement})`
      : 'No candidate satisfied policy constraints'
  });
  const why = ranking.rejected.map((r) => `${r.candidate_id} (${r.reason})`).join(', ');
  // A privacy requirement is named first: it is why nothing ran, and it is never weakened.
  throw new StepExhaustedError(
    isPrivacyBound
      ? `no candidate can honour the privacy envelope for step ${spec.step_kind}: it requires ${requirement}, and no candidate the policy allows declares it; excluded ${why}`
      : `no candidate satisfied policy for step ${spec.step_kind}${why ? `: ${why}` : ''}`
  );
}

/**
 * One attempt: a dispatched receipt (made durable first), the executor's run bounded by the
 * candidate's timeout, the deadline and cancellation, then a completed or failed receipt.
 */
async function runAttempt(
  x: Execution,
  step: StepState,
  current: RankedCandidate,
  index: number
): Promise<Omit<StepOutcome, 'rejected'> | AttemptFailure> {
  const { spec } = step;
  const d = current.descriptor;
  const candidate = step.byId.get(d.candidate_id)!;
  const fields = {
    step_id: spec.step_id,
    attempt_id: `${x.executionId}:${spec.step_id}:attempt:${index}`,
    step_kind: spec.step_kind,
    ...candidateFields(d),
    capability_match_reason: `rank=${index},score=${d.score}`,
    estimated_cost_usd: current.estimated_cost_usd,
    agent_identity: spec.step_kind
  };
  const dispatched = append(x, {
    ...fields,
    parent_receipt_id: x.tail.receipt_id,
    event_kind: 'dispatched',
    outcome: 'dispatched',
    summary: `Dispatching ${spec.step_kind} via ${d.display_name}`
  });
  // Write-ahead: the dispatched receipt is durable before the work starts, so a crash from
  // here on leaves a tail that orphan repair will find.
  x.writer.flush();
  const timeout = new AbortController();
  const timer = setTimeout(
    () => timeout.abort(new StepAttemptError('timeout')),
    candidate.timeout_ms
  );
  const signal = AbortSignal.any([x.signal, timeout.signal]);
  let failure: string;
  try {
    if (x.signal.aborted) throw new StepAttemptError(abortReason(x.signal));
    const request = {
      ...step.body,
      step_kind: spec.step_kind,
      max_tokens: spec.max_tokens,
      request_id: `${x.executionId}-${index}`,
      privacy: x.policy.privacy
    };
    const result = await raceAbort(candidate.executor.run(request, signal), signal);
    const cost = actualCost(d, result.input_tokens, result.output_tokens);
    step.spent_usd += cost;
    x.spent.total_usd += cost;
    if (d.supply_tier === 'public') x.spent.public_usd += cost;
    x.registry.recordOutcome(d.candidate_id, { ok: true, latency_ms: result.latency_ms });
    const completed = append(x, {
      ...fields,
      parent_receipt_id: dispatched.receipt_id,
      event_kind: 'completed',
      actual_cost_usd: cost,
      latency_ms: result.latency_ms,
      input_tokens: result.input_tokens,
      output_tokens: result.output_tokens,
      outcome: 'completed',
      model_metadata: {
        ...result.model_metadata,
        ...(x.model && !result.model_metadata.model_id ? { model_id: x.model } : {})
      },
      summary: stepSummary(result.text)
    });
    // E.g. a contributed node's verified step credits its contributor.
    candidate.onCompleted?.(completed);
    return { result, receipt: completed };
  } catch (err) {
    failure =
      err instanceof StepAttemptError
        ? err.reason
        : `executor_error:${(err as Error).message}`.slice(0, 300);
    if (!(err instanceof StepAttemptError))
      log.warn('executor threw a non-attempt error', { execution_id: x.executionId, err });
  } finally {
    clearTimeout(timer);
  }
  x.registry.recordOutcome(d.candidate_id, { ok: false });
  const failed = append(x, {
    ...fields,
    parent_receipt_id: dispatched.receipt_id,
    event_kind: 'failed',
    outcome: 'failed',
    failure_reason: failure,
    summary: `Attempt failed on ${d.display_name}`
  });
  return { failure, receipt: failed };
}

/**
 * The first candidate ranked below `failed` that the policy lets the step fall back to, with its
 * 1-based rank; null when none. Records in `step.blocked` why each one passed over was.
 */
function nextFallback(
  x: Execution,
  step: StepState,
  failed: RankedCandidate,
  index: number
): { candidate: RankedCandidate; index: number } | null {
  const ranked = step.ranking.ranked;
  // The ranking's own budget rule, with what has been charged since it ran.
  const remaining = remainingBudgets(x.policy, { ...x.spent, step_usd: step.spent_usd });
  for (let j = index; j < ranked.length; j++) {
    const r = ranked[j]!;
    const overBudget = budgetRejection(remaining, r.descriptor, r.estimated_cost_usd);
    const block =
      fallbackBlockReason(x.policy, failed, r) ??
      (overBudget ? `fallback_blocked:${overBudget}(${r.descriptor.candidate_id})` : null);
    if (!block) return { candidate: r, index: j + 1 };
    step.blocked.push(block);
  }
  return null;
}

function candidateFields(d: CapabilityDescriptor) {
  return { selected_candidate: slim(d), supply_tier: d.supply_tier, trust_tier: d.trust_tier };
}

/**
 * The candidate snapshot written into receipts. Selected candidates: identity, tiers, where it
 * runs and its prices. Ranked lists: identity, tiers, prices, latency, health, score and the
 * score's terms (`selection_reason`). Tags live in /v1/capabilities; receipts stay small.
 */
function slim(d: CapabilityDescriptor, isRanking = false): CapabilityDescriptor {
  const base = {
    candidate_id: d.candidate_id,
    display_name: d.display_name,
    kind: d.kind,
    supply_tier: d.supply_tier,
    trust_tier: d.trust_tier,
    price_per_1k_input_usd: d.price_per_1k_input_usd ?? 0,
    price_per_1k_output_usd: d.price_per_1k_output_usd ?? 0
  };
  if (isRanking) {
    return {
      ...base,
      latency_ms: d.latency_ms ?? undefined,
      healthy: d.healthy ?? undefined,
      score: d.score,
      selection_reason: d.selection_reason
    };
  }
  return { ...base, endpoint: d.endpoint ?? undefined, model_id: d.model_id ?? undefined };
}

/** Resolves with `promise`, or rejects as soon as `signal` aborts (an executor that ignores its signal cannot hang a step). */
function raceAbort<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(new StepAttemptError(abortReason(signal)));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new StepAttemptError(abortReason(signal)));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      }
    );
  });
}
