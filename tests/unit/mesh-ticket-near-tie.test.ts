/**
 * The near-tie counter of golden-ticket scoring (`nearTieTokens`): what the tolerance absorbed,
 * reported in `ticketStats()` as `nearTieTokens` / `passedByNearTie`.
 */
import { describe, expect, it } from 'vitest';
import {
  nearTieTokens,
  scoreRound,
  type ReferenceStep
} from '../../native-oracle/mesh/trust/scoring.js';

const step = (token: number, top: Array<[number, number]>): ReferenceStep => ({ token, top });
const ref = [
  step(1, [[1, 0.9]]),
  step(2, [
    [2, 0.45],
    [9, 0.42]
  ]),
  step(3, [[3, 0.8]])
];

describe('golden-ticket scoring: tokens correct only through the near-tie tolerance', () => {
  it.each([
    { drafts: [1, 2, 3], nearTie: 0, why: 'all argmax' },
    { drafts: [1, 9, 3], nearTie: 1, why: 'the runner-up within the margin' },
    { drafts: [1, 7, 3], nearTie: 0, why: 'a wrong token is no near tie' },
    { drafts: [], nearTie: 0, why: 'nothing drafted' }
  ])('$why: $nearTie', ({ drafts, nearTie }) => {
    expect(nearTieTokens(drafts, ref)).toBe(nearTie);
    // Never more than the round counted correct beyond its argmax run.
    const score = scoreRound(drafts, ref);
    expect(score.correct - score.accepted).toBe(nearTie);
  });
});
