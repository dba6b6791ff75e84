/**
 * The speculation governor on synthetic measurements (pure): it predicts S = E·Tt/(D(k)+Tv(k)),
 * drafts when S ≥ 1, turns drafting off when the source is slow or inaccurate, probes
 * periodically while off, shortens k as acceptance drops, and comes back when a source recovers.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { expectedTokensPerRound } from '../../native-oracle/engine/acceptance.js';
import {
  createSpeculationGovernor,
  type SpeculationGovernor
} from '../../native-oracle/engine/governor.js';

/** Feeds `rounds` speculative rounds of k drafts with a fixed acceptance pattern and timings. */
function feed(
  g: SpeculationGovernor,
  o: {
    rounds: number;
    k: number;
    accepted: number;
    stepMs: number;
    verifyPerTokenMs: number;
    draftMs: (k: number) => number;
  }
) {
  for (let i = 0; i < o.rounds; i++) {
    g.recordPlainStep(o.stepMs);
    g.recordDraft(o.k, o.draftMs(o.k));
    g.recordVerify(o.k, o.stepMs + o.verifyPerTokenMs * o.k, o.accepted);
  }
}

describe('speculation governor', () => {
  it('starts by drafting (nothing measured yet) so that it can measure', () => {
    const g = createSpeculationGovernor();
    const round = g.decide({ maxK: 8, mode: 'auto' });
    expect(round.k).toBe(8);
    expect(round.reason).toMatch(/no measurements/);
  });

  it('predicts the FIELD-NOTES speedup formula from its fitted timings', () => {
    const g = createSpeculationGovernor({ priorWeight: 0 });
    // Two k values so the fits are exact lines: verify = 10 + 1·k, draft = 2 + 0.5·k.
    for (const k of [2, 6]) {
      for (let i = 0; i < 5; i++) {
        g.recordPlainStep(10);
        g.recordDraft(k, 2 + 0.5 * k);
        g.recordVerify(k, 10 + 1 * k, k - 1); // acceptance (k-1)/k per round pattern
      }
    }
    const a = g.acceptance();
    const k = 4;
    const expected = (expectedTokensPerRound(a, k) * 10) / (2 + 0.5 * k + 10 + 1 * k);
    expect(g.predict(k)).toBeCloseTo(expected, 6);
  });

  it('turns drafting off for a slow remote source, with periodic probe rounds', () => {
    // probeShare 1: probes spaced by tokens here (the time share has its own test).
    const g = createSpeculationGovernor({ probeEveryTokens: 16, probeShare: 1 });
    feed(g, {
      rounds: 6,
      k: 8,
      accepted: 6,
      stepMs: 5,
      verifyPerTokenMs: 0.3,
      draftMs: (k) => 80 + k
    });
    const round = g.decide({ maxK: 8, mode: 'auto' });
    expect(round.k).toBe(0);
    expect(round.predictedSpeedup).toBeLessThan(1);
    expect(g.decision()).toMatchObject({ isSpeculating: false });
    expect(g.decision().reason).toMatch(/drafting off/);
    let probes = 0;
    for (let i = 0; i < 64; i++) {
      const r = g.decide({ maxK: 8, mode: 'auto' });
      if (r.k > 0) {
        probes++;
        g.recordDraft(r.k, 80 + r.k);
        g.recordVerify(r.k, 5 + 0.3 * r.k, Math.min(r.k, 6));
      } else {
        g.recordPlainStep(5);
      }
    }
    expect(probes).toBeGreaterThanOrEqual(2);
    expect(probes).toBeLessThanOrEqual(5);
  });

  it('keeps drafting when draft and verify are cheap and acceptance is high', () => {
    const g = createSpeculationGovernor();
    feed(g, {
      rounds: 10,
      k: 8,
      accepted: 8,
      stepMs: 20,
      verifyPerTokenMs: 1,
      draftMs: (k) => 1 + 2 * k
    });
    const round = g.decide({ maxK: 8, mode: 'auto' });
    expect(round.k).toBeGreaterThan(0);
    expect(round.predictedSpeedup).toBeGreaterThan(1.5);
    expect(g.decision().isSpeculating).toBe(true);
  });

  it('chooses a shorter k when acceptance drops', () => {
    const high = createSpeculationGovernor();
    const low = createSpeculationGovernor();
    const common = {
      rounds: 20,
      stepMs: 20,
      verifyPerTokenMs: 1,
      draftMs: (k: number) => 1 + 2 * k
    };
    feed(high, { ...common, k: 8, accepted: 8 });
    feed(high, { ...common, k: 4, accepted: 4 });
    feed(low, { ...common, k: 8, accepted: 1 });
    feed(low, { ...common, k: 4, accepted: 1 });
    expect(low.decide({ maxK: 8, mode: 'auto' }).k).toBeLessThan(
      high.decide({ maxK: 8, mode: 'auto' }).k
    );
  });

  it('turns back on when a source recovers', () => {
    const g = createSpeculationGovernor({ probeEveryTokens: 4, timingWindow: 8 });
    feed(g, {
      rounds: 4,
      k: 4,
      accepted: 3,
      stepMs: 10,
      verifyPerTokenMs: 0.5,
      draftMs: () => 200
    });
    expect(g.decide({ maxK: 4, mode: 'auto' }).k).toBe(0);
    feed(g, {
      rounds: 10,
      k: 4,
      accepted: 4,
      stepMs: 10,
      verifyPerTokenMs: 0.5,
      draftMs: (k) => 0.5 * k
    });
    expect(g.decide({ maxK: 4, mode: 'auto' }).k).toBeGreaterThan(0);
  });

  it('acceptance estimate stays in (0, 1) and moves towards the observed rate', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 16 }),
        fc.array(fc.nat(16), { minLength: 1, maxLength: 60 }),
        (k, pattern) => {
          const g = createSpeculationGovernor();
          for (const a of pattern) g.recordVerify(k, 1, Math.min(a, k));
          const est = g.acceptance();
          expect(est).toBeGreaterThan(0);
          expect(est).toBeLessThan(1);
        }
      )
    );
    const g = createSpeculationGovernor({ priorAcceptance: 0.5 });
    for (let i = 0; i < 200; i++) g.recordVerify(4, 1, i % 5 === 0 ? 2 : 4); // mostly all accepted
    expect(g.acceptance()).toBeGreaterThan(0.85);
  });

  it('is not swung by a few slow outliers (another process took the CPU)', () => {
    const g = createSpeculationGovernor();
    feed(g, {
      rounds: 12,
      k: 4,
      accepted: 4,
      stepMs: 20,
      verifyPerTokenMs: 1,
      draftMs: (k) => 1 + k
    });
    for (let i = 0; i < 3; i++) g.recordDraft(4, 500); // three stalls
    const round = g.decide({ maxK: 4, mode: 'auto' });
    expect(round.k).toBeGreaterThan(0);
    expect(round.predictedSpeedup).toBeGreaterThan(1.5);
  });

  it('while drafting pays, explores other draft lengths (a plain step first) every few rounds', () => {
    const g = createSpeculationGovernor({ exploreEveryRounds: 4 });
    const verify = (k: number) => 20 + 3 * k;
    for (let k = 1; k <= 8; k++) {
      g.recordDraft(k, 1 + k);
      g.recordVerify(k, verify(k), k);
    }
    const chosen: number[] = [];
    for (let i = 0; i < 16; i++) {
      const r = g.decide({ maxK: 8, mode: 'auto' });
      chosen.push(r.k);
      if (r.k === 0) g.recordPlainStep(20);
      else {
        g.recordDraft(r.k, 1 + r.k);
        g.recordVerify(r.k, verify(r.k), r.k);
      }
    }
    const best = g.decide({ maxK: 8, mode: 'auto' }).k;
    expect(chosen[3]).toBe(0); // first exploration: measure a plain step
    expect(new Set(chosen).size).toBeGreaterThanOrEqual(3);
    expect(chosen.filter((k) => k === best).length).toBeGreaterThanOrEqual(10);
    expect(g.decision().isSpeculating).toBe(true);
  });

  it("uses each draft length's own measured cost when it has enough samples (costs are not linear)", () => {
    const g = createSpeculationGovernor({ priorWeight: 0 });
    const verify: Record<number, number> = { 1: 30, 2: 40, 8: 45 }; // a batch of 9 is nearly free
    for (let i = 0; i < 4; i++) {
      g.recordPlainStep(20);
      for (const k of [1, 2, 8]) {
        g.recordDraft(k, 2 * k);
        g.recordVerify(k, verify[k], k); // every draft accepted
      }
    }
    expect(g.verifyMs(8)).toBe(45);
    expect(g.verifyMs(2)).toBe(40);
    expect(g.targetStepMs()).toBe(20);
    // Unmeasured k: the line anchored at the step, slope fitted by least squares over k = 1, 2, 8.
    expect(g.verifyMs(5)).toBeCloseTo(20 + (5 * (1 * 10 + 2 * 20 + 8 * 25)) / (1 + 4 + 64), 9);
    expect(g.decide({ maxK: 8, mode: 'auto' }).k).toBe(8);
  });

  it('never proposes more than maxK drafts, and 0 when there is no room', () => {
    const g = createSpeculationGovernor();
    feed(g, {
      rounds: 5,
      k: 8,
      accepted: 8,
      stepMs: 20,
      verifyPerTokenMs: 0.1,
      draftMs: (k) => 0.1 * k
    });
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 32 }), (maxK) => {
        const r = g.decide({ maxK, mode: 'auto' });
        expect(r.k).toBeLessThanOrEqual(maxK);
        if (maxK === 0) expect(r.k).toBe(0);
      })
    );
  });
});
