/**
 * Property tests of the speculative acceptance rules (greedy prefix match and modified rejection
 * sampling), plus a chi-square test that rejection sampling with an arbitrary draft reproduces
 * the target's distribution over whole token sequences. Pure and seeded.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  acceptGreedy,
  acceptSampled,
  createSeededRng,
  expectedTokensPerRound,
  residualDistribution,
  sampleFrom,
  type Rng
} from '../../native-oracle/engine/acceptance.js';

const token = fc.integer({ min: 0, max: 5 });

describe('greedy acceptance', () => {
  it('commits the longest agreeing prefix plus the target token at the first mismatch', () => {
    fc.assert(
      fc.property(
        fc.array(token, { maxLength: 12 }),
        fc.array(token, { minLength: 13, maxLength: 13 }),
        (drafts, target) => {
          const argmax = target.slice(0, drafts.length + 1);
          const { accepted, tokens } = acceptGreedy(drafts, argmax);
          expect(tokens).toHaveLength(accepted + 1); // every round commits >= 1 token
          expect(tokens.slice(0, accepted)).toEqual(drafts.slice(0, accepted));
          for (let i = 0; i < accepted; i++) expect(drafts[i]).toBe(argmax[i]);
          if (accepted < drafts.length) expect(drafts[accepted]).not.toBe(argmax[accepted]);
          // Every committed token is the target's choice at its position.
          tokens.forEach((t, i) => expect(t).toBe(argmax[i]));
        }
      )
    );
  });

  it('rejects target choices of the wrong length', () => {
    expect(() => acceptGreedy([1, 2], [1, 2])).toThrow(/need 3 target choices/);
  });

  it('table: all accepted gives the bonus token; first draft wrong gives only the correction', () => {
    expect(acceptGreedy([4, 5, 6], [4, 5, 6, 7])).toEqual({ accepted: 3, tokens: [4, 5, 6, 7] });
    expect(acceptGreedy([4, 5, 6], [9, 5, 6, 7])).toEqual({ accepted: 0, tokens: [9] });
    expect(acceptGreedy([], [3])).toEqual({ accepted: 0, tokens: [3] });
  });
});

/** A random normalised distribution over `n` tokens, some of them zero. */
const distribution = (n: number) =>
  fc
    .array(fc.oneof(fc.constant(0), fc.double({ min: 0.01, max: 1, noNaN: true })), {
      minLength: n,
      maxLength: n
    })
    .filter((w) => w.some((x) => x > 0))
    .map((w) => {
      const total = w.reduce((a, b) => a + b, 0);
      return w.map((x, i) => [i, x / total] as [number, number]);
    });

describe('rejection sampling', () => {
  it('commits accepted + 1 tokens, the accepted ones being the drafts, and only tokens the target allows', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 4 }),
        fc.integer(),
        fc.array(distribution(6), { minLength: 10, maxLength: 10 }),
        (k, seed, dists) => {
          const rng = createSeededRng(seed);
          const draftProbs = dists.slice(5, 5 + k);
          const drafts = draftProbs.map((q) => sampleFrom(q, rng));
          const targetProbs = dists.slice(0, k + 1);
          const { accepted, tokens } = acceptSampled({ drafts, draftProbs, targetProbs, rng });
          expect(tokens).toHaveLength(accepted + 1);
          expect(tokens.slice(0, accepted)).toEqual(drafts.slice(0, accepted));
          tokens.forEach((t, i) =>
            expect(targetProbs[i].find(([id]) => id === t)![1]).toBeGreaterThan(0)
          );
        }
      )
    );
  });

  it('the residual is a distribution that puts no mass where the draft covers the target', () => {
    const same = fc
      .constant(null)
      .chain(() => distribution(5))
      .map((p) => [p, p] as const);
    fc.assert(
      fc.property(fc.oneof(fc.tuple(distribution(5), distribution(5)), same), ([p, q]) => {
        const r = residualDistribution(p, q);
        const total = r.reduce((a, [, x]) => a + x, 0);
        expect(total).toBeCloseTo(1, 9);
        if (p.every(([t, x]) => x <= q[t][1])) {
          // p == q: every draft is accepted, so the residual is never sampled; it falls back to p.
          expect(r).toEqual(p);
          return;
        }
        for (const [t, x] of r) {
          expect(x).toBeGreaterThan(0);
          expect(p[t][1]).toBeGreaterThan(q[t][1]);
        }
      })
    );
  });

  it('accepts a draft equal to the target with probability 1', () => {
    const p: Array<[number, number]> = [
      [0, 0.2],
      [1, 0.5],
      [2, 0.3]
    ];
    const rng = createSeededRng(7);
    for (let i = 0; i < 200; i++) {
      const x = sampleFrom(p, rng);
      expect(
        acceptSampled({ drafts: [x], draftProbs: [p], targetProbs: [p, p], rng }).accepted
      ).toBe(1);
    }
  });
});

/**
 * A toy "model": next-token distribution depends on the previous token (a Markov chain over a
 * small vocabulary), for the target and for a deliberately different draft.
 */
function markov(n: number, rng: Rng, sharpness: number): Array<Array<[number, number]>> {
  return Array.from({ length: n }, () => {
    const w = Array.from({ length: n }, () => Math.pow(rng(), sharpness));
    const total = w.reduce((a, b) => a + b, 0);
    return w.map((x, i) => [i, x / total] as [number, number]);
  });
}

/** Chi-square critical value (upper tail `alpha`) via Wilson–Hilferty; z for alpha = 1e-3. */
function chiSquareCritical(df: number): number {
  const z = 3.090232; // one-sided 0.001
  const h = 2 / (9 * df);
  return df * Math.pow(1 - h + z * Math.sqrt(h), 3);
}

describe('rejection sampling reproduces the target distribution (chi-square, seeded)', () => {
  const VOCAB = 5;
  const LENGTH = 3; // tokens generated per trial → 125 possible sequences
  const TRIALS = 60_000;

  function runTrials(options: { k: number; withDraftProbs: boolean; seed: number }) {
    const setup = createSeededRng(1234);
    const target = markov(VOCAB, setup, 2);
    const draft = markov(VOCAB, setup, 0.7);
    const rng = createSeededRng(options.seed);
    const counts = new Map<string, number>();
    let drafted = 0;
    let accepted = 0;
    for (let trial = 0; trial < TRIALS; trial++) {
      const seq: number[] = [0]; // fixed start token
      while (seq.length < LENGTH + 1) {
        // Draft k tokens from q, autoregressively.
        const drafts: number[] = [];
        const draftProbs: Array<Array<[number, number]>> = [];
        let prev = seq[seq.length - 1];
        for (let i = 0; i < options.k; i++) {
          const q = draft[prev];
          const x = sampleFrom(q, rng);
          drafts.push(x);
          draftProbs.push(q);
          prev = x;
        }
        const targetProbs = [seq[seq.length - 1], ...drafts].map((t) => target[t]);
        const outcome = acceptSampled({
          drafts,
          draftProbs: options.withDraftProbs ? draftProbs : undefined,
          targetProbs,
          rng
        });
        drafted += drafts.length;
        accepted += outcome.accepted;
        seq.push(...outcome.tokens);
      }
      const key = seq.slice(1, LENGTH + 1).join(',');
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    // Exact probability of every sequence under the target alone.
    let chi2 = 0;
    let cells = 0;
    const walk = (prefix: number[], prob: number) => {
      if (prefix.length === LENGTH) {
        const expected = prob * TRIALS;
        const observed = counts.get(prefix.join(',')) ?? 0;
        chi2 += (observed - expected) ** 2 / expected;
        cells++;
        return;
      }
      const last = prefix.length ? prefix[prefix.length - 1] : 0;
      for (const [t, p] of target[last]) walk([...prefix, t], prob * p);
    };
    walk([], 1);
    return { chi2, df: cells - 1, acceptance: drafted ? accepted / drafted : 0 };
  }

  for (const k of [1, 3]) {
    for (const withDraftProbs of [true, false]) {
      it(`k=${k}, draft probs ${withDraftProbs ? 'given' : 'absent (deterministic-draft rule)'}`, () => {
        const { chi2, df, acceptance } = runTrials({ k, withDraftProbs, seed: 99 + k });
        expect(chi2).toBeLessThan(chiSquareCritical(df));
        expect(acceptance).toBeGreaterThan(0.05); // the draft is really used, not always rejected
      });
    }
  }

  it('the chi-square test detects a wrong rule (accepting every draft)', () => {
    const setup = createSeededRng(1234);
    const target = markov(VOCAB, setup, 2);
    const draft = markov(VOCAB, setup, 0.7);
    const rng = createSeededRng(5);
    const counts = new Array(VOCAB).fill(0);
    for (let i = 0; i < TRIALS; i++) counts[sampleFrom(draft[0], rng)]++;
    let chi2 = 0;
    for (const [t, p] of target[0]) chi2 += (counts[t] - p * TRIALS) ** 2 / (p * TRIALS);
    expect(chi2).toBeGreaterThan(chiSquareCritical(VOCAB - 1));
  });
});

describe('expected tokens per round', () => {
  it('matches E = (1 - a^(k+1)) / (1 - a) and its limits', () => {
    expect(expectedTokensPerRound(0.8, 4)).toBeCloseTo((1 - 0.8 ** 5) / 0.2, 12);
    expect(expectedTokensPerRound(1, 8)).toBe(9);
    expect(expectedTokensPerRound(0, 8)).toBe(1);
    fc.assert(
      fc.property(
        fc.double({ min: 0, max: 0.999, noNaN: true }),
        fc.integer({ min: 0, max: 16 }),
        (a, k) => {
          const e = expectedTokensPerRound(a, k);
          expect(e).toBeGreaterThanOrEqual(1 - 1e-12);
          expect(e).toBeLessThanOrEqual(Math.min(k + 1, 1 / (1 - a)) + 1e-9);
        }
      )
    );
  });
});
