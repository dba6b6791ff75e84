/**
 * Alternative drafts verified beside the main draft (native-oracle/engine/branch-verify.ts and
 * its use in ./speculative-decoding.ts) against in-memory sequences that behave like
 * node-llama-cpp's: the round commits the path the target accepts furthest (ties to the main
 * draft), its tokens are the target's own, and the MAIN sequence ends in the round invariant
 * whichever path won. A toy target (next token a fixed function of the previous one) stands in
 * for llama.cpp; no model loads.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  BranchPool,
  runBranchRound,
  type CopySequenceState
} from '../../native-oracle/engine/branch-verify.js';
import { GeneratedOutput, type DecodeRun } from '../../native-oracle/engine/decode-run.js';
import { EngineInvariantError } from '../../native-oracle/engine/errors.js';
import type { SpeculationGovernor } from '../../native-oracle/engine/governor.js';
import type { DraftSource } from '../../native-oracle/engine/index.js';
import { decodeSpeculative } from '../../native-oracle/engine/speculative-decoding.js';
import type { DecodeState, VerifySequence } from '../../native-oracle/engine/speculative-round.js';

const VOCAB = 11;
/** The toy target's greedy choice after `token`. */
const targetNext = (token: number) => (token * 7 + 3) % VOCAB;

type Item = number | [number, { generateNext?: { token?: boolean; logits?: boolean } }];

/** A KV cache as node-llama-cpp keeps it: evaluate appends, erase removes ranges. */
class FakeSequence {
  cache: number[] = [];
  evaluations = 0;
  get nextTokenIndex() {
    return this.cache.length;
  }
  get contextTokens() {
    return [...this.cache];
  }
  async controlledEvaluate(input: Item[]) {
    this.evaluations++;
    return input.map((item) => {
      const [token, options] = Array.isArray(item) ? item : [item, undefined];
      this.cache.push(token);
      const request = options?.generateNext;
      if (!request) return undefined;
      const next = targetNext(token);
      if (request.logits) {
        const logits = new Map(
          Array.from({ length: VOCAB }, (_, t) => [t, t === next ? 0 : -30] as [number, number])
        );
        return { next: { logits } };
      }
      return { next: { token: next } };
    });
  }
  async eraseContextTokenRanges(ranges: Array<{ start: number; end: number }>) {
    for (const { start, end } of [...ranges].sort((a, b) => b.start - a.start))
      this.cache.splice(start, end - start);
  }
  get v(): VerifySequence {
    return this as unknown as VerifySequence;
  }
}

/** llama_memory_seq_cp then a trim, as node-llama-cpp's internal copy does. */
const fakeCopy: CopySequenceState = async (to, from, upTo) => {
  (to as unknown as FakeSequence).cache = (from as unknown as FakeSequence).cache.slice(0, upTo);
};

/** The plain greedy continuation of `context`, `n` tokens. */
function plainGreedy(context: readonly number[], n: number): number[] {
  const out: number[] = [];
  let last = context[context.length - 1];
  for (let i = 0; i < n; i++) out.push((last = targetNext(last)));
  return out;
}

/** A main sequence holding `committed` but the last token, as after a round. */
function setUp(committed: number[]) {
  const main = new FakeSequence();
  main.cache = committed.slice(0, -1);
  const branch = new FakeSequence();
  const pool = new BranchPool([branch.v], fakeCopy);
  const state: DecodeState = { committed: [...committed], nPast: committed.length - 1 };
  return { main, branch, pool, state };
}

describe('branch round', () => {
  const committed = [1, 4, 9];
  const right = plainGreedy(committed, 4);

  it('commits the longer verified path: an alternative that is right where the main draft is wrong', async () => {
    const { main, branch, pool, state } = setUp(committed);
    const drafts = [right[0], (right[1] + 1) % VOCAB, right[2]];
    const lease = pool.tryTake()!;
    const result = await runBranchRound({
      sequence: main.v,
      state,
      drafts,
      alternatives: [right.slice(0, 3)],
      branches: lease
    });
    expect(result.branch).toBe(1);
    expect(result.accepted).toBe(3);
    expect(result.drafted).toBe(3);
    // The target's own tokens: identical to plain decoding.
    expect(state.committed).toEqual([...committed, ...right]);
    // The invariant on the main sequence: it holds the winning path, not its own drafts.
    expect(main.cache).toEqual(state.committed.slice(0, -1));
    expect(state.nPast).toBe(state.committed.length - 1);
    // Both paths were evaluated once each; the branch is emptied afterwards.
    expect([main.evaluations, branch.evaluations]).toEqual([1, 1]);
    expect(branch.cache).toEqual([]);
  });

  it('keeps the main path when the main draft goes further', async () => {
    const { main, pool, state } = setUp(committed);
    const result = await runBranchRound({
      sequence: main.v,
      state,
      drafts: right.slice(0, 3),
      alternatives: [[right[0], (right[1] + 1) % VOCAB]],
      branches: pool.tryTake()!
    });
    expect(result.branch).toBe(0);
    expect(result.accepted).toBe(3);
    expect(main.cache).toEqual(state.committed.slice(0, -1));
  });

  it('a tie goes to the main draft', async () => {
    const { main, pool, state } = setUp(committed);
    const wrong = (right[1] + 1) % VOCAB;
    const result = await runBranchRound({
      sequence: main.v,
      state,
      drafts: [right[0], wrong],
      alternatives: [[right[0], (wrong + 1) % VOCAB]],
      branches: pool.tryTake()!
    });
    expect(result.branch).toBe(0);
    expect(result.accepted).toBe(1);
  });

  it('a copy that leaves the main sequence without the winning path breaks the invariant loudly', async () => {
    const { main, pool, state } = setUp(committed);
    const brokenCopy: CopySequenceState = async (to, from, upTo) => {
      if (to === main.v) return; // the copy back never happens
      await fakeCopy(to, from, upTo);
    };
    const lease = { ...pool.tryTake()!, copy: brokenCopy };
    await expect(
      runBranchRound({
        sequence: main.v,
        state,
        drafts: [(right[0] + 1) % VOCAB],
        alternatives: [right.slice(0, 2)],
        branches: lease
      })
    ).rejects.toThrow(EngineInvariantError);
  });

  it('property: whatever the drafts, the committed tokens are plain greedy decoding and the invariant holds', async () => {
    const draft = fc.array(fc.integer({ min: 0, max: VOCAB - 1 }), { maxLength: 4 });
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: 0, max: VOCAB - 1 }), { minLength: 1, maxLength: 5 }),
        fc.array(fc.tuple(draft, draft), { minLength: 1, maxLength: 6 }),
        async (prompt, rounds) => {
          const { main, pool, state } = setUp(prompt);
          for (const [drafts, alternative] of rounds) {
            const lease = pool.tryTake()!;
            try {
              await runBranchRound({
                sequence: main.v,
                state,
                drafts,
                alternatives: alternative.length > 0 ? [alternative] : [],
                branches: lease
              });
            } finally {
              lease.release();
            }
            expect(main.cache).toEqual(state.committed.slice(0, -1));
          }
          const output = state.committed.slice(prompt.length);
          expect(output).toEqual(plainGreedy(prompt, output.length));
        }
      ),
      { seed: 7, numRuns: 200 }
    );
  });

  it('the branches serve one round at a time', () => {
    const pool = new BranchPool([new FakeSequence().v], fakeCopy);
    const first = pool.tryTake();
    expect(first).not.toBeNull();
    expect(pool.tryTake()).toBeNull();
    first!.release();
    first!.release();
    const second = pool.tryTake();
    expect(second).not.toBeNull();
    expect(pool.tryTake()).toBeNull();
  });
});

/**
 * A source with one right and one wrong draft (wrong at its second position): the wrong one is
 * the main draft and the right one the alternative, or the other way round with `isMainRight`.
 */
function splitSource(
  feedback: Array<{ accepted: number; drafted: number; branch?: number }>,
  isMainRight = false
) {
  const source: DraftSource = {
    name: 'split',
    async draft({ context, k }) {
      const right = plainGreedy(context, k);
      const wrong = [...right];
      if (k > 1) wrong[1] = (wrong[1] + 1) % VOCAB;
      return isMainRight
        ? { tokens: right, alternatives: [wrong] }
        : { tokens: wrong, alternatives: [right] };
    },
    onVerified: (result) => feedback.push(result)
  };
  return source;
}

const noGovernor = {
  recordDraft() {},
  recordEmptyDraft() {},
  recordVerify() {},
  recordPlainStep() {},
  decide: () => ({ k: 0 }),
  budget: () => ({ waitMs: 0, acceptance: 0.5, targetStepMs: null })
} as unknown as SpeculationGovernor;

/** Decodes `maxTokens` from `prompt` on fake sequences; returns the output and what happened. */
async function decode(options: {
  isSampling: boolean;
  pool: BranchPool | null;
  isMainRight?: boolean;
}) {
  const prompt = [2, 5, 8];
  const main = new FakeSequence();
  main.cache = prompt.slice(0, -1);
  const feedback: Array<{ accepted: number; drafted: number; branch?: number }> = [];
  const run = {
    sequence: main,
    model: { isEogToken: () => false },
    state: { committed: [...prompt], nPast: prompt.length - 1 },
    output: new GeneratedOutput((tokens) => tokens.join(' '), []),
    counters: { rounds: 0, drafted: 0, accepted: 0, speculativeRounds: 0 },
    maxTokens: 12,
    contextSize: 64,
    choice: options.isSampling
      ? {
          settings: {
            temperature: 1,
            topK: 0,
            topP: 1,
            minP: 0,
            presencePenalty: 0,
            frequencyPenalty: 0,
            logitBias: new Map(),
            seed: 3
          },
          promptLength: prompt.length,
          topLogprobs: null
        }
      : null,
    throwIfAborted() {}
  } as unknown as DecodeRun;
  const plan = {
    source: splitSource(feedback, options.isMainRight),
    governor: noGovernor,
    draftLength: 3,
    isForcedOn: true,
    signal: new AbortController().signal,
    vocabularySize: VOCAB,
    branches: options.pool
  };
  const generator = decodeSpeculative(run, plan);
  while (!(await generator.next()).done);
  return { output: run.output.tokens, feedback, counters: run.counters, prompt, main };
}

describe('decoding with alternatives', () => {
  it('greedy: the alternative wins its rounds, more tokens per round, same output', async () => {
    const branch = new FakeSequence();
    const withBranches = await decode({
      isSampling: false,
      pool: new BranchPool([branch.v], fakeCopy)
    });
    const without = await decode({ isSampling: false, pool: null });
    expect(withBranches.output).toEqual(plainGreedy(withBranches.prompt, 12));
    expect(without.output).toEqual(withBranches.output);
    expect(withBranches.feedback.every((f) => f.branch === 1)).toBe(true);
    expect(without.feedback.some((f) => f.branch !== undefined)).toBe(false);
    expect(withBranches.counters.rounds).toBeLessThan(without.counters.rounds);
    expect(withBranches.counters.accepted).toBeGreaterThan(without.counters.accepted);
    expect(branch.evaluations).toBe(withBranches.counters.rounds);
    expect(withBranches.counters.branchRounds).toBe(withBranches.counters.rounds);
    expect(withBranches.counters.branchWins).toBe(withBranches.counters.rounds);
    expect(without.counters.branchRounds).toBeUndefined();
  });

  it('a right main draft beside a wrong alternative: branch rounds, no branch wins', async () => {
    const pool = new BranchPool([new FakeSequence().v], fakeCopy);
    const result = await decode({ isSampling: false, pool, isMainRight: true });
    expect(result.output).toEqual(plainGreedy(result.prompt, 12));
    expect(result.counters.branchRounds).toBe(result.counters.rounds);
    expect(result.counters.branchWins ?? 0).toBe(0);
    expect(result.feedback.some((f) => f.branch !== undefined)).toBe(false);
  });

  it('sampling rounds drop the alternatives and verify the main draft alone', async () => {
    const branch = new FakeSequence();
    let takes = 0;
    const pool = new BranchPool([branch.v], fakeCopy);
    const take = pool.tryTake.bind(pool);
    pool.tryTake = () => {
      takes++;
      return take();
    };
    const sampled = await decode({ isSampling: true, pool });
    expect(takes).toBe(0);
    expect(branch.evaluations).toBe(0);
    expect(sampled.feedback.some((f) => f.branch !== undefined)).toBe(false);
    // The toy target puts all its mass on its greedy choice, so sampling decodes the same text.
    expect(sampled.output).toEqual(plainGreedy(sampled.prompt, 12));
  });
});
