/**
 * The audited prompt-lookup rule (workers/scout/prompt-lookup-rule.ts) and its golden tickets:
 * the chain a scout sends must not depend on how its drafts are batched, or no oracle could
 * know the honest answer; and a ticket's expected drafts are the rule's, exactly.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { promptLookupTicket } from '../../native-oracle/mesh/trust/prompt-lookup-ticket.js';
import { createPromptLookupEngine } from '../../workers/scout/browser/prompt-lookup.js';
import {
  declaresPromptLookup,
  lookupChain,
  nextLookupToken
} from '../../workers/scout/prompt-lookup-rule.js';

describe('the prompt-lookup rule', () => {
  it('drafts the same chain however the drafts are batched (the scout core sends 1, 1, 2, 4, ...)', async () => {
    const engine = createPromptLookupEngine({ tokenizerFingerprint: 'f' });
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: 0, max: 8 }), { minLength: 2, maxLength: 80 }),
        fc.array(fc.integer({ min: 1, max: 8 }), { minLength: 1, maxLength: 8 }),
        async (context, batches) => {
          const total = batches.reduce((a, b) => a + b, 0);
          const batched: number[] = [];
          for (const b of batches) {
            const next = await engine.draft([...context, ...batched], b);
            batched.push(...next);
            if (next.length < b) break;
          }
          expect(batched).toEqual(lookupChain(context, total).slice(0, batched.length));
          expect(batched.length).toBe(lookupChain(context, total).length);
        }
      ),
      { seed: 20261202, numRuns: 300 }
    );
  });

  it('never ends a chain it started', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 50 }), { maxLength: 60 }), (context) => {
        fc.pre(nextLookupToken(context) !== null);
        expect(lookupChain(context, 40)).toHaveLength(40);
      }),
      { seed: 11, numRuns: 300 }
    );
  });

  it('is declared by a hello whose only model is prompt-lookup', () => {
    expect(declaresPromptLookup(['prompt-lookup'])).toBe(true);
    expect(declaresPromptLookup(['draft.gguf'])).toBe(false);
    expect(declaresPromptLookup(['draft.gguf', 'prompt-lookup'])).toBe(false);
    expect(declaresPromptLookup([])).toBe(false);
  });
});

describe('promptLookupTicket', () => {
  const step = (token: number) => ({ token, top: [[token, 0.9] as [number, number]] });
  it('moves reference tokens into the context until the rule continues it, and expects the rule', () => {
    // [1 2 3] has no repeat; the reference's 2 makes `... 3 2`, still none; then 3 matches.
    const base = { context: [1, 2, 3], reference: [9, 2, 7, 7, 7, 7].map(step), costMs: 1 };
    const ticket = promptLookupTicket(base, 3)!;
    expect(ticket.context).toEqual([1, 2, 3, 9, 2]);
    expect(ticket.reference.map((s) => s.token)).toEqual([7, 7, 7, 7]);
    expect(ticket.expected!(ticket.context, 3)).toEqual([
      { token: 3, top: [[3, 1]] },
      { token: 9, top: [[9, 1]] },
      { token: 2, top: [[2, 1]] }
    ]);
  });

  it('is null when no match comes within the lead or too little reference is left', () => {
    const distinct = Array.from({ length: 40 }, (_, i) => step(100 + i));
    expect(
      promptLookupTicket({ context: [1, 2, 3], reference: distinct, costMs: 0 }, 4)
    ).toBeNull();
    const short = { context: [1, 2, 1], reference: [step(5)], costMs: 0 };
    expect(promptLookupTicket(short, 4)).toBeNull();
  });
});
