/**
 * The research_brief workflow: plan → summarize each selected source → synthesize, each step
 * run by the step runner (ranking, dispatch, recorded fallbacks; see step-runner.ts), one
 * receipt per event. Prompts live in prompts.ts, the step specs and plan rules in plan.ts.
 *
 * Receipts of an execution: a root `planned` receipt (with the policy snapshot), the receipts of
 * each step in order, then the end: completed (`result`, with the artifact) or failed (`result`,
 * with a PARTIAL artifact: whatever steps completed), parented to the last receipt before it.
 *
 * A brief whose summaries and synthesis all ran on the extractive engine says so in its first
 * lines, with why no model wrote it (the synthesis ranking's exclusions, e.g. a generated test
 * model): its text is sentences taken from the sources, and a reader must not mistake it for a
 * model's answer.
 *
 * Invariant: receipts of one execution are appended by this runner only (plus orphan repair
 * after a crash), in order, with non-decreasing timestamps.
 */
import { randomUUID } from 'node:crypto';
import { round6 } from '../../src/lib/protocol/provenance.js';
import type {
  ExecutionReceipt,
  RejectedCandidate,
  ResearchBriefArtifact
} from '../../src/lib/protocol/receipts.js';
import { MAX_SOURCE_CHARS, type AgentTask } from '../../src/lib/protocol/workflow.js';
import type { ReceiptStore } from '../receipts/index.js';
import { createLogger } from '../../src/lib/server/log.js';
import { StepAttemptError, StepExhaustedError } from './errors.js';
import {
  focusQuestions,
  parsePlan,
  plannerJsonSchema,
  PLANNER_STEP,
  SUMMARIZE_STEP,
  SYNTHESIZE_STEP
} from './plan.js';
import { plannerPrompt, stepMessages, summarizePrompt, synthesizePrompt } from './prompts.js';
import type { CapacityRegistry } from './registry.js';
import {
  createStepRunner,
  type ReceiptWriter,
  type StepOutcome,
  type StepRunner
} from './step-runner.js';

const log = createLogger('shard:oracle:workflows');

/** The store-backed writer of one execution; also knows the last timestamp it stamped. */
interface ExecutionWriter extends ReceiptWriter {
  lastTimestampMs(): number;
}

export interface RunOptions {
  executionId: string;
  task: AgentTask;
  store: ReceiptStore;
  registry: CapacityRegistry;
  /** Aborted by cancel (reason StepAttemptError('cancelled')) or shutdown. */
  signal: AbortSignal;
  /** Clock for receipt timestamps and the deadline filter; default Date.now. */
  now?: () => number;
  /** Called after each receipt is appended (live streams). Must not throw. */
  onReceipt?: (receipt: ExecutionReceipt) => void;
}

export interface RunOutcome {
  ok: boolean;
  /** Why the execution failed (the final receipt's failure_reason); null when ok. */
  detail: string | null;
  artifact: ResearchBriefArtifact;
}

/**
 * Runs one research_brief execution to its end and marks it ended in the store. Appends the
 * root `planned` receipt synchronously, before its first await (the service relies on it).
 * Never throws: failures end in a `failed` result receipt and `ok: false`.
 */
export async function runResearchBrief(options: RunOptions): Promise<RunOutcome> {
  const { executionId, task, store } = options;
  const now = options.now ?? Date.now;
  const startedAt = now();
  const writer = createReceiptWriter(options, now);
  // One deadline timer for the whole execution; every attempt inherits it.
  const deadline = new AbortController();
  const deadlineTimer =
    task.policy.deadline_ms === null
      ? undefined
      : setTimeout(
          () => deadline.abort(new StepAttemptError('deadline_exceeded')),
          task.policy.deadline_ms
        );
  const root = writer.emit({
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
  const runner = createStepRunner({
    executionId,
    policy: task.policy,
    registry: options.registry,
    writer,
    root,
    signal: AbortSignal.any([options.signal, deadline.signal]),
    model: task.model,
    now,
    startedAt
  });
  const partial: ResearchBriefArtifact = {
    brief: null,
    sub_questions: [],
    selected_source_ids: [],
    source_summaries: [],
    partial: true
  };
  try {
    const { artifact, last, isExtractive } = await runSteps(runner, task, partial);
    writer.emit({
      step_id: 'result',
      attempt_id: `result-${randomUUID()}`,
      parent_receipt_id: last.receipt_id,
      event_kind: 'completed',
      step_kind: 'workflow_result',
      trust_tier: task.policy.trust_tier,
      capability_match_reason: 'workflow_complete',
      actual_cost_usd: round6(runner.spent.total_usd),
      outcome: 'completed',
      agent_identity: 'workflow-controller',
      summary: isExtractive
        ? 'Research brief assembled extractively (no language model wrote it)'
        : 'Research brief assembled',
      result: artifact
    });
    store.markEnded(executionId, 'completed', writer.lastTimestampMs());
    return { ok: true, detail: null, artifact };
  } catch (err) {
    return recordFailure({ err, executionId, task, store, writer, runner, partial });
  } finally {
    if (deadlineTimer) clearTimeout(deadlineTimer);
  }
}

/**
 * The workflow's steps, in order. Fills `partial` as steps complete (so a failure can report
 * what was done) and returns the artifact with the synthesis step's completed receipt, and
 * whether every text of the brief (summaries and synthesis) came from the extractive engine.
 */
async function runSteps(
  runner: StepRunner,
  task: AgentTask,
  partial: ResearchBriefArtifact
): Promise<{ artifact: ResearchBriefArtifact; last: ExecutionReceipt; isExtractive: boolean }> {
  const { question, model } = task;
  const sources = task.sources.map((s) => ({
    ...s,
    content: s.content.slice(0, MAX_SOURCE_CHARS)
  }));
  const ids = task.sources.map((s) => s.id);

  // Step 1: plan (grammar-constrained JSON where the executor supports it).
  const planned = await runner.run(
    { ...PLANNER_STEP, step_id: 'planner' },
    {
      messages: stepMessages(plannerPrompt(question, task.sources)),
      json_schema: plannerJsonSchema(ids),
      input: { kind: 'planner', question, sources },
      model
    }
  );
  const plan = parsePlan(planned.result.structured ?? planned.result.text, question, ids);
  Object.assign(partial, plan);

  // Step 2: one summary per selected source, sequentially (receipts chain step after step).
  let isExtractive = true;
  for (const id of plan.selected_source_ids) {
    const source = sources.find((s) => s.id === id)!;
    const focus = focusQuestions(plan, id);
    const done = await runner.run(
      { ...SUMMARIZE_STEP, step_id: `summarize-${id}` },
      {
        messages: stepMessages(summarizePrompt({ question, plan, focus, source })),
        input: { kind: 'summarize_source', question, focus, source },
        model
      }
    );
    isExtractive &&= ranExtractively(done);
    partial.source_summaries.push({
      source_id: id,
      ...(source.title ? { title: source.title } : {}),
      summary: done.result.text
    });
  }

  // Step 3: synthesize the brief from the plan and the summaries.
  const summaries = partial.source_summaries;
  const synth = await runner.run(
    { ...SYNTHESIZE_STEP, step_id: 'synthesize-brief' },
    {
      messages: stepMessages(synthesizePrompt(question, plan, summaries)),
      input: { kind: 'synthesize_brief', question, summaries, sub_questions: plan.sub_questions },
      model
    }
  );
  isExtractive &&= ranExtractively(synth);
  const artifact: ResearchBriefArtifact = {
    brief: isExtractive
      ? `${extractiveNote(synth.rejected)}\n\n${synth.result.text}`
      : synth.result.text,
    planner_notes: plan.planner_notes,
    sub_questions: plan.sub_questions,
    selected_source_ids: plan.selected_source_ids,
    source_summaries: summaries
  };
  return { artifact, last: synth.receipt, isExtractive };
}

function ranExtractively(step: StepOutcome): boolean {
  return step.receipt.selected_candidate?.kind === 'extractive';
}

/**
 * The first lines of a brief no model wrote: how it was built, and why no model was chosen
 * (each candidate the synthesis ranking excluded, with its reason).
 */
export function extractiveNote(rejected: readonly RejectedCandidate[]): string {
  const why =
    rejected.length > 0
      ? `No model was chosen: ${rejected.map((r) => `${r.candidate_id} (${r.reason})`).join('; ')}.`
      : 'No language-model candidate ranked above the extractive engine under this policy.';
  return `Built extractively: this brief is assembled from sentences selected from the sources by BM25 relevance; no language model wrote it. ${why}`;
}

/**
 * Ends a failed execution: a `failed` result receipt with the partial artifact, parented to the
 * last receipt, and the store's end mark. A store that refuses them is logged, not thrown.
 */
function recordFailure(f: {
  err: unknown;
  executionId: string;
  task: AgentTask;
  store: ReceiptStore;
  writer: ExecutionWriter;
  runner: StepRunner;
  partial: ResearchBriefArtifact;
}): RunOutcome {
  const { err, executionId } = f;
  const detail =
    err instanceof StepExhaustedError ? err.message : `workflow error: ${(err as Error).message}`;
  if (!(err instanceof StepExhaustedError))
    log.error('workflow failed unexpectedly', { execution_id: executionId, err });
  try {
    f.writer.emit({
      step_id: 'result',
      attempt_id: `result-${randomUUID()}`,
      parent_receipt_id: f.runner.tail.receipt_id,
      event_kind: 'failed',
      step_kind: 'workflow_result',
      trust_tier: f.task.policy.trust_tier,
      capability_match_reason: 'workflow_failed',
      actual_cost_usd: round6(f.runner.spent.total_usd),
      outcome: 'failed',
      failure_reason: detail,
      agent_identity: 'workflow-controller',
      summary: 'Research brief failed before completion',
      result: f.partial
    });
    f.store.markEnded(executionId, 'failed', f.writer.lastTimestampMs());
  } catch (storeErr) {
    log.error('could not record workflow failure', { execution_id: executionId, err: storeErr });
  }
  return { ok: false, detail, artifact: f.partial };
}

/**
 * Stamps receipts of one execution (receipt id, execution id, workflow kind, a timestamp never
 * earlier than the previous one), appends them to the store and tells `onReceipt`.
 */
function createReceiptWriter(
  options: Pick<RunOptions, 'executionId' | 'task' | 'store' | 'onReceipt'>,
  now: () => number
): ExecutionWriter {
  const { executionId, task, store } = options;
  let lastTs = 0;
  return {
    emit(fields) {
      lastTs = Math.max(lastTs, now());
      const receipt = store.append({
        receipt_id: `rcpt-${randomUUID()}`,
        execution_id: executionId,
        workflow_kind: task.workflow_kind,
        timestamp_ms: lastTs,
        ...fields
      });
      options.onReceipt?.(receipt);
      return receipt;
    },
    flush: () => store.flush(),
    lastTimestampMs: () => lastTs
  };
}
