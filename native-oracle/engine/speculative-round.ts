/**
 * ONE speculative round on one llama.cpp sequence, after llama.cpp's
 * `examples/speculative-simple`: evaluate the pending tokens and the drafts in one batch, accept a
 * prefix of the drafts, trim the rejected positions from the KV cache, commit.
 *
 * One counter, `nPast` (llama.cpp's `n_past`), is the number of committed tokens held in the KV
 * cache. It gives the batch positions (the batch starts at position nPast) and, after acceptance,
 * the trim point (every cache position from the new nPast on is erased). Invariant at the end of
 * every round, asserted there:
 *
 *   sequence.contextTokens == committed[0 .. committed.length - 1)   and   nPast == committed.length - 1
 *
 * i.e. the cache holds every committed token but the last, which is the next round's input.
 * Before the first round nPast may be smaller (the uncached tail of the prompt is pending).
 *
 * Every committed token is the target's own choice at its position (argmax, or a draw with the
 * position's uniform: ./sampling.ts): drafts only decide how many tokens a round commits, and a
 * round commits at least one.
 */
import type { LlamaContextSequence, Token } from 'node-llama-cpp';
import { acceptGreedy, acceptPositionKeyed, type RoundOutcome } from './acceptance.js';
import { invariant } from './errors.js';
import {
  chooseToken,
  countTokens,
  positionDistribution,
  positionLogprobs,
  positionUniform,
  type TokenLogprobs,
  type TokenChoiceSettings
} from './sampling.js';

/** What a round needs of a llama.cpp sequence (a fake one in unit tests). */
export type VerifySequence = Pick<
  LlamaContextSequence,
  'nextTokenIndex' | 'contextTokens' | 'controlledEvaluate' | 'eraseContextTokenRanges'
>;

/** The decoding state a round advances; owned by one generation. */
export interface DecodeState {
  /** Prompt, then every token the target committed (an end-of-generation token included). */
  readonly committed: number[];
  /** How many of `committed` the KV cache holds (positions 0 .. nPast - 1). */
  nPast: number;
}

/**
 * How a round chooses the target's tokens when llama.cpp's own argmax is not enough (sampling,
 * logit bias, penalties, or log-probabilities requested): from the raw logits of the verify pass,
 * through ./sampling.ts. Null means plain greedy: llama.cpp's argmax (the default, cheapest).
 */
export interface RoundChoice {
  settings: TokenChoiceSettings;
  /** Prompt tokens at the start of `committed` (output positions count from there). */
  promptLength: number;
  /** Alternatives per position in the log-probability report; null = no report. */
  topLogprobs: number | null;
}

interface RoundInput {
  sequence: VerifySequence;
  state: DecodeState;
  /** Drafts for the positions after `committed`; may be empty (a plain decode step). */
  drafts: readonly number[];
  choice: RoundChoice | null;
}

export interface RoundResult extends RoundOutcome {
  /** Per committed token (same length as `tokens`), when `choice.topLogprobs` is not null. */
  logprobs?: TokenLogprobs[];
  /** Tokens evaluated before the drafts (1 except in a round that prefills the prompt). */
  pendingCount: number;
  /** Wall time of the batched verify evaluation, for the governor. */
  verifyMs: number;
}

/**
 * Runs one round: appends the committed tokens to `state.committed`, advances `state.nPast` and
 * leaves the sequence's cache in the invariant above. Throws EngineInvariantError if a step
 * breaks it; llama.cpp errors propagate. The caller checks for abort afterwards.
 */
export async function runSpeculativeRound(round: RoundInput): Promise<RoundResult> {
  const { sequence, state, drafts } = round;

  // 1. The batch: the pending tokens (committed, not cached yet) then the drafts, at positions
  //    nPast, nPast + 1, ... (node-llama-cpp appends at the sequence's next token index).
  const pending = state.committed.slice(state.nPast);
  invariant(pending.length >= 1, `no pending token to evaluate (nPast ${state.nPast})`);
  invariant(
    sequence.nextTokenIndex === state.nPast,
    `the batch must start at nPast ${state.nPast}, the cache ends at ${sequence.nextTokenIndex}`
  );
  const batch = [...pending, ...drafts] as Token[];

  // 2. Verify in one evaluation: the target's next-token choice after the last pending token
  //    and after every draft (drafts.length + 1 outputs).
  const firstOutput = pending.length - 1;
  // Temperature 0 in llama.cpp's chain = its greedy sampler, which leaves every raw logit.
  const generateNext = round.choice
    ? { logits: true, options: { temperature: 0 } }
    : { token: true, options: { temperature: 0 } };
  const started = performance.now();
  const results = await sequence.controlledEvaluate(
    batch.map((t, i) => (i >= firstOutput ? [t, { generateNext }] : t))
  );
  const verifyMs = performance.now() - started;

  // 3. Accept a draft iff it equals the target's own choice at its position (acceptance.ts).
  const outputs = results.slice(firstOutput);
  const outcome = round.choice
    ? acceptChosenRound(drafts, outputs, state, round.choice)
    : acceptGreedyRound(drafts, outputs);

  // 4. At least one token per round: the accepted drafts plus the correction (or bonus) token.
  invariant(
    outcome.accepted >= 0 &&
      outcome.accepted <= drafts.length &&
      outcome.tokens.length === outcome.accepted + 1,
    `a round commits accepted + 1 >= 1 tokens (accepted ${outcome.accepted}, tokens ${outcome.tokens.length})`
  );

  // 5. Trim: the cache keeps the pending tokens and the accepted drafts; rejected drafts are
  //    erased. The correction is not in the cache: it is the next round's pending input.
  state.nPast += pending.length + outcome.accepted;
  if (sequence.nextTokenIndex > state.nPast)
    await sequence.eraseContextTokenRanges([{ start: state.nPast, end: sequence.nextTokenIndex }]);

  // 6. Commit, then check the invariant where a wrong trim would first show.
  state.committed.push(...outcome.tokens);
  assertCacheHoldsCommittedButLast(sequence, state);
  return { ...outcome, pendingCount: pending.length, verifyMs };
}

/** The round invariant; O(context) per round, negligible next to one evaluation. */
export function assertCacheHoldsCommittedButLast(
  sequence: VerifySequence,
  state: DecodeState
): void {
  const expected = state.committed.length - 1;
  invariant(
    state.nPast === expected && sequence.nextTokenIndex === expected,
    `KV cache must hold the ${expected} committed tokens but the last; nPast ${state.nPast}, cache ${sequence.nextTokenIndex}`
  );
  const cached = sequence.contextTokens;
  for (let i = 0; i < expected; i++) {
    invariant(
      cached[i] === state.committed[i],
      `KV cache differs from the committed tokens at position ${i}`
    );
  }
}

type VerifyOutputs = Awaited<ReturnType<VerifySequence['controlledEvaluate']>>;

/** Greedy acceptance of one verify pass's outputs (shared with ./branch-verify.ts). */
export function acceptGreedyRound(drafts: readonly number[], outputs: VerifyOutputs): RoundOutcome {
  const choices = outputs.map((r) => r?.next.token);
  if (choices.some((c) => c === undefined || c === null))
    throw new Error('llama.cpp returned no token for a verified position');
  return acceptGreedy(drafts, choices as number[]);
}

/**
 * Chooses the target's token at each output position from the raw logits, up to the first
 * mismatch, with the penalties counting the output before the round plus the drafts before the
 * position (exactly the output a plain step at that position would see once they are accepted).
 */
function acceptChosenRound(
  drafts: readonly number[],
  outputs: VerifyOutputs,
  state: DecodeState,
  choice: RoundChoice
): RoundOutcome & { logprobs?: TokenLogprobs[] } {
  const { settings } = choice;
  const firstPosition = state.committed.length - choice.promptLength;
  const hasPenalties = settings.presencePenalty !== 0 || settings.frequencyPenalty !== 0;
  const counts = hasPenalties
    ? countTokens(state.committed.slice(choice.promptLength))
    : new Map<number, number>();
  const logprobs: TokenLogprobs[] = [];
  const outcome = acceptPositionKeyed(drafts, (j) => {
    const logits = outputs[j]?.next.logits;
    if (!logits) throw new Error('llama.cpp returned no logits for a verified position');
    if (hasPenalties && j > 0) counts.set(drafts[j - 1], (counts.get(drafts[j - 1]) ?? 0) + 1);
    const dist = positionDistribution(logits, counts, settings);
    const u = settings.temperature > 0 ? positionUniform(settings.seed, firstPosition + j) : 0;
    const token = chooseToken(dist, settings.temperature, u);
    if (choice.topLogprobs !== null)
      logprobs.push(positionLogprobs(dist, token, choice.topLogprobs));
    return token;
  });
  return choice.topLogprobs !== null ? { ...outcome, logprobs } : outcome;
}
