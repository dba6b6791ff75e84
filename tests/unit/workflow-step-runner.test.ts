/**
 * The workflow step runner on its own: ranking, dispatch, failure, fallback, budgets, deadline
 * and cancellation. The registry and the ranking are the real ones; the executors are fakes
 * (pure logic, no model needed) and receipts go to an in-memory fake writer.
 */
import { describe, expect, it } from 'vitest';
import { normalizePolicy, type ExecutionPolicyInput } from '../../src/lib/protocol/policy.js';
import type { CapabilityDescriptor, ExecutionReceipt } from '../../src/lib/protocol/receipts.js';
import { StepAttemptError } from '../../native-oracle/workflows/errors.js';
import type { StepExecutor, StepResult } from '../../native-oracle/workflows/executors.js';
import type { StepSpec } from '../../native-oracle/workflows/ranking.js';
import {
  createCapacityRegistry,
  parseWorkflowConfig,
  type RegisteredCandidate
} from '../../native-oracle/workflows/registry.js';
import {
  createStepRunner,
  type ReceiptFields,
  type StepBody,
  type StepRunner
} from '../../native-oracle/workflows/step-runner.js';

const EXEC = 'exec-step-runner';

/** 400 characters of prompt: an estimate of 100 prompt tokens. */
const BODY: StepBody = {
  messages: [{ role: 'user', content: 'x'.repeat(400) }],
  input: { kind: 'planner', question: 'q', sources: [] },
  model: null
};
const PLAN: StepSpec = {
  step_id: 'plan',
  step_kind: 'planner',
  capability_tag: 'planning',
  required_tags: [],
  max_tokens: 20
};
const SUMMARIZE: StepSpec = {
  step_id: 'sum',
  step_kind: 'summarize_source',
  capability_tag: 'summarization',
  required_tags: [],
  max_tokens: 20
};

// Fake executors, one per behaviour a real candidate can show.
const fakeCompletes = (tokens = { input: 100, output: 20 }): StepExecutor => ({
  run: async (): Promise<StepResult> => ({
    text: 'fake output',
    input_tokens: tokens.input,
    output_tokens: tokens.output,
    latency_ms: 7,
    model_metadata: { model_id: 'fake-model' }
  })
});
const fakeFails = (reason: string): StepExecutor => ({
  run: async () => {
    throw new StepAttemptError(reason);
  }
});
const fakeThrows = (message: string): StepExecutor => ({
  run: async () => {
    throw new TypeError(message);
  }
});
/** Never settles and ignores its signal: only the runner's own abort race can end it. */
const fakeHangs = (): StepExecutor => ({ run: () => new Promise<StepResult>(() => {}) });
/** Aborts the execution while it runs (the deadline timer or a cancel firing mid-attempt). */
const fakeAbortsExecution = (execution: AbortController, reason: string): StepExecutor => ({
  run: () => {
    execution.abort(new StepAttemptError(reason));
    return new Promise<StepResult>(() => {});
  }
});

function candidate(
  id: string,
  executor: StepExecutor,
  d: Partial<CapabilityDescriptor> = {},
  extra: { quality?: number; timeout_ms?: number } = {}
): RegisteredCandidate {
  return {
    descriptor: {
      candidate_id: id,
      display_name: id,
      kind: 'local_engine',
      supply_tier: 'personal',
      trust_tier: 'local',
      tags: ['planning', 'summarization', 'synthesis'],
      price_per_1k_input_usd: 0,
      price_per_1k_output_usd: 0,
      latency_ms: 100,
      healthy: true,
      ...d
    },
    quality: extra.quality ?? 0.5,
    timeout_ms: extra.timeout_ms ?? 5_000,
    executor
  };
}

/** An in-memory receipt writer (a fake of the SQLite store) that counts flushes. */
function fakeReceiptWriter() {
  const receipts: ExecutionReceipt[] = [];
  const writer = {
    receipts,
    /** How many receipts were appended at the last flush. */
    flushedCount: 0,
    emit(fields: ReceiptFields): ExecutionReceipt {
      const receipt: ExecutionReceipt = {
        receipt_id: `rcpt-${receipts.length}`,
        execution_id: EXEC,
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
    flush() {
      writer.flushedCount = receipts.length;
    }
  };
  return writer;
}

/** A runner over a real registry holding exactly `candidates` (no extractive engine, no model). */
function setup(
  candidates: RegisteredCandidate[],
  policy: ExecutionPolicyInput = {},
  execution = new AbortController()
) {
  const registry = createCapacityRegistry({
    config: parseWorkflowConfig({ extractive: { enabled: false } }),
    engine: null
  });
  for (const c of candidates) registry.add(c);
  const writer = fakeReceiptWriter();
  const root = writer.emit({
    step_id: 'workflow',
    attempt_id: 'workflow-x',
    event_kind: 'planned',
    step_kind: 'workflow'
  });
  const runner = createStepRunner({
    executionId: EXEC,
    policy: normalizePolicy(policy),
    registry,
    writer,
    root,
    signal: execution.signal
  });
  return { registry, writer, runner, execution };
}

/** `step:event` of every receipt after the root. */
const events = (receipts: ExecutionReceipt[]) =>
  receipts.slice(1).map((r) => `${r.step_id}:${r.event_kind}`);

/** Runs one step; the error message when it throws, else null. */
async function run(runner: StepRunner, spec: StepSpec): Promise<string | null> {
  try {
    await runner.run(spec, BODY);
    return null;
  } catch (err) {
    expect((err as Error).name).toBe('StepExhaustedError');
    return (err as Error).message;
  }
}

const ONE_FALLBACK = [
  'plan:candidate_ranked',
  'plan:dispatched',
  'plan:failed',
  'plan:fallback_applied',
  'plan:dispatched',
  'plan:completed'
];

interface Case {
  name: string;
  /** Candidates in rank order (quality decides: first listed ranks first). */
  candidates: (execution: AbortController) => RegisteredCandidate[];
  policy?: ExecutionPolicyInput;
  events: string[];
  /** The StepExhaustedError message, or null when the step completes. */
  error: string | null;
  /** failure_reason of each failed receipt, in order. */
  failures: string[];
  completedBy?: string;
}

/** Candidate options that rank it at `rank` (1 = first) among equals, by quality. */
const at = (rank: number) => ({ quality: 1 - 0.2 * rank });

const CASES: Case[] = [
  {
    name: 'the first candidate succeeds',
    candidates: () => [candidate('a', fakeCompletes(), {}, at(1)), candidate('b', fakeFails('x'))],
    events: ['plan:candidate_ranked', 'plan:dispatched', 'plan:completed'],
    error: null,
    failures: [],
    completedBy: 'a'
  },
  {
    name: 'the first fails and the fallback fires, recorded',
    candidates: () => [
      candidate('a', fakeFails('upstream_status:500'), {}, at(1)),
      candidate('b', fakeCompletes(), {}, at(2))
    ],
    events: ONE_FALLBACK,
    error: null,
    failures: ['upstream_status:500'],
    completedBy: 'b'
  },
  {
    name: 'an executor that throws a plain error is an executor_error and falls back',
    candidates: () => [
      candidate('a', fakeThrows('exploded'), {}, at(1)),
      candidate('b', fakeCompletes(), {}, at(2))
    ],
    events: ONE_FALLBACK,
    error: null,
    failures: ['executor_error:exploded'],
    completedBy: 'b'
  },
  {
    name: 'a candidate past its own timeout falls back',
    candidates: () => [
      candidate('a', fakeHangs(), {}, { ...at(1), timeout_ms: 20 }),
      candidate('b', fakeCompletes(), {}, at(2))
    ],
    events: ONE_FALLBACK,
    error: null,
    failures: ['timeout'],
    completedBy: 'b'
  },
  {
    name: 'no fallback to a less trusted candidate without allow_fallbacks',
    candidates: () => [
      candidate('a', fakeFails('upstream_status:500'), {}, at(1)),
      candidate('b', fakeCompletes(), { trust_tier: 'verified_mesh' }, at(2))
    ],
    events: ['plan:candidate_ranked', 'plan:dispatched', 'plan:failed'],
    error:
      'all candidates failed for step planner; fallback_blocked:lower_trust(b:verified_mesh<local)',
    failures: ['upstream_status:500']
  },
  {
    name: 'no fallback to a more expensive candidate without allow_fallbacks',
    candidates: () => [
      candidate('a', fakeFails('upstream_status:500'), {}, at(1)),
      candidate('b', fakeCompletes(), { price_per_1k_output_usd: 0.05 }, at(2))
    ],
    events: ['plan:candidate_ranked', 'plan:dispatched', 'plan:failed'],
    error: 'all candidates failed for step planner; fallback_blocked:higher_cost(b:0.001>0)',
    failures: ['upstream_status:500']
  },
  {
    name: 'allow_fallbacks lets a less trusted candidate take over',
    candidates: () => [
      candidate('a', fakeFails('upstream_status:500'), {}, at(1)),
      candidate('b', fakeCompletes(), { trust_tier: 'verified_mesh' }, at(2))
    ],
    policy: { allow_fallbacks: true },
    events: ONE_FALLBACK,
    error: null,
    failures: ['upstream_status:500'],
    completedBy: 'b'
  },
  {
    name: 'every candidate fails: the last failure ends the step, no fallback receipt after it',
    candidates: () => [
      candidate('a', fakeFails('upstream_status:500'), {}, at(1)),
      candidate('b', fakeFails('missing_completion_text'), {}, at(2))
    ],
    events: ONE_FALLBACK.slice(0, 5).concat('plan:failed'),
    error: 'all candidates failed for step planner',
    failures: ['upstream_status:500', 'missing_completion_text']
  },
  {
    name: 'no candidate satisfies the policy: ranked, then failed, nothing dispatched',
    candidates: () => [
      candidate('a', fakeCompletes(), { supply_tier: 'public' }),
      candidate('b', fakeCompletes(), { tags: ['summarization'] })
    ],
    policy: { allowed_supply_tiers: ['personal'] },
    events: ['plan:candidate_ranked', 'plan:failed'],
    error:
      'no candidate satisfied policy for step planner: a (tier_not_allowed), b (missing_capability)',
    failures: ['no_candidate_satisfied_policy']
  },
  {
    name: 'the deadline passing during an attempt ends the step without a fallback',
    candidates: (execution) => [
      candidate('a', fakeAbortsExecution(execution, 'deadline_exceeded'), {}, at(1)),
      candidate('b', fakeCompletes(), {}, at(2))
    ],
    events: ['plan:candidate_ranked', 'plan:dispatched', 'plan:failed'],
    error: 'deadline exceeded during step planner',
    failures: ['deadline_exceeded']
  },
  {
    name: 'a cancel during an attempt ends the step without a fallback',
    candidates: (execution) => [
      candidate('a', fakeAbortsExecution(execution, 'cancelled'), {}, at(1)),
      candidate('b', fakeCompletes(), {}, at(2))
    ],
    events: ['plan:candidate_ranked', 'plan:dispatched', 'plan:failed'],
    error: 'execution cancelled',
    failures: ['cancelled']
  }
];

describe('workflow step runner: rank, dispatch, fail, fall back', () => {
  it.each(CASES)('$name', async (c) => {
    const execution = new AbortController();
    const { writer, runner } = setup(c.candidates(execution), c.policy, execution);
    const error = await run(runner, PLAN);
    expect(error).toBe(c.error);
    expect(events(writer.receipts)).toEqual(c.events);
    const failed = writer.receipts.filter((r) => r.event_kind === 'failed');
    expect(failed.map((r) => r.failure_reason)).toEqual(c.failures);
    const last = writer.receipts.at(-1)!;
    if (c.completedBy) {
      expect(last).toMatchObject({
        event_kind: 'completed',
        selected_candidate: { candidate_id: c.completedBy },
        model_metadata: { model_id: 'fake-model' },
        summary: 'fake output'
      });
      expect(runner.tail).toBe(last);
    }
    // Every receipt hangs off the one before it: one linear chain per step (§2.4).
    for (let i = 1; i < writer.receipts.length; i++)
      expect(writer.receipts[i]!.parent_receipt_id).toBe(writer.receipts[i - 1]!.receipt_id);
  });

  it('records the fallback with the failure it answers and the candidate it moves to', async () => {
    const { writer, runner } = setup([
      candidate('a', fakeFails('upstream_status:502'), {}, at(1)),
      candidate('b', fakeFails('upstream_status:503'), { trust_tier: 'verified_mesh' }, at(2)),
      candidate('c', fakeCompletes(), {}, at(3))
    ]);
    expect(await run(runner, PLAN)).toBeNull();
    const [, ranked, d1, f1, fb, d3, done] = writer.receipts;
    expect(ranked!.candidate_rankings!.map((c) => c.candidate_id)).toEqual(['a', 'b', 'c']);
    expect(d1).toMatchObject({ attempt_id: `${EXEC}:plan:attempt:1`, outcome: 'dispatched' });
    expect(f1).toMatchObject({ attempt_id: `${EXEC}:plan:attempt:1`, outcome: 'failed' });
    // b (less trusted than a) is skipped; the fallback goes to c, rank 3.
    expect(fb).toMatchObject({
      attempt_id: `${EXEC}:plan:fallback:1`,
      fallback_reason: 'upstream_status:502',
      selected_candidate: { candidate_id: 'c' },
      capability_match_reason: 'advancing_to_next_ranked_candidate'
    });
    expect(d3).toMatchObject({
      attempt_id: `${EXEC}:plan:attempt:3`,
      capability_match_reason: expect.stringMatching(/^rank=3,score=/)
    });
    expect(done).toMatchObject({ attempt_id: `${EXEC}:plan:attempt:3`, event_kind: 'completed' });
  });

  it('makes the dispatched receipt durable before the executor runs (write-ahead)', async () => {
    let flushedAtRun = -1;
    let appendedAtRun = -1;
    const seen: { writer?: ReturnType<typeof fakeReceiptWriter> } = {};
    const spy: StepExecutor = {
      run: async (req, signal) => {
        flushedAtRun = seen.writer!.flushedCount;
        appendedAtRun = seen.writer!.receipts.length;
        expect(req).toMatchObject({
          step_kind: 'planner',
          max_tokens: 20,
          request_id: `${EXEC}-1`
        });
        return fakeCompletes().run(req, signal);
      }
    };
    const made = setup([candidate('a', spy)]);
    seen.writer = made.writer;
    await made.runner.run(PLAN, BODY);
    expect(appendedAtRun).toBe(3);
    expect(flushedAtRun).toBe(3);
  });

  it('dispatches nothing to the executor once the execution is already aborted', async () => {
    let calls = 0;
    const counting: StepExecutor = {
      run: (req, signal) => {
        calls += 1;
        return fakeCompletes().run(req, signal);
      }
    };
    const { writer, runner, execution } = setup([candidate('a', counting)]);
    execution.abort(new StepAttemptError('cancelled'));
    expect(await run(runner, PLAN)).toBe('execution cancelled');
    expect(calls).toBe(0);
    expect(events(writer.receipts)).toEqual([
      'plan:candidate_ranked',
      'plan:dispatched',
      'plan:failed'
    ]);
  });

  it('tells the registry each outcome: three failures make a candidate unhealthy', async () => {
    const { registry, runner } = setup([
      candidate('a', fakeFails('upstream_status:500'), {}, at(1)),
      candidate('b', fakeCompletes(), {}, at(2))
    ]);
    for (let i = 0; i < 3; i++) expect(await run(runner, { ...PLAN, step_id: `p${i}` })).toBeNull();
    const health = Object.fromEntries(
      registry.descriptors().map((d) => [d.candidate_id, d.healthy])
    );
    expect(health).toEqual({ a: false, b: true });
  });
});

/** A candidate that can plan only, priced per 1k tokens: 0.01 input, 0.03 output. */
const paidPlanner = (id: string, executor: StepExecutor, d: Partial<CapabilityDescriptor> = {}) =>
  candidate(id, executor, {
    tags: ['planning'],
    price_per_1k_input_usd: 0.01,
    price_per_1k_output_usd: 0.03,
    ...d
  });
/** A free candidate that can summarize only. */
const freeSummarizer = (id: string, executor: StepExecutor, rank: number) =>
  candidate(id, executor, { tags: ['summarization'] }, at(rank));

describe('workflow step runner: budgets', () => {
  it('charges the actual cost of the completed attempt; public spend separately', async () => {
    // Estimate (100 prompt + 20 max tokens) = 0.0016; actual (50 in, 10 out) = 0.0008.
    const { writer, runner } = setup(
      [paidPlanner('pub', fakeCompletes({ input: 50, output: 10 }), { supply_tier: 'public' })],
      { trust_tier: 'local' }
    );
    expect(await run(runner, PLAN)).toBeNull();
    expect(writer.receipts.at(-1)).toMatchObject({
      estimated_cost_usd: 0.0016,
      actual_cost_usd: 0.0008,
      input_tokens: 50,
      output_tokens: 10
    });
    expect(runner.spent).toEqual({ total_usd: 0.0008, public_usd: 0.0008 });
  });

  it('ranks the next step against what is left of the budget', async () => {
    const { writer, runner } = setup(
      [
        paidPlanner('paid', fakeCompletes()),
        candidate('paid-sum', fakeCompletes(), {
          tags: ['summarization'],
          price_per_1k_input_usd: 0.01,
          price_per_1k_output_usd: 0.03
        })
      ],
      { budget_limit: 0.002 }
    );
    expect(await run(runner, PLAN)).toBeNull();
    expect(runner.spent.total_usd).toBe(0.0016);
    expect(await run(runner, SUMMARIZE)).toBe(
      'no candidate satisfied policy for step summarize_source: paid (missing_capability), paid-sum (budget_exceeded)'
    );
    expect(writer.receipts.at(-2)!.capability_match_reason).toBe('no_candidate_satisfied_policy');
  });

  it.each([
    {
      name: 'spend just past the budget',
      // The planner's estimate (0.0016) fits the budget; its actual cost does not: the remote
      // counted 120 prompt tokens (chat template) where the estimate said 100. Spent 0.0018.
      budget: 0.0016,
      paidTokens: { input: 120, output: 20 }
    },
    {
      name: 'spend exactly at the budget (control: passes before and after the fix)',
      budget: 0.0018,
      paidTokens: { input: 120, output: 20 }
    }
  ])(
    'with $name, a failed free candidate still falls back to the next free one the ranking admitted',
    async ({ budget, paidTokens }) => {
      const { writer, runner } = setup(
        [
          paidPlanner('paid', fakeCompletes(paidTokens)),
          freeSummarizer('free-a', fakeFails('engine_error:Error:boom'), 1),
          freeSummarizer('free-b', fakeCompletes(), 2)
        ],
        { budget_limit: budget }
      );
      expect(await run(runner, PLAN)).toBeNull();
      expect(runner.spent.total_usd).toBe(0.0018);
      // The ranking clamps what is left at 0 and admits both free candidates ...
      const error = await run(runner, SUMMARIZE);
      const ranked = writer.receipts.find(
        (r) => r.step_id === 'sum' && r.event_kind === 'candidate_ranked'
      )!;
      expect(ranked.candidate_rankings!.map((c) => c.candidate_id)).toEqual(['free-a', 'free-b']);
      // ... so the fallback check must agree: free-b costs nothing and may run.
      expect(error).toBeNull();
      expect(events(writer.receipts).filter((e) => e.startsWith('sum:'))).toEqual([
        'sum:candidate_ranked',
        'sum:dispatched',
        'sum:failed',
        'sum:fallback_applied',
        'sum:dispatched',
        'sum:completed'
      ]);
      expect(writer.receipts.at(-1)!.selected_candidate!.candidate_id).toBe('free-b');
    }
  );
});
