/**
 * The browser scout's engine service: what runs in the scout's dedicated worker, exposed to the
 * page with comlink (see workers/scout.worker.ts). The page elects one leader tab, which calls:
 *
 *  1. `prepare()`: probes the device, downloads the draft model (progress reported), loads the
 *     candidate engines, runs a short on-device benchmark and picks the engine (or the one the
 *     user chose), with a plain-words reason for every engine that could not run.
 *  2. `draft()` / `cancelDraft()`: drafts with the picked engine for the page's scout peer
 *     (mesh-host.ts), which runs the libp2p node on the page's main thread because
 *     RTCPeerConnection exists only there (no WebRTC in workers).
 *  3. `dispose()`: frees every engine.
 *
 * Engine state (preparing, download progress, picked engine, speed) goes to the page through
 * one callback; the page merges it with the mesh state.
 */
import type { DraftEngine } from '../core.js';
import type { ScoutPeerEvent } from '../scout-peer.js';
import { downloadModel, type DownloadProgress } from './model-download.js';
import { createPromptLookupEngine } from './prompt-lookup.js';
import type { TokenizerSketch } from '../../../src/lib/protocol/tokenizer-sketch.js';
import { ggufTokenizerSketch, ggufTokenText } from './gguf-vocab.js';
import { createWebLlmEngine, probeWebGpu, type WebGpuProbe } from './webgpu.js';
import { idleScoutSnapshot } from './snapshot.js';
import {
  describeBackend,
  planWllamaBackend,
  type WllamaBackend,
  type WllamaBackendChoice
} from './wllama-backend.js';
import type { WllamaEngine } from './wllama-engine.js';

export type EngineKind = 'wllama' | 'web-llm' | 'prompt-lookup';

export interface PrepareOptions {
  /** Same-origin URL of the draft GGUF, e.g. `/models/draft.gguf`. */
  modelUrl: string;
  /** Engine the user picked; default: the benchmark's fastest model engine. */
  preferredEngine?: EngineKind | null;
  /** MLC model id tried for web-llm when WebGPU is usable; default none (web-llm skipped). */
  webLlmModelId?: string | null;
  /** Fingerprint of the oracle's target tokenizer (prompt lookup drafts in the target's ids). */
  targetTokenizerFingerprint?: string | null;
  /** Draft threads for wllama; default half the cores when cross-origin isolated. */
  threads?: number;
  /**
   * Where wllama runs: `auto` (default) offloads every layer to WebGPU when the adapter can run
   * llama.cpp's WebGPU backend, `cpu` keeps it on the CPU (WASM). Applies when wllama loads.
   */
  wllamaBackend?: WllamaBackendChoice | null;
  /** Headers for the model download (the page's API key; a worker cannot read localStorage). */
  modelHeaders?: Record<string, string>;
}

export interface EngineCandidate {
  kind: EngineKind;
  isAvailable: boolean;
  /** Measured greedy draft speed in the benchmark, tokens/s. */
  tokensPerSecond: number | null;
  /** Why the engine cannot run here, in plain words. */
  reason: string | null;
  detail: string | null;
}

export interface PrepareResult {
  engine: EngineKind;
  /** Why this engine was picked. */
  choice: string;
  modelId: string;
  tokenizerFingerprint: string;
  candidates: EngineCandidate[];
  webGpu: WebGpuProbe;
  /** Where wllama runs the draft model (WebGPU or CPU, and why); null when wllama did not load. */
  wllamaBackend: WllamaBackend | null;
  /**
   * Where the draft model file came from; null when the download failed or an earlier
   * `prepare()` had already loaded it.
   */
  modelSource: 'this device' | 'the oracle' | null;
  isCrossOriginIsolated: boolean;
}

export interface ScoutSnapshot {
  state: 'idle' | 'preparing' | 'starting' | 'scouting' | 'stopping' | 'error';
  peerId: string | null;
  engine: string | null;
  relays: { addr: string; isConnected: boolean }[];
  oracles: {
    peerId: string;
    status: string;
    reason?: string;
    /** How this scout reaches the oracle now; null while not connected. */
    connection?: OracleConnectionKind | null;
    /** The libp2p connection's remote address (the one verify streams use). */
    remoteAddr?: string | null;
  }[];
  peers: number;
  stats: {
    sessions: number;
    activeSessions: number;
    drafted: number;
    accepted: number;
    verified: number;
    engineErrors: number;
    protocolErrors: number;
  };
  currentSession: string | null;
  /** Verify streams oracles opened to this scout, by the kind of connection they ran on. */
  verifyStreams?: Record<OracleConnectionKind, number>;
  download: DownloadProgress | null;
  lastError: string | null;
  tokensPerSecond: number | null;
  /** Where the picked engine computes, in words (`CPU (WASM)`, `WebGPU (…)`); null before. */
  backend?: string | null;
}

/** `direct`: a WebRTC connection to the oracle; `relayed`: a circuit through a relay. */
export type OracleConnectionKind = 'direct' | 'relayed';

export type ScoutUpdate =
  | { type: 'snapshot'; snapshot: ScoutSnapshot }
  | { type: 'event'; event: ScoutPeerEvent; atMs: number }
  | { type: 'notice'; text: string; isError: boolean; atMs: number };

/** Tokens drafted per engine in the benchmark. */
const BENCHMARK_TOKENS = 24;

/** The benchmark's context: a short sentence in the model's own vocabulary (BOS + a few ids). */
function benchmarkContext(vocabSize: number, bos: number | null): number[] {
  const ids = [bos ?? 1];
  // Deterministic ids spread over the vocabulary, skipping the special ones at the start.
  for (let i = 0; i < 12; i++) ids.push(300 + ((i * 7919) % Math.max(1, vocabSize - 300)));
  return ids;
}

async function timeDraft(engine: DraftEngine, context: number[]): Promise<number> {
  await engine.draft(context, 4); // warm-up: first call pays for prompt processing
  const started = performance.now();
  const tokens = await engine.draft([...context, 5], BENCHMARK_TOKENS);
  const ms = performance.now() - started;
  return tokens.length > 0 && ms > 0 ? (tokens.length / ms) * 1000 : 0;
}

/** A candidate that cannot run here, with the reason in plain words. */
function unavailable(kind: EngineKind, reason: string): EngineCandidate {
  return { kind, isAvailable: false, tokensPerSecond: null, reason, detail: null };
}

/** Step 3: times wllama on the benchmark context; its UTF-8 bug fails a draft, not the engine. */
async function benchmarkWllama(wllama: WllamaEngine, context: number[]): Promise<EngineCandidate> {
  try {
    const tps = await timeDraft(wllama, context);
    const threads = `${wllama.threads ?? 1} thread${wllama.threads === 1 ? '' : 's'}`;
    const where =
      wllama.backend.kind === 'webgpu'
        ? `on ${describeBackend(wllama.backend)}`
        : `on the CPU (WASM, ${threads}${wllama.isMultithread ? ', multi-threaded' : ''}): ${wllama.backend.reason}`;
    return {
      kind: 'wllama',
      isAvailable: true,
      tokensPerSecond: tps,
      reason: null,
      detail: where
    };
  } catch (err) {
    // wllama's UTF-8 bug fails one draft, not the engine: keep it, say what happened.
    const isUtf8Bug = (err as Error).name === 'WllamaUtf8Error';
    return {
      kind: 'wllama',
      isAvailable: isUtf8Bug,
      tokensPerSecond: isUtf8Bug ? (wllama.tokensPerSecond?.() ?? null) : null,
      reason: isUtf8Bug ? null : `benchmark failed: ${(err as Error).message}`,
      detail: isUtf8Bug
        ? 'the benchmark draft hit wllama’s UTF-8 bug; drafts that do are skipped'
        : null
    };
  }
}

/**
 * Step 6: the user's choice if it runs; else the fastest model engine; else prompt lookup.
 * Null when no candidate is available. `why` is the plain-words reason shown to the user.
 */
function pickEngine(
  candidates: readonly EngineCandidate[],
  preferredEngine: EngineKind | null | undefined
): { kind: EngineKind; why: string } | null {
  const usable = candidates.filter((c) => c.isAvailable);
  const preferred = preferredEngine ? usable.find((c) => c.kind === preferredEngine) : undefined;
  const fastestModel = usable
    .filter((c) => c.kind !== 'prompt-lookup')
    .sort((a, b) => (b.tokensPerSecond ?? 0) - (a.tokensPerSecond ?? 0))[0];
  const choice = preferred ?? fastestModel ?? usable.find((c) => c.kind === 'prompt-lookup');
  if (!choice) return null;
  const why = preferred
    ? 'your choice'
    : choice.kind === 'prompt-lookup'
      ? 'no model engine could run here'
      : `fastest in the on-device benchmark (${(choice.tokensPerSecond ?? 0).toFixed(0)} tokens/s)`;
  return { kind: choice.kind, why };
}

export function createScoutService() {
  const engines = new Map<EngineKind, DraftEngine>();
  /** The wllama engine (also in `engines`), typed: the benchmark reads its vocabulary. */
  let wllama: WllamaEngine | null = null;
  /** The backend choice wllama was loaded with (a different one reloads it). */
  let wllamaChoice: WllamaBackendChoice = 'auto';
  let picked: EngineKind | null = null;
  /** In-flight drafts for the page, by request id (so the page can cancel them). */
  const drafts = new Map<number, AbortController>();
  let listener: ((u: ScoutUpdate) => void) | null = null;
  const snapshot = idleScoutSnapshot();

  function refresh(): ScoutSnapshot {
    const engine = picked ? engines.get(picked) : undefined;
    snapshot.tokensPerSecond = engine?.tokensPerSecond?.() ?? null;
    return structuredClone(snapshot);
  }

  /** Where `kind` computes, in words, for the snapshot. */
  function backendOf(kind: EngineKind): string {
    if (kind === 'wllama' && wllama) return describeBackend(wllama.backend);
    if (kind === 'web-llm') return 'WebGPU (web-llm)';
    return 'no model (prompt lookup)';
  }

  function push(): void {
    listener?.({ type: 'snapshot', snapshot: refresh() });
  }

  /**
   * Step 2: downloads the draft GGUF (progress in the snapshot) and loads wllama on it, unless
   * an earlier `prepare()` did. A failure becomes an unavailable candidate. Returns where the
   * file came from; null when it was not downloaded this time or the download failed.
   */
  async function loadWllama(
    options: PrepareOptions,
    webGpu: WebGpuProbe,
    candidates: EngineCandidate[]
  ): Promise<PrepareResult['modelSource']> {
    const choice = options.wllamaBackend ?? 'auto';
    if (wllama && wllamaChoice === choice) return null;
    if (wllama) {
      // The user changed where wllama runs: it reloads (the model file comes from the cache).
      engines.delete('wllama');
      await wllama.dispose().catch(() => undefined);
      wllama = null;
    }
    wllamaChoice = choice;
    let modelSource: PrepareResult['modelSource'] = null;
    try {
      const { blob: model, isFromCache } = await downloadModel(options.modelUrl, {
        headers: options.modelHeaders,
        onProgress: (p) => {
          snapshot.download = p;
          push();
        }
      });
      modelSource = isFromCache ? 'this device' : 'the oracle';
      const { createWllamaEngine } = await import('./wllama-engine.js');
      const modelId = options.modelUrl.split('/').pop() ?? options.modelUrl;
      wllama = await createWllamaEngine({
        model,
        modelId,
        threads: options.threads,
        plan: planWllamaBackend(choice, webGpu)
      });
      engines.set('wllama', wllama);
    } catch (err) {
      candidates.push(unavailable('wllama', (err as Error).message));
    }
    return modelSource;
  }

  /**
   * Step 4: web-llm, only when WebGPU is usable and the oracle names an MLC model; loaded and
   * timed once. Null when an earlier `prepare()` already loaded it (no new candidate then).
   */
  async function loadWebLlm(
    options: PrepareOptions,
    webGpu: WebGpuProbe,
    context: number[]
  ): Promise<EngineCandidate | null> {
    if (!webGpu.isAvailable) return unavailable('web-llm', webGpu.reason);
    if (!options.webLlmModelId) {
      const f16 = webGpu.hasShaderF16 ? ', shader-f16' : ', no shader-f16';
      return unavailable(
        'web-llm',
        `WebGPU works here (${webGpu.adapter}${f16}), but this oracle offers no MLC build of its draft model`
      );
    }
    if (engines.has('web-llm')) return null;
    const target = targetVocabulary(options.targetTokenizerFingerprint ?? null);
    if (!target) {
      return unavailable(
        'web-llm',
        'its tokenizer cannot be checked against the target’s: the draft model (which carries the target’s vocabulary) did not load'
      );
    }
    try {
      const engine = await createWebLlmEngine({ modelId: options.webLlmModelId, target });
      engines.set('web-llm', engine);
      return {
        kind: 'web-llm',
        isAvailable: true,
        tokensPerSecond: await timeDraft(engine, context),
        reason: null,
        detail: webGpu.adapter
      };
    } catch (err) {
      return unavailable('web-llm', (err as Error).message);
    }
  }

  /**
   * The target's vocabulary for web-llm's tokenizer check: the draft GGUF's, when its
   * fingerprint is the target's (or the oracle did not say); null when wllama did not load.
   */
  function targetVocabulary(targetFingerprint: string | null) {
    if (!wllama) return null;
    if (targetFingerprint && wllama.tokenizerFingerprint !== targetFingerprint) return null;
    const vocab = wllama.vocab;
    return {
      fingerprint: wllama.tokenizerFingerprint,
      sketch: ggufTokenizerSketch(vocab),
      textOf: ggufTokenText(vocab)
    };
  }

  /** Step 5: prompt lookup needs no model; it drafts in whatever vocabulary the oracle uses. */
  function addPromptLookup(fingerprint: string | null): EngineCandidate {
    if (!fingerprint) {
      return unavailable('prompt-lookup', 'the oracle did not say which tokenizer it uses');
    }
    engines.set('prompt-lookup', createPromptLookupEngine({ tokenizerFingerprint: fingerprint }));
    return {
      kind: 'prompt-lookup',
      isAvailable: true,
      tokensPerSecond: null,
      reason: null,
      detail: 'copies repeated spans of the context; no model'
    };
  }

  return {
    /** Registers the page's update callback (a comlink proxy); replaces the previous one. */
    subscribe(callback: (u: ScoutUpdate) => void): void {
      listener = callback;
      push();
    },

    snapshot(): ScoutSnapshot {
      return refresh();
    },

    /**
     * Called by the leader tab when the user starts the scout, in six steps: 1. probe WebGPU;
     * 2. download the draft GGUF and load wllama on it; 3. benchmark wllama; 4. load and
     * benchmark web-llm; 5. add prompt lookup; 6. pick the engine. Engines loaded by an earlier
     * call are kept; an engine that fails becomes an unavailable candidate with its reason.
     * Throws, with every engine's reason, when no engine can run.
     */
    async prepare(options: PrepareOptions): Promise<PrepareResult> {
      snapshot.state = 'preparing';
      snapshot.lastError = null;
      push();
      const candidates: EngineCandidate[] = [];
      const webGpu = await probeWebGpu();
      const modelSource = await loadWllama(options, webGpu, candidates);
      const fingerprint =
        options.targetTokenizerFingerprint ?? wllama?.tokenizerFingerprint ?? null;
      const context = benchmarkContext(
        wllama?.vocab.pieces.length ?? 1000,
        wllama?.vocab.bosId ?? 1
      );
      if (wllama) candidates.push(await benchmarkWllama(wllama, context));
      const webLlm = await loadWebLlm(options, webGpu, context);
      if (webLlm) candidates.push(webLlm);
      candidates.push(addPromptLookup(fingerprint));

      const pick = pickEngine(candidates, options.preferredEngine);
      if (!pick) {
        snapshot.state = 'error';
        snapshot.lastError = 'No draft engine can run in this browser.';
        push();
        throw new Error(candidates.map((c) => `${c.kind}: ${c.reason}`).join('; '));
      }
      picked = pick.kind;
      const engine = engines.get(picked)!;
      snapshot.engine = engine.name;
      snapshot.backend = backendOf(picked);
      snapshot.state = 'idle';
      push();
      return {
        engine: picked,
        choice: pick.why,
        modelId: picked === 'prompt-lookup' ? 'no model' : (engine.models?.[0] ?? engine.name),
        tokenizerFingerprint: engine.tokenizerFingerprint,
        candidates,
        webGpu,
        wllamaBackend: wllama?.backend ?? null,
        modelSource,
        isCrossOriginIsolated: globalThis.crossOriginIsolated === true
      };
    },

    /** Switches to another prepared engine (takes effect on the next start). */
    choose(kind: EngineKind): boolean {
      if (!engines.has(kind)) return false;
      picked = kind;
      snapshot.engine = engines.get(kind)!.name;
      snapshot.backend = backendOf(kind);
      push();
      return true;
    },

    /** What the page's scout peer announces in its hello; null before `prepare()` picked. */
    engineInfo(): {
      name: string;
      tokenizerFingerprint: string;
      tokenizerSketch?: TokenizerSketch;
      models: string[];
    } | null {
      const engine = picked ? engines.get(picked) : undefined;
      if (!engine) return null;
      return {
        name: engine.name,
        tokenizerFingerprint: engine.tokenizerFingerprint,
        ...(engine.tokenizerSketch ? { tokenizerSketch: engine.tokenizerSketch } : {}),
        models: [...(engine.models ?? [engine.name])]
      };
    },

    /**
     * Drafts up to `k` tokens continuing `context` with the picked engine. Called by the page's
     * scout peer for every draft batch (and by diagnostics and benchmarks without a request id).
     * With a `requestId`, `cancelDraft(requestId)` aborts it. Throws when no engine is picked.
     */
    async draft(context: number[], k: number, requestId?: number): Promise<number[]> {
      if (!picked) throw new Error('no engine prepared');
      const controller = new AbortController();
      if (requestId !== undefined) drafts.set(requestId, controller);
      try {
        return await engines.get(picked)!.draft(context, k, controller.signal);
      } finally {
        if (requestId !== undefined) drafts.delete(requestId);
      }
    },

    /** Aborts the draft started with `requestId` (no-op when it already ended). */
    cancelDraft(requestId: number): void {
      drafts.get(requestId)?.abort(new DOMException('draft cancelled by the page', 'AbortError'));
    },

    /** Measured draft speed of the picked engine, tokens/s, or null. */
    tokensPerSecond(): number | null {
      const engine = picked ? engines.get(picked) : undefined;
      return engine?.tokensPerSecond?.() ?? null;
    },

    async dispose(): Promise<void> {
      for (const controller of drafts.values()) controller.abort();
      for (const engine of engines.values()) await engine.dispose().catch(() => undefined);
      engines.clear();
      wllama = null;
      picked = null;
    }
  };
}

export type ScoutService = ReturnType<typeof createScoutService>;
