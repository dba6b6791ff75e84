/** Prompt lookup drafting: table-driven cases and properties that must hold for every context. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { lookupDraft } from '../../src/lib/protocol/prompt-lookup.js';
import { createPromptLookupEngine } from '../../workers/scout/browser/prompt-lookup.js';

describe('lookupDraft', () => {
  it.each([
    {
      name: 'copies what followed the last bigram',
      context: [1, 2, 3, 4, 9, 1, 2],
      k: 3,
      expected: [3, 4, 9]
    },
    {
      name: 'prefers the longest suffix match',
      context: [5, 2, 7, 1, 2, 8, 5, 2],
      k: 2,
      expected: [7, 1]
    },
    {
      name: 'prefers the most recent match',
      context: [1, 2, 3, 1, 2, 4, 1, 2],
      k: 1,
      expected: [4]
    },
    {
      name: 'stops at the end of the context (no self-overlap, as in llama.cpp ngram-simple)',
      context: [7, 8, 7, 8],
      k: 5,
      expected: [7, 8]
    },
    { name: 'returns nothing without a match', context: [1, 2, 3, 4], k: 4, expected: [] },
    { name: 'returns nothing for an empty context', context: [], k: 4, expected: [] },
    { name: 'stops at k', context: [1, 2, 3, 4, 5, 1], k: 2, expected: [2, 3] }
  ])('$name', ({ context, k, expected }) => {
    expect(lookupDraft(context, k)).toEqual(expected);
  });

  it('always drafts at most k tokens that occur in the context', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 6 }), { maxLength: 60 }),
        fc.integer({ min: 1, max: 16 }),
        (context, k) => {
          const draft = lookupDraft(context, k);
          expect(draft.length).toBeLessThanOrEqual(k);
          for (const t of draft) expect(context).toContain(t);
        }
      ),
      { seed: 20261121, numRuns: 300 }
    );
  });

  it('drafts the exact continuation of a context that repeats a block', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 1000 }), { minLength: 8, maxLength: 40 }),
        (block) => {
          fc.pre(new Set(block).size === block.length);
          // [block, block[0..3]] -> the draft continues the block from position 4.
          const context = [...block, ...block.slice(0, 4)];
          expect(lookupDraft(context, 4)).toEqual(block.slice(4, 8));
        }
      ),
      { seed: 7, numRuns: 200 }
    );
  });
});

describe('createPromptLookupEngine', () => {
  it('is a DraftEngine that honours abort', async () => {
    const engine = createPromptLookupEngine({ tokenizerFingerprint: 'abc' });
    expect(engine.tokenizerFingerprint).toBe('abc');
    expect(await engine.draft([1, 2, 3, 1, 2], 2)).toEqual([3, 1]);
    const controller = new AbortController();
    controller.abort(new Error('stopped'));
    await expect(engine.draft([1, 2, 1], 2, controller.signal)).rejects.toThrow('stopped');
  });
});
