/**
 * The scout's prompt-lookup rule, the model-free draft engine that oracles audit: framework-free
 * (the browser scout drafts with it, the oracle's golden tickets compute the honest answer with
 * it), so the two cannot drift apart.
 *
 * It is a next-token function, like a greedy model: the token after a prefix is the first token
 * `lookupDraft` (src/lib/protocol/prompt-lookup.ts) proposes for that prefix with the options
 * below, and a draft of k tokens applies it k times. Because every token depends only on its
 * own prefix, the chain a scout sends is the same however its drafts are batched (the scout
 * core sends 1, 1, 2, 4, ... tokens per frame), which is what lets an oracle know the honest
 * answer for any context. Invariant: once the rule continues a prefix it continues every
 * longer prefix it produced (the token it copied occurs earlier, followed by something), so a
 * chain only ends where it starts.
 *
 * A scout declares this engine by announcing exactly `[PROMPT_LOOKUP_ENGINE_ID]` as its models in
 * the hello. Changing a constant here changes the honest answer: give the rule a new id then.
 */
import { lookupDraft, type PromptLookupOptions } from '../../src/lib/protocol/prompt-lookup.js';

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

/** The token the rule proposes after `context`, or null when nothing matches. */
export function nextLookupToken(
  context: readonly number[],
  options: PromptLookupOptions = SCOUT_PROMPT_LOOKUP
): number | null {
  return lookupDraft(context, 1, options)[0] ?? null;
}

/** Up to `k` tokens continuing `context`, one `nextLookupToken` at a time. Pure. */
export function lookupChain(
  context: readonly number[],
  k: number,
  options: PromptLookupOptions = SCOUT_PROMPT_LOOKUP
): number[] {
  const prefix = context.slice();
  const out: number[] = [];
  while (out.length < k) {
    const next = nextLookupToken(prefix, options);
    if (next === null) break;
    out.push(next);
    prefix.push(next);
  }
  return out;
}

/** Whether a scout's hello models declare this rule as its only draft engine. */
export function declaresPromptLookup(models: readonly string[]): boolean {
  return models.length === 1 && models[0] === PROMPT_LOOKUP_ENGINE_ID;
}
