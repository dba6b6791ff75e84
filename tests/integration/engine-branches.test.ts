/**
 * Several drafts for the same position, verified in one batched pass on parallel sequences
 * (native-oracle/engine/branch-verify.ts), on the generated models with the real llama.cpp
 * (1 thread):
 * - a branch round on raw node-llama-cpp sequences costs ONE llama_decode for both paths, and
 *   the state copy (node-llama-cpp's internal `_copyStateFromOtherSequence`) leaves the main
 *   sequence able to continue exactly as plain decoding;
 * - through the engine, a draft source whose main draft is wrong at its second position and
 *   whose alternative is the target's own greedy continuation gives output identical to plain
 *   decoding, the alternative wins its rounds, and more tokens are accepted than with the main
 *   draft alone.
 */
import {
  getLlama,
  LlamaLogLevel,
  type Llama,
  type LlamaContext,
  type LlamaModel,
  type Token
} from 'node-llama-cpp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  copyLlamaSequenceState,
  runBranchRound,
  BranchPool
} from '../../native-oracle/engine/branch-verify.js';
import {
  createTargetEngine,
  type DraftSource,
  type GenerateOptions,
  type GenerationStats,
  type TargetEngine
} from '../../native-oracle/engine/index.js';
import type { VerifySequence } from '../../native-oracle/engine/speculative-round.js';
import { ensureTestModels } from '../helpers/models.js';

const PROMPT = 'the quick brown fox began to run across the field';
const MAX_TOKENS = 32;
const DRAFT_LENGTH = 4;

let engine: TargetEngine;
let llama: Llama;
let rawTarget: LlamaModel;
let targetPath: string;

async function run(
  options: GenerateOptions
): Promise<{ tokens: number[]; stats: GenerationStats }> {
  const tokens: number[] = [];
  for await (const event of engine.generate(options)) {
    if (event.type === 'tokens') tokens.push(...event.tokens);
    else return { tokens, stats: event.stats };
  }
  throw new Error('generation ended without a done event');
}

type Feedback = { accepted: number; drafted: number; branch?: number };

/**
 * Drafts from the known plain output: the main draft has its second token replaced by a wrong
 * one; with `hasAlternative`, the right continuation comes as an alternative. Off the plain
 * path (never expected) it drafts nothing.
 */
function splitSource(plain: readonly number[], hasAlternative: boolean, feedback: Feedback[]) {
  let promptLength: number | null = null;
  const source: DraftSource = {
    name: hasAlternative ? 'split-with-alternative' : 'split-main-only',
    async draft({ context, k }) {
      promptLength ??= context.length;
      const position = context.length - promptLength;
      if (context.slice(promptLength).some((t, i) => t !== plain[i])) return null;
      const right = plain.slice(position, position + k);
      if (right.length < 2) return { tokens: right };
      const wrong = [...right];
      wrong[1] = right[1] === 5 ? 6 : 5;
      return hasAlternative ? { tokens: wrong, alternatives: [right] } : { tokens: wrong };
    },
    onVerified: (result) => feedback.push(result)
  };
  return source;
}

beforeAll(async () => {
  const models = await ensureTestModels();
  targetPath = models.targetPath;
  engine = await createTargetEngine({
    modelPath: targetPath,
    threads: 1,
    contextSize: 512,
    maxConcurrent: 1
  });
  llama = await getLlama({
    gpu: false,
    build: 'never',
    maxThreads: 1,
    logLevel: LlamaLogLevel.error
  });
  rawTarget = await llama.loadModel({ modelPath: targetPath });
});

afterAll(async () => {
  await engine?.dispose();
  await rawTarget?.dispose();
  await llama?.dispose();
});

/**
 * Counts llama_decode calls on a raw context. Test-only instrumentation of node-llama-cpp's
 * internal native context object (`_ctx`): its methods cannot be reassigned, so it is wrapped.
 */
function countDecodes(context: LlamaContext): { decodes: number } {
  const counter = { decodes: 0 };
  const holder = context as unknown as { _ctx: Record<string | symbol, unknown> };
  const native = holder._ctx;
  holder._ctx = new Proxy(native, {
    get(target, key) {
      const value = target[key];
      if (typeof value !== 'function') return value;
      if (key === 'decodeBatch')
        return (...args: unknown[]) => {
          counter.decodes++;
          return value.apply(target, args);
        };
      return value.bind(target);
    }
  });
  return counter;
}

describe('branch round on raw llama.cpp sequences', () => {
  it('verifies the main draft and the alternative in one llama_decode and commits the plain greedy path', async () => {
    const context = await rawTarget.createContext({ contextSize: 256, sequences: 2, threads: 1 });
    try {
      const [main, spare] = [context.getSequence(), context.getSequence()];
      const prompt = rawTarget.tokenize(PROMPT, false) as Token[];
      // Plain greedy continuation, one token at a time, on the main sequence.
      const greedy = { generateNext: { token: true, options: { temperature: 0 } } } as const;
      const plain: number[] = [];
      let input: Token[] = prompt;
      for (let i = 0; i < 6; i++) {
        const out = await main.controlledEvaluate(
          input.map((t, j) => (j === input.length - 1 ? [t, greedy] : t))
        );
        plain.push(out.at(-1)!.next.token!);
        input = [plain.at(-1)! as Token];
      }
      await main.eraseContextTokenRanges([{ start: prompt.length - 1, end: main.nextTokenIndex }]);

      const counter = countDecodes(context);
      const state = { committed: [...prompt], nPast: prompt.length - 1 };
      const right = plain.slice(0, DRAFT_LENGTH);
      const wrong = [right[0], right[1] === 5 ? 6 : 5, right[2], right[3]];
      const lease = new BranchPool([spare as VerifySequence], copyLlamaSequenceState).tryTake()!;
      const round = await runBranchRound({
        sequence: main as VerifySequence,
        state,
        drafts: wrong,
        alternatives: [right],
        branches: lease
      });
      expect(counter.decodes).toBe(1);
      expect(round.branch).toBe(1);
      expect(round.accepted).toBeGreaterThanOrEqual(2);
      expect(state.committed.slice(prompt.length)).toEqual(plain.slice(0, round.accepted + 1));
      // The main sequence continues from the copied state as plain decoding does.
      const next = await main.controlledEvaluate([[state.committed.at(-1)! as Token, greedy]]);
      expect(next[0]!.next.token).toBe(plain[round.accepted + 1]);
    } finally {
      await context.dispose();
    }
  });
});

describe('branch round with nothing cached yet', () => {
  it('a one-token context: the branch starts empty and the round still commits the plain greedy path', async () => {
    const context = await rawTarget.createContext({ contextSize: 256, sequences: 2, threads: 1 });
    try {
      const [main, spare] = [context.getSequence(), context.getSequence()];
      const first = rawTarget.tokenize(PROMPT, false)[0];
      const greedy = { generateNext: { token: true, options: { temperature: 0 } } } as const;
      // The plain greedy token after `first`, then the branch leaves something in the spare.
      const plain = await main.controlledEvaluate([[first, greedy]]);
      const expected = plain[0]!.next.token!;
      await main.eraseContextTokenRanges([{ start: 0, end: main.nextTokenIndex }]);
      await spare.controlledEvaluate([first, first]);
      const state = { committed: [first as number], nPast: 0 };
      const lease = new BranchPool([spare as VerifySequence], copyLlamaSequenceState).tryTake()!;
      const round = await runBranchRound({
        sequence: main as VerifySequence,
        state,
        drafts: [expected === 5 ? 6 : 5],
        alternatives: [[expected]],
        branches: lease
      });
      expect(round.branch).toBe(1);
      expect(state.committed.slice(1, 2)).toEqual([expected]);
      expect(main.contextTokens).toEqual(state.committed.slice(0, -1));
    } finally {
      await context.dispose();
    }
  });
});

describe('engine with alternative drafts', () => {
  it('a wrong main draft and a right alternative: plain output, the alternative wins, more accepted', async () => {
    const plain = await run({ prompt: PROMPT, maxTokens: MAX_TOKENS, speculation: 'off' });
    expect(plain.tokens).toHaveLength(MAX_TOKENS);
    const common = {
      prompt: PROMPT,
      maxTokens: MAX_TOKENS,
      speculation: 'on',
      draftLength: DRAFT_LENGTH
    } as const;

    const mainFeedback: Feedback[] = [];
    const mainOnly = await run({
      ...common,
      draftSource: splitSource(plain.tokens, false, mainFeedback)
    });
    const branchFeedback: Feedback[] = [];
    const branched = await run({
      ...common,
      draftSource: splitSource(plain.tokens, true, branchFeedback)
    });

    expect(mainOnly.tokens).toEqual(plain.tokens);
    expect(branched.tokens).toEqual(plain.tokens);
    const wins = branchFeedback.filter((f) => f.branch === 1).length;
    console.info(
      `alternatives: ${wins}/${branchFeedback.length} rounds won by the alternative; accepted ` +
        `${branched.stats.accepted} in ${branched.stats.rounds} rounds vs ${mainOnly.stats.accepted} ` +
        `in ${mainOnly.stats.rounds} with the main draft alone`
    );
    expect(wins).toBeGreaterThan(0);
    expect(branched.stats.branchWins).toBe(wins);
    expect(branched.stats.branchRounds).toBeGreaterThanOrEqual(wins);
    expect(mainOnly.stats.branchRounds).toBeUndefined();
    expect(mainFeedback.some((f) => f.branch !== undefined)).toBe(false);
    expect(branched.stats.accepted).toBeGreaterThan(mainOnly.stats.accepted);
    expect(branched.stats.rounds).toBeLessThan(mainOnly.stats.rounds);
  });
});
