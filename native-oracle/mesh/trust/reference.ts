/**
 * The reference for golden tickets: the draft model the oracle serves at /models/draft.gguf,
 * run locally on one thread. It makes a ticket (a context that reads like a real prompt, and
 * the reference's greedy chain after it with its top probabilities at every position) in one
 * pass over one llama.cpp sequence:
 *
 *  1. Pick a corpus sentence and cut a random span of it; half the tickets wrap it in the
 *     model's chat turn markers, as chat requests are.
 *  2. Evaluate it and sample a random number of tokens from the model's own distribution
 *     (seeded per ticket), so the context is not a string a scout could look up.
 *  3. Continue greedily for `length` tokens, recording the top `REFERENCE_TOP_N` probabilities
 *     at each position: the reference the scout's drafts are scored against.
 *
 * Node-only. The model loads on first use (`prepare()`); `dispose()` frees it.
 */
import type { LlamaContextSequence, LlamaModel, Token } from 'node-llama-cpp';
import { loadModel, type LoadedModel } from '../../engine/load-model.js';
import { tokenizerFingerprint } from '../../../src/lib/protocol/mesh.js';
import { TICKET_CORPUS } from './corpus.js';
import type { ReferenceStep } from './scoring.js';

/** Probabilities kept per reference position (the near-tie rule looks at the top 4). */
const REFERENCE_TOP_N = 8;
/** Tokens the reference model samples after the corpus span (0..this). */
const MAX_SAMPLED_TOKENS = 24;
/** Words of a corpus sentence a ticket keeps (at least MIN, at most the sentence). */
const MIN_SPAN_WORDS = 5;
/** Context of the reference model: ticket contexts are short (under 200 tokens). */
const REFERENCE_CONTEXT_TOKENS = 1024;

export interface GoldenTicket {
  /** What the scout is told as the committed context. */
  context: number[];
  /** The reference's greedy chain after `context`, with its probabilities. */
  reference: ReferenceStep[];
  /**
   * The honest drafts at a committed context (`want` steps), when they are not the reference
   * chain itself: a prompt-lookup scout's (`prompt-lookup-ticket.ts`). Default: the reference
   * chain's steps at the same positions.
   */
  expected?(context: readonly number[], want: number): ReferenceStep[];
  /** ms the oracle spent making it. */
  costMs: number;
}

export interface TicketReference {
  /** The reference model's tokenizer fingerprint (must equal the target's to be used). */
  readonly tokenizerFingerprint: string;
  /** Makes one ticket; `random` decides span, chat form, sampling. */
  makeTicket(length: number, random: () => number): Promise<GoldenTicket>;
  dispose(): Promise<void>;
}

/** Loads the reference draft model. Throws ModelLoadError. */
export async function loadTicketReference(options: {
  modelPath: string;
  corpus?: readonly string[];
}): Promise<TicketReference> {
  const loaded: LoadedModel = await loadModel({
    modelPath: options.modelPath,
    threads: 1,
    contextSize: REFERENCE_CONTEXT_TOKENS,
    sequences: 1
  });
  const { model } = loaded;
  const vocab = model.fileInfo.metadata.tokenizer.ggml;
  const fingerprint = tokenizerFingerprint(vocab.tokens, vocab.token_type ?? []);
  const sequence = loaded.context.getSequence();
  const corpus = options.corpus && options.corpus.length > 0 ? options.corpus : TICKET_CORPUS;
  const isChatCapable = model.tokenize('<|im_start|>', true).length === 1;
  let tail: Promise<unknown> = Promise.resolve();
  return {
    tokenizerFingerprint: fingerprint,
    makeTicket(length, random) {
      // One sequence: tickets are made one at a time.
      const run = tail.then(() =>
        makeTicket(model, sequence, corpus, isChatCapable, length, random)
      );
      tail = run.catch(() => undefined);
      return run;
    },
    async dispose() {
      await tail;
      await loaded.context.dispose();
      await model.dispose();
      await loaded.llama.dispose();
    }
  };
}

async function makeTicket(
  model: LlamaModel,
  sequence: LlamaContextSequence,
  corpus: readonly string[],
  isChatCapable: boolean,
  length: number,
  random: () => number
): Promise<GoldenTicket> {
  const started = performance.now();
  // 1. A span of a corpus sentence, as a raw prompt or a chat turn.
  const words = corpus[Math.floor(random() * corpus.length)].split(/\s+/);
  const span = Math.min(words.length, MIN_SPAN_WORDS + Math.floor(random() * words.length));
  const from = Math.floor(random() * (words.length - span + 1));
  const text = words.slice(from, from + span).join(' ');
  const isChat = isChatCapable && random() < 0.5;
  const prompt = isChat ? `<|im_start|>user\n${text}<|im_end|>\n<|im_start|>assistant\n` : text;
  const bos = model.tokens.bos;
  const context: number[] = [...(bos !== null ? [bos] : []), ...model.tokenize(prompt, isChat)];
  await sequence.clearHistory();
  // 2-3. Sampled continuation, then the greedy reference chain.
  const sampled = Math.floor(random() * (MAX_SAMPLED_TOKENS + 1));
  const reference: ReferenceStep[] = [];
  let input = context.slice() as Token[];
  for (let i = 0; i < sampled + length; i++) {
    const last = input.length - 1;
    const results = await sequence.controlledEvaluate(
      input.map((t, j) =>
        j === last
          ? [
              t,
              {
                generateNext: {
                  probabilities: true,
                  options: { temperature: 1, topK: 0, topP: 1, minP: 0 }
                }
              }
            ]
          : t
      )
    );
    const top = topOf(results[last]?.next?.probabilities, REFERENCE_TOP_N);
    if (top.length === 0) break;
    const token = i < sampled ? sampleFrom(top, random) : top[0][0];
    if (model.isEogToken(token as Token)) break;
    if (i < sampled) context.push(token);
    else reference.push({ token, top });
    input = [token as Token];
  }
  return { context, reference, costMs: performance.now() - started };
}

/** The `n` most likely tokens, most likely first. */
function topOf(probabilities: Map<number, number> | undefined, n: number): Array<[number, number]> {
  if (!probabilities) return [];
  const top: Array<[number, number]> = [];
  for (const [t, p] of probabilities) {
    if (top.length < n || p > top[top.length - 1][1]) {
      top.push([t, p]);
      top.sort((a, b) => b[1] - a[1] || a[0] - b[0]);
      if (top.length > n) top.pop();
    }
  }
  return top;
}

/** Samples from the (renormalised) top tokens: enough spread for varied contexts. */
function sampleFrom(top: Array<[number, number]>, random: () => number): number {
  const total = top.reduce((s, [, p]) => s + p, 0);
  let r = random() * total;
  for (const [t, p] of top) {
    r -= p;
    if (r <= 0) return t;
  }
  return top[top.length - 1][0];
}
