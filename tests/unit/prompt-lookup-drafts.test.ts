/**
 * Prompt-lookup drafting (pure n-gram lookup in the committed context): table cases and
 * properties (drafts are always a continuation that really follows a match in the context).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createPromptLookupSource } from '../../native-oracle/engine/prompt-lookup.js';
import { lookupDraft } from '../../src/lib/protocol/prompt-lookup.js';

describe('prompt lookup', () => {
  it('table: longest suffix first, most recent match first, up to k tokens', () => {
    expect(lookupDraft([1, 2, 3, 4, 5, 1, 2, 3], 2, { maxNgram: 3, minNgram: 1 })).toEqual([4, 5]);
    expect(lookupDraft([1, 2, 3, 9, 7, 3], 4, { maxNgram: 3, minNgram: 1 })).toEqual([9, 7, 3]); // 1-gram "3" matched at index 2
    expect(lookupDraft([5, 1, 2, 6, 1, 2, 7, 1, 2], 1, { maxNgram: 3, minNgram: 1 })).toEqual([7]); // most recent "1 2"
    expect(lookupDraft([1, 2, 3], 4, { maxNgram: 3, minNgram: 1 })).toEqual([]); // no earlier occurrence
    expect(lookupDraft([1, 2, 1], 0, { maxNgram: 3, minNgram: 1 })).toEqual([]);
    expect(lookupDraft([4, 4], 3, { maxNgram: 3, minNgram: 2 })).toEqual([]); // needs a 2-gram match
  });

  it('every draft is the continuation of an earlier occurrence of the context suffix', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 40 }),
        fc.integer({ min: 1, max: 8 }),
        (context, k) => {
          const draft = lookupDraft(context, k, { maxNgram: 3, minNgram: 1 });
          expect(draft.length).toBeLessThanOrEqual(k);
          if (draft.length === 0) return;
          const found = [3, 2, 1].some((n) => {
            if (context.length <= n) return false;
            const suffix = context.slice(-n);
            for (let i = 0; i + n < context.length; i++) {
              const isMatch = suffix.every((t, j) => context[i + j] === t);
              if (isMatch && draft.every((t, j) => context[i + n + j] === t)) return true;
            }
            return false;
          });
          expect(found).toBe(true);
        }
      )
    );
  });

  it('the DraftSource returns null when nothing matches and a proposal otherwise', async () => {
    const source = createPromptLookupSource();
    const signal = new AbortController().signal;
    expect(source.name).toBe('prompt-lookup');
    expect(await source.draft({ context: [1, 2, 3], k: 4, signal })).toBeNull();
    // The source drafts the shared chain: each token is one lookup over the context so far.
    expect(await source.draft({ context: [1, 2, 3, 1, 2], k: 4, signal })).toEqual({
      tokens: [3, 1, 2, 3]
    });
  });
});
