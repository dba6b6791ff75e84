/**
 * The research_brief workflow runner: plan → summarize each selected source → synthesize,
 * one receipt per event, every step ranked against the policy with recorded fallbacks.
 *
 * Receipt shape of one step (predecessor §2.4), parent links in brackets:
 *   candidate_ranked [prev step's completed | root] → dispatched#1 → failed#1
 *   → fallback_applied(selected=#2) → dispatched#2 → completed#2
 * No candidate: candidate_ranked → failed (`{exec}:{step}:none`, no_candidate_satisfied_policy).
 * End: completed (`result`, with the artifact) or failed (`result`, with a PARTIAL artifact:
 * whatever steps completed), parented to the last receipt of the last step.
 *
 * Invariants: receipts of one execution are appended by this runner only (plus orphan repair
 * after a crash), in order; a fallback never goes to a less trusted or more expensive candidate
 * unless policy.allow_fallbacks; a cancelled or past-deadline execution takes no fallback.
 */
import { randomUUID } from 'node:crypto';
import { round6 } from '../../src/lib/protocol/provenance.js';
import type {
  CapabilityDescriptor,
  ExecutionReceipt,
  ResearchBriefArtifact,
  UnsignedReceipt
} from '../../src/lib/protocol/receipts.js';
import {
  MAX_RESEARCH_SOURCES,
  MAX_SOURCE_CHARS,
  type AgentTask
} from '../../src/lib/protocol/workflow.js';
import type { ReceiptStore } from '../receipts/index.js';
import { createLogger } from '../../src/lib/server/log.js';
import { StepAttemptError, StepExhaustedError } from './errors.js';
import { abortReason, type StepInput, type StepRequest, type StepResult } from './executors.js';
import {
  fallbackBlockReason,
  rankCandidates,
  type RankedCandidate,
  type StepSpec
} from './ranking.js';
import type { CapacityRegistry, RegisteredCandidate } from './registry.js';

const log = createLogger('shard:oracle:workflows');

export const SYSTEM_PROMPT =
  'You are a Shard research workflow worker. Return only task output with no prefatory text.';

export const PLANNER_STEP: Omit<StepSpec, 'step_id'> = {
  step_kind: 'planner',
  capability_tag: 'planning',
  required_tags: ['planning', 'reasoning'],
  max_tokens: 220
};
export const SUMMARIZE_STEP: Omit<StepSpec, 'step_id'> = {
  step_kind: 'summarize_source',
  capability_tag: 'summarization',
  required_tags: ['summarization', 'low_cost'],
  max_tokens: 260
};
export const SYNTHESIZE_STEP: Omit<StepSpec, 'step_id'> = {
  step_kind: 'synthesize_brief',
  capability_tag: 'synthesis',
  required_tags: ['synthesis', 'specialist', 'reasoning'],
  max_tokens: 420
};

export interface RunOptions {
  executionId: string;
  task: AgentTask;
  store: ReceiptStore;
  registry: CapacityRegistry;
  /** Aborted by cancel (reason StepAttemptError('cancelled')) or shutdown. */
  signal: AbortSignal;
  now?: () => number;
  /** Called after each receipt is appended (live streams). Must not throw. */
  onReceipt?: (receipt: ExecutionReceipt) => void;
}

export interface RunOutcome {
  ok: boolean;
  detail: string | null;
  artifact: ResearchBriefArtifact;
}

/** First 140 characters of a step output for receipts (newlines → spaces, "..." when cut). */
export function stepSummary(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > 140 ? `${flat.slice(0, 140)}...` : flat;
}

/** JSON schema of the planner's output, restricted to the given source ids (for grammar-constrained decoding). */
export function plannerJsonSchema(sourceIds: readonly string[]): object {
  const ids = { type: 'array', items: { enum: [...sourceIds] }, maxItems: sourceIds.length };
  return {
    type: 'object',
    properties: {
      planner_notes: { type: 'string', maxLength: 200 },
      selected_source_ids: ids,
      sub_questions: {
        type: 'array',
        minItems: 1,
        maxItems: 4,
        items: {
          type: 'object',
          properties: { question: { type: 'string', maxLength: 160 }, relevant_source_ids: ids },
          required: ['question', 'relevant_source_ids']
        }
      }
    },
    required: ['planner_notes', 'selected_source_ids', 'sub_questions']
  };
}

export interface Plan {
  planner_notes: string;
  selected_source_ids: string[];
  sub_questions: Array<{ question: string; relevant_source_ids: string[] }>;
}

/**
 * Reads planner output (predecessor §3.3): the JSON object between the first `{` and the last
 * `}`; only ids of the first 6 sources, de-duplicated; empty selection → union of the
 * sub-questions' ids → first ≤6 sources; no sub-question → one for the main question.
 */
export function parsePlan(raw: unknown, question: string, sourceIds: readonly string[]): Plan {
  const allowed = sourceIds.slice(0, MAX_RESEARCH_SOURCES);
  let obj: Record<string, unknown> = {};
  if (typeof raw === 'string') {
    const start = raw.indexOf('{');
    const end = raw.lastIndexOf('}');
    if (start >= 0 && end > start) {
      try {
        const v = JSON.parse(raw.slice(start, end + 1)) as unknown;
        if (v && typeof v === 'object' && !Array.isArray(v)) obj = v as Record<string, unknown>;
      } catch {
        // Free text: the rules below fall back to every source and one sub-question.
      }
    }
  } else if (raw && typeof raw === 'object') obj = raw as Record<string, unknown>;
  const cleanIds = (v: unknown) => [
    ...new Set(
      (Array.isArray(v) ? v : []).filter(
        (x): x is string => typeof x === 'string' && allowed.includes(x)
      )
    )
  ];
  const subs = (Array.isArray(obj.sub_questions) ? obj.sub_questions : [])
    .filter((s): s is Record<string, unknown> => !!s && typeof s === 'object')
    .map((s) => ({
      question: typeof s.question === 'string' ? s.question.trim() : '',
      relevant_source_ids: cleanIds(s.relevant_source_ids)
    }))
    .filter((s) => s.question.length > 0)
    .slice(0, 4);
  let selected = cleanIds(obj.selected_source_ids);
  if (selected.length === 0) selected = [...new Set(subs.flatMap((s) => s.relevant_source_ids))];
  if (selected.length === 0) selected = [...allowed];
  const subQuestions =
    subs.length > 0
      ? subs
      : [{ question: `Answer the main question: ${question}`, relevant_source_ids: [...selected] }];
  const notes =
    typeof obj.planner_notes === 'string' && obj.planner_notes.trim()
      ? obj.planner_notes.trim()
      : `Focus on ${selected.length} source(s): ${selected.join(', ')}.`;
  return { planner_notes: notes, selected_source_ids: selected, sub_questions: subQuestions };
}

/** Runs one research_brief execution to its end; never throws (failures end in receipts). */
export async function runResearchBrief(options: RunOptions): Promise<RunOutcome> {
  const { executionId, task, store, registry } = options;
  const now = options.now ?? Date.now;
  const startedAt = now();
  let lastTs = 0;
  const emit = (
    r: Omit<UnsignedReceipt, 'receipt_id' | 'execution_id' | 'workflow_kind' | 'timestamp_ms'>
  ): ExecutionReceipt => {
    lastTs = Math.max(lastTs, now());
    const receipt = store.append({
      receipt_id: `rcpt-${randomUUID()}`,
      execution_id: executionId,
      workflow_kind: task.workflow_kind,
      timestamp_ms: lastTs,
      ...r
    });
    options.onReceipt?.(receipt);
    return receipt;
  };

  // 1. Deadline: one timer for the whole execution; attempts inherit it.
  const deadline = new AbortController();
  const deadlineTimer =
    task.policy.deadline_ms === null
      ? undefined
      : setTimeout(
          () => deadline.abort(new StepAttemptError('deadline_exceeded')),
          task.policy.deadline_ms
        );
  const executionSignal = AbortSignal.any([options.signal, deadline.signal]);

  const root = emit({
    step_id: 'workflow',
    attempt_id: `workflow-${randomUUID()}`,
    event_kind: 'planned',
    step_kind: 'workflow',
    task_context: {
      workflow_kind: task.workflow_kind,
      question: task.question,
      source_count: task.sources.length,
      source_ids: task.sources.map((s) => s.id)
    },
    policy_snapshot: task.policy,
    trust_tier: task.policy.trust_tier,
    capability_match_reason: 'workflow_received',
    outcome: 'planned',
    agent_identity: 'workflow-controller',
    summary: `Research brief workflow accepted with ${task.sources.length} sources`
  });

  const spent = { total: 0, public: 0 };
  let tail: ExecutionReceipt = root;
  const partial: ResearchBriefArtifact = {
    brief: null,
    sub_questions: [],
    selected_source_ids: [],
    source_summaries: [],
    partial: true
  };

  const candidateFields = (c: CapabilityDescriptor) => ({
    selected_candidate: slim(c),
    supply_tier: c.supply_tier,
    trust_tier: c.trust_tier
  });

  /** Runs one step with ranking and fallback (§2.4). Returns the result and its completed receipt. */
  async function runStep(
    spec: StepSpec,
    request: Omit<StepRequest, 'request_id' | 'step_kind' | 'max_tokens'>
  ): Promise<{ result: StepResult; receipt: ExecutionReceipt }> {
    const promptChars = request.messages.reduce((s, m) => s + m.content.length, 0);
    const candidates = registry.candidates();
    const byId = new Map<string, RegisteredCandidate>(
      candidates.map((c) => [c.descriptor.candidate_id, c])
    );
    const ranking = rankCandidates({
      step: spec,
      candidates,
      policy: task.policy,
      spent: { total_usd: spent.total, public_usd: spent.public, step_usd: 0 },
      elapsed_ms: now() - startedAt,
      prompt_tokens: Math.ceil(promptChars / 4)
    });
    const first = ranking.ranked[0];
    const ranked = emit({
      step_id: spec.step_id,
      attempt_id: `${executionId}:${spec.step_id}:rank`,
      parent_receipt_id: tail.receipt_id,
      event_kind: 'candidate_ranked',
      step_kind: spec.step_kind,
      candidate_rankings: ranking.ranked.map((r) => slim(r.descriptor, true)),
      rejected_candidates: ranking.rejected,
      ...(first ? candidateFields(first.descriptor) : { trust_tier: task.policy.trust_tier }),
      capability_match_reason:
        first?.descriptor.selection_reason ?? 'no_candidate_satisfied_policy',
      estimated_cost_usd: first?.estimated_cost_usd,
      outcome: 'ranked',
      agent_identity: spec.step_kind,
      summary: `Ranked ${ranking.ranked.length} candidate(s); ${ranking.explanation}`
    });
    tail = ranked;
    if (!first) {
      tail = emit({
        step_id: spec.step_id,
        attempt_id: `${executionId}:${spec.step_id}:none`,
        parent_receipt_id: ranked.receipt_id,
        event_kind: 'failed',
        step_kind: spec.step_kind,
        trust_tier: task.policy.trust_tier,
        capability_match_reason: 'no_candidate_satisfied_policy',
        outcome: 'failed',
        failure_reason: 'no_candidate_satisfied_policy',
        agent_identity: spec.step_kind,
        summary: 'No candidate satisfied policy constraints'
      });
      const why = ranking.rejected.map((r) => `${r.candidate_id} (${r.reason})`).join(', ');
      throw new StepExhaustedError(
        `no candidate satisfied policy for step ${spec.step_kind}${why ? `: ${why}` : ''}`
      );
    }
    let stepSpent = 0;
    let current: RankedCandidate = first;
    let index = 1;
    const blocked: string[] = [];
    for (;;) {
      const cand = byId.get(current.descriptor.candidate_id)!;
      const attemptId = `${executionId}:${spec.step_id}:attempt:${index}`;
      const dispatched = emit({
        step_id: spec.step_id,
        attempt_id: attemptId,
        parent_receipt_id: tail.receipt_id,
        event_kind: 'dispatched',
        step_kind: spec.step_kind,
        ...candidateFields(current.descriptor),
        capability_match_reason: `rank=${index},score=${current.descriptor.score}`,
        estimated_cost_usd: current.estimated_cost_usd,
        outcome: 'dispatched',
        agent_identity: spec.step_kind,
        summary: `Dispatching ${spec.step_kind} via ${current.descriptor.display_name}`
      });
      tail = dispatched;
      // Write-ahead: the dispatched receipt is durable before the work starts, so a crash
      // from here on leaves a tail that orphan repair will find.
      store.flush();
      // 2. One attempt: bounded by the candidate's timeout, the deadline and cancellation.
      const timeout = new AbortController();
      const timer = setTimeout(
        () => timeout.abort(new StepAttemptError('timeout')),
        cand.timeout_ms
      );
      const signal = AbortSignal.any([executionSignal, timeout.signal]);
      let failure: string;
      try {
        if (executionSignal.aborted) throw new StepAttemptError(abortReason(executionSignal));
        const result = await raceAbort(
          cand.executor.run(
            {
              ...request,
              step_kind: spec.step_kind,
              max_tokens: spec.max_tokens,
              request_id: `${executionId}-${index}`
            },
            signal
          ),
          signal
        );
        const cost = actualCostOf(current.descriptor, result);
        stepSpent += cost;
        spent.total += cost;
        if (current.descriptor.supply_tier === 'public') spent.public += cost;
        registry.recordOutcome(current.descriptor.candidate_id, {
          ok: true,
          latency_ms: result.latency_ms
        });
        const completed = emit({
          step_id: spec.step_id,
          attempt_id: attemptId,
          parent_receipt_id: dispatched.receipt_id,
          event_kind: 'completed',
          step_kind: spec.step_kind,
          ...candidateFields(current.descriptor),
          capability_match_reason: `rank=${index},score=${current.descriptor.score}`,
          estimated_cost_usd: current.estimated_cost_usd,
          actual_cost_usd: cost,
          latency_ms: result.latency_ms,
          input_tokens: result.input_tokens,
          output_tokens: result.output_tokens,
          outcome: 'completed',
          agent_identity: spec.step_kind,
          model_metadata: {
            ...result.model_metadata,
            ...(task.model && !result.model_metadata.model_id ? { model_id: task.model } : {})
          },
          summary: stepSummary(result.text)
        });
        tail = completed;
        return { result, receipt: completed };
      } catch (err) {
        failure =
          err instanceof StepAttemptError
            ? err.reason
            : `executor_error:${(err as Error).message}`.slice(0, 300);
        if (!(err instanceof StepAttemptError))
          log.warn('executor threw a non-attempt error', { execution_id: executionId, err });
      } finally {
        clearTimeout(timer);
      }
      registry.recordOutcome(current.descriptor.candidate_id, { ok: false });
      const failed = emit({
        step_id: spec.step_id,
        attempt_id: attemptId,
        parent_receipt_id: dispatched.receipt_id,
        event_kind: 'failed',
        step_kind: spec.step_kind,
        ...candidateFields(current.descriptor),
        capability_match_reason: `rank=${index},score=${current.descriptor.score}`,
        estimated_cost_usd: current.estimated_cost_usd,
        outcome: 'failed',
        failure_reason: failure,
        agent_identity: spec.step_kind,
        summary: `Attempt failed on ${current.descriptor.display_name}`
      });
      tail = failed;
      if (failure === 'cancelled') throw new StepExhaustedError('execution cancelled');
      if (failure === 'deadline_exceeded')
        throw new StepExhaustedError(`deadline exceeded during step ${spec.step_kind}`);
      // 3. Next ranked candidate the policy lets us fall back to (never silently: a receipt says so).
      let next: { r: RankedCandidate; i: number } | null = null;
      for (let j = index; j < ranking.ranked.length; j++) {
        const r = ranking.ranked[j]!;
        const block =
          fallbackBlockReason(task.policy, current, r) ??
          (task.policy.budget_limit !== null &&
          r.estimated_cost_usd > task.policy.budget_limit - spent.total
            ? `fallback_blocked:budget_exceeded(${r.descriptor.candidate_id})`
            : null) ??
          (task.policy.step_budget_limit !== null &&
          r.estimated_cost_usd > task.policy.step_budget_limit - stepSpent
            ? `fallback_blocked:step_budget_exceeded(${r.descriptor.candidate_id})`
            : null);
        if (block) {
          blocked.push(block);
          continue;
        }
        next = { r, i: j + 1 };
        break;
      }
      if (!next) {
        throw new StepExhaustedError(
          `all candidates failed for step ${spec.step_kind}${blocked.length > 0 ? `; ${[...new Set(blocked)].join('; ')}` : ''}`
        );
      }
      tail = emit({
        step_id: spec.step_id,
        attempt_id: `${executionId}:${spec.step_id}:fallback:${index}`,
        parent_receipt_id: failed.receipt_id,
        event_kind: 'fallback_applied',
        step_kind: spec.step_kind,
        ...candidateFields(next.r.descriptor),
        capability_match_reason: 'advancing_to_next_ranked_candidate',
        estimated_cost_usd: next.r.estimated_cost_usd,
        outcome: 'fallback_applied',
        fallback_reason: failure,
        agent_identity: 'workflow-controller',
        summary: 'Applying ranked fallback'
      });
      current = next.r;
      index = next.i;
    }
  }

  const system = { role: 'system' as const, content: SYSTEM_PROMPT };
  const extractiveSources = task.sources.map((s) => ({
    ...s,
    content: s.content.slice(0, MAX_SOURCE_CHARS)
  }));
  try {
    // Step 1: plan.
    const ids = task.sources.map((s) => s.id);
    const plannerPrompt = [
      'Plan a research brief. Return ONLY a JSON object {"planner_notes":"…","selected_source_ids":[…],"sub_questions":[{"question":"…","relevant_source_ids":[…]}]} with 2-4 sub-questions, using only the source ids listed below. No markdown fences.',
      `Question: ${task.question}`,
      'Sources:',
      ...task.sources
        .slice(0, MAX_RESEARCH_SOURCES)
        .map((s) => `- ${s.id}: ${s.title ?? '(untitled)'}`)
    ].join('\n');
    const planned = await runStep(
      { ...PLANNER_STEP, step_id: 'planner' },
      {
        messages: [system, { role: 'user', content: plannerPrompt }],
        json_schema: plannerJsonSchema(ids),
        input: { kind: 'planner', question: task.question, sources: extractiveSources },
        model: task.model
      }
    );
    const plan = parsePlan(planned.result.structured ?? planned.result.text, task.question, ids);
    Object.assign(partial, plan);

    // Step 2: one summary per selected source, sequentially (receipts chain step after step).
    for (const id of plan.selected_source_ids) {
      const source = extractiveSources.find((s) => s.id === id)!;
      const focus = plan.sub_questions
        .filter((q) => q.relevant_source_ids.length === 0 || q.relevant_source_ids.includes(id))
        .map((q) => q.question);
      const prompt = [
        `Question: ${task.question}`,
        `Planner notes: ${plan.planner_notes}`,
        'Focus questions for this source:',
        ...(focus.length > 0
          ? focus.map((q) => `- ${q}`)
          : ['- Pull out the facts most relevant to the question.']),
        `Source ${source.id}${source.title ? ` (${source.title})` : ''}:`,
        source.content,
        'Highlight the most relevant facts, risks, and contradictions. Return plain text only.'
      ].join('\n');
      const step: StepInput = { kind: 'summarize_source', question: task.question, focus, source };
      const done = await runStep(
        { ...SUMMARIZE_STEP, step_id: `summarize-${id}` },
        { messages: [system, { role: 'user', content: prompt }], input: step, model: task.model }
      );
      partial.source_summaries.push({
        source_id: id,
        ...(source.title ? { title: source.title } : {}),
        summary: done.result.text
      });
    }

    // Step 3: synthesize.
    const synthPrompt = [
      'Write a research brief that answers the question. Include: direct answer, supporting evidence, disagreements or uncertainty, and a short recommended next step.',
      `Question: ${task.question}`,
      `Planner notes: ${plan.planner_notes}`,
      'Sub-questions:',
      ...plan.sub_questions.map((q) => `- ${q.question} [${q.relevant_source_ids.join(', ')}]`),
      'Source summaries:',
      ...partial.source_summaries.map(
        (s) => `- ${s.source_id}${s.title ? ` (${s.title})` : ''}: ${s.summary}`
      )
    ].join('\n');
    const synth = await runStep(
      { ...SYNTHESIZE_STEP, step_id: 'synthesize-brief' },
      {
        messages: [system, { role: 'user', content: synthPrompt }],
        input: {
          kind: 'synthesize_brief',
          question: task.question,
          summaries: partial.source_summaries,
          sub_questions: plan.sub_questions
        },
        model: task.model
      }
    );
    const artifact: ResearchBriefArtifact = {
      brief: synth.result.text,
      planner_notes: plan.planner_notes,
      sub_questions: plan.sub_questions,
      selected_source_ids: plan.selected_source_ids,
      source_summaries: partial.source_summaries
    };
    emit({
      step_id: 'result',
      attempt_id: `result-${randomUUID()}`,
      parent_receipt_id: synth.receipt.receipt_id,
      event_kind: 'completed',
      step_kind: 'workflow_result',
      trust_tier: task.policy.trust_tier,
      capability_match_reason: 'workflow_complete',
      actual_cost_usd: round6(spent.total),
      outcome: 'completed',
      agent_identity: 'workflow-controller',
      summary: 'Research brief assembled',
      result: artifact
    });
    store.markEnded(executionId, 'completed', lastTs);
    return { ok: true, detail: null, artifact };
  } catch (err) {
    const detail =
      err instanceof StepExhaustedError ? err.message : `workflow error: ${(err as Error).message}`;
    if (!(err instanceof StepExhaustedError))
      log.error('workflow failed unexpectedly', { execution_id: executionId, err });
    try {
      emit({
        step_id: 'result',
        attempt_id: `result-${randomUUID()}`,
        parent_receipt_id: tail.receipt_id,
        event_kind: 'failed',
        step_kind: 'workflow_result',
        trust_tier: task.policy.trust_tier,
        capability_match_reason: 'workflow_failed',
        actual_cost_usd: round6(spent.total),
        outcome: 'failed',
        failure_reason: detail,
        agent_identity: 'workflow-controller',
        summary: 'Research brief failed before completion',
        result: partial
      });
      store.markEnded(executionId, 'failed', lastTs);
    } catch (storeErr) {
      log.error('could not record workflow failure', { execution_id: executionId, err: storeErr });
    }
    return { ok: false, detail, artifact: partial };
  } finally {
    if (deadlineTimer) clearTimeout(deadlineTimer);
  }
}

function actualCostOf(d: CapabilityDescriptor, r: StepResult): number {
  return round6(
    (r.input_tokens * (d.price_per_1k_input_usd ?? 0) +
      r.output_tokens * (d.price_per_1k_output_usd ?? 0)) /
      1000
  );
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
