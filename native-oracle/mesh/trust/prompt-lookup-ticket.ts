/**
 * Golden tickets for scouts that draft with prompt lookup (no model; the browser's model-free
 * engine). Such a scout cannot match the reference draft model, and should not: what it
 * declared (`PROMPT_LOOKUP_ENGINE_ID` as its only model in the hello) is a deterministic rule,
 * so the oracle computes the honest drafts for any context with the same rule
 * (`workers/scout/prompt-lookup-rule.ts`) and audits the scout against those, exactly (a token
 * is correct only when it is the rule's; there is no drift to tolerate).
 *
 * The ticket is the reference model's ticket with the reference chain kept as the target's
 * choice (so rounds accept and correct like a verify pass of a model), and the expected drafts
 * recomputed by the rule at every committed context. Its context starts where the rule has
 * something to say: the reference's tokens are moved into the context one at a time until the
 * rule continues it (a chain never ends once it starts), so the first round always owes drafts.
 */
import {
  declaresPromptLookup,
  lookupChain,
  nextLookupToken
} from '../../../workers/scout/prompt-lookup-rule.js';
import type { GoldenTicket } from './reference.js';
import type { ReferenceStep } from './scoring.js';

export { declaresPromptLookup };

/** Reference tokens a prompt-lookup ticket may move into its context to reach a match. */
export const PROMPT_LOOKUP_MAX_LEAD_TOKENS = 16;

/**
 * The prompt-lookup form of `base`, keeping at least `minLength` reference tokens after its
 * context; null when the rule finds no match within `PROMPT_LOOKUP_MAX_LEAD_TOKENS` (the caller
 * makes another ticket).
 */
export function promptLookupTicket(base: GoldenTicket, minLength: number): GoldenTicket | null {
  const context = base.context.slice();
  let lead = 0;
  while (nextLookupToken(context) === null) {
    if (lead >= PROMPT_LOOKUP_MAX_LEAD_TOKENS || lead >= base.reference.length) return null;
    context.push(base.reference[lead].token);
    lead += 1;
  }
  const reference = base.reference.slice(lead);
  if (reference.length < minLength) return null;
  return {
    context,
    reference,
    costMs: base.costMs,
    expected: (at, want) =>
      lookupChain(at, want).map((token): ReferenceStep => ({ token, top: [[token, 1]] }))
  };
}
