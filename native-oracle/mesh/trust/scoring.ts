/**
 * Scoring of a golden ticket: pure rules comparing what a scout drafted with what the reference
 * draft model (the one the oracle serves at /models/draft.gguf) produces for the same context.
 *
 * Honest scouts run that model on other backends (WASM, WebGPU, CPU builds), whose logits drift
 * slightly, so a token is judged against the reference's distribution, not by string equality:
 *
 *  1. A drafted token is correct when it is the reference's argmax, or when the reference nearly
 *     tied there: the token is in the reference's top `NEAR_TIE_TOP_K` and its probability is
 *     within `NEAR_TIE_MARGIN` of the argmax's.
 *  2. Scoring of a round stops after the first token that is not the argmax: the scout's later
 *     tokens continue a different prefix than the reference chain, so they cannot be judged.
 *  3. A ticket passes when it had at least one scored token and at least `TICKET_PASS_FRACTION`
 *     of its scored tokens were correct. A ticket with no scored token (the scout kept the
 *     stream open and sent nothing) fails.
 */
import { NEAR_TIE_MARGIN, NEAR_TIE_TOP_K, TICKET_PASS_FRACTION } from '../constants.js';

/** The reference's distribution at one position of its greedy chain, most likely first. */
export interface ReferenceStep {
  /** The reference's argmax here (= top[0][0]). */
  token: number;
  /** Up to a few [token, probability] pairs, sorted by probability, descending. */
  top: Array<[number, number]>;
}

export interface RoundScore {
  /** Draft tokens judged (the round stops after the first non-argmax token). */
  scored: number;
  correct: number;
  /** Leading draft tokens equal to the reference chain: what a verify pass would accept. */
  accepted: number;
}

export interface TicketScore {
  scored: number;
  correct: number;
  isPassed: boolean;
}

/** Whether `token` counts as correct at a reference step (rule 1). */
export function isTokenCorrect(step: ReferenceStep, token: number): boolean {
  if (token === step.token) return true;
  const best = step.top[0]?.[1] ?? 0;
  const rank = step.top.findIndex(([t]) => t === token);
  return rank >= 0 && rank < NEAR_TIE_TOP_K && best - step.top[rank][1] < NEAR_TIE_MARGIN;
}

/** Scores one round's drafts against the reference steps at the same positions (rules 1-2). */
export function scoreRound(
  drafts: readonly number[],
  reference: readonly ReferenceStep[]
): RoundScore {
  let scored = 0;
  let correct = 0;
  let accepted = 0;
  let isAccepting = true;
  for (let i = 0; i < drafts.length && i < reference.length; i++) {
    scored += 1;
    const isArgmax = drafts[i] === reference[i].token;
    if (isTokenCorrect(reference[i], drafts[i])) correct += 1;
    if (isAccepting && isArgmax) accepted += 1;
    if (!isArgmax) {
      isAccepting = false;
      break;
    }
  }
  return { scored, correct, accepted };
}

/**
 * Draft tokens of a round that `scoreRound` counted correct only through the near-tie rule (a
 * token other than the argmax): 0 or 1, since scoring stops after the first such token. Shows
 * how much backend drift the tolerance absorbed (`AuditorStats.nearTieTokens`).
 */
export function nearTieTokens(
  drafts: readonly number[],
  reference: readonly ReferenceStep[]
): number {
  for (let i = 0; i < drafts.length && i < reference.length; i++) {
    if (drafts[i] !== reference[i].token) return isTokenCorrect(reference[i], drafts[i]) ? 1 : 0;
  }
  return 0;
}

/** Sums round scores into the ticket's verdict (rule 3). */
export function scoreTicket(rounds: readonly RoundScore[]): TicketScore {
  const scored = rounds.reduce((s, r) => s + r.scored, 0);
  const correct = rounds.reduce((s, r) => s + r.correct, 0);
  return { scored, correct, isPassed: scored > 0 && correct / scored >= TICKET_PASS_FRACTION };
}
