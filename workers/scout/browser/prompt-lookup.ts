/**
 * Prompt lookup drafting (no model) as a browser scout DraftEngine: each drafted token is what
 * followed the most recent earlier occurrence of the context's last n tokens (the shared rule in
 * src/lib/protocol/prompt-lookup.ts, applied token by token as `../prompt-lookup-rule.ts` states,
 * so an oracle's golden tickets know the honest answer). Costs microseconds, needs no download,
 * and is accepted often when the answer quotes or repeats its prompt (code edits, summaries,
 * lists). The browser scout uses it when no model engine is available or as a choice.
 */
import type { PromptLookupOptions } from '../../../src/lib/protocol/prompt-lookup.js';
import type { DraftEngine } from '../core.js';
import {
  lookupChain,
  PROMPT_LOOKUP_ENGINE_ID,
  SCOUT_PROMPT_LOOKUP
} from '../prompt-lookup-rule.js';

/**
 * A DraftEngine around the shared rule; `tokenizerFingerprint` is the target's (any vocabulary
 * works). Options default to the audited rule (`SCOUT_PROMPT_LOOKUP`: maxNgram 4, minNgram 1,
 * window 4096 tokens); other options draft fine but fail an oracle's golden tickets.
 */
export function createPromptLookupEngine(
  options: PromptLookupOptions & { tokenizerFingerprint: string }
): DraftEngine {
  const lookup: PromptLookupOptions = {
    maxNgram: options.maxNgram ?? SCOUT_PROMPT_LOOKUP.maxNgram,
    minNgram: options.minNgram ?? SCOUT_PROMPT_LOOKUP.minNgram,
    window: options.window ?? SCOUT_PROMPT_LOOKUP.window
  };
  let drafted = 0;
  let spentMs = 0;
  return {
    name: 'prompt-lookup',
    tokenizerFingerprint: options.tokenizerFingerprint,
    models: [PROMPT_LOOKUP_ENGINE_ID],
    async draft(context, k, signal) {
      signal?.throwIfAborted();
      const started = performance.now();
      const tokens = lookupChain(context, k, lookup);
      spentMs += performance.now() - started;
      drafted += tokens.length;
      return tokens;
    },
    tokensPerSecond: () => (spentMs > 0 ? (drafted / spentMs) * 1000 : 0),
    async dispose() {}
  };
}
