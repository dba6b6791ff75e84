/**
 * How the target chooses a token at one output position, framework-free (no Node, no llama.cpp)
 * so the rule can be unit-tested and re-run anywhere. Used by every verify round (plain decode
 * steps are rounds without drafts), so plain and speculative decoding choose identically.
 *
 * 1. Adjust the raw logits (OpenAI semantics): add `logitBias[t]` (a bias of -100 or less bans
 *    the token outright), subtract `presencePenalty * [count_t > 0] + frequencyPenalty * count_t`
 *    where count_t is how often t already appears in the OUTPUT (never the prompt).
 * 2. Greedy (temperature 0): the argmax of the adjusted logits (lowest id on an exact tie, as
 *    llama.cpp's greedy sampler). Sampling: truncate in llama.cpp's sampler-chain order, top-k,
 *    then top-p, then min-p (each on the temperature-1 distribution), then divide by the
 *    temperature and sample by inverse CDF over token ids with the position's uniform.
 * 3. The position's uniform comes from (seed, output position) only, through a counter-based
 *    hash (splitmix64), so the token committed at position i never depends on what was drafted
 *    or on how many rounds came before: seeded requests are reproducible in every speculation
 *    mode. The CDF runs in token-id order (not probability order), so a near-tie between two
 *    tokens' probabilities cannot swap their intervals between a one-token and a batched
 *    evaluation (llama.cpp CPU logits drift slightly between them; FIELD-NOTES).
 *
 * Log-probabilities are reported from the distribution the token was chosen from: the final
 * (truncated, tempered) one when sampling, the adjusted logits' softmax at temperature 1 when
 * greedy (a temperature-0 distribution would be one-hot).
 */

/** logit_bias at or below this bans a token (OpenAI: "-100 should result in a ban"). */
export const BAN_LOGIT_BIAS = -100;

/** The request's settings for choosing a token; all transforms default to "off". */
export interface TokenChoiceSettings {
  /** 0 = greedy. */
  temperature: number;
  /** 0 = no top-k truncation. */
  topK: number;
  /** 1 = no nucleus truncation. */
  topP: number;
  /** 0 = no min-p floor. */
  minP: number;
  presencePenalty: number;
  frequencyPenalty: number;
  /** token id -> bias added to its logit. */
  logitBias: ReadonlyMap<number, number>;
  /** Seed of the position-keyed uniforms (sampling only). */
  seed: number;
}

/** One alternative in a log-probability report. */
export interface TokenLogprob {
  token: number;
  /** Natural log of the token's probability. */
  logprob: number;
}

/** A position's log-probability report: the chosen token and the top alternatives. */
export interface TokenLogprobs extends TokenLogprob {
  /** The most likely tokens, most likely first (topLogprobs of them; fewer if fewer remain). */
  top: TokenLogprob[];
}

/** The distribution a token is chosen from, over the tokens that survived truncation. */
export interface PositionDistribution {
  /** Surviving token ids, ascending. */
  tokens: number[];
  /** Natural-log probabilities of `tokens` (they sum to 1 in probability). */
  logprobs: number[];
}

const U64 = (x: bigint) => BigInt.asUintN(64, x);
const GOLDEN_GAMMA = 0x9e3779b97f4a7c15n;

/** splitmix64's output function (Steele, Lea & Flood 2014): a bijective 64-bit mixer. */
function splitmix64(x: bigint): bigint {
  let z = U64(x + GOLDEN_GAMMA);
  z = U64((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n);
  z = U64((z ^ (z >> 27n)) * 0x94d049bb133111ebn);
  return z ^ (z >> 31n);
}

/**
 * The uniform in [0, 1) used at output position `position` of a request seeded with `seed`
 * (`stream` separates independent uses at one position, e.g. a draft source's own seed). Pure:
 * depends on its arguments only.
 */
export function positionUniform(seed: number, position: number, stream = 0): number {
  const key = splitmix64(U64(BigInt(Math.trunc(seed))) ^ (BigInt(stream) << 48n));
  const bits = splitmix64(U64(key + BigInt(position) * GOLDEN_GAMMA));
  return Number(bits >> 11n) / 2 ** 53; // the top 53 bits: every double in [0, 1) this way is exact
}

/** True when the settings change nothing about plain greedy argmax decoding. */
export function isPlainGreedy(s: TokenChoiceSettings): boolean {
  return (
    s.temperature === 0 &&
    s.presencePenalty === 0 &&
    s.frequencyPenalty === 0 &&
    s.logitBias.size === 0
  );
}

/** Step 1: the adjusted logits, ascending token ids; banned tokens are left out. */
function adjustLogits(
  raw: Iterable<readonly [number, number]>,
  counts: ReadonlyMap<number, number>,
  s: TokenChoiceSettings
): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (const [token, logit] of raw) {
    const bias = s.logitBias.get(token) ?? 0;
    if (bias <= BAN_LOGIT_BIAS) continue;
    const count = counts.get(token) ?? 0;
    const penalty = count > 0 ? s.presencePenalty + s.frequencyPenalty * count : 0;
    out.push([token, logit + bias - penalty]);
  }
  return out.sort((a, b) => a[0] - b[0]);
}

/** log(sum(exp(x))) without overflow. */
function logSumExp(values: readonly number[]): number {
  let max = -Infinity;
  for (const v of values) if (v > max) max = v;
  if (max === -Infinity) return -Infinity;
  let sum = 0;
  for (const v of values) sum += Math.exp(v - max);
  return max + Math.log(sum);
}

/** Step 2 (sampling): top-k, top-p, min-p on the temperature-1 distribution, in that order. */
function truncate(
  adjusted: Array<[number, number]>,
  s: TokenChoiceSettings
): Array<[number, number]> {
  let kept = adjusted;
  if (s.topK > 0 && s.topK < kept.length) {
    const byLogit = [...kept].sort((a, b) => b[1] - a[1] || a[0] - b[0]);
    kept = byLogit.slice(0, s.topK);
  }
  if (s.topP < 1) {
    const byLogit = [...kept].sort((a, b) => b[1] - a[1] || a[0] - b[0]);
    const norm = logSumExp(byLogit.map(([, l]) => l));
    let mass = 0;
    let n = 0;
    // The smallest prefix whose mass reaches topP (at least one token, like llama.cpp).
    while (n < byLogit.length && (n === 0 || mass < s.topP))
      mass += Math.exp(byLogit[n++][1] - norm);
    kept = byLogit.slice(0, n);
  }
  if (s.minP > 0) {
    let max = -Infinity;
    for (const [, l] of kept) if (l > max) max = l;
    const floor = max + Math.log(s.minP); // p >= minP * pMax  <=>  l >= lMax + log(minP)
    kept = kept.filter(([, l]) => l >= floor);
  }
  return kept.sort((a, b) => a[0] - b[0]);
}

/**
 * The distribution at one position: `raw` are the target's raw logits there (token -> logit,
 * the whole vocabulary), `counts` how often each token already appears in the output before
 * this position. Greedy settings give the temperature-1 softmax of the adjusted logits.
 */
export function positionDistribution(
  raw: Iterable<readonly [number, number]>,
  counts: ReadonlyMap<number, number>,
  s: TokenChoiceSettings
): PositionDistribution {
  const adjusted = adjustLogits(raw, counts, s);
  const kept = s.temperature > 0 ? truncate(adjusted, s) : adjusted;
  const scale = s.temperature > 0 ? 1 / s.temperature : 1;
  const scaled = kept.map(([, l]) => l * scale);
  const norm = logSumExp(scaled);
  return { tokens: kept.map(([t]) => t), logprobs: scaled.map((l) => l - norm) };
}

/**
 * The target's token at a position: the argmax (greedy) or the inverse-CDF sample with the
 * position's uniform `u` over ascending token ids. Throws RangeError on an empty distribution
 * (every token banned).
 */
export function chooseToken(dist: PositionDistribution, temperature: number, u: number): number {
  if (dist.tokens.length === 0) throw new RangeError('every token is banned at this position');
  if (temperature === 0) {
    let best = 0;
    for (let i = 1; i < dist.tokens.length; i++)
      if (dist.logprobs[i] > dist.logprobs[best]) best = i;
    return dist.tokens[best];
  }
  let rest = u;
  for (let i = 0; i < dist.tokens.length; i++) {
    rest -= Math.exp(dist.logprobs[i]);
    if (rest < 0) return dist.tokens[i];
  }
  return dist.tokens[dist.tokens.length - 1]; // rounding: u landed on the total
}

/** The log-probability report of `token` at a position, with `topN` alternatives. */
export function positionLogprobs(
  dist: PositionDistribution,
  token: number,
  topN: number
): TokenLogprobs {
  const at = dist.tokens.indexOf(token);
  const top: TokenLogprob[] = [];
  if (topN > 0) {
    const order = dist.tokens.map((_, i) => i);
    order.sort((a, b) => dist.logprobs[b] - dist.logprobs[a] || dist.tokens[a] - dist.tokens[b]);
    for (const i of order.slice(0, topN))
      top.push({ token: dist.tokens[i], logprob: dist.logprobs[i] });
  }
  return { token, logprob: at >= 0 ? dist.logprobs[at] : -Infinity, top };
}

/** How often each token appears in `tokens` (the output so far, for the penalties). */
export function countTokens(tokens: Iterable<number>): Map<number, number> {
  const counts = new Map<number, number>();
  for (const t of tokens) counts.set(t, (counts.get(t) ?? 0) + 1);
  return counts;
}
