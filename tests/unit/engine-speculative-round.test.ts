/**
 * One speculative round (native-oracle/engine/speculative-round.ts) against an in-memory
 * sequence that behaves like node-llama-cpp's for the calls a round makes: the KV cache must end
 * every round holding exactly the committed tokens but the last, rejected drafts erased, and
 * every round must commit at least one token that is the target's own choice. A toy target
 * (next token is a fixed function of the previous one) stands in for llama.cpp; no model loads.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EngineInvariantError } from '../../native-oracle/engine/errors.js';
import type { TokenChoiceSettings } from '../../native-oracle/engine/sampling.js';
import {
  runSpeculativeRound,
  type DecodeState,
  type VerifySequence
} from '../../native-oracle/engine/speculative-round.js';

const VOCAB = 11;
/** The toy target's greedy choice after `token`. */
const targetNext = (token: number) => (token * 7 + 3) % VOCAB;

type GenerateNext = { token?: boolean; probabilities?: boolean; logits?: boolean };
type Item = number | [number, { generateNext?: GenerateNext }];

/** A KV cache as node-llama-cpp keeps it: evaluate appends, erase removes ranges. */
class FakeSequence {
  readonly cache: number[] = [];
  constructor(private readonly isEraseBroken = false) {}
  get nextTokenIndex() {
    return this.cache.length;
  }
  get contextTokens() {
    return [...this.cache];
  }
  async controlledEvaluate(input: Item[]) {
    return input.map((item) => {
      const [token, options] = Array.isArray(item) ? item : [item, undefined];
      this.cache.push(token);
      const request = options?.generateNext;
      if (!request) return undefined;
      const next = targetNext(token);
      // Sampling: the toy target puts 0.9 on its greedy choice and 0.1 on the token after it
      // (raw logits: log-probabilities, every other token about e^-30 times less likely).
      const probabilities = new Map([
        [next, 0.9],
        [(next + 1) % VOCAB, 0.1]
      ]);
      const logits = new Map(
        Array.from({ length: VOCAB }, (_, t) => [t, Math.log(probabilities.get(t) ?? 1e-13)])
      );
      if (request.logits) return { next: { logits } };
      return { next: request.probabilities ? { probabilities } : { token: next } };
    });
  }
  async eraseContextTokenRanges(ranges: Array<{ start: number; end: number }>) {
    if (this.isEraseBroken) return;
    for (const { start, end } of [...ranges].sort((a, b) => b.start - a.start))
      this.cache.splice(start, end - start);
  }
  asVerifySequence(): VerifySequence {
    return this as unknown as VerifySequence;
  }
}

/** The plain greedy continuation of `context`, `n` tokens. */
function plainGreedy(context: readonly number[], n: number): number[] {
  const out: number[] = [];
  let last = context[context.length - 1];
  for (let i = 0; i < n; i++) out.push((last = targetNext(last)));
  return out;
}

/** Settings of a sampling round at temperature 1, no transforms. */
function sampledSettings(seed: number): TokenChoiceSettings {
  return {
    temperature: 1,
    topK: 0,
    topP: 1,
    minP: 0,
    presencePenalty: 0,
    frequencyPenalty: 0,
    logitBias: new Map(),
    seed
  };
}

function freshState(prompt: number[]): { sequence: FakeSequence; state: DecodeState } {
  return { sequence: new FakeSequence(), state: { committed: [...prompt], nPast: 0 } };
}

describe('speculative round: KV cache and commits', () => {
  it('prefills the prompt, erases rejected drafts and keeps the correction pending', async () => {
    const prompt = [1, 2, 3];
    const { sequence, state } = freshState(prompt);
    const right = plainGreedy(prompt, 2);
    const drafts = [right[0], (right[1] + 1) % VOCAB, 5, 6]; // second draft wrong
    const round = await runSpeculativeRound({
      sequence: sequence.asVerifySequence(),
      state,
      drafts,
      choice: null
    });
    expect(round.accepted).toBe(1);
    expect(round.tokens).toEqual(right); // the accepted draft, then the target's correction
    expect(round.pendingCount).toBe(prompt.length);
    expect(state.committed).toEqual([...prompt, ...right]);
    // The cache holds the committed tokens but the last; the three rejected drafts are gone.
    expect(sequence.contextTokens).toEqual(state.committed.slice(0, -1));
    expect(state.nPast).toBe(state.committed.length - 1);
  });

  it('a round with no drafts commits exactly the target token (plain step)', async () => {
    const { sequence, state } = freshState([4]);
    const round = await runSpeculativeRound({
      sequence: sequence.asVerifySequence(),
      state,
      drafts: [],
      choice: null
    });
    expect(round).toMatchObject({ accepted: 0, tokens: [targetNext(4)] });
    expect(sequence.contextTokens).toEqual([4]);
  });

  it('any rounds of any drafts give the plain greedy output, with the invariant after each (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: 0, max: VOCAB - 1 }), { minLength: 1, maxLength: 6 }),
        fc.array(
          fc.record({
            correct: fc.integer({ min: 0, max: 6 }),
            tail: fc.array(fc.integer({ min: 0, max: VOCAB - 1 }), { maxLength: 4 })
          }),
          { minLength: 1, maxLength: 12 }
        ),
        async (prompt, rounds) => {
          const { sequence, state } = freshState(prompt);
          for (const { correct, tail } of rounds) {
            const before = state.committed.length;
            const drafts = [...plainGreedy(state.committed, correct), ...tail];
            const round = await runSpeculativeRound({
              sequence: sequence.asVerifySequence(),
              state,
              drafts,
              choice: null
            });
            expect(round.tokens.length).toBeGreaterThanOrEqual(1);
            expect(round.accepted).toBeGreaterThanOrEqual(correct);
            expect(state.committed.length).toBe(before + round.accepted + 1);
            expect(sequence.contextTokens).toEqual(state.committed.slice(0, -1));
          }
          const output = state.committed.slice(prompt.length);
          expect(output).toEqual(plainGreedy(prompt, output.length));
        }
      ),
      { numRuns: 300 }
    );
  });

  it('sampling rounds keep the same cache invariant', async () => {
    const { sequence, state } = freshState([2, 9]);
    for (let i = 0; i < 40; i++) {
      const last = state.committed[state.committed.length - 1];
      const drafts = [targetNext(last), (last + 2) % VOCAB, 1];
      const round = await runSpeculativeRound({
        sequence: sequence.asVerifySequence(),
        state,
        drafts,
        choice: { settings: sampledSettings(11), promptLength: 2, topLogprobs: null }
      });
      expect(round.tokens).toHaveLength(round.accepted + 1);
      expect(sequence.contextTokens).toEqual(state.committed.slice(0, -1));
    }
  });

  it('penalties count the drafts accepted earlier in the same round: speculative equals plain (property)', async () => {
    const penalised = (seed: number): TokenChoiceSettings => ({
      ...sampledSettings(seed),
      temperature: 0,
      presencePenalty: 3, // exceeds the toy target's log(0.9) - log(0.1): a repeat flips the choice
      frequencyPenalty: 0.5
    });
    const decode = async (prompt: number[], drafting: (output: number[]) => number[]) => {
      const { sequence, state } = freshState(prompt);
      const choice = { settings: penalised(1), promptLength: prompt.length, topLogprobs: null };
      while (state.committed.length < prompt.length + 24) {
        const drafts = drafting(state.committed.slice(prompt.length));
        await runSpeculativeRound({ sequence: sequence.asVerifySequence(), state, drafts, choice });
      }
      return state.committed.slice(prompt.length, prompt.length + 24);
    };
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: 0, max: VOCAB - 1 }), { minLength: 1, maxLength: 4 }),
        fc.integer({ min: 1, max: 6 }),
        async (prompt, k) => {
          const plain = await decode(prompt, () => []);
          // Perfect drafts: the plain output's next k tokens, so whole rounds are accepted.
          const spec = await decode(prompt, (output) =>
            plain.slice(output.length, output.length + k)
          );
          expect(spec).toEqual(plain);
        }
      ),
      { numRuns: 100 }
    );
  });

  it('a cache that keeps rejected drafts stops the round with EngineInvariantError', async () => {
    const sequence = new FakeSequence(true);
    const state: DecodeState = { committed: [1, 2], nPast: 0 };
    const wrong = (targetNext(2) + 1) % VOCAB;
    await expect(
      runSpeculativeRound({
        sequence: sequence.asVerifySequence(),
        state,
        drafts: [wrong, 3],
        choice: null
      })
    ).rejects.toThrow(EngineInvariantError);
  });

  it('refuses to start where the cache does not end at nPast', async () => {
    const { sequence, state } = freshState([1, 2, 3]);
    state.nPast = 1; // the cache is empty, so the batch would land at the wrong positions
    await expect(
      runSpeculativeRound({
        sequence: sequence.asVerifySequence(),
        state,
        drafts: [],
        choice: null
      })
    ).rejects.toThrow(/must start at nPast 1/);
  });
});
