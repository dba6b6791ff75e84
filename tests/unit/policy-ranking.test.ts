import { describe, expect, it } from 'vitest';
import { normalizePolicy, type ExecutionPolicyInput } from '../../src/lib/protocol/policy.js';
import type { CapabilityDescriptor } from '../../src/lib/protocol/receipts.js';
import {
  actualCost,
  estimateCost,
  fallbackBlockReason,
  rankCandidates,
  type RankableCandidate,
  type StepSpec
} from '../../native-oracle/workflows/ranking.js';
import { parseWorkflowConfig, WorkflowConfigError } from '../../native-oracle/workflows/index.js';
import {
  PLANNER_STEP,
  SUMMARIZE_STEP,
  SYNTHESIZE_STEP
} from '../../native-oracle/workflows/plan.js';

const cand = (id: string, d: Partial<CapabilityDescriptor>, quality = 0.5): RankableCandidate => ({
  descriptor: {
    candidate_id: id,
    display_name: id,
    supply_tier: 'personal',
    trust_tier: 'local',
    tags: ['planning', 'summarization', 'synthesis', 'reasoning'],
    price_per_1k_input_usd: 0,
    price_per_1k_output_usd: 0,
    latency_ms: 500,
    healthy: true,
    ...d
  },
  quality
});

const local = cand('local', {}, 0.6);
const extractive = cand(
  'extractive',
  { tags: ['planning', 'summarization', 'synthesis', 'extractive', 'low_cost'], latency_ms: 5 },
  0.1
);
const teamGpu = cand(
  'team-gpu',
  {
    supply_tier: 'private',
    trust_tier: 'verified_mesh',
    price_per_1k_input_usd: 0.0005,
    price_per_1k_output_usd: 0.0015,
    tags: ['planning', 'summarization', 'synthesis', 'reasoning', 'specialist']
  },
  0.6
);
const publicBig = cand(
  'public-big',
  {
    supply_tier: 'public',
    trust_tier: 'public_specialist',
    price_per_1k_input_usd: 0.003,
    price_per_1k_output_usd: 0.015,
    latency_ms: 2000,
    tags: ['planning', 'summarization', 'synthesis', 'reasoning', 'specialist']
  },
  0.95
);
const all = [local, extractive, teamGpu, publicBig];

const rank = (
  step: Omit<StepSpec, 'step_id'>,
  policy: ExecutionPolicyInput,
  candidates = all,
  spent = { total_usd: 0, public_usd: 0, step_usd: 0 },
  elapsed = 0
) =>
  rankCandidates({
    step: { ...step, step_id: 's' },
    candidates,
    policy: normalizePolicy(policy),
    spent,
    elapsed_ms: elapsed,
    prompt_tokens: 400
  });

describe('ranking (table-driven)', () => {
  const table: Array<
    [string, Omit<StepSpec, 'step_id'>, ExecutionPolicyInput, string[], Array<[string, string]>]
  > = [
    [
      'summaries prefer cheap personal/private capacity',
      SUMMARIZE_STEP,
      { trust_tier: 'public_specialist' },
      ['extractive', 'local', 'team-gpu', 'public-big'],
      []
    ],
    [
      'synthesis prefers the strongest candidate when trust and budget allow',
      SYNTHESIZE_STEP,
      { trust_tier: 'public_specialist' },
      ['public-big', 'team-gpu', 'local', 'extractive'],
      []
    ],
    [
      'the default trust floor (verified_mesh) excludes public specialists',
      SYNTHESIZE_STEP,
      {},
      ['team-gpu', 'local', 'extractive'],
      [['public-big', 'trust_floor_unmet']]
    ],
    [
      'trust floor local keeps this machine only',
      PLANNER_STEP,
      { trust_tier: 'local' },
      ['local', 'extractive'],
      [
        ['team-gpu', 'trust_floor_unmet'],
        ['public-big', 'trust_floor_unmet']
      ]
    ],
    [
      'tiers not allowed are excluded first',
      PLANNER_STEP,
      { allowed_supply_tiers: ['private'] },
      ['team-gpu'],
      [
        ['local', 'tier_not_allowed'],
        ['extractive', 'tier_not_allowed'],
        ['public-big', 'tier_not_allowed']
      ]
    ],
    [
      'public spend cap excludes paid public capacity',
      SYNTHESIZE_STEP,
      { trust_tier: 'public_specialist', max_public_spend: 0 },
      ['team-gpu', 'local', 'extractive'],
      [['public-big', 'public_spend_exceeded']]
    ],
    [
      'step budget excludes anything costlier than the step may spend',
      SYNTHESIZE_STEP,
      { trust_tier: 'public_specialist', step_budget_limit: 0.001 },
      ['team-gpu', 'local', 'extractive'],
      [['public-big', 'step_budget_exceeded']]
    ],
    [
      'residency private keeps private capacity',
      PLANNER_STEP,
      { data_residency: 'private' },
      ['team-gpu'],
      [
        ['local', 'residency_mismatch'],
        ['extractive', 'residency_mismatch'],
        ['public-big', 'trust_floor_unmet']
      ]
    ]
  ];
  it.each(table)('%s', (_name, step, policy, order, rejected) => {
    const r = rank(step, policy);
    expect(r.ranked.map((c) => c.descriptor.candidate_id)).toEqual(order);
    expect(r.rejected.map((x) => [x.candidate_id, x.reason])).toEqual(rejected);
  });

  it('excludes candidates that the remaining budget or deadline cannot afford', () => {
    const spent = { total_usd: 1.2495, public_usd: 0, step_usd: 0 };
    const r = rank(SYNTHESIZE_STEP, { trust_tier: 'public_specialist' }, all, spent);
    expect(r.rejected).toEqual([
      { candidate_id: 'team-gpu', reason: 'budget_exceeded' },
      { candidate_id: 'public-big', reason: 'budget_exceeded' }
    ]);
    const late = rank(
      SYNTHESIZE_STEP,
      { trust_tier: 'public_specialist', deadline_ms: 45_000 },
      all,
      undefined,
      44_000
    );
    expect(late.rejected).toEqual([{ candidate_id: 'public-big', reason: 'deadline_exceeded' }]);
  });

  it('penalises unhealthy candidates but keeps them ranked', () => {
    const sick = cand('local', { healthy: false }, 0.6);
    const r = rank(PLANNER_STEP, { trust_tier: 'local' }, [sick, extractive]);
    expect(r.ranked.map((c) => c.descriptor.candidate_id)).toEqual(['extractive', 'local']);
    expect(r.ranked[1]!.components.health).toBe(-0.6);
  });

  it('explains the win with score terms and writes every term into selection_reason', () => {
    const r = rank(SYNTHESIZE_STEP, { trust_tier: 'public_specialist' });
    expect(r.explanation).toMatch(
      /^winner public-big \([\d.]+\) over team-gpu \([\d.]+\): quality \+0\.525/
    );
    const reason = r.ranked[0]!.descriptor.selection_reason!;
    for (const term of [
      'required_matches=',
      'policy_matches=',
      'latency_score=',
      'fallback_bias=',
      'trust_bonus=',
      'quality=',
      'cost_penalty=',
      'remaining_budget_usd=1.25'
    ])
      expect(reason).toContain(term);
    const sum = Object.values(r.ranked[0]!.components).reduce((s, v) => s + v, 0);
    expect(r.ranked[0]!.descriptor.score).toBeCloseTo(sum, 3);
  });

  it('breaks exact ties by candidate_id', () => {
    const a = cand('b-node', {}, 0.5);
    const b = cand('a-node', {}, 0.5);
    expect(rank(PLANNER_STEP, {}, [a, b]).ranked.map((c) => c.descriptor.candidate_id)).toEqual([
      'a-node',
      'b-node'
    ]);
  });

  it('prices estimates with max tokens and actuals with real token counts', () => {
    expect(estimateCost(publicBig.descriptor, 400, 420)).toBe(
      Math.round(((400 * 0.003 + 420 * 0.015) / 1000) * 1e6) / 1e6
    );
    expect(actualCost(publicBig.descriptor, 1000, 100)).toBe(0.0045);
  });
});

describe('fallback rule (allow_fallbacks=false: never to lower trust or higher cost)', () => {
  const ranked = rank(SYNTHESIZE_STEP, { trust_tier: 'public_specialist' }).ranked;
  const by = (id: string) => ranked.find((c) => c.descriptor.candidate_id === id)!;
  const strict = normalizePolicy({ trust_tier: 'public_specialist' });
  const loose = normalizePolicy({ trust_tier: 'public_specialist', allow_fallbacks: true });
  const table: Array<[string, string, string | null]> = [
    ['public-big', 'team-gpu', null],
    ['team-gpu', 'local', null],
    ['local', 'extractive', null],
    [
      'team-gpu',
      'public-big',
      'fallback_blocked:lower_trust(public-big:public_specialist<verified_mesh)'
    ],
    ['extractive', 'team-gpu', 'fallback_blocked:lower_trust(team-gpu:verified_mesh<local)']
  ];
  it.each(table)('%s -> %s', (from, to, reason) => {
    expect(fallbackBlockReason(strict, by(from), by(to))).toBe(reason);
    expect(fallbackBlockReason(loose, by(from), by(to))).toBeNull();
  });
  it('blocks a more expensive candidate of equal trust', () => {
    const cheap = { ...by('team-gpu'), estimated_cost_usd: 0.001 };
    const dear = {
      ...by('team-gpu'),
      descriptor: { ...by('team-gpu').descriptor, candidate_id: 'team-gpu-2' },
      estimated_cost_usd: 0.01
    };
    expect(fallbackBlockReason(strict, cheap, dear)).toBe(
      'fallback_blocked:higher_cost(team-gpu-2:0.01>0.001)'
    );
  });
});

describe('workflow config tier rules', () => {
  const r = (x: Record<string, unknown>) => ({
    candidate_id: 'n1',
    endpoint: 'http://10.0.0.5:9091',
    supply_tier: 'private',
    trust_tier: 'verified_mesh',
    price_per_1k_input_usd: 0,
    price_per_1k_output_usd: 0,
    ...x
  });
  const cases: Array<[string, unknown, string | null]> = [
    [
      'private without allow-list or team key',
      { remotes: [r({})] },
      'workflow config remote n1: private tier requires a peer_id listed in team.peer_allowlist or use_team_key with team.team_key_env set'
    ],
    [
      'private via allow-listed peer id',
      { team: { peer_allowlist: ['12D3KooWabc'] }, remotes: [r({ peer_id: '12D3KooWabc' })] },
      null
    ],
    [
      'private via team key',
      { team: { team_key_env: 'TEAM_KEY' }, remotes: [r({ use_team_key: true })] },
      null
    ],
    [
      'remote claiming local trust',
      { remotes: [r({ supply_tier: 'public', trust_tier: 'local' })] },
      'workflow config remote n1: trust tier local is reserved for this machine'
    ],
    [
      'personal tier off this machine',
      { remotes: [r({ supply_tier: 'personal' })] },
      'workflow config remote n1: personal tier requires a loopback endpoint (this machine)'
    ],
    [
      'duplicate id',
      {
        remotes: [
          r({ supply_tier: 'public', trust_tier: 'public_specialist' }),
          r({ supply_tier: 'public', trust_tier: 'public_specialist' })
        ]
      },
      'workflow config remote n1: duplicate candidate_id'
    ],
    [
      'bad price',
      { remotes: [r({ price_per_1k_input_usd: -1 })] },
      'workflow config remotes.0.price_per_1k_input_usd:'
    ],
    ['unknown field', { remote: [] }, 'workflow config (root): Unrecognized key: "remote"']
  ];
  it.each(cases)('%s', (_name, raw, error) => {
    const run = () => parseWorkflowConfig(raw, { TEAM_KEY: 'secret' });
    if (error === null) expect(run().remotes).toHaveLength(1);
    else {
      expect(run).toThrow(WorkflowConfigError);
      expect(run).toThrow(error);
    }
  });
});
