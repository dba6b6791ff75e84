/**
 * The wllama (llama.cpp in WASM) draft engine of the browser scout. Browser only: import it
 * from a worker or page, never from server-side code.
 *
 * wllama's completion API takes text and reports the ids of the tokens it generated (in
 * `logprobs`), so each draft call:
 *  1. turns the committed context (token ids) into text with the model's own vocabulary
 *     (`detokenize`, an exact round trip for canonical tokenizations);
 *  2. asks for `k` greedy tokens (temperature 0, one log-probability so the ids come back;
 *     wllama reuses the KV cache of the longest common prompt prefix);
 *  3. returns the generated ids, cut at the first end-of-generation token.
 *
 * wllama throws on an output token that is an incomplete UTF-8 byte (`invalid UTF-8 byte`,
 * surfacing as `Invalid typed array length`); that draft fails with WllamaUtf8Error and the
 * engine stays usable.
 *
 * Backend (wllama-backend.ts): with a WebGPU adapter that llama.cpp's WebGPU backend can use,
 * every layer is offloaded to it; the backend actually used is read from llama.cpp's load log
 * and reported (`backend`). Loading on the GPU that fails is retried on the CPU, with the reason.
 */
import { Wllama } from '@wllama/wllama/esm/index.js';
import wasmUrl from '@wllama/wllama/esm/wasm/wllama.wasm?url';
import type { DraftEngine } from '../core.js';
import { detokenize, GgufTruncatedError, readGgufVocab, type GgufVocab } from './gguf-vocab.js';
import { backendFromLog, type WllamaBackend, type WllamaBackendPlan } from './wllama-backend.js';

/** The draft hit wllama's UTF-8 bug: an output token was an incomplete UTF-8 sequence. */
export class WllamaUtf8Error extends Error {
  override name = 'WllamaUtf8Error';
}

/** wllama failed to load the model or to draft. */
export class WllamaEngineError extends Error {
  override name = 'WllamaEngineError';
}

export interface WllamaEngineOptions {
  /** The GGUF model file. */
  model: Blob;
  /** Model id announced to oracles, e.g. `draft.gguf`. */
  modelId: string;
  /** Threads for llama.cpp; default floor(cores / 2) when cross-origin isolated, else 1. */
  threads?: number;
  /** Context size in tokens; default 2048. */
  contextTokens?: number;
  /**
   * Where to load the model (`planWllamaBackend`); default the CPU (`gpuLayers: 0`) with no
   * reason given.
   */
  plan?: WllamaBackendPlan;
}

export interface WllamaEngine extends DraftEngine {
  readonly vocab: GgufVocab;
  readonly threads: number;
  readonly isMultithread: boolean;
  /** Where the model actually runs, read from llama.cpp's load log. */
  readonly backend: WllamaBackend;
}

const UTF8_BUG = /invalid UTF-8|Invalid typed array length/i;

/** Reads the tokenizer from the first bytes of the model, reading more until the header fits. */
async function readVocab(model: Blob): Promise<GgufVocab> {
  for (let size = 1 << 20; ; size *= 4) {
    const bytes = new Uint8Array(await model.slice(0, Math.min(size, model.size)).arrayBuffer());
    try {
      return readGgufVocab(bytes);
    } catch (err) {
      if (!(err instanceof GgufTruncatedError) || size >= model.size) throw err;
    }
  }
}

/** Native log lines kept from a load (llama.cpp logs about 80 lines for a small model). */
const MAX_LOAD_LOG_LINES = 400;

/**
 * A fresh wllama instance and its native log: lines are kept until `stopLog()` (the load log is
 * what tells the backend; later lines, a few per draft, are dropped). A CPU load (`isGpu`
 * false) needs no log: wllama then skips WebGPU altogether, so llama.cpp stays silent.
 */
function newWllama(isGpu: boolean): { wllama: Wllama; lines: string[]; stopLog(): void } {
  const lines: string[] = [];
  let isKeeping = true;
  const keep = (...args: unknown[]) => {
    if (isKeeping && lines.length < MAX_LOAD_LOG_LINES) lines.push(args.map(String).join(' '));
  };
  const logger = { debug: keep, log: keep, warn: keep, error: keep };
  const wllama = new Wllama(
    { default: wasmUrl },
    { logger, suppressNativeLog: !isGpu, allowOffline: true }
  );
  return { wllama, lines, stopLog: () => (isKeeping = false) };
}

/** What went wrong in a failed load: llama.cpp's WebGPU error line when it logged one. */
function gpuFailure(cause: unknown, lines: readonly string[]): string {
  // The first WebGPU error is the cause; later ones (device lost, assertion) follow from it.
  const webgpu = lines.find((l) => /ggml_webgpu: .*fail/i.test(l));
  const message = webgpu?.trim() ?? ((cause as Error).message || String(cause));
  return message.slice(0, 200);
}

/**
 * Loads the model per `plan`; a failed GPU load is retried on the CPU. Returns the instance and
 * the backend used. Throws WllamaEngineError when the CPU load fails too.
 */
async function loadWithFallback(
  options: WllamaEngineOptions,
  threads: number
): Promise<{ wllama: Wllama; backend: WllamaBackend }> {
  const plan = options.plan ?? { gpuLayers: 0, reason: null };
  const load = async (p: WllamaBackendPlan) => {
    const { wllama, lines, stopLog } = newWllama(p.gpuLayers > 0);
    try {
      await wllama.loadModel([options.model], {
        n_ctx: options.contextTokens ?? 2048,
        n_threads: threads,
        n_gpu_layers: p.gpuLayers,
        warmup: false
      });
    } catch (cause) {
      stopLog();
      await wllama.exit().catch(() => undefined);
      throw new WllamaEngineError(gpuFailure(cause, lines), { cause });
    }
    stopLog();
    return { wllama, backend: backendFromLog(lines, p) };
  };
  if (plan.gpuLayers > 0) {
    try {
      return await load(plan);
    } catch (cause) {
      // An abort inside the WASM module leaves that instance unusable: a new one loads on CPU.
      return await load({
        gpuLayers: 0,
        reason: `loading on WebGPU failed (${(cause as Error).message}); drafting on the CPU`
      }).catch((err) => {
        throw new WllamaEngineError(
          `wllama could not load ${options.modelId}: ${(err as Error).message}`,
          { cause: err }
        );
      });
    }
  }
  try {
    return await load(plan);
  } catch (cause) {
    throw new WllamaEngineError(
      `wllama could not load ${options.modelId}: ${(cause as Error).message}`,
      { cause }
    );
  }
}

/**
 * Loads the model into wllama and returns a DraftEngine. Throws WllamaEngineError (with the
 * cause) when the model cannot be loaded, GgufFormatError when the file is not a GGUF model.
 */
export async function createWllamaEngine(options: WllamaEngineOptions): Promise<WllamaEngine> {
  const vocab = await readVocab(options.model);
  const cores = globalThis.navigator?.hardwareConcurrency ?? 2;
  const threads =
    options.threads ?? (globalThis.crossOriginIsolated ? Math.max(1, Math.floor(cores / 2)) : 1);
  const { wllama, backend } = await loadWithFallback(options, threads);
  const eog = new Set(wllama.getLoadedContextInfo().list_tokens_eog);
  let drafted = 0;
  let draftMs = 0;

  return {
    // The backend is part of the name: the hello's `draftEngine` and the page both show it.
    name: `wllama:${options.modelId}@${backend.kind}`,
    tokenizerFingerprint: vocab.fingerprint,
    models: [options.modelId],
    vocab,
    threads: wllama.getNumThreads(),
    isMultithread: wllama.isMultithread(),
    backend,
    async draft(context, k, signal) {
      signal?.throwIfAborted();
      // Nothing to continue yet (a draft request can overtake the first context frame); a draft
      // from BOS alone would only be rejected.
      if (context.length === 0) return [];
      const prompt = detokenize(vocab, context);
      let response;
      try {
        response = await wllama.createCompletion({
          prompt,
          max_tokens: k,
          temp: 0,
          top_k: 1,
          logprobs: 1,
          n_probs: 1,
          cache_prompt: true,
          abortSignal: signal
        } as Parameters<Wllama['createCompletion']>[0] & { stream?: false; cache_prompt: boolean });
      } catch (cause) {
        signal?.throwIfAborted();
        const message = (cause as Error).message ?? String(cause);
        if (UTF8_BUG.test(message)) {
          throw new WllamaUtf8Error(
            'the draft model produced an incomplete UTF-8 byte token; this draft was skipped',
            { cause }
          );
        }
        throw new WllamaEngineError(`wllama draft failed: ${message}`, { cause });
      }
      const content =
        (response.choices[0]?.logprobs as unknown as { content?: { id: number }[] } | null)
          ?.content ?? [];
      const tokens: number[] = [];
      for (const entry of content) {
        if (eog.has(entry.id)) break;
        tokens.push(entry.id);
      }
      if (response.timings) {
        drafted += response.timings.predicted_n;
        draftMs += response.timings.predicted_ms;
      }
      return tokens;
    },
    tokensPerSecond: () => (draftMs > 0 ? (drafted / draftMs) * 1000 : 0),
    async dispose() {
      await wllama.exit();
    }
  };
}
