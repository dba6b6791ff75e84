/**
 * The engine's acceptance rule (native-oracle/engine/acceptance.ts `acceptPositionKeyed` with
 * the position-keyed draws of ./sampling.ts): whatever is drafted, the committed tokens equal
 * those of plain decoding with the same seed (property), and the output follows the target's
 * distribution over whole sequences (chi-square, with a wrong-rule control). Pure and seeded.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  acceptPositionKeyed,
  createSeededRng,
  sampleFrom,
  type Rng
} from '../../native-oracle/engine/acceptance.js';
import {
  chooseToken,
  positionDistribution,
  positionUniform,
  type TokenChoiceSettings
} from '../../native-oracle/engine/sampling.js';

const VOCAB = 5;

/** A toy target: the next-token logits depend on the previous token (a Markov chain). */
function markovLogits(rng: Rng, spread: number): number[][] {
  return Array.from({ length: VOCAB }, () =>
    Array.from({ length: VOCAB }, () => (rng() - 0.5) * spread)
  );
}

function settings(seed: number, temperature = 1): TokenChoiceSettings {
  return {
    temperature,
    topK: 0,
    topP: 1,
    minP: 0,
    presencePenalty: 0,
    frequencyPenalty: 0,
    logitBias: new Map(),
    seed
  };
}

/** The target's token at output position `position` after `previous`. */
function targetChoice(
  logits: number[][],
  previous: number,
  position: number,
  s: TokenChoiceSettings
) {
  const dist = positionDistribution(
    logits[previous].map((l, t) => [t, l] as const),
    new Map(),
    s
  );
  return chooseToken(dist, s.temperature, positionUniform(s.seed, position));
}

/**
 * Decodes `length` tokens in rounds: `draft(context)` proposes drafts for each round, and the
 * rule accepts a draft iff it equals the target's position-keyed choice.
 */
function decode(
  logits: number[][],
  s: TokenChoiceSettings,
  length: number,
  draft: (output: readonly number[]) => number[],
  rule: typeof acceptPositionKeyed = acceptPositionKeyed
): { output: number[]; drafted: number; accepted: number } {
  const output: number[] = [];
  let drafted = 0;
  let accepted = 0;
  while (output.length < length) {
    const drafts = draft(output);
    const outcome = rule(drafts, (j) => {
      const previous = j === 0 ? (output[output.length - 1] ?? 0) : drafts[j - 1];
      return targetChoice(logits, previous, output.length + j, s);
    });
    drafted += drafts.length;
    accepted += outcome.accepted;
    output.push(...outcome.tokens);
  }
  return { output: output.slice(0, length), drafted, accepted };
}

describe('position-keyed acceptance', () => {
  it('commits accepted + 1 tokens, asking the target only up to the first mismatch', () => {
    const asked: number[] = [];
    const outcome = acceptPositionKeyed([4, 5, 6], (j) => {
      asked.push(j);
      return [4, 9, 6, 7][j];
    });
    expect(outcome).toEqual({ accepted: 1, tokens: [4, 9] });
    expect(asked).toEqual([0, 1]);
    expect(acceptPositionKeyed([], () => 3)).toEqual({ accepted: 0, tokens: [3] });
    expect(acceptPositionKeyed([1, 2], (j) => [1, 2, 8][j])).toEqual({
      accepted: 2,
      tokens: [1, 2, 8]
    });
  });

  it('any drafts give exactly the tokens of plain decoding with the same seed (property)', () => {
    const logits = markovLogits(createSeededRng(77), 4);
    fc.assert(
      fc.property(
        fc.integer(),
        fc.array(fc.array(fc.integer({ min: 0, max: VOCAB - 1 }), { maxLength: 5 }), {
          minLength: 1,
          maxLength: 20
        }),
        (seed, draftPlan) => {
          const s = settings(seed);
          const plain = decode(logits, s, 12, () => []);
          let round = 0;
          const drafted = decode(logits, s, 12, () => draftPlan[round++ % draftPlan.length]);
          expect(drafted.output).toEqual(plain.output);
        }
      ),
      { numRuns: 300 }
    );
  });

  it('the position uniform depends on (seed, position) only and is in [0, 1)', () => {
    fc.assert(
      fc.property(fc.integer(), fc.nat(1_000_000), (seed, position) => {
        const u = positionUniform(seed, position);
        expect(u).toBeGreaterThanOrEqual(0);
        expect(u).toBeLessThan(1);
        expect(positionUniform(seed, position)).toBe(u);
      })
    );
    expect(positionUniform(1, 0)).not.toBe(positionUniform(1, 1));
    expect(positionUniform(1, 0)).not.toBe(positionUniform(2, 0));
    expect(positionUniform(1, 0, 1)).not.toBe(positionUniform(1, 0));
  });
});

/** Chi-square critical value (upper tail 1e-3) via Wilson–Hilferty. */
function chiSquareCritical(df: number): number {
  const z = 3.090232;
  const h = 2 / (9 * df);
  return df * Math.pow(1 - h + z * Math.sqrt(h), 3);
}

describe('position-keyed sampling reproduces the target distribution (chi-square, seeded)', () => {
  const LENGTH = 3; // 125 possible sequences
  const TRIALS = 20_000;
  const TEMPERATURE = 1;

  function chiSquare(rule: typeof acceptPositionKeyed) {
    const setup = createSeededRng(1234);
    const target = markovLogits(setup, 4);
    const draftLogits = markovLogits(setup, 3); // a deliberately different draft model
    const draftRng = createSeededRng(5);
    const toProbs = (row: number[]) => {
      const w = row.map((l) => Math.exp(l / TEMPERATURE));
      const total = w.reduce((a, b) => a + b, 0);
      return w.map((x, t) => [t, x / total] as [number, number]);
    };
    const counts = new Map<string, number>();
    let drafted = 0;
    let accepted = 0;
    for (let seed = 0; seed < TRIALS; seed++) {
      const r = decode(
        target,
        settings(seed, TEMPERATURE),
        LENGTH,
        (output) => {
          // Two drafts sampled from the draft model after the last output token.
          let previous = output[output.length - 1] ?? 0;
          return [0, 1].map(
            () => (previous = sampleFrom(toProbs(draftLogits[previous]), draftRng))
          );
        },
        rule
      );
      drafted += r.drafted;
      accepted += r.accepted;
      const key = r.output.join(',');
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    let chi2 = 0;
    let cells = 0;
    const walk = (prefix: number[], prob: number) => {
      if (prefix.length === LENGTH) {
        const expected = prob * TRIALS;
        chi2 += ((counts.get(prefix.join(',')) ?? 0) - expected) ** 2 / expected;
        cells++;
        return;
      }
      const last = prefix.length ? prefix[prefix.length - 1] : 0;
      for (const [t, p] of toProbs(target[last])) walk([...prefix, t], prob * p);
    };
    walk([], 1);
    return { chi2, critical: chiSquareCritical(cells - 1), acceptance: accepted / drafted };
  }

  it('the rule passes, and the drafts are really used', () => {
    const { chi2, critical, acceptance } = chiSquare(acceptPositionKeyed);
    expect(chi2).toBeLessThan(critical);
    expect(acceptance).toBeGreaterThan(0.05);
  });

  it('a wrong rule (accepting every draft) fails the same test', () => {
    const acceptAll: typeof acceptPositionKeyed = (drafts, choice) => ({
      accepted: drafts.length,
      tokens: [...drafts, choice(drafts.length)]
    });
    const { chi2, critical } = chiSquare(acceptAll);
    expect(chi2).toBeGreaterThan(critical);
  });
});
