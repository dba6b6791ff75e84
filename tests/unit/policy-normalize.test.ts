import { describe, expect, it } from 'vitest';
import {
  normalizePolicy,
  parsePolicy,
  POLICY_DEFAULTS,
  satisfiesTrustFloor,
  type TrustTier
} from '../../src/lib/protocol/policy.js';
import { parseAgentTask } from '../../src/lib/protocol/workflow.js';

const defaults = normalizePolicy(undefined);

describe('policy normalization: absent = default, present (null included) = literal', () => {
  it('omitted, null and {} are the same policy: all defaults', () => {
    expect(parsePolicy(undefined)).toEqual({ ok: true, policy: defaults });
    expect(parsePolicy(null)).toEqual({ ok: true, policy: defaults });
    expect(parsePolicy({})).toEqual({ ok: true, policy: defaults });
    expect(defaults).toMatchObject({
      allowed_supply_tiers: ['personal', 'private', 'public'],
      trust_tier: 'verified_mesh',
      budget_limit: 1.25,
      deadline_ms: 45_000,
      max_public_spend: 0.35,
      step_budget_limit: null,
      allow_fallbacks: false,
      fallback_order: ['personal', 'private', 'public'],
      capability_tags: ['planning', 'summarization', 'synthesis']
    });
  });

  const table: Array<[string, unknown, Record<string, unknown>]> = [
    [
      'budget null means unlimited',
      { budget_limit: null },
      { budget_limit: null, deadline_ms: 45_000 }
    ],
    ['deadline null means none', { deadline_ms: null }, { deadline_ms: null }],
    [
      'trust floor taken literally',
      { trust_tier: 'local' },
      { trust_tier: 'local', budget_limit: 1.25 }
    ],
    [
      'tiers de-duplicated, order kept',
      { allowed_supply_tiers: ['private', 'personal', 'private'] },
      { allowed_supply_tiers: ['private', 'personal'], fallback_order: ['private', 'personal'] }
    ],
    [
      'fallback order completed with allowed tiers',
      { fallback_order: ['public'] },
      { fallback_order: ['public', 'personal', 'private'] }
    ],
    ['empty capability tags = no preference', { capability_tags: [] }, { capability_tags: [] }],
    ['allow_fallbacks explicit', { allow_fallbacks: true }, { allow_fallbacks: true }],
    ['public spend zero', { max_public_spend: 0 }, { max_public_spend: 0 }]
  ];
  it.each(table)('%s', (_name, input, expected) => {
    const result = parsePolicy(input);
    expect(result.ok).toBe(true);
    if (result.ok) expect(result.policy).toMatchObject(expected);
  });

  const errors: Array<[unknown, string]> = [
    [
      { allowed_supply_tiers: [] },
      'policy.allowed_supply_tiers: must list at least one tier (omit the field for all tiers)'
    ],
    [{ allowed_supply_tiers: ['moon'] }, 'policy.allowed_supply_tiers.0:'],
    [{ trust_tier: 'gold' }, 'policy.trust_tier:'],
    [{ budget_limit: -1 }, 'policy.budget_limit: must be >= 0'],
    [{ deadline_ms: 0 }, 'policy.deadline_ms:'],
    [{ trust_tier: null }, 'policy.trust_tier:'],
    [{ budget: 3 }, 'policy: Unrecognized key: "budget"'],
    [
      { allowed_supply_tiers: ['personal'], fallback_order: ['public'] },
      'policy.fallback_order: tier public is not in allowed_supply_tiers (personal)'
    ],
    ['cheap', 'policy: ']
  ];
  it.each(errors)('rejects %o with a precise message', (input, message) => {
    const result = parsePolicy(input);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.detail.startsWith(message)).toBe(true);
  });

  it('does not share default arrays between policies', () => {
    const a = normalizePolicy({});
    a.allowed_supply_tiers.push('public');
    expect(POLICY_DEFAULTS.allowed_supply_tiers).toEqual(['personal', 'private', 'public']);
    expect(normalizePolicy({}).allowed_supply_tiers).toEqual(['personal', 'private', 'public']);
  });
});

describe('trust floor', () => {
  const cases: Array<[TrustTier, TrustTier, boolean]> = [
    ['local', 'local', true],
    ['verified_mesh', 'local', false],
    ['local', 'verified_mesh', true],
    ['private_attested', 'verified_mesh', true],
    ['public_specialist', 'verified_mesh', false],
    ['public_specialist', 'public_specialist', true],
    ['verified_mesh', 'private_attested', false],
    ['local', 'private_attested', true]
  ];
  it.each(cases)('candidate %s vs floor %s -> %s', (candidate, floor, expected) => {
    expect(satisfiesTrustFloor(candidate, floor)).toBe(expected);
  });
});

describe('AgentTaskRequest validation (predecessor detail strings)', () => {
  const ok = {
    workflow_kind: 'research_brief',
    question: 'Q?',
    sources: [{ id: 's1', content: 'text' }]
  };
  const cases: Array<[string, unknown, string]> = [
    ['wrong kind', { ...ok, workflow_kind: 'other' }, 'workflow_kind must be research_brief'],
    ['blank question', { ...ok, question: '   ' }, 'question is required'],
    ['no sources', { ...ok, sources: [] }, 'at least one source is required'],
    [
      'missing sources',
      { workflow_kind: 'research_brief', question: 'Q' },
      'at least one source is required'
    ],
    [
      'seven sources',
      { ...ok, sources: Array.from({ length: 7 }, (_, i) => ({ id: `s${i}`, content: 'x' })) },
      'at most 6 sources are supported in v1'
    ],
    [
      'duplicate id',
      {
        ...ok,
        sources: [
          { id: 's1', content: 'a' },
          { id: ' s1 ', content: 'b' }
        ]
      },
      'duplicate source id: s1'
    ],
    [
      'blank content',
      { ...ok, sources: [{ id: 's1', content: '  ' }] },
      'source s1 content is required'
    ],
    [
      'blank id gets default then content check',
      { ...ok, sources: [{ id: '', content: '' }] },
      'source source-1 content is required'
    ],
    [
      'bad policy',
      { ...ok, policy: { trust_tier: 'x' } },
      'policy.trust_tier: Invalid option: expected one of "local"|"verified_mesh"|"private_attested"|"public_specialist"'
    ],
    ['not an object', [1], 'request body must be a JSON object']
  ];
  it.each(cases)('%s', (_name, body, detail) => {
    expect(parseAgentTask(body)).toEqual({ ok: false, detail });
  });

  it('normalizes ids, titles and the text alias', () => {
    const r = parseAgentTask({
      ...ok,
      sources: [
        { id: ' ', title: ' ', text: ' body ' },
        { id: 'b', title: ' T ', content: 'c' }
      ]
    });
    expect(r.ok && r.task.sources).toEqual([
      { id: 'source-1', title: null, content: 'body' },
      { id: 'b', title: 'T', content: 'c' }
    ]);
  });
});
