/**
 * Prompt lookup drafting (no model): the draft is what followed the most recent earlier
 * occurrence of the context's last n tokens. Costs microseconds, needs no download, and is
 * accepted often when the answer quotes or repeats its prompt (code edits, summaries, lists).
 * Framework-free; the browser scout uses it when no model engine is available or as a choice.
 */
import type { DraftEngine } from '../core.js';

export interface PromptLookupOptions {
  /** Longest suffix n-gram tried first; default 4. */
  maxNgram?: number;
  /** Shortest n-gram accepted as a match; default 1. */
  minNgram?: number;
  /** Only the last `window` tokens are searched (bounds the cost); default 4096. */
  window?: number;
}

/**
 * Up to `k` tokens continuing `context` by copying what followed the most recent earlier match
 * of its longest suffix (from `maxNgram` down to `minNgram` tokens). Empty when nothing matches.
 */
export function lookupDraft(
  context: readonly number[],
  k: number,
  options: PromptLookupOptions = {}
): number[] {
  const maxNgram = options.maxNgram ?? 4;
  const minNgram = options.minNgram ?? 1;
  const start = Math.max(0, context.length - (options.window ?? 4096));
  const end = context.length;
  for (let n = Math.min(maxNgram, end - start - 1); n >= minNgram; n--) {
    // Most recent match first: it is the likeliest to continue the same way.
    for (let i = end - n - 1; i >= start; i--) {
      let isMatch = true;
      for (let j = 0; j < n && isMatch; j++) isMatch = context[i + j] === context[end - n + j];
      if (!isMatch) continue;
      const from = i + n;
      const draft: number[] = [];
      // The copied span may run into the suffix itself (a repeating pattern); read the growing view.
      for (let t = 0; t < k; t++) {
        const at = from + t;
        const token = at < end ? context[at] : draft[at - end];
        if (token === undefined) break;
        draft.push(token);
      }
      if (draft.length > 0) return draft;
    }
  }
  return [];
}

/** A DraftEngine around `lookupDraft`; `tokenizerFingerprint` is the target's (any vocabulary works). */
export function createPromptLookupEngine(
  options: PromptLookupOptions & { tokenizerFingerprint: string }
): DraftEngine {
  let drafted = 0;
  let spentMs = 0;
  return {
    name: 'prompt-lookup',
    tokenizerFingerprint: options.tokenizerFingerprint,
    models: ['prompt-lookup'],
    async draft(context, k, signal) {
      signal?.throwIfAborted();
      const started = performance.now();
      const tokens = lookupDraft(context, k, options);
      spentMs += performance.now() - started;
      drafted += tokens.length;
      return tokens;
    },
    tokensPerSecond: () => (spentMs > 0 ? (drafted / spentMs) * 1000 : 0),
    async dispose() {}
  };
}
