import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  buildProvenance,
  sortReceipts,
  summarizeExecution,
  toOtelSpans,
  toProvJson
} from '../../src/lib/protocol/provenance.js';
import { EVENT_KINDS, type ExecutionReceipt } from '../../src/lib/protocol/receipts.js';

const EXEC = 'exec-11111111-2222-4333-8444-555555555555';

type R = Pick<
  ExecutionReceipt,
  | 'receipt_id'
  | 'execution_id'
  | 'step_id'
  | 'attempt_id'
  | 'event_kind'
  | 'timestamp_ms'
  | 'workflow_kind'
> &
  Partial<ExecutionReceipt>;

function r(seq: number, event: R['event_kind'], parent: number | null, extra: Partial<R> = {}): R {
  return {
    receipt_id: `rcpt-${String(seq).padStart(3, '0')}`,
    execution_id: EXEC,
    seq,
    step_id: 'planner',
    attempt_id: `${EXEC}:planner:attempt:1`,
    parent_receipt_id: parent === null ? undefined : `rcpt-${String(parent).padStart(3, '0')}`,
    event_kind: event,
    timestamp_ms: 1000 + seq,
    workflow_kind: 'research_brief',
    ...extra
  };
}

/** planned -> ranked -> dispatched#1 -> failed#1 -> fallback -> dispatched#2 -> completed#2 -> result */
function fallbackExecution(): R[] {
  const step = { step_id: 'planner', step_kind: 'planner' as const };
  return [
    r(0, 'planned', null, {
      step_id: 'workflow',
      step_kind: 'workflow',
      attempt_id: 'workflow-x',
      task_context: {
        workflow_kind: 'research_brief',
        question: 'Why?',
        source_count: 2,
        source_ids: ['a', 'b']
      }
    }),
    r(1, 'candidate_ranked', 0, { ...step, attempt_id: `${EXEC}:planner:rank` }),
    r(2, 'dispatched', 1, step),
    r(3, 'failed', 2, { ...step, failure_reason: 'request_failed:boom', actual_cost_usd: 0.001 }),
    r(4, 'fallback_applied', 3, {
      ...step,
      attempt_id: `${EXEC}:planner:fallback:1`,
      fallback_reason: 'request_failed:boom'
    }),
    r(5, 'dispatched', 4, { ...step, attempt_id: `${EXEC}:planner:attempt:2` }),
    r(6, 'completed', 5, {
      ...step,
      attempt_id: `${EXEC}:planner:attempt:2`,
      actual_cost_usd: 0.002,
      input_tokens: 10,
      output_tokens: 5,
      summary: 'planned'
    }),
    r(7, 'completed', 6, {
      step_id: 'result',
      step_kind: 'workflow_result',
      attempt_id: 'result-x',
      actual_cost_usd: 0.003,
      result: { brief: 'B', sub_questions: [], selected_source_ids: ['a'], source_summaries: [] }
    })
  ];
}

describe('provenance rebuild', () => {
  it('reconstructs a fallback path, branches and a complete graph', () => {
    const g = buildProvenance(fallbackExecution());
    expect(g.root_receipt_id).toBe('rcpt-000');
    expect(g.incomplete).toBe(false);
    expect(g.nodes.map((n) => n.event_kind)).toEqual([
      'planned',
      'candidate_ranked',
      'dispatched',
      'failed',
      'fallback_applied',
      'dispatched',
      'completed',
      'completed'
    ]);
    expect(g.nodes.map((n) => n.branch)).toEqual([
      'main',
      'main',
      'main',
      'fallback',
      'fallback',
      'main',
      'main',
      'main'
    ]);
    expect(g.fallback_paths).toEqual([['rcpt-003', 'rcpt-004', 'rcpt-005', 'rcpt-006']]);
    expect(g.edges).toHaveLength(7);
    expect(g.edges.filter((e) => e.is_fallback).map((e) => e.to_receipt_id)).toEqual([
      'rcpt-004',
      'rcpt-005'
    ]);
    expect(g.nodes[3]!.label).toBe('planner · failed');
  });

  it('marks missing parents, orphaned tails and missing results as incomplete', () => {
    const base = fallbackExecution().slice(0, 3);
    expect(buildProvenance(base).incomplete).toBe(true);
    const orphaned = [
      ...base,
      r(3, 'orphaned', 2, { failure_reason: 'daemon_restart_before_completion' })
    ];
    const g = buildProvenance(orphaned);
    expect(g.nodes.at(-1)!.branch).toBe('orphaned');
    expect(summarizeExecution(orphaned)!.status).toBe('orphaned');
    const gap = fallbackExecution().filter((x) => x.seq !== 4);
    const g2 = buildProvenance(gap);
    expect(g2.missing_parent_ids).toEqual(['rcpt-004']);
    expect(g2.incomplete).toBe(true);
  });

  it('summarizes status, question, cost and result (predecessor §2.3)', () => {
    const s = summarizeExecution(fallbackExecution())!;
    expect(s).toMatchObject({
      status: 'completed',
      question: 'Why?',
      source_count: 2,
      receipt_count: 8,
      created_at_ms: 1000,
      updated_at_ms: 1007,
      current_step: 'workflow_result'
    });
    expect(s.observed_cost_usd).toBeCloseTo(0.003, 9);
    const running = fallbackExecution().slice(0, 5);
    expect(summarizeExecution(running)!.status).toBe('running');
    const failed = [...fallbackExecution().slice(0, 4)];
    expect(summarizeExecution(failed)!.status).toBe('failed');
    expect(summarizeExecution([])).toBeNull();
  });

  it('exports PROV-JSON and GenAI spans', () => {
    const prov = toProvJson(fallbackExecution()) as Record<string, Record<string, unknown>>;
    expect(Object.keys(prov.entity!)).toContain('shard:rcpt-003');
    expect(Object.values(prov.wasDerivedFrom!)).toContainEqual({
      'prov:generatedEntity': 'shard:rcpt-004',
      'prov:usedEntity': 'shard:rcpt-003'
    });
    expect(Object.keys(prov.activity!)).toContain(`shard:${EXEC}:planner:attempt:2`);
    const spans = toOtelSpans(fallbackExecution());
    expect(spans[0]!.attributes['gen_ai.operation.name']).toBe('invoke_agent');
    const attempt2 = spans.find(
      (s) => s.attributes['shard.attempt_id'] === `${EXEC}:planner:attempt:2`
    )!;
    expect(attempt2.attributes['gen_ai.usage.input_tokens']).toBe(10);
    expect(attempt2.status.code).toBe('OK');
    const attempt1 = spans.find(
      (s) => s.attributes['shard.attempt_id'] === `${EXEC}:planner:attempt:1`
    )!;
    expect(attempt1.status).toEqual({ code: 'ERROR', message: 'request_failed:boom' });
    expect(attempt1.parent_span_id).toBe(spans[0]!.span_id);
    expect(spans[0]!.trace_id).toBe('11111111222243338444555555555555');
  });

  it('orders receipts with equal timestamps by seq, not by receipt id', () => {
    // One millisecond, three receipts: their random ids sort opposite to the chain order.
    const sameMs = (seq: number, id: string, event: R['event_kind'], summary: string): R =>
      r(seq, event, null, { receipt_id: id, timestamp_ms: 5_000, summary });
    const chain = [
      sameMs(0, 'rcpt-c', 'planned', 'accepted'),
      { ...sameMs(1, 'rcpt-b', 'candidate_ranked', 'ranked'), parent_receipt_id: 'rcpt-c' },
      { ...sameMs(2, 'rcpt-a', 'dispatched', 'dispatching'), parent_receipt_id: 'rcpt-b' }
    ];
    const arrived = [chain[2]!, chain[0]!, chain[1]!];
    expect(sortReceipts(arrived).map((x) => x.receipt_id)).toEqual(['rcpt-c', 'rcpt-b', 'rcpt-a']);
    expect(buildProvenance(arrived).nodes.map((n) => n.event_kind)).toEqual([
      'planned',
      'candidate_ranked',
      'dispatched'
    ]);
    expect(summarizeExecution(arrived)!.latest_summary).toBe('dispatching');
  });

  it('is independent of the order receipts arrive in (property, seeded)', () => {
    const treeArb = fc
      .array(
        fc.record({
          parent: fc.nat(),
          event: fc.constantFrom(...EVENT_KINDS),
          dt: fc.integer({ min: 0, max: 3 }),
          hasResult: fc.boolean()
        }),
        { minLength: 1, maxLength: 40 }
      )
      .map((specs) => {
        let t = 0;
        return specs.map((s, i) => {
          t += s.dt; // equal timestamps happen: the order must still be deterministic
          return r(i, s.event, i === 0 ? null : s.parent % i, {
            timestamp_ms: t,
            ...(s.event === 'completed' && s.hasResult
              ? {
                  result: {
                    brief: 'b',
                    sub_questions: [],
                    selected_source_ids: [],
                    source_summaries: []
                  }
                }
              : {})
          });
        });
      });
    fc.assert(
      fc.property(treeArb, fc.infiniteStream(fc.nat()), (receipts, rand) => {
        const shuffled = [...receipts];
        for (let i = shuffled.length - 1; i > 0; i--) {
          const j = rand.next().value % (i + 1);
          [shuffled[i], shuffled[j]] = [shuffled[j]!, shuffled[i]!];
        }
        expect(buildProvenance(shuffled)).toEqual(buildProvenance(receipts));
        expect(summarizeExecution(shuffled)).toEqual(summarizeExecution(receipts));
      }),
      { seed: 42, numRuns: 300 }
    );
  });
});
