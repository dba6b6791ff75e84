/**
 * Drafts are untrusted (a remote scout, a buggy local source): this unit calls a draft source and
 * checks what it returns before the engine verifies it. A failing, invalid or late draft becomes
 * "no draft this round" (a plain decode step), never a failed generation.
 */
import { createLogger } from '../../src/lib/server/log.js';
import { InvalidTokenError } from './errors.js';
import type { DraftBudget, DraftProposal, DraftSource } from './index.js';

const log = createLogger('shard:oracle:engine');

/** Sampling settings passed to a draft source when the target samples (temperature > 0). */
interface DraftSampling {
  temperature: number;
  topP: number;
  seed: number;
  /** The target's uniform at each drafted position (see DraftSource.draft). */
  uniforms: number[];
}

/**
 * Throws InvalidTokenError naming `where` when any entry is not an integer id below
 * `vocabularySize`. Called on caller-supplied tokens (detokenize) and on every draft.
 */
export function assertTokensInVocabulary(
  tokens: readonly number[],
  vocabularySize: number,
  where: string
): void {
  for (const t of tokens) {
    if (!Number.isInteger(t) || t < 0 || t >= vocabularySize) {
      throw new InvalidTokenError(
        `${where}: token ${t} is outside the vocabulary (0..${vocabularySize - 1})`
      );
    }
  }
}

/**
 * Alternative drafts kept per proposal. Each one verified costs a spare sequence's KV cache and
 * its share of the batch; two covers the common case of a few scouts that disagree.
 */
export const MAX_ALTERNATIVES = 2;

/** A sparse distribution as a draft source may send it: [integer id, probability in 0..1] pairs. */
function isValidSparseDistribution(dist: unknown): boolean {
  if (!Array.isArray(dist)) return false;
  return dist.every(
    (e) =>
      Array.isArray(e) &&
      Number.isInteger(e[0]) &&
      typeof e[1] === 'number' &&
      e[1] >= 0 &&
      e[1] <= 1
  );
}

/**
 * Checks a proposal: at most `k` tokens, all inside the vocabulary; `probs` are kept only when
 * every drafted position has a valid distribution (otherwise rejection sampling treats the draft
 * as deterministic, which stays exact). Returns null for a proposal that cannot be used.
 */
function validateProposal(
  proposal: unknown,
  k: number,
  vocabularySize: number,
  sourceName: string
): DraftProposal | null {
  if (!proposal || !Array.isArray((proposal as DraftProposal).tokens)) return null;
  const { tokens: all, probs: allProbs } = proposal as DraftProposal;
  const tokens = all.slice(0, k);
  try {
    assertTokensInVocabulary(tokens, vocabularySize, `draft from ${sourceName}`);
  } catch (err) {
    log.warn('draft rejected: invalid tokens', { source: sourceName, error: err });
    return null;
  }
  const probs =
    Array.isArray(allProbs) && allProbs.length >= tokens.length
      ? allProbs.slice(0, tokens.length)
      : undefined;
  const kept = {
    tokens,
    probs: probs && probs.every(isValidSparseDistribution) ? probs : undefined
  };
  const alternatives = validateAlternatives(
    proposal as DraftProposal,
    k,
    vocabularySize,
    sourceName
  );
  if (alternatives.length === 0) return kept;
  // An empty main draft with alternatives: the first alternative becomes the main draft.
  if (tokens.length === 0) return { tokens: alternatives[0], alternatives: alternatives.slice(1) };
  return { ...kept, alternatives };
}

const isPrefixOf = (a: readonly number[], b: readonly number[]) =>
  a.length <= b.length && a.every((t, i) => t === b[i]);

/**
 * The usable alternatives of a proposal: arrays of in-vocabulary ids cut to `k`, neither empty,
 * nor a prefix of the main draft (verifying it could never beat the main path), nor a
 * duplicate; at most MAX_ALTERNATIVES. An invalid alternative is dropped alone.
 */
function validateAlternatives(
  proposal: DraftProposal,
  k: number,
  vocabularySize: number,
  sourceName: string
): number[][] {
  const all: unknown = proposal.alternatives;
  if (all === undefined) return [];
  if (!Array.isArray(all)) {
    log.warn('draft alternatives ignored: not an array', { source: sourceName });
    return [];
  }
  const main = proposal.tokens.slice(0, k);
  const kept: number[][] = [];
  for (const entry of all as unknown[]) {
    if (kept.length >= MAX_ALTERNATIVES) break;
    if (!Array.isArray(entry)) continue;
    const alternative = entry.slice(0, k) as number[];
    try {
      assertTokensInVocabulary(alternative, vocabularySize, `draft alternative from ${sourceName}`);
    } catch (err) {
      log.warn('draft alternative rejected: invalid tokens', { source: sourceName, error: err });
      continue;
    }
    if (alternative.length === 0 || isPrefixOf(alternative, main)) continue;
    if (kept.some((other) => isPrefixOf(alternative, other) && other.length === alternative.length))
      continue;
    kept.push(alternative);
  }
  return kept;
}

/**
 * Called once per speculative round: asks `source` for up to `k` drafts after `context` and
 * validates the answer. A throwing source is logged (unless `signal` was aborted) and, like an
 * invalid answer, yields null. Never throws.
 */
export async function requestDraft(request: {
  source: DraftSource;
  context: readonly number[];
  k: number;
  signal: AbortSignal;
  /** Present when the target samples; absent for greedy decoding. */
  sampling?: DraftSampling;
  /** The governor's budget for the round; absent when speculation is forced on. */
  budget?: DraftBudget;
  vocabularySize: number;
}): Promise<DraftProposal | null> {
  const { source, context, k, signal, sampling, budget } = request;
  let proposal: DraftProposal | null;
  try {
    proposal = await source.draft({
      context,
      k,
      signal,
      ...(sampling ? { sampling } : {}),
      ...(budget ? { budget } : {})
    });
  } catch (err) {
    if (signal.aborted) return null;
    log.warn('draft source failed; decoding plainly this round', {
      source: source.name,
      error: err
    });
    return null;
  }
  return validateProposal(proposal, k, request.vocabularySize, source.name);
}
