/**
 * The one prompt-lookup rule (src/lib/protocol/prompt-lookup.ts) that the oracle's draft source
 * and the browser scout's engine both run: a table pinning the agreed answers, the two adapters
 * giving the same answer as the rule, and the no-self-overlap invariant for every context.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createPromptLookupSource } from '../../native-oracle/engine/prompt-lookup.js';
import { lookupDraft, type PromptLookupOptions } from '../../src/lib/protocol/prompt-lookup.js';
import { createPromptLookupEngine } from '../../workers/scout/browser/prompt-lookup.js';

interface Case {
  name: string;
  context: number[];
  k: number;
  options?: PromptLookupOptions;
  /** What `lookupDraft` (one lookup) proposes. */
  expected: number[];
  /** What both sides draft (`lookupChain`), where it differs from one lookup. */
  drafted?: number[];
}

const cases: Case[] = [
  {
    name: 'a repeating pattern: copies up to the end of the context, never into its own suffix',
    context: [7, 8, 7, 8],
    k: 5,
    expected: [7, 8],
    drafted: [7, 8, 7, 8, 7]
  },
  {
    name: 'a period-1 loop drafts one token per round',
    context: [5, 5, 5, 5],
    k: 4,
    expected: [5],
    drafted: [5, 5, 5, 5]
  },
  { name: 'no earlier occurrence of any suffix', context: [1, 2, 3, 4], k: 4, expected: [] },
  { name: 'empty context', context: [], k: 4, expected: [] },
  { name: 'one token has nothing before it', context: [3], k: 4, expected: [] },
  { name: 'k = 0 drafts nothing', context: [1, 2, 1], k: 0, expected: [] },
  { name: 'negative k drafts nothing', context: [1, 2, 1], k: -2, expected: [] },
  { name: 'k limits the copy', context: [1, 2, 3, 4, 5, 1], k: 2, expected: [2, 3] },
  {
    name: 'k larger than what follows',
    context: [1, 2, 3, 1],
    k: 9,
    expected: [2, 3, 1],
    drafted: [2, 3, 1, 2, 3, 1, 2, 3, 1]
  },
  {
    name: 'the longest suffix wins over a more recent shorter one',
    context: [4, 5, 6, 1, 9, 5, 6, 2, 4, 5, 6],
    k: 1,
    expected: [1]
  },
  {
    name: 'the most recent match wins among equal lengths',
    context: [1, 2, 3, 1, 2, 4, 1, 2],
    k: 1,
    expected: [4]
  },
  {
    name: 'maxNgram 1 looks only at the last token (most recent "6")',
    context: [4, 5, 6, 1, 9, 5, 6, 2, 4, 5, 6],
    k: 1,
    options: { maxNgram: 1 },
    expected: [2]
  },
  {
    name: 'minNgram 2 refuses a 1-token match',
    context: [1, 2, 3, 9, 7, 3],
    k: 4,
    options: { minNgram: 2 },
    expected: []
  },
  {
    name: 'minNgram 1 takes the 1-token match',
    context: [1, 2, 3, 9, 7, 3],
    k: 4,
    options: { minNgram: 1 },
    expected: [9, 7, 3]
  },
  {
    name: 'maxNgram 4 prefers the older 4-token match',
    context: [9, 1, 2, 3, 5, 8, 1, 2, 3, 6, 9, 1, 2, 3],
    k: 1,
    options: { maxNgram: 4 },
    expected: [5]
  },
  {
    name: 'maxNgram 3 takes the most recent 3-token match',
    context: [9, 1, 2, 3, 5, 8, 1, 2, 3, 6, 9, 1, 2, 3],
    k: 1,
    options: { maxNgram: 3 },
    expected: [6]
  },
  {
    name: 'a match older than the window is not searched',
    context: [1, 2, 3, 4, 5, 6, 7, 1],
    k: 2,
    options: { window: 7 },
    expected: []
  },
  {
    name: 'a match inside the window is found',
    context: [1, 2, 3, 4, 5, 6, 7, 1],
    k: 2,
    options: { window: 8 },
    expected: [2, 3]
  }
];

describe('lookupDraft (the shared rule)', () => {
  it.each(cases)('$name', ({ context, k, options, expected }) => {
    expect(lookupDraft(context, k, options)).toEqual(expected);
  });

  it('every drafted token followed an earlier match inside the context (no self-overlap)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 3 }), { maxLength: 50 }),
        fc.integer({ min: 1, max: 12 }),
        fc.integer({ min: 1, max: 4 }),
        (context, k, maxNgram) => {
          const draft = lookupDraft(context, k, { maxNgram });
          expect(draft.length).toBeLessThanOrEqual(k);
          if (draft.length === 0) return;
          const isCopied = Array.from({ length: maxNgram }, (_, i) => i + 1).some((n) => {
            const suffix = context.slice(-n);
            for (let i = 0; i + n < context.length; i++) {
              const isMatch = suffix.every((t, j) => context[i + j] === t);
              const isCopy = draft.every(
                (t, j) => i + n + j < context.length && context[i + n + j] === t
              );
              if (isMatch && isCopy) return true;
            }
            return false;
          });
          expect(isCopied).toBe(true);
        }
      ),
      { seed: 151, numRuns: 400 }
    );
  });
});

describe('the oracle source and the browser engine run the same rule', () => {
  it.each(cases.filter((c) => c.options === undefined && c.k > 0))(
    '$name',
    async ({ context, k, expected, drafted }) => {
      const signal = new AbortController().signal;
      const source = createPromptLookupSource();
      const engine = createPromptLookupEngine({ tokenizerFingerprint: 'any' });
      const proposal = await source.draft({ context, k, signal });
      expect(proposal?.tokens ?? []).toEqual(drafted ?? expected);
      expect(await engine.draft(context, k, signal)).toEqual(drafted ?? expected);
    }
  );
});
