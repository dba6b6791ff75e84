/**
 * Budgets bind on declared prices across a whole execution (issue 11): the step runner ranks each
 * step against what is LEFT of the policy's budget after the actual cost of earlier steps, so
 * three steps that each fit the budget alone but not together cannot all run on the paid
 * candidate. The registry and ranking are the real ones; executors are fakes that report token
 * counts (cost = tokens × declared price); receipts go to an in-memory writer.
 */
import { describe, expect, it } from 'vitest';
import { normalizePolicy, type ExecutionPolicyInput } from '../../src/lib/protocol/policy.js';
import type { CapabilityDescriptor, ExecutionReceipt } from '../../src/lib/protocol/receipts.js';
import type { StepExecutor } from '../../native-oracle/workflows/executors.js';
import type { StepSpec } from '../../native-oracle/workflows/ranking.js';
import {
  createCapacityRegistry,
  parseWorkflowConfig,
  type RegisteredCandidate
} from '../../native-oracle/workflows/registry.js';
import {
  createStepRunner,
  type ReceiptFields,
  type StepBody
} from '../../native-oracle/workflows/step-runner.js';

/** 400 characters of prompt: an estimate of 100 prompt tokens; max_tokens 20. */
const BODY: StepBody = {
  messages: [{ role: 'user', content: 'x'.repeat(400) }],
  input: { kind: 'planner', question: 'q', sources: [] },
  model: null
};
const step = (n: number): StepSpec => ({
  step_id: `s${n}`,
  step_kind: 'planner',
  capability_tag: 'planning',
  required_tags: [],
  max_tokens: 20
});

/** Reports 100 prompt and 20 output tokens: the estimate exactly, so actual = estimated cost. */
const completes: StepExecutor = {
  run: async () => ({
    text: 'fake output',
    input_tokens: 100,
    output_tokens: 20,
    latency_ms: 5,
    model_metadata: { model_id: 'fake-model' }
  })
};

function candidate(
  id: string,
  quality: number,
  d: Partial<CapabilityDescriptor> = {}
): RegisteredCandidate {
  return {
    descriptor: {
      candidate_id: id,
      display_name: id,
      kind: 'local_engine',
      supply_tier: 'personal',
      trust_tier: 'local',
      tags: ['planning'],
      price_per_1k_input_usd: 0,
      price_per_1k_output_usd: 0,
      latency_ms: 100,
      healthy: true,
      ...d
    },
    quality,
    timeout_ms: 5_000,
    executor: completes
  };
}

/** 100 prompt tokens × 0.01/1k = 0.001 USD per step (estimated and actual). */
const paid = () => candidate('paid', 0.9, { price_per_1k_input_usd: 0.01 });
/** Free but slow and weaker: ranks below `paid` whenever `paid` fits the budget. */
const free = () => candidate('free', 0.3, { latency_ms: 3000 });

function setup(candidates: RegisteredCandidate[], policy: ExecutionPolicyInput) {
  const registry = createCapacityRegistry({
    config: parseWorkflowConfig({ extractive: { enabled: false } }),
    engine: null
  });
  for (const c of candidates) registry.add(c);
  const receipts: ExecutionReceipt[] = [];
  const writer = {
    emit(fields: ReceiptFields): ExecutionReceipt {
      const receipt: ExecutionReceipt = {
        receipt_id: `rcpt-${receipts.length}`,
        execution_id: 'exec-budget',
        workflow_kind: 'research_brief',
        timestamp_ms: 1_000 + receipts.length,
        seq: receipts.length,
        node_identity: 'fake-node',
        prev_hash: null,
        signature: 'fake-signature',
        ...fields
      };
      receipts.push(receipt);
      return receipt;
    },
    flush() {}
  };
  const root = writer.emit({
    step_id: 'workflow',
    attempt_id: 'workflow-x',
    event_kind: 'planned',
    step_kind: 'workflow'
  });
  const runner = createStepRunner({
    executionId: 'exec-budget',
    policy: normalizePolicy(policy),
    registry,
    writer,
    root,
    signal: new AbortController().signal
  });
  const ranked = (stepId: string) =>
    receipts.find((r) => r.step_id === stepId && r.event_kind === 'candidate_ranked')!;
  const completedBy = (stepId: string) =>
    receipts.find((r) => r.step_id === stepId && r.event_kind === 'completed')?.selected_candidate
      ?.candidate_id;
  return { runner, receipts, ranked, completedBy };
}

describe('workflow budgets: money already spent counts', () => {
  // Each step alone (0.001) fits the 0.0025 budget; three of them (0.003) do not.
  const BUDGET = { budget_limit: 0.0025 };

  it('a 3-step brief takes the paid candidate twice, then the allowed cheaper one, saying why', async () => {
    const { runner, ranked, completedBy } = setup([paid(), free()], BUDGET);
    for (const n of [1, 2, 3]) await runner.run(step(n), BODY);
    expect([completedBy('s1'), completedBy('s2'), completedBy('s3')]).toEqual([
      'paid',
      'paid',
      'free'
    ]);
    expect(ranked('s3').rejected_candidates).toEqual([
      { candidate_id: 'paid', reason: 'budget_exceeded' }
    ]);
    expect(runner.spent.total_usd).toBeCloseTo(0.002, 12);
    expect(runner.spent.total_usd).toBeLessThanOrEqual(BUDGET.budget_limit);
  });

  it('without a cheaper candidate the third step is refused with the budget named', async () => {
    const { runner, receipts } = setup([paid()], BUDGET);
    await runner.run(step(1), BODY);
    await runner.run(step(2), BODY);
    await expect(runner.run(step(3), BODY)).rejects.toThrow(
      'no candidate satisfied policy for step planner: paid (budget_exceeded)'
    );
    expect(receipts.at(-1)).toMatchObject({
      step_id: 's3',
      event_kind: 'failed',
      failure_reason: 'no_candidate_satisfied_policy'
    });
    expect(runner.spent.total_usd).toBeCloseTo(0.002, 12);
  });

  it('a budget that covers no allowed candidate fails the first step with a clear reason', async () => {
    const pricier = candidate('pricier', 0.5, { price_per_1k_input_usd: 0.05 });
    const { runner, receipts } = setup([paid(), pricier], { budget_limit: 0.0005 });
    await expect(runner.run(step(1), BODY)).rejects.toThrow(
      /^no candidate satisfied policy for step planner: .*paid \(budget_exceeded\).*pricier \(budget_exceeded\)/
    );
    expect(receipts.filter((r) => r.event_kind === 'dispatched')).toEqual([]);
    expect(runner.spent.total_usd).toBe(0);
  });
});
