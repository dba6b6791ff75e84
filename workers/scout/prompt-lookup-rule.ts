/**
 * The scout's prompt-lookup rule, the model-free draft engine that oracles audit: framework-free
 * (the browser scout drafts with it, the oracle's golden tickets compute the honest answer with
 * it), so the two cannot drift apart.
 *
 * It is the shared next-token rule (`lookupChain` in src/lib/protocol/prompt-lookup.ts, which
 * the oracle's own prompt-lookup source drafts with too) with the options below. Because every token depends only on its
 * own prefix, the chain a scout sends is the same however its drafts are batched (the scout
 * core sends 1, 1, 2, 4, ... tokens per frame), which is what lets an oracle know the honest
 * answer for any context. Invariant: once the rule continues a prefix it continues every
 * longer prefix it produced (the token it copied occurs earlier, followed by something), so a
 * chain only ends where it starts.
 *
 * A scout declares this engine by announcing exactly `[PROMPT_LOOKUP_ENGINE_ID]` as its models in
 * the hello. Changing a constant here changes the honest answer: give the rule a new id then.
 */
import {
  lookupChain as sharedLookupChain,
  nextLookupToken as nextSharedLookupToken,
  type PromptLookupOptions
} from '../../src/lib/protocol/prompt-lookup.js';

/** The hello's `models` entry of a scout drafting with this rule (and nothing else). */
export const PROMPT_LOOKUP_ENGINE_ID = 'prompt-lookup';

/**
 * The rule's parameters: suffixes of 4 tokens down to 1 (one token longer than the oracle's own
 * prompt-lookup source tries first), searched in the last 4096 tokens (bounds the cost per token
 * on long sessions, so the page stays responsive).
 */
export const SCOUT_PROMPT_LOOKUP: Readonly<Required<PromptLookupOptions>> = Object.freeze({
  maxNgram: 4,
  minNgram: 1,
  window: 4096
});

/** The token the audited rule proposes after `context` (the shared rule with its options). */
export function nextLookupToken(
  context: readonly number[],
  options: PromptLookupOptions = SCOUT_PROMPT_LOOKUP
): number | null {
  return nextSharedLookupToken(context, options);
}

/** Up to `k` tokens of the audited rule's chain (the shared `lookupChain` with its options). */
export function lookupChain(
  context: readonly number[],
  k: number,
  options: PromptLookupOptions = SCOUT_PROMPT_LOOKUP
): number[] {
  return sharedLookupChain(context, k, options);
}

/** Whether a scout's hello models declare this rule as its only draft engine. */
export function declaresPromptLookup(models: readonly string[]): boolean {
  return models.length === 1 && models[0] === PROMPT_LOOKUP_ENGINE_ID;
}
