import { describe, expect, it } from 'vitest';
import {
  createBm25,
  extractivePlan,
  extractiveSummary,
  extractiveSynthesis,
  rankSources,
  splitSentences,
  tokenize
} from '../../native-oracle/workflows/extractive.js';
import { parsePlan, plannerJsonSchema } from '../../native-oracle/workflows/plan.js';
import { stepSummary } from '../../native-oracle/workflows/step-runner.js';

const sources = [
  {
    id: 'solar',
    title: 'Solar panels',
    content:
      'Solar panels convert sunlight into electricity. Panel efficiency drops in hot weather. Installation costs fell by half since 2015.'
  },
  {
    id: 'wind',
    title: 'Wind farms',
    content:
      'Wind turbines produce power when the wind blows. Offshore wind is steadier than onshore wind. However, turbines can harm birds.'
  },
  {
    id: 'tax',
    title: null,
    content: 'The tax code changed in 2020. Deductions for home offices were extended.'
  }
];

describe('extractive engine', () => {
  it.each([
    ['Solar panels, efficiency!', ['solar', 'panel', 'efficiency']],
    ['The cats and the dogs', ['cat', 'dog']],
    ['Glass is class', ['glass', 'class']]
  ])('tokenize(%s)', (text, tokens) => {
    expect(tokenize(text)).toEqual(tokens);
  });

  it('splits sentences at terminal punctuation and line breaks', () => {
    expect(splitSentences('One. Two? Three!\nFour')).toEqual(['One.', 'Two?', 'Three!', 'Four']);
  });

  it('scores BM25: more matching, rarer terms rank higher; no match scores 0', () => {
    const bm = createBm25([
      tokenize('solar solar power'),
      tokenize('wind power'),
      tokenize('tax code')
    ]);
    const q = tokenize('solar power');
    expect(bm.score(q, 0)).toBeGreaterThan(bm.score(q, 1));
    expect(bm.score(q, 1)).toBeGreaterThan(0);
    expect(bm.score(q, 2)).toBe(0);
  });

  it('ranks sources by relevance, ties in input order', () => {
    expect(
      rankSources('How efficient are solar panels in hot weather?', sources).map((r) => r.id)
    ).toEqual(['solar', 'wind', 'tax']);
    expect(rankSources('nothing matches zzz', sources).map((r) => r.id)).toEqual([
      'solar',
      'wind',
      'tax'
    ]);
  });

  it('plans deterministically: relevant sources, one sub-question per clause', () => {
    const plan = extractivePlan(
      'How efficient are solar panels, and do wind turbines harm birds?',
      sources
    );
    expect(plan.selected_source_ids).toEqual(['wind', 'solar']);
    expect(plan.sub_questions).toEqual([
      { question: 'How efficient are solar panels?', relevant_source_ids: ['solar'] },
      { question: 'do wind turbines harm birds?', relevant_source_ids: ['wind'] }
    ]);
    expect(
      extractivePlan('How efficient are solar panels, and do wind turbines harm birds?', sources)
    ).toEqual(plan);
  });

  it('does not select a source that shares only one incidental word with the question', () => {
    const withFerry = [
      ...sources,
      {
        id: 'ferry',
        title: 'Harbour ferry timetable',
        content:
          'The harbour ferry leaves every forty minutes. The boats are efficient and in good condition.'
      }
    ];
    const plan = extractivePlan(
      'How efficient are solar panels, and do wind turbines harm birds?',
      withFerry
    );
    // `ferry` scores above 0 on "efficient" (BM25), but shares no second word with any clause.
    expect(rankSources('How efficient are solar panels?', withFerry).at(0)?.id).toBe('solar');
    expect(plan.selected_source_ids).toEqual(['wind', 'solar']);
    expect(plan.planner_notes).toContain('not selected (off topic): tax, ferry');
  });

  it('keeps a source matching a one-word clause, and any BM25 match when nothing is on topic', () => {
    // Clauses of one or two content words need one shared word.
    expect(extractivePlan('Is solar cheap; what about wind?', sources).selected_source_ids).toEqual(
      ['wind', 'solar']
    );
    // No source shares two words with this question; `wind` is the only BM25 match.
    expect(
      extractivePlan('Do birds like warm sunny beaches?', sources).selected_source_ids
    ).toEqual(['wind']);
  });

  it('falls back to every source and the main question when nothing matches', () => {
    const plan = extractivePlan('zzz?', sources);
    expect(plan.selected_source_ids).toEqual(['solar', 'wind', 'tax']);
    expect(plan.sub_questions).toEqual([
      { question: 'Answer the main question: zzz?', relevant_source_ids: ['solar', 'wind', 'tax'] }
    ]);
  });

  it('summarizes with the most relevant sentences in source order', () => {
    const long = {
      id: 'x',
      title: null,
      content:
        'Alpha is first. Beta mentions solar. Gamma is filler. Delta mentions solar panels and heat. Epsilon ends.'
    };
    expect(extractiveSummary('solar panels heat', [], long, 2)).toBe(
      'Beta mentions solar. Delta mentions solar panels and heat.'
    );
    expect(extractiveSummary('zzz', [], long, 2)).toBe('Alpha is first. Beta mentions solar.');
  });

  it('synthesizes answer, evidence, uncertainty and next step', () => {
    const brief = extractiveSynthesis(
      'Do wind turbines harm birds?',
      [
        {
          source_id: 'wind',
          title: 'Wind farms',
          summary: 'Offshore wind is steadier. However, turbines can harm birds.'
        },
        { source_id: 'solar', summary: 'Solar panels convert sunlight.' }
      ],
      [{ question: 'Do wind turbines harm birds?', relevant_source_ids: ['wind'] }]
    );
    expect(brief.split('\n')).toEqual([
      'Answer: However, turbines can harm birds. [wind]',
      'Evidence:',
      '- [wind] Wind farms: Offshore wind is steadier. However, turbines can harm birds.',
      '- [solar] Solar panels convert sunlight.',
      'Uncertainty:',
      '- However, turbines can harm birds. [wind]',
      'Next step: Check "Do wind turbines harm birds?" against more sources (currently 1).'
    ]);
  });
});

describe('planner output handling (predecessor §3.3)', () => {
  const ids = ['s1', 's2', 's3'];
  const cases: Array<
    [string, unknown, { selected: string[]; subs: number; notes: string | RegExp }]
  > = [
    [
      'structured JSON',
      '{"planner_notes":"n","selected_source_ids":["s2","s1"],"sub_questions":[{"question":"q","relevant_source_ids":["s2"]}]}',
      { selected: ['s2', 's1'], subs: 1, notes: 'n' }
    ],
    [
      'JSON wrapped in prose',
      'Sure! {"selected_source_ids":["s3","s3","zz"]} done',
      { selected: ['s3'], subs: 1, notes: 'Focus on 1 source(s): s3.' }
    ],
    [
      'free text',
      'I would look at everything.',
      { selected: ['s1', 's2', 's3'], subs: 1, notes: 'Focus on 3 source(s): s1, s2, s3.' }
    ],
    [
      'ids only from sub-questions',
      '{"sub_questions":[{"question":"a","relevant_source_ids":["s3"]},{"question":"b","relevant_source_ids":["s1","bad"]}]}',
      { selected: ['s3', 's1'], subs: 2, notes: /Focus on 2/ }
    ],
    [
      'truncated JSON',
      '{"planner_notes":"n","selected_source_ids":["s2"',
      { selected: ['s1', 's2', 's3'], subs: 1, notes: /Focus on 3/ }
    ]
  ];
  it.each(cases)('%s', (_name, raw, expected) => {
    const plan = parsePlan(raw, 'Q?', ids);
    expect(plan.selected_source_ids).toEqual(expected.selected);
    expect(plan.sub_questions).toHaveLength(expected.subs);
    if (typeof expected.notes === 'string') expect(plan.planner_notes).toBe(expected.notes);
    else expect(plan.planner_notes).toMatch(expected.notes);
  });

  it('names only the given ids in the grammar schema', () => {
    const schema = plannerJsonSchema(ids) as {
      properties: { selected_source_ids: { items: { enum: string[] } } };
    };
    expect(schema.properties.selected_source_ids.items.enum).toEqual(ids);
  });

  it('cuts step summaries at 140 characters', () => {
    expect(stepSummary('a\n'.repeat(100))).toBe(`${'a '.repeat(70).slice(0, 140)}...`);
    expect(stepSummary(' short\ntext ')).toBe('short text');
  });
});
