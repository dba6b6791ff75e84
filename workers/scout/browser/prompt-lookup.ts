/**
 * Prompt lookup drafting (no model) as a browser scout DraftEngine: the draft is what followed
 * the most recent earlier occurrence of the context's last n tokens (the shared rule in
 * src/lib/protocol/prompt-lookup.ts, the same one the oracle runs). Costs microseconds, needs no
 * download, and is accepted often when the answer quotes or repeats its prompt (code edits,
 * summaries, lists). The browser scout uses it when no model engine is available or as a choice.
 */
import { lookupDraft, type PromptLookupOptions } from '../../../src/lib/protocol/prompt-lookup.js';
import type { DraftEngine } from '../core.js';

/** The scout tries one token longer a suffix than the oracle's default before shorter ones. */
const SCOUT_LOOKUP_MAX_NGRAM = 4;
/** Tokens searched per draft call: bounds the cost on long sessions (the page stays responsive). */
const SCOUT_LOOKUP_WINDOW_TOKENS = 4096;

/**
 * A DraftEngine around the shared `lookupDraft`; `tokenizerFingerprint` is the target's (any
 * vocabulary works). Options default to maxNgram 4, minNgram 1, window 4096 tokens.
 */
export function createPromptLookupEngine(
  options: PromptLookupOptions & { tokenizerFingerprint: string }
): DraftEngine {
  const lookup: PromptLookupOptions = {
    maxNgram: options.maxNgram ?? SCOUT_LOOKUP_MAX_NGRAM,
    minNgram: options.minNgram,
    window: options.window ?? SCOUT_LOOKUP_WINDOW_TOKENS
  };
  let drafted = 0;
  let spentMs = 0;
  return {
    name: 'prompt-lookup',
    tokenizerFingerprint: options.tokenizerFingerprint,
    models: ['prompt-lookup'],
    async draft(context, k, signal) {
      signal?.throwIfAborted();
      const started = performance.now();
      const tokens = lookupDraft(context, k, lookup);
      spentMs += performance.now() - started;
      drafted += tokens.length;
      return tokens;
    },
    tokensPerSecond: () => (spentMs > 0 ? (drafted / spentMs) * 1000 : 0),
    async dispose() {}
  };
}
