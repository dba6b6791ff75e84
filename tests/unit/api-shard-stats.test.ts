/**
 * The `shard` object of completions (native-oracle/api/generation.ts shardStats): the governor's
 * measured (realized) speedup and the branch counters reach the API in snake_case, JSON-safe, and
 * the result matches the published schema.
 */
import { describe, expect, it } from 'vitest';
import type { GenerationStats } from '../../native-oracle/engine/index.js';
import { shardStats } from '../../native-oracle/api/generation.js';
import { shardStatsSchema } from '../../native-oracle/api/openai-schema.js';

const base: GenerationStats = {
  mode: 'speculative',
  draftSource: 'scout:abcd1234',
  promptTokens: 9,
  completionTokens: 32,
  rounds: 10,
  drafted: 40,
  accepted: 22,
  acceptanceRate: 0.55,
  governor: {
    isSpeculating: false,
    predictedSpeedup: 1.2,
    realizedSpeedup: 0.81,
    reason: 'drafting off: realized speedup 0.81 < floor 0.97 ...'
  },
  durationMs: 1234
};

describe('shard stats in API responses', () => {
  it('carries the realized speedup and the branch counters in snake_case', () => {
    const out = shardStats({ ...base, branchRounds: 3, branchWins: 2 });
    expect(out.governor).toMatchObject({ predicted_speedup: 1.2, realized_speedup: 0.81 });
    expect(out).toMatchObject({ branch_rounds: 3, branch_wins: 2 });
    expect(shardStatsSchema.strict().safeParse(out).success).toBe(true);
  });

  it('omits the branch counters when no branch round ran, and never emits NaN or Infinity', () => {
    const out = shardStats({
      ...base,
      governor: { ...base.governor, predictedSpeedup: Infinity, realizedSpeedup: undefined }
    });
    expect(out).not.toHaveProperty('branch_rounds');
    expect(out.governor).toMatchObject({ predicted_speedup: null, realized_speedup: null });
    expect(JSON.parse(JSON.stringify(out))).toEqual(out);
    expect(shardStatsSchema.strict().safeParse(out).success).toBe(true);
  });
});
