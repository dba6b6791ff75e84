/**
 * The generated target/draft pair loaded by the real llama.cpp (node-llama-cpp, 1 thread): the
 * tokenizer round-trips text, the chat template is used, generation is varied, llama.cpp's greedy
 * continuations equal the TypeScript reference's (a divergence is allowed only at a reported
 * near-tie), and the pair's greedy acceptance matches the manifest.
 */
import {
  getLlama,
  LlamaChatSession,
  type Llama,
  type LlamaContext,
  type LlamaContextSequence,
  type LlamaModel,
  type Token
} from 'node-llama-cpp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureTestModels, type PairManifest } from '../helpers/models.js';

/** |llama.cpp acceptance − reference acceptance| must stay below this (same prompts, same paths). */
const ACCEPTANCE_TOLERANCE = 0.05;
/** A greedy divergence from the reference is only acceptable where the top-2 gap is below this. */
const NEAR_TIE_GAP = 0.05;

let llama: Llama;
let target: LlamaModel;
let draft: LlamaModel;
let targetContext: LlamaContext;
let draftContext: LlamaContext;
let targetSequence: LlamaContextSequence;
let draftSequence: LlamaContextSequence;
/** Manifest token ids are plain numbers; node-llama-cpp brands its token type. */
const asTokens = (ids: readonly number[]) => ids as unknown as Token[];
let manifest: PairManifest;

beforeAll(async () => {
  const models = await ensureTestModels();
  manifest = models.manifest;
  llama = await getLlama({ gpu: false, maxThreads: 1, logLevel: 'error' as never, build: 'never' });
  target = await llama.loadModel({ modelPath: models.targetPath });
  draft = await llama.loadModel({ modelPath: models.draftPath });
  targetContext = await target.createContext({ contextSize: 512, threads: 1, sequences: 1 });
  draftContext = await draft.createContext({ contextSize: 512, threads: 1, sequences: 1 });
  targetSequence = targetContext.getSequence();
  draftSequence = draftContext.getSequence();
});

afterAll(async () => {
  await targetContext?.dispose();
  await draftContext?.dispose();
  await target?.dispose();
  await draft?.dispose();
  await llama?.dispose();
});

describe('generated models (llama.cpp)', () => {
  it('round-trips ASCII and UTF-8 text through the shared tokenizer', () => {
    const texts = [
      'the quick brown fox jumps over the lazy dog',
      'Hello, World! It said: "42 apples" (and 7 pears).\nA new line\ttab; x=y+1 & z<w?',
      'café naïve Ünïcode — “quotes” 東京 🙂'
    ];
    for (const text of texts) {
      const tokens = target.tokenize(text);
      expect(target.detokenize(tokens)).toBe(text);
      expect(draft.tokenize(text)).toEqual(tokens);
    }
    // Common words are single tokens: the vocabulary holds real English words.
    expect(target.tokenize('the quick brown fox').length).toBe(4);
    expect(target.fileInfo.metadata.tokenizer.ggml.tokens.length).toBe(manifest.vocabSize);
  });

  it("renders chats with the model's own template (ChatML special tokens)", async () => {
    const imStart = target.tokenize('<|im_start|>', true);
    expect(imStart).toHaveLength(1);
    const context = await target.createContext({ contextSize: 256, threads: 1, sequences: 1 });
    try {
      const session = new LlamaChatSession({ contextSequence: context.getSequence() });
      expect(session.chatWrapper.wrapperName).toBe('ChatML');
      const answer = await session.prompt('hello there', { maxTokens: 12, temperature: 0 });
      expect(answer.trim().length).toBeGreaterThan(0);
    } finally {
      await context.dispose();
    }
  });

  it('generates varied output and never emits control or byte tokens', async () => {
    await targetSequence.clearHistory();
    const out: Token[] = [];
    for await (const token of targetSequence.evaluate(
      target.tokenize('the children walk to school'),
      { temperature: 0 }
    )) {
      out.push(token);
      if (out.length >= 48) break;
    }
    expect(new Set(out).size).toBeGreaterThan(out.length * 0.6);
    for (const token of out) expect(target.getTokenAttributes(token).control).toBe(false);
    // No C0 control bytes (other than tab/newline) and no lone high bytes in the text.
    const text = target.detokenize(out);
    expect(
      [...text].some(
        (c) => c.charCodeAt(0) < 9 || (c.charCodeAt(0) >= 0x80 && c.charCodeAt(0) <= 0xff)
      )
    ).toBe(false);
  });

  it('greedy continuations equal the TypeScript reference, diverging only at reported near-ties', async () => {
    const expected = manifest.expected!;
    const divergences: Array<{ prompt: number; position: number; referenceGap: number }> = [];
    for (let p = 0; p < manifest.measurementPrompts.length; p++) {
      const got = await greedyWithGaps(
        targetSequence,
        manifest.measurementPrompts[p],
        expected.continuations[p].length
      );
      const reference = expected.continuations[p];
      const position = got.tokens.findIndex((t, i) => t !== reference[i]);
      if (position >= 0)
        divergences.push({ prompt: p, position, referenceGap: expected.gaps[p][position] });
    }
    if (divergences.length > 0)
      console.info('greedy divergences from the reference (near-ties):', divergences);
    for (const d of divergences) expect(d.referenceGap).toBeLessThan(NEAR_TIE_GAP);
    expect(divergences.length).toBeLessThanOrEqual(1);
  });

  it('measured greedy acceptance of the pair matches the manifest', async () => {
    const expected = manifest.expected!;
    let agree = 0;
    let positions = 0;
    for (let p = 0; p < manifest.measurementPrompts.length; p++) {
      const prompt = manifest.measurementPrompts[p];
      const { tokens } = await greedyWithGaps(
        targetSequence,
        prompt,
        expected.continuations[p].length
      );
      // The draft's argmax at each position of the target's path, in one batched evaluation.
      await draftSequence.clearHistory();
      const input = asTokens([...prompt, ...tokens.slice(0, -1)]);
      const results = await draftSequence.controlledEvaluate(
        input.map((t, i) =>
          i >= prompt.length - 1
            ? [t, { generateNext: { token: true, options: { temperature: 0 } } }]
            : t
        )
      );
      for (let i = 0; i < tokens.length; i++) {
        if (results[prompt.length - 1 + i]?.next.token === tokens[i]) agree++;
        positions++;
      }
    }
    const acceptance = agree / positions;
    console.info(
      `greedy acceptance: llama.cpp ${acceptance.toFixed(3)} vs manifest ${expected.acceptance.toFixed(3)} over ${positions} positions`
    );
    expect(positions).toBe(expected.positions);
    expect(Math.abs(acceptance - expected.acceptance)).toBeLessThan(ACCEPTANCE_TOLERANCE);
    expect(acceptance).toBeGreaterThan(0.6);
    expect(acceptance).toBeLessThan(0.95);
  });
});

/** Plain one-token-at-a-time greedy decoding with the top-2 logit gap at each position. */
async function greedyWithGaps(
  sequence: LlamaContextSequence,
  prompt: number[],
  count: number
): Promise<{ tokens: number[]; gaps: number[] }> {
  await sequence.clearHistory();
  {
    const tokens: number[] = [];
    const gaps: number[] = [];
    let input = asTokens(prompt);
    for (let i = 0; i < count; i++) {
      const results = await sequence.controlledEvaluate(
        input.map((t, j) =>
          j === input.length - 1
            ? [
                t,
                {
                  generateNext: {
                    token: true,
                    logits: { filter: { tokens: [], includeTop: 2 } },
                    options: { temperature: 0 }
                  }
                }
              ]
            : t
        )
      );
      const next = results[input.length - 1]!.next;
      const top = [...(next.logits ?? new Map()).values()];
      tokens.push(next.token!);
      gaps.push(top.length >= 2 ? top[0] - top[1] : Infinity);
      input = [next.token!];
    }
    return { tokens, gaps };
  }
}
