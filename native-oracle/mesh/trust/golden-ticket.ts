/** Drafts continuing `context`, waiting (event-driven) up to a round's timeout for `owed` of them. */
async function awaitDrafts(
  link: ScoutLink,
  context: readonly number[],
  owed: number,
  signal: AbortSignal
): Promise<number[]> {
  const deadline = performance.now() + TICKET_ROUND_TIMEOUT_MS;
  let drafts = link.lookup(context, owed).tokens;
  while (drafts.length < owed && !link.isClosed && !signal.aborted) {
    const remaining = deadline - performance.now();
    if (remaining <= 0) break;
    await link.waitForChange(remaining, signal);
    drafts = link.lookup(context, owed).tokens;
  }
  return drafts;
}

/**
 * One golden ticket over an open verify stream. On the wire it is a generation session like any
 * other: the same `open`, `context`, `draft-request`, `verify-result` and `close` frames, a few
 * rounds, a verify-like pause between them. The oracle plays the target with the reference
 * model's greedy chain, so every round commits the accepted drafts plus a correction, exactly
 * as a verify pass would.
 *
 * Per round:
 *  1. Wait (event-driven, capped by `TICKET_ROUND_TIMEOUT_MS`) until the scout's chain holds
 *     `want` tokens continuing the context.
 *  2. Score them against the honest drafts there (scoring.ts): the reference's own steps, or for
 *     a prompt-lookup scout the rule's chain at this context (`ticket.expected`). Where the
 *     honest engine has no draft, none is owed: the round commits one token without waiting,
 *     and a scout that sent tokens anyway has one wrong token scored.
 *  3. Commit the prefix the reference chain accepts and its correction; tell the scout the
 *     result and the new context after a jittered verify pause.
 * Invariant: the committed context is always `ticket.context` followed by a prefix of the
 * reference chain, so every round's reference is known without running the model again.
 */
import { TICKET_ROUND_TIMEOUT_MS, TICKET_VERIFY_PACE_MS } from '../constants.js';
import type { ScoutLink } from '../scout-link.js';
import type { GoldenTicket } from './reference.js';
import {
  nearTieTokens,
  scoreRound,
  scoreTicket,
  type RoundScore,
  type TicketScore
} from './scoring.js';

export interface TicketRunResult {
  /** `void` when the stream closed before any draft could be scored (nothing is recorded). */
  status: 'scored' | 'void';
  score: TicketScore;
  rounds: number;
  /** Scored tokens counted correct only through the near-tie tolerance (not the argmax). */
  nearTie: number;
  /** The verdict had only the reference's argmax counted correct (no tolerance). */
  isPassedExactly: boolean;
}

export async function runGoldenTicket(options: {
  link: ScoutLink;
  ticket: GoldenTicket;
  k: number;
  lookahead: number;
  rounds: number;
  random: () => number;
  signal: AbortSignal;
}): Promise<TicketRunResult> {
  const { link, ticket, k, signal } = options;
  const chain = ticket.reference.map((s) => s.token);
  const scores: RoundScore[] = [];
  // The same rounds with near-tie tokens not counted: does the verdict need the tolerance?
  const exactScores: RoundScore[] = [];
  let committed = 0;
  let context = ticket.context.slice();
  link.sync(context);
  link.request(k, options.lookahead);
  for (let round = 0; round < options.rounds && committed < chain.length; round++) {
    // 1. Drafts continuing the context (none are owed where the honest engine has none).
    const want = Math.min(k, chain.length - committed);
    const expected = ticket.expected
      ? ticket.expected(context, want)
      : ticket.reference.slice(committed, committed + want);
    let drafts: number[];
    let score: RoundScore;
    if (expected.length === 0) {
      // An honest scout drafts nothing here: take what it sent already, wait for nothing.
      drafts = link.lookup(context, want).tokens;
      score = { scored: drafts.length > 0 ? 1 : 0, correct: 0, accepted: 0 };
    } else {
      drafts = await awaitDrafts(link, context, expected.length, signal);
      if (signal.aborted || (link.isClosed && drafts.length === 0)) break;
      // A scout that stayed silent for a whole round answered nothing more would change.
      if (drafts.length === 0) {
        scores.push({ scored: 0, correct: 0, accepted: 0 });
        exactScores.push({ scored: 0, correct: 0, accepted: 0 });
        break;
      }
      // 2. Score against the honest drafts; the target (the reference chain) accepts its prefix.
      score = scoreRound(drafts, expected);
    }
    scores.push(score);
    const nearTie = expected.length === 0 ? 0 : nearTieTokens(drafts, expected);
    exactScores.push({ ...score, correct: score.correct - nearTie });
    let accepted = 0;
    while (accepted < drafts.length && drafts[accepted] === chain[committed + accepted]) accepted++;
    // 3. Commit accepted + correction, after a pause like a verify pass.
    const position = context.length;
    committed = Math.min(chain.length, committed + accepted + 1);
    context = ticket.context.concat(chain.slice(0, committed));
    const pace = TICKET_VERIFY_PACE_MS * (0.5 + options.random());
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, pace);
      signal.addEventListener('abort', done, { once: true });
    });
    if (link.isClosed || signal.aborted) break;
    link.sync(context, { position, drafted: drafts.length, accepted });
  }
  link.close('generation ended');
  const score = scoreTicket(scores);
  // A stream that closed before a single draft was scored delivered no ticket; a scout that kept
  // the stream open and stayed silent did receive it (score 0 of 0, failed).
  const isVoid = score.scored === 0 && (link.closeReason !== 'generation ended' || signal.aborted);
  const correctExactly = exactScores.reduce((sum, r) => sum + r.correct, 0);
  return {
    status: isVoid ? 'void' : 'scored',
    score,
    rounds: scores.length,
    nearTie: score.correct - correctExactly,
    isPassedExactly: scoreTicket(exactScores).isPassed
  };
}
