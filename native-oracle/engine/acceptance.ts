/**
 * The acceptance rules of speculative decoding, framework-free (no Node, no llama.cpp) so they can
 * be property-tested and run anywhere (a browser can re-check what an oracle committed).
 *
 * - Greedy: keep the longest prefix of the drafts that equals the target's argmax at each
 *   position, then commit the target's argmax at the first mismatch (the correction) or after
 *   the last draft (the bonus token). Every round commits at least one token.
 * - Position-keyed (what the engine runs, greedy and sampled alike: `acceptPositionKeyed`): the
 *   target makes its own choice at each verified position (argmax, or a sample drawn with a
 *   uniform keyed by (seed, output position): ./sampling.ts), and a draft is accepted iff it
 *   equals that choice. Committed tokens are therefore exactly the tokens plain decoding with the
 *   same seed commits, whatever was drafted: each is a draw from the target's distribution at
 *   its position, conditioned on the committed prefix, so the output is distributed as the
 *   target's (for any draft, deterministic or sampled). The price: a sampled draft is accepted
 *   with probability P(draft == target's draw) instead of min(1, p/q); a draft source that
 *   samples with the same uniforms (`DraftSource.draft`'s `sampling.uniforms`) couples its draws
 *   to the target's and gets most of that back when its distribution is close to the target's.
 * - Sampling by modified rejection sampling (Leviathan, Kalman & Matias 2023, "Fast Inference
 *   from Transformers via Speculative Decoding", Algorithm 1): accept draft x with probability
 *   min(1, p(x)/q(x)); on rejection sample from norm(max(0, p − q)) and stop; if all drafts are
 *   accepted sample a bonus token from the next p. Exact whatever q is, but the committed token
 *   at a position depends on the draft and on how many uniforms earlier rounds used, so a seeded
 *   request gives different text with and without drafts. Kept as the reference rule (property
 *   and chi-square tests); the engine no longer uses it.
 */

/** A source of uniform numbers in [0, 1). */
export type Rng = () => number;

/** A sparse probability distribution: [tokenId, probability] pairs (or a Map of them). */
export type SparseDistribution =
  ReadonlyArray<readonly [number, number]> | ReadonlyMap<number, number>;

/** Thrown when the inputs break a stated precondition (lengths, probabilities). */
export class AcceptanceInputError extends Error {
  override name = 'AcceptanceInputError';
}

/** sfc32 seeded through splitmix32: small, fast, and identical on every JS engine. */
export function createSeededRng(seed: number): Rng {
  let s = seed >>> 0;
  const splitmix = () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
  let a = splitmix();
  let b = splitmix();
  let c = splitmix();
  let d = splitmix() | 1;
  return () => {
    const t = (((a + b) >>> 0) + d) >>> 0;
    d = (d + 1) >>> 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) >>> 0;
    c = ((c << 21) | (c >>> 11)) >>> 0;
    c = (c + t) >>> 0;
    return t / 4294967296;
  };
}

function entries(dist: SparseDistribution): Array<readonly [number, number]> {
  return dist instanceof Map
    ? [...dist.entries()]
    : [...(dist as ReadonlyArray<readonly [number, number]>)];
}

/** Probability of `token` under `dist` (0 when absent). */
function probabilityOf(dist: SparseDistribution, token: number): number {
  if (dist instanceof Map) return dist.get(token) ?? 0;
  for (const [t, p] of dist as ReadonlyArray<readonly [number, number]>) if (t === token) return p;
  return 0;
}

/**
 * Samples a token from a (not necessarily normalised) sparse distribution.
 * Throws AcceptanceInputError when the total mass is not positive.
 */
export function sampleFrom(dist: SparseDistribution, rng: Rng): number {
  const list = entries(dist);
  let total = 0;
  for (const [, p] of list) if (p > 0) total += p;
  if (!(total > 0))
    throw new AcceptanceInputError('cannot sample from a distribution with no mass');
  let u = rng() * total;
  let last = -1;
  for (const [t, p] of list) {
    if (p <= 0) continue;
    last = t;
    u -= p;
    if (u < 0) return t;
  }
  return last; // rounding: u landed on the total
}

/** norm(max(0, p − q)): where the target puts more mass than the draft. */
export function residualDistribution(
  p: SparseDistribution,
  q: SparseDistribution
): Array<[number, number]> {
  const qMap = q instanceof Map ? q : new Map(entries(q));
  const out: Array<[number, number]> = [];
  let total = 0;
  for (const [t, pt] of entries(p)) {
    const r = pt - (qMap.get(t) ?? 0);
    if (r > 0) {
      out.push([t, r]);
      total += r;
    }
  }
  if (!(total > 0)) return entries(p).map(([t, pt]) => [t, pt]); // p == q: any residual is p
  return out.map(([t, r]) => [t, r / total]);
}

export interface RoundOutcome {
  /** Number of drafts accepted (0..drafts.length). */
  accepted: number;
  /** Tokens to commit: the accepted drafts, then the correction or bonus token. Length accepted + 1. */
  tokens: number[];
}

/**
 * Greedy acceptance. `targetArgmax[i]` is the target's choice after the committed context plus
 * `drafts[0..i)`; it has one more entry than `drafts`.
 */
export function acceptGreedy(
  drafts: readonly number[],
  targetArgmax: readonly number[]
): RoundOutcome {
  if (targetArgmax.length !== drafts.length + 1) {
    throw new AcceptanceInputError(
      `need ${drafts.length + 1} target choices for ${drafts.length} drafts, got ${targetArgmax.length}`
    );
  }
  let accepted = 0;
  while (accepted < drafts.length && drafts[accepted] === targetArgmax[accepted]) accepted++;
  const tokens = [...drafts.slice(0, accepted), targetArgmax[accepted]];
  // Invariant: every committed token is the target's argmax at its position.
  return { accepted, tokens };
}

/**
 * The position-keyed rule: `targetChoice(j)` is the target's own token at the round's j-th
 * output position (after the committed context plus `drafts[0..j)`), called for j = 0, 1, ...
 * up to the first mismatch only (a choice may be costly: a distribution over the vocabulary).
 * Accepts drafts while they equal the target's choice, then commits the target's choice at the
 * first mismatch (the correction) or after the last draft (the bonus token).
 */
export function acceptPositionKeyed(
  drafts: readonly number[],
  targetChoice: (j: number) => number
): RoundOutcome {
  const tokens: number[] = [];
  for (let j = 0; j <= drafts.length; j++) {
    const choice = targetChoice(j);
    tokens.push(choice);
    // Invariant: every committed token is the target's choice at its position.
    if (j === drafts.length || drafts[j] !== choice) return { accepted: j, tokens };
  }
  throw new AcceptanceInputError('unreachable: the loop commits at j = drafts.length');
}

export interface SampledRoundInput {
  drafts: readonly number[];
  /**
   * The draft's distribution at each drafted position (what `drafts[i]` was sampled from). A
   * missing entry, or one that gives `drafts[i]` no mass, means "deterministic draft" (q = 1 for
   * the drafted token), which keeps the output exact (only acceptance is lower).
   */
  draftProbs?: ReadonlyArray<SparseDistribution | undefined>;
  /** The target's distribution at each position: drafts.length + 1 entries. */
  targetProbs: readonly SparseDistribution[];
  rng: Rng;
}

/** Modified rejection sampling over one round (Leviathan et al. 2023, Algorithm 1). */
export function acceptSampled(input: SampledRoundInput): RoundOutcome {
  const { drafts, targetProbs, rng } = input;
  if (targetProbs.length !== drafts.length + 1) {
    throw new AcceptanceInputError(
      `need ${drafts.length + 1} target distributions for ${drafts.length} drafts, got ${targetProbs.length}`
    );
  }
  const tokens: number[] = [];
  for (let i = 0; i < drafts.length; i++) {
    const x = drafts[i];
    const p = targetProbs[i];
    const given = input.draftProbs?.[i];
    const qx = given ? probabilityOf(given, x) : 0;
    const q: SparseDistribution = qx > 0 ? given! : [[x, 1]];
    const px = probabilityOf(p, x);
    // 1. Accept x with probability min(1, p(x)/q(x)).
    if (rng() < Math.min(1, px / (qx > 0 ? qx : 1))) {
      tokens.push(x);
      continue;
    }
    // 2. Rejected: sample the correction from norm(max(0, p − q)) and end the round.
    tokens.push(sampleFrom(residualDistribution(p, q), rng));
    return { accepted: i, tokens };
  }
  // 3. All drafts accepted: the bonus token comes from the target's next distribution.
  tokens.push(sampleFrom(targetProbs[drafts.length], rng));
  return { accepted: drafts.length, tokens };
}

/**
 * Expected tokens committed per verify round with per-token acceptance `a` and `k` drafts:
 * E = (1 − a^(k+1)) / (1 − a) (Leviathan et al. 2023, eq. 1); k + 1 when a = 1.
 */
export function expectedTokensPerRound(a: number, k: number): number {
  if (a >= 1) return k + 1;
  if (a <= 0) return 1;
  return (1 - Math.pow(a, k + 1)) / (1 - a);
}
