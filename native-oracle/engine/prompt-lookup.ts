/**
 * Prompt lookup drafting (n-gram lookup in the committed context, no model): finds the most
 * recent earlier occurrence of the context's last n tokens and proposes the tokens that followed
 * it. Free to run, so it is the baseline any remote draft must beat.
 */
import type { DraftProposal, DraftSource } from './index.js';

export interface PromptLookupOptions {
  /** Longest suffix to match, tried first. Default 3. */
  maxNgram?: number;
  /** Shortest suffix to match. Default 1. */
  minNgram?: number;
  /** Label in stats. Default 'prompt-lookup'. */
  name?: string;
}

/** Creates the prompt-lookup draft source (stateless; safe to share between generations). */
export function createPromptLookupSource(options: PromptLookupOptions = {}): DraftSource {
  const maxNgram = Math.max(1, options.maxNgram ?? 3);
  const minNgram = Math.max(1, Math.min(maxNgram, options.minNgram ?? 1));
  return {
    name: options.name ?? 'prompt-lookup',
    async draft({ context, k }): Promise<DraftProposal | null> {
      const tokens = lookupDraft(context, k, maxNgram, minNgram);
      return tokens.length > 0 ? { tokens } : null;
    }
  };
}

/** The lookup itself: longest n first, most recent match first; [] when nothing matches. */
export function lookupDraft(
  context: readonly number[],
  k: number,
  maxNgram: number,
  minNgram: number
): number[] {
  const len = context.length;
  if (k <= 0) return [];
  for (let n = Math.min(maxNgram, len - 1); n >= minNgram; n--) {
    // Candidate starts i: context[i..i+n) equals the suffix context[len-n..len), with i + n < len.
    for (let i = len - n - 1; i >= 0; i--) {
      let match = true;
      for (let j = 0; j < n; j++) {
        if (context[i + j] !== context[len - n + j]) {
          match = false;
          break;
        }
      }
      if (match) return context.slice(i + n, Math.min(len, i + n + k));
    }
  }
  return [];
}
