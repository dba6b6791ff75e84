/**
 * The speculation governor's on/off rules over whole simulated generations (pure, seeded):
 * probes back off exponentially while drafting loses, reset when the load changes, the realized
 * speedup keeps a paying source on through noisy timings, and a declined round is free.
 *
 * The simulator plays the engine's loop: decide → (draft call → verify) or a plain step, with
 * per-token acceptance drawn from a seeded RNG and timings with multiplicative noise plus
 * occasional stalls (another process took the CPU). Its clock gives the throughput ratio
 * against plain decoding of the same simulated target.
 */
import { describe, expect, it } from 'vitest';
import { createSeededRng, type Rng } from '../../native-oracle/engine/acceptance.js';
import {
  createSpeculationGovernor,
  type GovernorOptions,
  type SpeculationGovernor
} from '../../native-oracle/engine/governor.js';

interface SourceModel {
  stepMs: number;
  /** Verify pass of k drafts. */
  verifyMs: (k: number) => number;
  /** Draft call for k tokens (network round trip included). */
  draftMs: (k: number) => number;
  /** Per-token acceptance. */
  acceptance: number;
  /** Multiplicative timing noise: each time × (1 ± noise). */
  noise: number;
  /** Probability that one timing is a 5× stall. */
  stallRate: number;
  /** Probability that the source declines a round at once (returns null in 0 ms). */
  declineRate?: number;
}

interface Outcome {
  tokens: number;
  ms: number;
  rounds: number;
  speculativeRounds: number;
  /**
   * Simulated tokens/s ÷ plain decoding tokens/s of the same noisy target (its mean step is
   * stepMs · (1 + 4·stallRate): the noise is symmetric, a stall adds 4 steps).
   */
  speedup: number;
}

function jitter(rng: Rng, ms: number, m: SourceModel): number {
  const x = ms * (1 + m.noise * (2 * rng() - 1));
  return rng() < m.stallRate ? 5 * x : x;
}

function simulate(
  g: SpeculationGovernor,
  m: SourceModel,
  o: { tokens: number; seed: number; maxK?: number }
): Outcome {
  const rng = createSeededRng(o.seed);
  const maxK = o.maxK ?? 8;
  const out = { tokens: 0, ms: 0, rounds: 0, speculativeRounds: 0 };
  while (out.tokens < o.tokens) {
    out.rounds++;
    const { k } = g.decide({ maxK, mode: 'auto' });
    const isDeclined = k > 0 && rng() < (m.declineRate ?? 0);
    if (k === 0 || isDeclined) {
      if (isDeclined) g.recordEmptyDraft(0, k);
      const step = jitter(rng, m.stepMs, m);
      g.recordPlainStep(step);
      out.ms += step;
      out.tokens += 1;
      continue;
    }
    out.speculativeRounds++;
    const draft = jitter(rng, m.draftMs(k), m);
    g.recordDraft(k, draft);
    let accepted = 0;
    while (accepted < k && rng() < m.acceptance) accepted++;
    const verify = jitter(rng, m.verifyMs(k), m);
    g.recordVerify(k, verify, accepted);
    out.ms += draft + verify;
    out.tokens += accepted + 1;
  }
  return { ...out, speedup: (out.tokens * m.stepMs * (1 + 4 * m.stallRate)) / out.ms };
}

/** Remote scout over a slow link against a fast target: every speculative round loses. */
const LOSING: SourceModel = {
  stepMs: 5,
  verifyMs: (k) => 5 + 0.3 * k,
  draftMs: (k) => 80 + k,
  acceptance: 0.8,
  noise: 0.2,
  stallRate: 0.02
};
/** Low acceptance on a fair link: drafting loses by a little (the hard case for probes). */
const BARELY_LOSING: SourceModel = {
  stepMs: 20,
  verifyMs: (k) => 20 * (1 + 0.2 * k),
  draftMs: (k) => 12 + 1.5 * k,
  acceptance: 0.2,
  noise: 0.3,
  stallRate: 0.03
};
/** Slow memory-bound target, quick scout, high acceptance: drafting wins clearly. */
const WINNING: SourceModel = {
  stepMs: 20,
  verifyMs: (k) => 20 + 1.5 * k,
  draftMs: (k) => 3 + 0.5 * k,
  acceptance: 0.85,
  noise: 0.3,
  stallRate: 0.05
};
/**
 * The loaded bench box: verify of k costs ~(1 + 0.2k) steps, the scout's round trip is half a
 * step, acceptance ~0.8, noisy with stalls; drafting wins by ~1.2× at k = 8.
 */
const MARGINAL_WIN: SourceModel = {
  stepMs: 19,
  verifyMs: (k) => 19 * (1 + 0.2 * k),
  draftMs: (k) => 10 + k,
  acceptance: 0.8,
  noise: 0.4,
  stallRate: 0.08
};

/** Backoff is opt-in (the default keeps probing every probeEveryTokens; see GovernorOptions). */
const BACKOFF: GovernorOptions = { maxProbeBackoff: 8, probeLossBudget: 0.02 };

describe('speculation governor: probe backoff and realized speedup', () => {
  const seeds = [1, 2, 3, 4, 5];

  it.each([
    // name, model, options, max share of speculative rounds, min throughput ratio over 3000
    // tokens (the first measuring round and early probes included)
    ['slow link (drafting loses by 10×)', LOSING, BACKOFF, 0.01, 0.97],
    ['low acceptance (drafting loses a little)', BARELY_LOSING, BACKOFF, 0.03, 0.97]
  ] as Array<[string, SourceModel, GovernorOptions, number, number]>)(
    'where drafting loses (%s), probe rounds stay a small share and throughput ≥ floor',
    (_name, model, options, maxShare, floor) => {
      for (const seed of seeds) {
        const g = createSpeculationGovernor(options);
        const r = simulate(g, model, { tokens: 3000, seed });
        if (process.env.GOV_DEBUG) console.log(_name, seed, r);
        expect(r.speculativeRounds / r.rounds).toBeLessThan(maxShare);
        expect(r.speedup).toBeGreaterThanOrEqual(floor);
      }
    }
  );

  it('backs off: fewer probes than at a fixed spacing on the same losing source', () => {
    for (const seed of seeds) {
      const fixed = simulate(createSpeculationGovernor({ maxProbeBackoff: 1 }), BARELY_LOSING, {
        tokens: 3000,
        seed
      });
      const backedOff = simulate(createSpeculationGovernor(BACKOFF), BARELY_LOSING, {
        tokens: 3000,
        seed
      });
      if (process.env.GOV_DEBUG) console.log('backoff', seed, fixed, backedOff);
      expect(backedOff.speculativeRounds).toBeLessThan(fixed.speculativeRounds * 0.6);
    }
  });

  it.each([
    ['clear win', WINNING, 1.5, 0.9],
    ['marginal win on a loaded box (noise, stalls)', MARGINAL_WIN, 1.05, 0.1],
    [
      'clear win, the source declining a third of the rounds',
      { ...WINNING, declineRate: 0.33 },
      1.2,
      0.5
    ]
  ] as Array<[string, SourceModel, number, number]>)(
    'where drafting wins (%s), it stays on and beats plain decoding',
    (_name, model, minSpeedup, minShare) => {
      for (const seed of seeds) {
        const g = createSpeculationGovernor();
        const r = simulate(g, model, { tokens: 3000, seed });
        if (process.env.GOV_DEBUG) console.log(_name, seed, r);
        expect(r.speedup).toBeGreaterThan(minSpeedup);
        expect(r.speculativeRounds / r.rounds).toBeGreaterThan(minShare);
        // A marginal win may be off at any one moment (a noisy window); a clear win may not.
        if (minSpeedup >= 1.2) expect(g.decision().isSpeculating).toBe(true);
      }
    }
  );

  it('the realized speedup keeps a paying source on when noisy cost medians predict a loss', () => {
    const g = createSpeculationGovernor({ exploreEveryRounds: 0 });
    // 20 ms steps; k = 8 rounds accepting 6: a skewed verify time, 150 ms in 3 of 5 rounds and
    // 1 ms in the others (stalls from another process). The median (150 ms) predicts a loss;
    // the rounds themselves commit 7 tokens per ~65 ms, about twice the plain rate.
    for (let i = 0; i < 4; i++) g.recordPlainStep(20);
    for (let i = 0; i < 15; i++) {
      g.recordDraft(8, 5);
      g.recordVerify(8, i % 5 < 3 ? 150 : 1, 6);
    }
    expect(g.predict(8)).toBeLessThan(1);
    const realized = g.realizedSpeedup();
    expect(realized).not.toBeNull();
    expect(realized!).toBeGreaterThan(1);
    expect(g.decide({ maxK: 8, mode: 'auto' }).k).toBeGreaterThan(0);
  });

  it('refreshes a stale plain step time while drafting, so an inflated yardstick cannot keep a losing source on', () => {
    const g = createSpeculationGovernor();
    // Three plain steps measured during a stall (60 ms; the target really takes 20 ms).
    for (let i = 0; i < 3; i++) g.recordPlainStep(60);
    // Rounds of k drafts take 45 ms and commit 1.5 tokens: 0.67× of the real plain rate, but
    // 2× of the stale one.
    let offAt: number | null = null;
    for (let round = 0; round < 200 && offAt === null; round++) {
      const { k } = g.decide({ maxK: 8, mode: 'auto' });
      if (k === 0) {
        g.recordPlainStep(20);
        if (g.realizedSpeedup() !== null && !g.decision().isSpeculating) offAt = round;
        continue;
      }
      g.recordDraft(k, 15);
      g.recordVerify(k, 30, round % 2);
    }
    expect(offAt).not.toBeNull();
    expect(g.targetStepMs()).toBeLessThan(40);
  });

  it('does not condemn longer drafts from a costly short batch: beyond the longest measured k it is optimistic', () => {
    const g = createSpeculationGovernor({ priorWeight: 0 });
    // A CPU where a batch of 2 costs twice a step (the batched path's fixed cost) and nothing
    // longer was measured: a line through k = 1 would price k = 8 at 16 + 8·18 ms.
    for (let i = 0; i < 4; i++) {
      g.recordPlainStep(16);
      g.recordDraft(1, 5);
      g.recordVerify(1, 34, 1);
    }
    expect(g.verifyMs(8)).toBeCloseTo(34 + 0.05 * 16 * 7, 6);
    // Rounds at k = 1 lose (realized 0.8×): drafting is off, and the probe tries a long draft.
    let probeK = 0;
    for (let i = 0; i < 100 && probeK === 0; i++) {
      probeK = g.decide({ maxK: 8, mode: 'auto' }).k;
      if (probeK === 0) g.recordPlainStep(16);
    }
    expect(probeK).toBeGreaterThan(1);
    // Once k = 8 is measured (and costly), its own median rules.
    for (let i = 0; i < 3; i++) {
      g.recordDraft(8, 20);
      g.recordVerify(8, 300, 8);
    }
    expect(g.verifyMs(8)).toBe(300);
  });

  it('resets the probe backoff when the plain step time moves (load changed)', () => {
    const g = createSpeculationGovernor({ probeEveryTokens: 4, maxProbeBackoff: 16 });
    simulate(g, LOSING, { tokens: 400, seed: 9 });
    expect(g.snapshot().probeSpacingTokens).toBeGreaterThanOrEqual(32);
    // The machine got quiet: plain steps now take half as long.
    for (let i = 0; i < 40; i++) g.recordPlainStep(2.5);
    g.decide({ maxK: 8, mode: 'auto' });
    expect(g.snapshot().probeSpacingTokens).toBe(4);
  });

  it('notices a source that recovered within a bounded number of tokens', () => {
    const g = createSpeculationGovernor(BACKOFF);
    simulate(g, LOSING, { tokens: 2000, seed: 11 });
    expect(g.decision().isSpeculating).toBe(false);
    // The same source, now quick and accurate (a scout on a faster path).
    const recovered: SourceModel = { ...LOSING, draftMs: (k) => 0.2 * k, acceptance: 0.95 };
    const r = simulate(g, recovered, { tokens: 1500, seed: 12 });
    expect(g.decision().isSpeculating).toBe(true);
    expect(r.speculativeRounds).toBeGreaterThan(50);
  });
});
