/**
 * WebGPU for the browser scout: a cheap probe (adapter, features) and the web-llm draft
 * engine, with the check that its tokenizer maps ids like the target's (web-llm models come
 * with a tokenizer.json, not the target's GGUF, so fingerprints can never match). web-llm fetches MLC model builds from public model hosts at run time and checks the
 * GPU only after downloading, so the probe runs first and every failure becomes a plain-words
 * reason the scout shows while it falls back to wllama.
 */
import type { DraftEngine } from '../core.js';
import {
  anchoredText,
  compareTokenizerSketch,
  sketchTokenizer,
  type TokenizerDifference,
  type TokenizerSketch,
  type TokenTextFn
} from '../../../src/lib/protocol/tokenizer-sketch.js';

/** web-llm is unusable here; `message` says why in plain words. */
export class WebGpuUnavailableError extends Error {
  override name = 'WebGpuUnavailableError';
}

export type WebGpuProbe =
  | {
      isAvailable: true;
      adapter: string;
      hasShaderF16: boolean;
      /** Every feature the adapter offers (wllama's WebGPU backend needs shader-f16, subgroups). */
      features: string[];
    }
  | { isAvailable: false; reason: string };

interface GpuAdapterLike {
  features: Iterable<string> & { has(name: string): boolean };
  info?: { vendor?: string; architecture?: string; description?: string };
}
interface GpuLike {
  requestAdapter(options?: { powerPreference?: string }): Promise<GpuAdapterLike | null>;
}

/** Asks for a WebGPU adapter; never throws. */
export async function probeWebGpu(): Promise<WebGpuProbe> {
  const gpu = (globalThis.navigator as { gpu?: GpuLike } | undefined)?.gpu;
  if (!gpu) return { isAvailable: false, reason: 'this browser has no WebGPU' };
  try {
    const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
    if (!adapter)
      return { isAvailable: false, reason: 'WebGPU is present but no GPU adapter is available' };
    const info = adapter.info;
    const name =
      [info?.vendor, info?.architecture, info?.description].filter(Boolean).join(' ') ||
      'unknown GPU';
    return {
      isAvailable: true,
      adapter: name,
      hasShaderF16: adapter.features.has('shader-f16'),
      features: [...adapter.features].sort()
    };
  } catch (err) {
    return {
      isAvailable: false,
      reason: `WebGPU adapter request failed: ${(err as Error).message}`
    };
  }
}

/**
 * The part of a web-llm tokenizer (`@mlc-ai/web-tokenizers`' Tokenizer, loaded from the MLC
 * build's `tokenizer.json`) the compatibility check reads.
 */
export interface WebLlmTokenizerLike {
  getVocabSize(): number;
  decode(ids: Int32Array): string;
  /** The token's raw piece as the tokenizer file spells it, e.g. `▁the`, `<0x0A>`, `</s>`. */
  idToToken(id: number): string;
}

/** A piece spelled `<...>` that is not a byte token: a special token (`</s>`, `<|im_end|>`). */
const SPECIAL_PIECE = /^<[^<>\s]+>$/;
const BYTE_PIECE = /^<0x[0-9A-Fa-f]{2}>$/;

/**
 * A web-llm tokenizer's id → text table as the handshake's sketch reads it. tokenizer.json
 * decoders render special tokens as text unless told to skip them, so special tokens are
 * recognised by their `<...>` spelling and add nothing, as on the oracle.
 */
export function webLlmTokenText(tokenizer: WebLlmTokenizerLike): TokenTextFn {
  const isSpecial = (id: number) => {
    const piece = tokenizer.idToToken(id);
    return SPECIAL_PIECE.test(piece) && !BYTE_PIECE.test(piece);
  };
  return anchoredText(
    tokenizer.getVocabSize(),
    (ids) => tokenizer.decode(Int32Array.from(ids)),
    isSpecial
  );
}

/** The sketch a web-llm scout sends in its hello. */
export function webLlmTokenizerSketch(tokenizer: WebLlmTokenizerLike): TokenizerSketch {
  return sketchTokenizer(tokenizer.getVocabSize(), webLlmTokenText(tokenizer));
}

/**
 * Checks on the scout, before drafting, that a web-llm tokenizer maps ids like the target's
 * vocabulary (`target`: the sketch and text of the draft GGUF the oracle serves, which has the
 * target's vocabulary). Null when it does; else what differs. The oracle checks again.
 */
export function checkWebLlmTokenizer(
  tokenizer: WebLlmTokenizerLike,
  target: { sketch: TokenizerSketch; textOf: TokenTextFn }
): { sketch: TokenizerSketch; difference: TokenizerDifference | null } {
  const sketch = webLlmTokenizerSketch(tokenizer);
  return { sketch, difference: compareTokenizerSketch(sketch, target.sketch, target.textOf) };
}

export interface WebLlmEngineOptions {
  /** An MLC model id from web-llm's prebuilt list, e.g. `Qwen2.5-0.5B-Instruct-q4f16_1-MLC`. */
  modelId: string;
  /**
   * The target's vocabulary (from the draft GGUF the oracle serves): web-llm's tokenizer must map
   * every id to the same text before it drafts. Its fingerprint is then announced (the engine
   * drafts in the target's ids) together with web-llm's own sketch, which the oracle checks.
   */
  target: { fingerprint: string; sketch: TokenizerSketch; textOf: TokenTextFn };
  onProgress?(p: { progress: number; text: string }): void;
}

/**
 * web-llm 0.2.86 has no public accessor for a loaded model's tokenizer; its engine keeps one
 * pipeline per model with the tokenizer on it. Read defensively: null when the shape differs.
 */
function loadedTokenizer(engine: object, modelId: string): WebLlmTokenizerLike | null {
  const pipelines = (engine as { loadedModelIdToPipeline?: unknown }).loadedModelIdToPipeline;
  if (!(pipelines instanceof Map)) return null;
  const tokenizer = (pipelines.get(modelId) as { tokenizer?: Partial<WebLlmTokenizerLike> })
    ?.tokenizer;
  const isUsable =
    typeof tokenizer?.decode === 'function' &&
    typeof tokenizer.getVocabSize === 'function' &&
    typeof tokenizer.idToToken === 'function';
  return isUsable ? (tokenizer as WebLlmTokenizerLike) : null;
}

/** Loads the MLC build; throws WebGpuUnavailableError saying why it could not. */
async function loadMlc(options: WebLlmEngineOptions): Promise<import('@mlc-ai/web-llm').MLCEngine> {
  try {
    const webllm = await import('@mlc-ai/web-llm');
    return await webllm.CreateMLCEngine(
      options.modelId,
      {
        initProgressCallback: (r) => options.onProgress?.({ progress: r.progress, text: r.text })
      },
      { temperature: 0, top_p: 1 }
    );
  } catch (cause) {
    const message = (cause as Error).message ?? String(cause);
    throw new WebGpuUnavailableError(
      /fetch/i.test(message)
        ? `web-llm could not download ${options.modelId} (no network to its model host)`
        : `web-llm could not start ${options.modelId}: ${message}`,
      { cause }
    );
  }
}

/**
 * Loads a web-llm model and drafts with its token-level API (`forwardTokensAndSample`, greedy).
 * Throws WebGpuUnavailableError with the reason when there is no adapter, no shader-f16 for an
 * f16 build, the model cannot be fetched, or its tokenizer maps ids unlike the target's.
 */
export async function createWebLlmEngine(options: WebLlmEngineOptions): Promise<DraftEngine> {
  const probe = await probeWebGpu();
  if (!probe.isAvailable) throw new WebGpuUnavailableError(probe.reason);
  if (/f16/.test(options.modelId) && !probe.hasShaderF16) {
    throw new WebGpuUnavailableError(
      `the GPU (${probe.adapter}) lacks shader-f16, which ${options.modelId} needs`
    );
  }
  const engine = await loadMlc(options);
  const tokenizer = loadedTokenizer(engine, options.modelId);
  if (!tokenizer) {
    await engine.unload();
    throw new WebGpuUnavailableError(
      `web-llm does not expose the tokenizer of ${options.modelId}, so it cannot be checked against the target's`
    );
  }
  const { sketch, difference } = checkWebLlmTokenizer(tokenizer, options.target);
  if (difference) {
    await engine.unload();
    throw new WebGpuUnavailableError(
      `${options.modelId} uses another tokenizer than the target: ${difference.message}`
    );
  }
  let drafted = 0;
  let draftMs = 0;
  return {
    name: `web-llm:${options.modelId}`,
    tokenizerFingerprint: options.target.fingerprint,
    tokenizerSketch: sketch,
    models: [options.modelId],
    async draft(context, k, signal) {
      const started = performance.now();
      const tokens: number[] = [];
      // 1. Prefill the whole context and sample the first token; 2. decode one token at a time.
      let next = await engine.forwardTokensAndSample([...context], true);
      tokens.push(next);
      while (tokens.length < k) {
        signal?.throwIfAborted();
        next = await engine.forwardTokensAndSample([next], false);
        tokens.push(next);
      }
      drafted += tokens.length;
      draftMs += performance.now() - started;
      return tokens;
    },
    tokensPerSecond: () => (draftMs > 0 ? (drafted / draftMs) * 1000 : 0),
    dispose: () => engine.unload()
  };
}
