/**
 * The token-choice transforms (native-oracle/engine/sampling.ts) on hand-made logits: logit
 * bias (ban and force), OpenAI presence/frequency penalties on output counts, top-k, top-p,
 * min-p in llama.cpp's order, temperature, greedy argmax, inverse-CDF sampling over token ids,
 * and the log-probability report. Pure; no model loads.
 */
import { describe, expect, it } from 'vitest';
import {
  chooseToken,
  countTokens,
  isPlainGreedy,
  positionDistribution,
  positionLogprobs,
  type TokenChoiceSettings
} from '../../native-oracle/engine/sampling.js';

const OFF: TokenChoiceSettings = {
  temperature: 0,
  topK: 0,
  topP: 1,
  minP: 0,
  presencePenalty: 0,
  frequencyPenalty: 0,
  logitBias: new Map(),
  seed: 1
};

/** Logits whose temperature-1 probabilities are 0.5, 0.25, 0.125, 0.125 for tokens 0..3. */
const LOGITS: Array<[number, number]> = [
  [3, Math.log(0.125)],
  [0, Math.log(0.5)],
  [2, Math.log(0.125)],
  [1, Math.log(0.25)]
];

const probs = (s: Partial<TokenChoiceSettings>, counts = new Map<number, number>()) => {
  const d = positionDistribution(LOGITS, counts, { ...OFF, ...s });
  return Object.fromEntries(d.tokens.map((t, i) => [t, Math.exp(d.logprobs[i])]));
};

describe('token choice transforms', () => {
  it('greedy: softmax at temperature 1, argmax chosen', () => {
    const p = probs({});
    expect(p[0]).toBeCloseTo(0.5, 12);
    expect(p[3]).toBeCloseTo(0.125, 12);
    expect(chooseToken(positionDistribution(LOGITS, new Map(), OFF), 0, 0.99)).toBe(0);
    expect(isPlainGreedy(OFF)).toBe(true);
    expect(isPlainGreedy({ ...OFF, logitBias: new Map([[1, 1]]) })).toBe(false);
  });

  it('logit bias: -100 bans, +100 forces, others shift the logit', () => {
    const banned = positionDistribution(LOGITS, new Map(), {
      ...OFF,
      logitBias: new Map([[0, -100]])
    });
    expect(banned.tokens).toEqual([1, 2, 3]);
    expect(chooseToken(banned, 0, 0)).toBe(1);
    const forced = positionDistribution(LOGITS, new Map(), {
      ...OFF,
      logitBias: new Map([[3, 100]])
    });
    expect(chooseToken(forced, 0, 0)).toBe(3);
    const shifted = probs({ logitBias: new Map([[1, Math.log(2)]]) }); // 0.25 -> 0.5 before renorm
    expect(shifted[1]).toBeCloseTo(shifted[0], 12);
  });

  it('penalties subtract presence * [count > 0] + frequency * count from output tokens only', () => {
    const counts = countTokens([0, 0, 2]);
    const d = positionDistribution(LOGITS, counts, {
      ...OFF,
      presencePenalty: 0.5,
      frequencyPenalty: 0.25
    });
    const logit = (t: number) => d.logprobs[d.tokens.indexOf(t)] - d.logprobs[d.tokens.indexOf(1)];
    expect(logit(0)).toBeCloseTo(Math.log(2) - 0.5 - 0.5, 12); // count 2
    expect(logit(2)).toBeCloseTo(Math.log(0.5) - 0.5 - 0.25, 12); // count 1
    expect(logit(3)).toBeCloseTo(Math.log(0.5), 12); // never output
  });

  it('top-k, top-p and min-p truncate (sampling only), then the temperature applies', () => {
    expect(Object.keys(probs({ temperature: 1, topK: 2 }))).toEqual(['0', '1']);
    expect(probs({ temperature: 1, topK: 2 })[0]).toBeCloseTo(2 / 3, 12);
    // top-p 0.7: 0.5 alone is short of 0.7, 0.5 + 0.25 reaches it.
    expect(Object.keys(probs({ temperature: 1, topP: 0.7 }))).toEqual(['0', '1']);
    expect(Object.keys(probs({ temperature: 1, topP: 0.5 }))).toEqual(['0']);
    // min-p 0.3: keeps p >= 0.15.
    expect(Object.keys(probs({ temperature: 1, minP: 0.3 }))).toEqual(['0', '1']);
    // temperature 2: p ∝ sqrt(p).
    const t2 = probs({ temperature: 2 });
    expect(t2[0] / t2[1]).toBeCloseTo(Math.SQRT2, 12);
    // Greedy ignores truncation.
    expect(Object.keys(probs({ topK: 1 }))).toHaveLength(4);
  });

  it('samples by inverse CDF over ascending token ids', () => {
    const d = positionDistribution(LOGITS, new Map(), { ...OFF, temperature: 1 });
    // Intervals: 0 [0, .5), 1 [.5, .75), 2 [.75, .875), 3 [.875, 1).
    expect([0.1, 0.6, 0.8, 0.9, 0.999999].map((u) => chooseToken(d, 1, u))).toEqual([
      0, 1, 2, 3, 3
    ]);
    expect(() => chooseToken({ tokens: [], logprobs: [] }, 1, 0.5)).toThrow(RangeError);
  });

  it('reports the chosen token and the top alternatives, most likely first', () => {
    const d = positionDistribution(LOGITS, new Map(), OFF);
    const report = positionLogprobs(d, 1, 3);
    expect(report.token).toBe(1);
    expect(report.logprob).toBeCloseTo(Math.log(0.25), 12);
    expect(report.top.map((t) => t.token)).toEqual([0, 1, 2]); // 2 and 3 tie: lower id first
    expect(positionLogprobs(d, 1, 0).top).toEqual([]);
  });
});
