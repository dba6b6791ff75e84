/**
 * Prompt lookup drafting (n-gram lookup in the committed context, no model): the one rule that
 * the oracle's prompt-lookup draft source and the browser scout's prompt-lookup engine both
 * call. Framework-free, so the two sides cannot drift apart again.
 *
 * Semantics follow llama.cpp's `ngram-simple` speculative type (common/ngram-map.cpp) and the
 * prompt-lookup decoding of Saxena (2023) as shipped in Hugging Face transformers: find the
 * most recent earlier occurrence of the context's last n tokens and propose the tokens that
 * followed it, up to k, stopping at the end of the context.
 *
 * The proposal never runs into the suffix itself (no self-overlap): for `[7, 8, 7, 8]` and k=5
 * it is `[7, 8]`, not the periodic extension `[7, 8, 7, 8, 7]`. Reasons:
 * - it is what llama.cpp and transformers do (`copy_max = min(m, cur_len - (match_pos + n))`),
 *   so acceptance figures compare with theirs, and the oracle's measured baseline (the one any
 *   remote draft must beat) stays what the benches recorded;
 * - every drafted token is one that really followed a match in the context: prompt lookup
 *   stays a copy of evidence, never a guess, and a property test can state it;
 * - the cost is bounded: in an exact loop of period p the most recent match is one period back,
 *   so a round drafts min(p, k) tokens instead of k (no loss once p >= k), while a periodic
 *   extension of a short accidental repeat would add k - p unsupported tokens to every verify
 *   batch and lower the acceptance rate the governor decides on.
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
      // 3. Copy what followed, stopping at the end of the context (no self-overlap, see above).
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
