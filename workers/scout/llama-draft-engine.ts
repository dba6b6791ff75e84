/**
 * A `DraftEngine` on node-llama-cpp for the Node scout: greedy drafting on one context sequence,
 * reusing the KV cache along the common prefix of successive contexts (a chain only grows, and a
 * correction erases just the tail). Node-only.
 */
import { basename } from 'node:path';
import {
  getLlama,
  type ControlledEvaluateInputItem,
  type Llama,
  type Token,
  type LlamaContext,
  type LlamaContextSequence,
  type LlamaModel
} from 'node-llama-cpp';
import { tokenizerFingerprint } from '../../src/lib/protocol/mesh.js';
import type { DraftEngine } from './core.js';

export interface LlamaDraftEngineOptions {
  modelPath: string;
  /** llama.cpp threads; default 1 (always explicit: defaults collapse on small machines). */
  threads?: number;
  /** Default 2048. */
  contextSize?: number;
  /** Fingerprint to announce; default computed from the GGUF vocabulary like the target engine. */
  tokenizerFingerprint?: string;
}

let sharedLlama: Promise<Llama> | null = null;

/** Loads the model and returns a ready DraftEngine. */
export async function createLlamaDraftEngine(
  options: LlamaDraftEngineOptions
): Promise<DraftEngine> {
  const threads = options.threads ?? 1;
  sharedLlama ??= getLlama({ gpu: false, maxThreads: threads, logLevel: 'error' as never });
  const llama = await sharedLlama;
  const model: LlamaModel = await llama.loadModel({ modelPath: options.modelPath, gpuLayers: 0 });
  // The same fingerprint the target engine computes, so the oracle's handshake can compare them.
  const vocab = model.fileInfo.metadata.tokenizer.ggml;
  const fingerprint =
    options.tokenizerFingerprint ?? tokenizerFingerprint(vocab.tokens, vocab.token_type ?? []);
  const context: LlamaContext = await model.createContext({
    contextSize: options.contextSize ?? 2048,
    sequences: 1,
    threads
  });
  const sequence: LlamaContextSequence = context.getSequence();
  let draftedTokens = 0;
  let draftingMs = 0;

  return {
    name: `llama.cpp:${basename(options.modelPath)}`,
    tokenizerFingerprint: fingerprint,
    models: [basename(options.modelPath)],
    async draft(input, k, signal) {
      const started = performance.now();
      const context = input.slice(-(sequence.contextSize - k - 1));
      if (context.length === 0 || k <= 0) return [];
      // 1. Keep the longest cached prefix; at least the last token is re-evaluated for its logits.
      const cached = sequence.contextTokens;
      let p = 0;
      while (p < cached.length && p < context.length - 1 && cached[p] === context[p]) p++;
      if (p < sequence.nextTokenIndex)
        await sequence.eraseContextTokenRanges([{ start: p, end: sequence.nextTokenIndex }]);
      // 2. Evaluate the new tail, asking for the greedy next token after its last position.
      const tail = context.slice(p);
      const greedy = { generateNext: { token: true, options: { temperature: 0 } } };
      const out: number[] = [];
      const batch: ControlledEvaluateInputItem[] = tail.map((t, i) =>
        i === tail.length - 1 ? ([t, greedy] as ControlledEvaluateInputItem) : (t as Token)
      );
      let next = (await sequence.controlledEvaluate(batch))[tail.length - 1]?.next.token;
      // 3. Feed each drafted token back for the next one (k-1 more single-token steps).
      while (next != null && out.length < k) {
        out.push(next);
        if (out.length === k || signal?.aborted) break;
        next = (
          await sequence.controlledEvaluate([[next, greedy] as ControlledEvaluateInputItem])
        )[0]?.next.token;
      }
      draftedTokens += out.length;
      draftingMs += performance.now() - started;
      return out;
    },
    tokensPerSecond: () => (draftingMs > 0 ? (draftedTokens * 1000) / draftingMs : 0),
    async dispose() {
      await context.dispose();
      await model.dispose();
    }
  };
}
