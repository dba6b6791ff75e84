/**
 * Prompt lookup drafting as an oracle DraftSource: a thin adapter over the shared rule in
 * src/lib/protocol/prompt-lookup.ts (the browser scout calls the same one). Free to run, so it
 * is the baseline any remote draft must beat.
 */
import {
  lookupChain,
  type PromptLookupOptions as LookupRuleOptions
} from '../../src/lib/protocol/prompt-lookup.js';
import type { DraftProposal, DraftSource } from './index.js';

/** The lookup rule's options (maxNgram default 3, minNgram default 1, whole context) and a label. */
export interface PromptLookupOptions extends LookupRuleOptions {
  /** Label in stats. Default 'prompt-lookup'. */
  name?: string;
}

/** Creates the prompt-lookup draft source (stateless; safe to share between generations). */
export function createPromptLookupSource(options: PromptLookupOptions = {}): DraftSource {
  return {
    name: options.name ?? 'prompt-lookup',
    async draft({ context, k }): Promise<DraftProposal | null> {
      const tokens = lookupChain(context, k, options);
      return tokens.length > 0 ? { tokens } : null;
    }
  };
}
