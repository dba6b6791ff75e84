/**
 * The privacy envelope and the generated-test-model rule in the workflow step runner: the real
 * registry, ranking and runner; fake executors that record which candidate ran and what request
 * it saw; receipts in an in-memory writer.
 */
import { describe, expect, it } from 'vitest';
import type { TargetEngine } from '../../native-oracle/engine/index.js';
import { StepAttemptError } from '../../native-oracle/workflows/errors.js';
import type {
  StepExecutor,
  StepRequest,
  StepResult
} from '../../native-oracle/workflows/executors.js';
import {
  GENERATED_TEST_MODEL_REASON,
  type StepSpec
} from '../../native-oracle/workflows/ranking.js';
import {
  createCapacityRegistry,
  parseWorkflowConfig,
  type RegisteredCandidate,
  type WorkflowConfigInput
} from '../../native-oracle/workflows/registry.js';
import { extractiveNote } from '../../native-oracle/workflows/research-brief.js';
import {
  createStepRunner,
  type ReceiptFields,
  type StepBody
} from '../../native-oracle/workflows/step-runner.js';
import { normalizePolicy, type ExecutionPolicyInput } from '../../src/lib/protocol/policy.js';
import type { CapabilityDescriptor, ExecutionReceipt } from '../../src/lib/protocol/receipts.js';

const EXEC = 'exec-privacy';
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

/** Every request each candidate's executor received, by candidate id. */
type Seen = Map<string, StepRequest[]>;

function executor(id: string, seen: Seen, behaviour: 'completes' | 'fails'): StepExecutor {
  return {
    run: async (req): Promise<StepResult> => {
      seen.set(id, [...(seen.get(id) ?? []), req]);
      if (behaviour === 'fails') throw new StepAttemptError('upstream_status:500');
      return {
        text: `output of ${id}`,
        input_tokens: 10,
        output_tokens: 5,
        latency_ms: 3,
        model_metadata: { model_id: id }
      };
    }
  };
}

function candidate(
  id: string,
  seen: Seen,
  options: {
    tags?: string[];
    quality?: number;
    behaviour?: 'completes' | 'fails';
    d?: Partial<CapabilityDescriptor>;
  } = {}
): RegisteredCandidate {
  return {
    descriptor: {
      candidate_id: id,
      display_name: id,
      kind: 'remote_oracle',
      supply_tier: 'personal',
      trust_tier: 'local',
      tags: ['planning', 'summarization', 'synthesis', ...(options.tags ?? [])],
      price_per_1k_input_usd: 0,
      price_per_1k_output_usd: 0,
      latency_ms: 100,
      healthy: true,
      ...options.d
    },
    quality: options.quality ?? 0.5,
    timeout_ms: 5_000,
    executor: executor(id, seen, options.behaviour ?? 'completes')
  };
}

function setup(candidates: RegisteredCandidate[], policy: ExecutionPolicyInput) {
  const registry = createCapacityRegistry({
    config: parseWorkflowConfig({ extractive: { enabled: false } }),
    engine: null
  });
  for (const c of candidates) registry.add(c);
  const receipts: ExecutionReceipt[] = [];
  const writer = {
    emit(fields: ReceiptFields): ExecutionReceipt {
      const r: ExecutionReceipt = {
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
      receipts.push(r);
      return r;
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
    executionId: EXEC,
    policy: normalizePolicy(policy),
    registry,
    writer,
    root,
    signal: new AbortController().signal
  });
  return { runner, receipts };
}

interface Case {
  name: string;
  candidates: (seen: Seen) => RegisteredCandidate[];
  policy: ExecutionPolicyInput;
  /** The StepExhaustedError message, or null when the step completes. */
  error: string | null;
  /** Candidates whose executor ran, in order. */
  ran: string[];
  /** rejected_candidates of the candidate_ranked receipt. */
  rejected: Array<{ candidate_id: string; reason: string }>;
}

const NO_TEE_SGX =
  'privacy_requires_tee: the request needs a TEE (sgx); this candidate declares no TEE';
const NO_TEE_ANY =
  'privacy_requires_tee: the request needs a TEE (sgx or sev); this candidate declares no TEE';

const CASES: Case[] = [
  {
    name: 'default envelope: the best candidate runs, nothing excluded',
    candidates: (s) => [
      candidate('plain', s, { quality: 0.9 }),
      candidate('enclave', s, { tags: ['tee:sgx'], quality: 0.1 })
    ],
    policy: {},
    error: null,
    ran: ['plain'],
    rejected: []
  },
  {
    name: 'requires_tee: the better plain candidate is excluded, the TEE candidate runs',
    candidates: (s) => [
      candidate('plain', s, { quality: 0.9 }),
      candidate('enclave', s, { tags: ['tee:sgx'], quality: 0.1 })
    ],
    policy: { privacy: { requires_tee: true } },
    error: null,
    ran: ['enclave'],
    rejected: [{ candidate_id: 'plain', reason: NO_TEE_ANY }]
  },
  {
    name: 'tee_mode sgx: a sev enclave is excluded too',
    candidates: (s) => [
      candidate('sev-box', s, { tags: ['tee:sev'], quality: 0.9 }),
      candidate('sgx-box', s, { tags: ['tee:sgx'], quality: 0.1 })
    ],
    policy: { privacy: { tee_mode: 'sgx' } },
    error: null,
    ran: ['sgx-box'],
    rejected: [
      {
        candidate_id: 'sev-box',
        reason:
          'privacy_requires_tee: the request needs a TEE (sgx); this candidate declares a TEE (sev)'
      }
    ]
  },
  {
    name: 'no TEE capacity: the step fails naming the requirement, nothing runs',
    candidates: (s) => [candidate('a', s), candidate('b', s, { d: { supply_tier: 'public' } })],
    policy: { privacy: { tee_mode: 'sgx' } },
    error:
      'no candidate can honour the privacy envelope for step planner: it requires a TEE (sgx), and no candidate the policy allows declares it; excluded ' +
      `a (${NO_TEE_SGX}), b (${NO_TEE_SGX})`,
    ran: [],
    rejected: [
      { candidate_id: 'a', reason: NO_TEE_SGX },
      { candidate_id: 'b', reason: NO_TEE_SGX }
    ]
  },
  {
    name: 'the TEE candidate fails: no fallback to plain capacity, even with allow_fallbacks',
    candidates: (s) => [
      candidate('enclave', s, { tags: ['tee:sgx'], behaviour: 'fails' }),
      candidate('plain', s, { quality: 0.9 })
    ],
    policy: { privacy: { requires_tee: true }, allow_fallbacks: true },
    error: 'all candidates failed for step planner',
    ran: ['enclave'],
    rejected: [{ candidate_id: 'plain', reason: NO_TEE_ANY }]
  },
  {
    name: 'the only TEE candidate is outside the allowed tiers: fails naming the requirement',
    candidates: (s) => [
      candidate('plain', s),
      candidate('public-enclave', s, { tags: ['tee:sgx'], d: { supply_tier: 'public' } })
    ],
    policy: { privacy: { requires_tee: true }, allowed_supply_tiers: ['personal'] },
    error:
      'no candidate can honour the privacy envelope for step planner: it requires a TEE (sgx or sev), and no candidate the policy allows declares it; excluded ' +
      `plain (${NO_TEE_ANY}), public-enclave (tier_not_allowed)`,
    ran: [],
    rejected: [
      { candidate_id: 'plain', reason: NO_TEE_ANY },
      { candidate_id: 'public-enclave', reason: 'tier_not_allowed' }
    ]
  },
  {
    name: 'fhe: only capacity declaring encrypted computation runs',
    candidates: (s) => [
      candidate('enclave', s, { tags: ['tee:sgx'], quality: 0.9 }),
      candidate('fhe-box', s, { tags: ['encryption:fhe'], quality: 0.1 })
    ],
    policy: { privacy: { encrypted: true } },
    error: null,
    ran: ['fhe-box'],
    rejected: [
      {
        candidate_id: 'enclave',
        reason:
          'privacy_requires_encryption: the request is fhe-encrypted; this candidate declares no encrypted computation'
      }
    ]
  },
  {
    name: 'a generated test model is excluded by default, with the reason in plain words',
    candidates: (s) => [
      candidate('test-model', s, { tags: ['generated_test_model'], quality: 0.9 }),
      candidate('other', s, { quality: 0.1 })
    ],
    policy: {},
    error: null,
    ran: ['other'],
    rejected: [{ candidate_id: 'test-model', reason: GENERATED_TEST_MODEL_REASON }]
  },
  {
    name: 'allow_generated_test_model opts in to it',
    candidates: (s) => [
      candidate('test-model', s, { tags: ['generated_test_model'], quality: 0.9 }),
      candidate('other', s, { quality: 0.1 })
    ],
    policy: { allow_generated_test_model: true },
    error: null,
    ran: ['test-model'],
    rejected: []
  }
];

describe('workflow routing under the privacy envelope and the test-model rule', () => {
  it.each(CASES)('$name', async (c) => {
    const seen: Seen = new Map();
    const { runner, receipts } = setup(c.candidates(seen), c.policy);
    let error: string | null = null;
    try {
      await runner.run(PLAN, BODY);
    } catch (err) {
      expect((err as Error).name).toBe('StepExhaustedError');
      error = (err as Error).message;
    }
    expect(error).toBe(c.error);
    expect([...seen.keys()]).toEqual(c.ran);
    const ranked = receipts.find((r) => r.event_kind === 'candidate_ranked')!;
    expect(ranked.rejected_candidates).toEqual(c.rejected);
    // Every dispatched attempt went to a candidate that ran (no step on an excluded one).
    const excluded = new Set(c.rejected.map((r) => r.candidate_id));
    for (const r of receipts.filter((x) => x.event_kind === 'dispatched'))
      expect(excluded.has(r.selected_candidate!.candidate_id)).toBe(false);
  });

  it('passes the envelope to the executor and states it in the ranking receipt', async () => {
    const seen: Seen = new Map();
    const { runner, receipts } = setup([candidate('enclave', seen, { tags: ['tee:sev'] })], {
      privacy: { tee_mode: 'sev', scout_floor: 'none' }
    });
    await runner.run(PLAN, BODY);
    expect(seen.get('enclave')![0]!.privacy).toEqual({
      requires_tee: true,
      encrypted: false,
      encryption_scheme: 'none',
      tee_mode: 'sev',
      scout_floor: 'none'
    });
    expect(receipts[1]!.summary).toContain(
      'privacy envelope: requires_tee=true tee_mode=sev encrypted=false encryption_scheme=none scout_floor=none'
    );
  });

  it('says nothing about the envelope when it is the default', async () => {
    const seen: Seen = new Map();
    const { runner, receipts } = setup([candidate('a', seen)], {});
    await runner.run(PLAN, BODY);
    expect(receipts[1]!.summary).not.toContain('privacy envelope');
  });

  it('the failed receipt of an unmet envelope names the requirement', async () => {
    const { runner, receipts } = setup([candidate('a', new Map())], {
      privacy: { encrypted: true }
    });
    await expect(runner.run(PLAN, BODY)).rejects.toThrow(/requires fhe encryption/);
    expect(receipts.at(-1)).toMatchObject({
      event_kind: 'failed',
      failure_reason: 'no_candidate_satisfied_policy',
      summary: 'No candidate can honour the privacy envelope (it requires fhe encryption)'
    });
  });
});

describe('capacity registry: privacy declarations and the generated test model', () => {
  const engine = { modelId: 'target' } as unknown as TargetEngine;
  const tagsOf = (config: WorkflowConfigInput, isGeneratedTestModel?: boolean) =>
    Object.fromEntries(
      createCapacityRegistry({
        config: parseWorkflowConfig(config, { TEAM: 'k' }),
        engine,
        ...(isGeneratedTestModel !== undefined ? { isGeneratedTestModel } : {})
      })
        .descriptors()
        .map((d) => [d.candidate_id, { name: d.display_name, tags: d.tags }])
    );

  it('declares nothing by default, and the local model is not a test model', () => {
    const d = tagsOf({});
    expect(d['local-oracle']!.name).toBe('local oracle');
    for (const { tags } of Object.values(d)) {
      expect(tags!.some((t) => t.startsWith('tee:') || t.startsWith('encryption:'))).toBe(false);
      expect(tags).not.toContain('generated_test_model');
    }
  });

  it('marks the local candidate when it serves a generated test model', () => {
    const d = tagsOf({}, true);
    expect(d['local-oracle']!.name).toBe('local oracle (generated test model)');
    expect(d['local-oracle']!.tags).toContain('generated_test_model');
    expect(d.extractive!.tags).not.toContain('generated_test_model');
  });

  it('turns supports_tee / supports_encryption into capability tags', () => {
    const d = tagsOf({
      local: { supports_tee: 'sev' },
      extractive: { supports_tee: 'sev' },
      remotes: [
        {
          candidate_id: 'r',
          endpoint: 'http://127.0.0.1:9',
          supply_tier: 'personal',
          trust_tier: 'verified_mesh',
          price_per_1k_input_usd: 0,
          price_per_1k_output_usd: 0,
          supports_tee: 'sgx',
          supports_encryption: 'fhe'
        }
      ]
    });
    expect(d['local-oracle']!.tags).toContain('tee:sev');
    expect(d.extractive!.tags).toContain('tee:sev');
    expect(d.r!.tags).toEqual(expect.arrayContaining(['tee:sgx', 'encryption:fhe']));
  });

  it('refuses an unknown TEE mode in the config, naming the field', () => {
    expect(() => parseWorkflowConfig({ local: { supports_tee: 'tdx' } })).toThrow(
      /^workflow config local\.supports_tee: /
    );
  });
});

describe('the note of a brief built extractively', () => {
  it('says how it was built and why no model was chosen', () => {
    expect(
      extractiveNote([{ candidate_id: 'local-oracle', reason: GENERATED_TEST_MODEL_REASON }])
    ).toBe(
      'Built extractively: this brief is assembled from sentences selected from the sources by BM25 relevance; no language model wrote it. ' +
        'No model was chosen: local-oracle (generated_test_model: its text is meaningless by design (policy.allow_generated_test_model opts in)).'
    );
    expect(extractiveNote([])).toContain(
      'No language-model candidate ranked above the extractive engine under this policy.'
    );
  });
});
