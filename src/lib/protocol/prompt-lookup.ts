/**
 * Prompt lookup drafting (n-gram lookup in the committed context, no model): the one rule that
 * the oracle's prompt-lookup draft source and the browser scout's prompt-lookup engine both
 * call. Framework-free, so the two sides cannot drift apart again.
 *
 * Two functions, one rule:
 * - `lookupDraft(context, k)` is the lookup itself, as llama.cpp's `ngram-simple` and the
 *   prompt-lookup decoding of Saxena (2023) in transformers define it: find the most recent
 *   earlier occurrence of the context's last n tokens and copy what followed it, stopping at the
 *   end of the context.
 * - `lookupChain(context, k)` is how both sides DRAFT: a next-token function applied k times,
 *   each token being the first token `lookupDraft` proposes for the context so far (drafts
 *   included). For `[7, 8, 7, 8]` and k=5 it drafts `[7, 8, 7, 8, 7]`.
 *
 * Why drafts chain token by token instead of copying once: a scout drafts ahead in frames of
 * 1, 1, 2, 4, ... tokens, each continuing its own earlier drafts, and an oracle audits model-free
 * scouts with golden tickets. A one-shot copy gives different tokens for different framings
 * (`[7, 8]` then a fresh lookup on `[7, 8, 7, 8, 7, 8]`), so no oracle could know the honest
 * answer; a next-token rule gives the same chain however it is framed, exactly like a greedy
 * draft model. Every drafted token still follows a real match in the context it was drafted
 * from. The cost: in a loop of period p the chain runs on periodically past the end, which is
 * right while the loop lasts and costs one rejected verify position when it ends.
 */

/** Longest suffix n-gram tried first, unless the caller says otherwise. */
export const PROMPT_LOOKUP_MAX_NGRAM = 3;
/** Shortest suffix n-gram accepted as a match, unless the caller says otherwise. */
export const PROMPT_LOOKUP_MIN_NGRAM = 1;

export interface PromptLookupOptions {
  /** Longest suffix n-gram tried first (clamped to at least 1). Default 3. */
  maxNgram?: number;
  /** Shortest suffix n-gram accepted as a match (clamped to 1..maxNgram). Default 1. */
  minNgram?: number;
  /** Only the last `window` tokens are searched, which bounds the cost. Default: the whole context. */
  window?: number;
}

/**
 * Up to `k` tokens continuing `context` by copying what followed the most recent earlier match
 * of its longest suffix (from `maxNgram` down to `minNgram` tokens). Pure; called once per draft
 * round. Returns `[]` when nothing matches, when `k <= 0` and for an empty context.
 */
export function lookupDraft(
  context: readonly number[],
  k: number,
  options: PromptLookupOptions = {}
): number[] {
  if (k <= 0) return [];
  const maxNgram = Math.max(1, options.maxNgram ?? PROMPT_LOOKUP_MAX_NGRAM);
  const minNgram = Math.max(1, Math.min(maxNgram, options.minNgram ?? PROMPT_LOOKUP_MIN_NGRAM));
  const end = context.length;
  const start = Math.max(0, end - (options.window ?? end));
  // 1. Longest suffix first: a longer match is stronger evidence of the same continuation.
  for (let n = Math.min(maxNgram, end - start - 1); n >= minNgram; n--) {
    // 2. Most recent match first: it is the likeliest to continue the same way. Candidate starts
    //    satisfy i + n < end, so at least one token follows the match inside the context.
    for (let i = end - n - 1; i >= start; i--) {
      if (!matchesSuffix(context, i, n)) continue;
      // 3. Copy what followed, stopping at the end of the context.
      return context.slice(i + n, Math.min(end, i + n + k));
    }
  }
  return [];
}

/** True when `context[i..i+n)` equals the context's last `n` tokens. */
function matchesSuffix(context: readonly number[], i: number, n: number): boolean {
  const suffixStart = context.length - n;
  for (let j = 0; j < n; j++) if (context[i + j] !== context[suffixStart + j]) return false;
  return true;
}

/** The token the rule proposes after `context`, or null when nothing matches. Pure. */
export function nextLookupToken(
  context: readonly number[],
  options: PromptLookupOptions = {}
): number | null {
  return lookupDraft(context, 1, options)[0] ?? null;
}

/**
 * How both sides draft: up to `k` tokens continuing `context`, one `nextLookupToken` at a time
 * over the context extended by the tokens drafted so far. Pure; the same chain for any framing
 * (drafting 2 then 3 more continues exactly as drafting 5).
 */
export function lookupChain(
  context: readonly number[],
  k: number,
  options: PromptLookupOptions = {}
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
