/**
 * The speculation governor: decides, before every round, whether to draft at all and how many
 * tokens (k), from live measurements of one draft source against one target.
 *
 * Model (FIELD-NOTES, after Leviathan et al. 2023): with per-token acceptance a and k drafts a
 * round commits E(k) = (1 − a^(k+1)) / (1 − a) tokens and costs D(k) + Tv(k), where D(k) is the
 * draft call (RTT + k·Td, fitted from measured calls) and Tv(k) the batched verify (fitted from
 * measured verify passes; a plain decode step is the k = 0 sample). Plain decoding costs Tt per
 * token, so the predicted speedup is S(k) = E(k)·Tt / (D(k) + Tv(k)). The governor picks the k
 * with the largest S; with `auto` it decodes plainly while S < minSpeedup, probing one
 * speculative round now and then (after `probeEveryTokens` plain tokens, and only once the
 * plain decoding since the last one took long enough that the probe's predicted extra cost is
 * at most `probeShare` of it) so a source that got faster (or more accurate) is noticed again.
 *
 * The floor: a prediction is only a model. The governor also measures the REALIZED throughput
 * of the source's recent speculative rounds (committed tokens over draft call + verify time,
 * decayed) against plain decoding (1 / Tt), and switches drafting off while that ratio is below
 * `floor` (default 0.97) even when S says drafting pays, so `auto` does not fall measurably
 * below plain decoding under load; probes re-measure it.
 *
 * It is the only owner of "draft or not, and how many": draft sources never skip a round on
 * their own. A source that waits for drafts (remote scouts) gets a wait budget with each round
 * (`DraftBudget`): the longest draft call with which the round still breaks even, or a long
 * `measureWaitMs` while nothing is measured yet and in probe rounds (a probe measures).
 *
 * Pure logic (no timers, no llama.cpp): the engine feeds it measured milliseconds.
 */
import { expectedTokensPerRound } from './acceptance.js';
import type { DraftBudget, GovernorDecision } from './index.js';

/**
 * Every `reason` the governor reports, as patterns (tests and tools match against these; the
 * engine adds its own for speculation off or forced on).
 */
export const GOVERNOR_REASON_FORMS: readonly RegExp[] = [
  /^no decision made$/,
  /^no measurements yet; drafting k=\d+ to measure$/,
  /^speculation forced on; best k=\d+ \(.+\)$/,
  /^predicted speedup \d+\.\d\d at k=\d+ \(.+\); realized (\d+\.\d\d|not measured yet)$/,
  /^exploring k=\d+ to refresh the cost fits \(best k=\d+\)$/,
  /^probe round at k=\d+; predicted speedup \d+\.\d\d, realized (\d+\.\d\d|not measured yet) \(.+\)$/,
  /^drafting off: predicted speedup \d+\.\d\d < \d+(\.\d+)? at best k=\d+ \(.+\)$/,
  /^drafting off: realized speedup \d+\.\d\d < floor \d+\.\d\d over the last speculative rounds \(\d+\.\d tokens\/s vs plain \d+\.\d tokens\/s\), though predicted \d+\.\d\d at k=\d+ \(.+\)$/
];

export interface GovernorOptions {
  /** Speculate only when the predicted speedup is at least this. Default 1. */
  minSpeedup?: number;
  /** Acceptance assumed before any round was verified. Default 0.6. */
  priorAcceptance?: number;
  /** Weight (in rounds) of the prior; later rounds outweigh it. Default 2. */
  priorWeight?: number;
  /** Per-round decay of older acceptance evidence (1 = never forget). Default 0.97. */
  acceptanceDecay?: number;
  /** With drafting off, one probe round after this many plain tokens. Default 32. */
  probeEveryTokens?: number;
  /**
   * A probe's predicted extra cost (draft call + verify − one plain step) must be at most this
   * share of the plain decoding time since the last speculative round. Default 0.03, the room
   * the floor leaves: probing a slow source next to a fast target stays within it.
   */
  probeShare?: number;
  /** Recent timing samples kept per draft length for the fits. Default 16. */
  timingWindow?: number;
  /**
   * While drafting pays, every this many rounds one round uses another k (or a plain step) so
   * the cost fits keep samples across draft lengths. Default 8; 0 disables exploration.
   */
  exploreEveryRounds?: number;
  /**
   * Realized speedup (measured speculative rounds vs plain steps) below which drafting is
   * switched off whatever the prediction says. Default 0.97: within measurement noise of plain
   * decoding, so `auto` never costs measurably more than speculation off.
   */
  floor?: number;
  /** Speculative rounds measured before the floor applies. Default 4. */
  floorMinRounds?: number;
  /** Per-round decay of the realized-throughput evidence (1 = never forget). Default 0.8. */
  realizedDecay?: number;
  /**
   * Wait budget (ms) of a round drafted with nothing measured yet, and the cap of every budget:
   * long enough for a live remote scout to answer once on a loaded machine. Default 1000.
   */
  measureWaitMs?: number;
}

export interface GovernorRound {
  /** Drafts to request this round; 0 = plain decode step. */
  k: number;
  predictedSpeedup: number;
  reason: string;
  isProbe: boolean;
  /** How long the draft call may wait for drafts it does not hold (see DraftBudget.waitMs). */
  waitMs: number;
}

export interface GovernorSnapshot {
  acceptance: number;
  targetStepMs: number | null;
  verifyMs: (k: number) => number | null;
  draftMs: (k: number) => number | null;
  plainSteps: number;
  speculativeRounds: number;
  /** Realized speedup of recent speculative rounds; null until `floorMinRounds` were measured. */
  realizedSpeedup: number | null;
}

interface Sample {
  k: number;
  ms: number;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/**
 * A line ms = a + b·k through the per-k MEDIANS of the samples (weighted by sample count), so a
 * few slow outliers (another process took the CPU) do not swing the decision. Null without samples.
 */
function fitLine(
  samples: readonly Sample[],
  fallbackSlopeRatio: number
): { a: number; b: number } | null {
  if (samples.length === 0) return null;
  const groups = new Map<number, number[]>();
  for (const x of samples) {
    const list = groups.get(x.k) ?? [];
    list.push(x.ms);
    groups.set(x.k, list);
  }
  const points = [...groups].map(([k, ms]) => ({ k, ms: median(ms), w: ms.length }));
  // With measured plain steps (k = 0), anchor the line there and fit only the slope: an
  // extrapolated intercept is fragile when the CPU is shared.
  const zero = points.find((p) => p.k === 0);
  if (zero) {
    const rest = points.filter((p) => p.k > 0);
    if (rest.length === 0) return { a: zero.ms, b: zero.ms * fallbackSlopeRatio };
    let num = 0;
    let den = 0;
    for (const p of rest) {
      num += p.w * p.k * (p.ms - zero.ms);
      den += p.w * p.k * p.k;
    }
    return { a: zero.ms, b: Math.max(0, num / den) };
  }
  const n = points.reduce((s, p) => s + p.w, 0);
  const mk = points.reduce((s, p) => s + p.w * p.k, 0) / n;
  const mm = points.reduce((s, p) => s + p.w * p.ms, 0) / n;
  let sxx = 0;
  let sxy = 0;
  for (const p of points) {
    sxx += p.w * (p.k - mk) ** 2;
    sxy += p.w * (p.k - mk) * (p.ms - mm);
  }
  if (points.length > 1 && sxx > 1e-9) {
    const b = Math.max(0, sxy / sxx);
    return { a: Math.max(0, mm - b * mk), b };
  }
  // One k only: split the cost as `fallbackSlopeRatio` per token of the mean.
  if (mk === 0) return { a: mm, b: mm * fallbackSlopeRatio };
  const b = (mm * fallbackSlopeRatio) / (1 + fallbackSlopeRatio * mk);
  return { a: Math.max(0, mm - b * mk), b };
}

/** Samples of one k needed before their median replaces the fitted line. */
const MIN_SAMPLES_FOR_MEDIAN = 3;

function costAt(
  samples: readonly Sample[],
  k: number,
  fit: { a: number; b: number } | null
): number | null {
  const own = samples.filter((x) => x.k === k).map((x) => x.ms);
  if (own.length >= MIN_SAMPLES_FOR_MEDIAN) return median(own);
  return fit ? fit.a + fit.b * k : null;
}

/** What the last draft call of a round cost, kept until the round's verify is recorded. */
interface PendingDraft {
  ms: number;
  isEmpty: boolean;
}

const fmt = (x: number | null) => (x === null ? '?' : x.toFixed(2));

export class SpeculationGovernor {
  private readonly minSpeedup: number;
  private readonly priorAcceptance: number;
  private readonly priorWeight: number;
  private readonly decay: number;
  private readonly probeEvery: number;
  private readonly window: number;
  private readonly exploreEvery: number;
  private readonly floor: number;
  private readonly floorMinRounds: number;
  private readonly realizedDecay: number;
  private readonly measureWaitMs: number;
  private roundsSinceExplore = 0;
  private explorations = 0;
  private successes = 0;
  private failures = 0;
  private readonly verifySamples: Sample[] = [];
  private readonly draftSamples: Sample[] = [];
  private plainTokensSinceRound = 0;
  private plainMsSinceRound = 0;
  private readonly probeShare: number;
  private plainSteps = 0;
  private speculativeRounds = 0;
  /** Decayed committed tokens and milliseconds (draft call + verify) of speculative rounds. */
  private realizedTokens = 0;
  private realizedMs = 0;
  private realizedRounds = 0;
  private pendingDraft: PendingDraft | null = null;
  private last: GovernorRound | null = null;

  constructor(options: GovernorOptions = {}) {
    this.minSpeedup = options.minSpeedup ?? 1;
    this.priorAcceptance = options.priorAcceptance ?? 0.6;
    this.priorWeight = options.priorWeight ?? 2;
    this.decay = options.acceptanceDecay ?? 0.97;
    this.probeEvery = options.probeEveryTokens ?? 32;
    this.probeShare = options.probeShare ?? 0.03;
    this.window = options.timingWindow ?? 16;
    this.exploreEvery = options.exploreEveryRounds ?? 8;
    this.floor = options.floor ?? 0.97;
    this.floorMinRounds = options.floorMinRounds ?? 4;
    this.realizedDecay = options.realizedDecay ?? 0.8;
    this.measureWaitMs = options.measureWaitMs ?? 1_000;
  }

  /** Current per-token acceptance estimate (decayed MLE of a truncated geometric, with a prior). */
  acceptance(): number {
    const s = this.successes + this.priorAcceptance * this.priorWeight;
    const f = this.failures + (1 - this.priorAcceptance) * this.priorWeight;
    return s / (s + f);
  }

  /**
   * Costs computed since the last sample, by list and k. decide() runs before every round, also
   * while drafting is off, and scans every k: recomputing the fits there cost about 0.1 ms per
   * round, a tenth of a plain step of the small test models.
   */
  private readonly costCache = new Map<string, number | null>();

  private readonly fitCache = new Map<'verify' | 'draft', ReturnType<typeof fitLine>>();

  private cachedCost(list: 'verify' | 'draft', k: number): number | null {
    const key = `${list}:${k}`;
    if (this.costCache.has(key)) return this.costCache.get(key)!;
    const samples = list === 'verify' ? this.verifySamples : this.draftSamples;
    if (!this.fitCache.has(list))
      // Batched verify on a memory-bound CPU costs little per extra token: 5 % of a step.
      this.fitCache.set(list, fitLine(samples, list === 'verify' ? 0.05 : 1));
    const cost = costAt(samples, k, this.fitCache.get(list)!);
    this.costCache.set(key, cost);
    return cost;
  }

  /** Predicted speedup of k drafts per round, or null while timings are unknown. */
  predict(k: number): number | null {
    const verify = this.verifyMs(k);
    const draft = this.draftMs(k);
    const stepMs = this.targetStepMs();
    if (verify === null || draft === null || stepMs === null) return null;
    const roundMs = draft + verify;
    if (!(roundMs > 0)) return null;
    return (expectedTokensPerRound(this.acceptance(), k) * stepMs) / roundMs;
  }

  /**
   * Verify cost of k drafts: the median of this k's own samples when there are enough (batched
   * cost is not linear in k on a CPU), otherwise the fitted line.
   */
  verifyMs(k: number): number | null {
    return this.cachedCost('verify', k);
  }

  /** Draft call cost for k tokens, the same way. */
  draftMs(k: number): number | null {
    return this.cachedCost('draft', k);
  }

  /** Plain decode step time: the verify cost at k = 0. */
  targetStepMs(): number | null {
    return this.verifyMs(0);
  }

  /**
   * Measured throughput of the recent speculative rounds (tokens committed per ms of draft call
   * plus verify, decayed) over the plain rate 1 / Tt; null before `floorMinRounds` rounds.
   */
  realizedSpeedup(): number | null {
    const stepMs = this.targetStepMs();
    if (this.realizedRounds < this.floorMinRounds || stepMs === null || !(this.realizedMs > 0))
      return null;
    return (this.realizedTokens / this.realizedMs) * stepMs;
  }

  /**
   * The longest draft call with which k drafts still break even (E(k)·Tt / minSpeedup − Tv(k)),
   * within [0, measureWaitMs]; measureWaitMs while the costs are unknown.
   */
  private breakEvenWaitMs(k: number): number {
    const stepMs = this.targetStepMs();
    const verify = this.verifyMs(k);
    if (stepMs === null || verify === null) return this.measureWaitMs;
    const ms = (expectedTokensPerRound(this.acceptance(), k) * stepMs) / this.minSpeedup - verify;
    return Math.min(this.measureWaitMs, Math.max(0, ms));
  }

  /** What a draft source is told for `round` (DraftRequest.budget). */
  budget(round: Pick<GovernorRound, 'waitMs'>): DraftBudget {
    return {
      waitMs: round.waitMs,
      acceptance: this.acceptance(),
      targetStepMs: this.targetStepMs()
    };
  }

  /**
   * Called before each round. `mode` 'on' always drafts (the best k ≥ 1); 'auto' drafts only while
   * the predicted speedup is ≥ minSpeedup and the realized speedup is not below the floor, with
   * periodic probes.
   */
  decide(options: { maxK: number; mode: 'auto' | 'on' }): GovernorRound {
    const maxK = Math.max(0, Math.floor(options.maxK));
    if (maxK === 0)
      return {
        k: 0,
        predictedSpeedup: 1,
        reason: 'no room for drafts', // not reported
        isProbe: false,
        waitMs: 0
      };
    // Drafting off and no probe can be due yet: the decision in force stands until
    // `probeEvery` plain tokens have passed. Only plain step times changed since it was made,
    // and rescanning every round cost about 0.08 ms on a loaded CPU (fits per round), a tenth
    // of a plain step of the small test models.
    const last = this.last;
    if (
      options.mode === 'auto' &&
      last?.k === 0 &&
      this.plainTokensSinceRound > 0 &&
      this.plainTokensSinceRound < this.probeEvery
    )
      return last;
    let bestK = maxK;
    let best: number | null = null;
    for (let k = 1; k <= maxK; k++) {
      const s = this.predict(k);
      if (s !== null && (best === null || s > best + 1e-9)) {
        best = s;
        bestK = k;
      }
    }
    if (best === null) {
      return this.remember({
        k: maxK,
        predictedSpeedup: 1,
        reason: `no measurements yet; drafting k=${maxK} to measure`,
        isProbe: true,
        waitMs: this.measureWaitMs
      });
    }
    const details = this.describe(bestK);
    const waitMs = this.breakEvenWaitMs(bestK);
    if (options.mode === 'on') {
      return this.remember({
        k: bestK,
        predictedSpeedup: best,
        reason: `speculation forced on; best k=${bestK} (${details})`,
        isProbe: false,
        waitMs
      });
    }
    const realized = this.realizedSpeedup();
    const realizedText = realized === null ? 'not measured yet' : realized.toFixed(2);
    const isBelowFloor = realized !== null && realized < this.floor;
    if (best >= this.minSpeedup && !isBelowFloor) {
      const explore = this.exploration(bestK, maxK);
      if (explore !== null) {
        return {
          k: explore,
          predictedSpeedup: best,
          reason: `exploring k=${explore} to refresh the cost fits (best k=${bestK})`,
          isProbe: true,
          waitMs: explore > 0 ? this.breakEvenWaitMs(explore) : 0
        };
      }
      return this.remember({
        k: bestK,
        predictedSpeedup: best,
        reason: `predicted speedup ${best.toFixed(2)} at k=${bestK} (${details}); realized ${realizedText}`,
        isProbe: false,
        waitMs
      });
    }
    if (this.isProbeDue(bestK)) {
      // A probe measures, so it gets the measuring budget: while drafting was off the source
      // saw no context, and a remote scout needs a round trip and a draft step to start a chain
      // at the new end. With the break-even budget (zero while drafting does not pay) a probe
      // would find nothing and acceptance would never be re-measured. Sources wait only as long
      // as a fresh chain is measured to take, and isProbeDue bounds how often this happens.
      return this.remember({
        k: bestK,
        predictedSpeedup: best,
        reason: `probe round at k=${bestK}; predicted speedup ${best.toFixed(2)}, realized ${realizedText} (${details})`,
        isProbe: true,
        waitMs: this.measureWaitMs
      });
    }
    return this.remember({
      k: 0,
      predictedSpeedup: best,
      reason: isBelowFloor
        ? `drafting off: realized speedup ${realizedText} < floor ${this.floor.toFixed(2)} over the last speculative rounds (${((1000 * this.realizedTokens) / this.realizedMs).toFixed(1)} tokens/s vs plain ${(1000 / this.targetStepMs()!).toFixed(1)} tokens/s), though predicted ${best.toFixed(2)} at k=${bestK} (${details})`
        : `drafting off: predicted speedup ${best.toFixed(2)} < ${this.minSpeedup} at best k=${bestK} (${details})`,
      isProbe: false,
      waitMs: 0
    });
  }

  /**
   * While drafting is off: after `probeEvery` plain tokens, and once the probe's predicted extra
   * cost over the plain step it replaces is within `probeShare` of the plain time since the
   * last speculative round.
   */
  private isProbeDue(k: number): boolean {
    if (this.plainTokensSinceRound < this.probeEvery) return false;
    const extraMs = (this.draftMs(k) ?? 0) + (this.verifyMs(k) ?? 0) - (this.targetStepMs() ?? 0);
    return Math.max(0, extraMs) <= this.probeShare * this.plainMsSinceRound;
  }

  /** Every `exploreEvery` rounds, a k other than the best: a plain step first, then others. */
  private exploration(bestK: number, maxK: number): number | null {
    if (this.exploreEvery <= 0 || ++this.roundsSinceExplore < this.exploreEvery) return null;
    this.roundsSinceExplore = 0;
    const plainSamples = this.verifySamples.filter((x) => x.k === 0).length;
    const candidates = [
      plainSamples < 3 ? 0 : -1,
      maxK,
      bestK + 1,
      bestK - 1,
      Math.ceil(bestK / 2)
    ];
    const valid = [...new Set(candidates)].filter((k) => k >= 0 && k <= maxK && k !== bestK);
    if (valid.length === 0) return null;
    return valid[this.explorations++ % valid.length];
  }

  private describe(k: number): string {
    return `acceptance ${this.acceptance().toFixed(2)}, step ${fmt(this.targetStepMs())} ms, verify(k) ${fmt(this.verifyMs(k))} ms, draft(k) ${fmt(this.draftMs(k))} ms`;
  }

  private remember(round: GovernorRound): GovernorRound {
    this.last = round;
    return round;
  }

  /** One speculative round's outcome as realized throughput evidence. */
  private addRealized(tokens: number, ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) return;
    this.realizedTokens = this.realizedTokens * this.realizedDecay + tokens;
    this.realizedMs = this.realizedMs * this.realizedDecay + ms;
    this.realizedRounds++;
  }

  /**
   * A plain decode step (batch of one) took `ms`. After an empty draft call it is the rest of
   * a round that asked for drafts and got none: one token for the wait plus the step.
   */
  recordPlainStep(ms: number): void {
    this.push(this.verifySamples, { k: 0, ms });
    if (this.pendingDraft?.isEmpty) this.addRealized(1, this.pendingDraft.ms + ms);
    this.pendingDraft = null;
    this.plainTokensSinceRound++;
    if (Number.isFinite(ms) && ms >= 0) this.plainMsSinceRound += ms;
    this.plainSteps++;
  }

  /** A draft call asked for k tokens and took `ms` (including network round trip and waiting). */
  recordDraft(k: number, ms: number): void {
    if (k > 0) this.push(this.draftSamples, { k, ms });
    this.pendingDraft = { ms, isEmpty: false };
  }

  /**
   * A verify pass of `drafted` drafts took `ms` and accepted `accepted` of them; with the draft
   * call recorded just before, the round's realized throughput.
   */
  recordVerify(drafted: number, ms: number, accepted: number): void {
    if (drafted <= 0) return;
    this.push(this.verifySamples, { k: drafted, ms });
    this.successes = this.successes * this.decay + accepted;
    this.failures = this.failures * this.decay + (accepted < drafted ? 1 : 0);
    this.addRealized(accepted + 1, (this.pendingDraft?.ms ?? 0) + ms);
    this.pendingDraft = null;
    this.plainTokensSinceRound = 0;
    this.plainMsSinceRound = 0;
    this.speculativeRounds++;
  }

  /** The source offered nothing (null or empty) for a round that asked for drafts. */
  recordEmptyDraft(ms: number, k: number): void {
    this.push(this.draftSamples, { k, ms });
    this.pendingDraft = { ms, isEmpty: true };
    this.plainTokensSinceRound = 0;
    this.plainMsSinceRound = 0;
  }

  private push(list: Sample[], sample: Sample): void {
    if (!Number.isFinite(sample.ms) || sample.ms < 0) return;
    this.costCache.clear();
    this.fitCache.clear();
    list.push(sample);
    // Keep the newest `window` samples of each draft length.
    let sameK = 0;
    for (const x of list) if (x.k === sample.k) sameK++;
    if (sameK > this.window)
      list.splice(
        list.findIndex((x) => x.k === sample.k),
        1
      );
  }

  /** The decision to report in GenerationStats. */
  decision(): GovernorDecision {
    const r = this.last;
    const realizedSpeedup = this.realizedSpeedup();
    if (!r)
      return {
        isSpeculating: false,
        predictedSpeedup: 1,
        realizedSpeedup,
        reason: 'no decision made'
      };
    return {
      isSpeculating: r.k > 0,
      predictedSpeedup: r.predictedSpeedup,
      realizedSpeedup,
      reason: r.reason
    };
  }

  snapshot(): GovernorSnapshot {
    return {
      acceptance: this.acceptance(),
      targetStepMs: this.targetStepMs(),
      verifyMs: (k) => this.verifyMs(k),
      draftMs: (k) => this.draftMs(k),
      plainSteps: this.plainSteps,
      speculativeRounds: this.speculativeRounds,
      realizedSpeedup: this.realizedSpeedup()
    };
  }
}

/** Creates a governor; the engine keeps one per draft source name so learning carries over. */
export function createSpeculationGovernor(options?: GovernorOptions): SpeculationGovernor {
  return new SpeculationGovernor(options);
}
