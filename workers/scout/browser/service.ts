/**
 * The browser scout service: everything that runs in the scout's dedicated worker, exposed to the
 * page with comlink (see workers/scout.worker.ts). The page elects one leader tab and calls:
 *
 *  1. `prepare()`: probes the device, downloads the draft model (progress reported), loads the
 *     candidate engines, runs a short on-device benchmark and picks the engine (or the one the
 *     user chose), with a plain-words reason for every engine that could not run.
 *  2. `start()`: starts the libp2p node, dials the relays, joins oracles (given, or announced on
 *     gossip) and serves their verify streams with the picked engine.
 *  3. `stop()`: ends sessions and the node; the engine stays loaded for a quick restart.
 *
 * Updates (stats, connection state, events) go to the page through one callback.
 */
import { multiaddr } from '@multiformats/multiaddr';
import type { DraftEngine } from '../core.js';
import { createScoutPeer, type ScoutPeer, type ScoutPeerEvent } from '../scout-peer.js';
import { createBrowserMeshNode, loadIdentityKey, type BrowserMeshNode } from './browser-node.js';
import { downloadModel, type DownloadProgress } from './model-download.js';
import { createPromptLookupEngine } from './prompt-lookup.js';
import { createWebLlmEngine, probeWebGpu, type WebGpuProbe } from './webgpu.js';

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
  /** Where the draft model came from; null when it could not be loaded. */
  modelSource: 'this device' | 'the oracle' | null;
  isCrossOriginIsolated: boolean;
}

export interface StartOptions {
  /** Relay WebSocket multiaddrs with /p2p/<id>. */
  relays: string[];
  /** Oracle multiaddrs to join right away (e.g. circuit addresses from the topology). */
  oracles?: string[];
  /** Fraction of time the engine may spend drafting (mobile uses less); default 1. */
  dutyCycle?: number;
  /** Sessions served at once; default 2. */
  maxSessions?: number;
}

export interface ScoutSnapshot {
  state: 'idle' | 'preparing' | 'starting' | 'scouting' | 'stopping' | 'error';
  peerId: string | null;
  engine: string | null;
  relays: { addr: string; isConnected: boolean }[];
  oracles: { peerId: string; status: string; reason?: string }[];
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
  download: DownloadProgress | null;
  lastError: string | null;
  tokensPerSecond: number | null;
}

export type ScoutUpdate =
  | { type: 'snapshot'; snapshot: ScoutSnapshot }
  | { type: 'event'; event: ScoutPeerEvent; atMs: number };

/** Tokens drafted per engine in the benchmark. */
export const BENCHMARK_TOKENS = 24;
const SOFTWARE = { name: 'shard-browser-scout', version: '0.1.0' } as const;

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

/** Wraps an engine so it drafts at most `dutyCycle` of the time (idle gaps between drafts). */
function throttle(engine: DraftEngine, dutyCycle: number): DraftEngine {
  if (dutyCycle >= 1) return engine;
  let nextAllowedAt = 0;
  return {
    ...engine,
    async draft(context, k, signal) {
      const wait = nextAllowedAt - performance.now();
      if (wait > 0) {
        await new Promise<void>((resolve, reject) => {
          const onAbort = () => {
            clearTimeout(timer);
            reject(signal?.reason);
          };
          const timer = setTimeout(() => {
            signal?.removeEventListener('abort', onAbort);
            resolve();
          }, wait);
          signal?.addEventListener('abort', onAbort, { once: true });
        });
      }
      const started = performance.now();
      try {
        return await engine.draft(context, k, signal);
      } finally {
        const busy = performance.now() - started;
        nextAllowedAt = performance.now() + (busy * (1 - dutyCycle)) / dutyCycle;
      }
    }
  };
}

export function createScoutService() {
  const engines = new Map<EngineKind, DraftEngine>();
  let picked: EngineKind | null = null;
  let node: BrowserMeshNode | null = null;
  let peer: ScoutPeer | null = null;
  let relayAddrs: string[] = [];
  let listener: ((u: ScoutUpdate) => void) | null = null;
  let ticker: ReturnType<typeof setInterval> | null = null;
  const snapshot: ScoutSnapshot = {
    state: 'idle',
    peerId: null,
    engine: null,
    relays: [],
    oracles: [],
    peers: 0,
    stats: {
      sessions: 0,
      activeSessions: 0,
      drafted: 0,
      accepted: 0,
      verified: 0,
      engineErrors: 0,
      protocolErrors: 0
    },
    currentSession: null,
    download: null,
    lastError: null,
    tokensPerSecond: null
  };

  function refresh(): ScoutSnapshot {
    if (node) {
      const connected = new Set(node.getConnections().map((c) => c.remotePeer.toString()));
      snapshot.relays = relayAddrs.map((addr) => ({
        addr,
        isConnected: connected.has(
          multiaddr(addr)
            .getComponents()
            .find((c) => c.name === 'p2p')?.value ?? ''
        )
      }));
      snapshot.peers = node.getPeers().length;
    }
    if (peer) {
      snapshot.stats = { ...peer.stats };
      snapshot.oracles = peer.oracles();
    }
    const engine = picked ? engines.get(picked) : undefined;
    snapshot.tokensPerSecond = engine?.tokensPerSecond?.() ?? null;
    return structuredClone(snapshot);
  }

  function push(): void {
    listener?.({ type: 'snapshot', snapshot: refresh() });
  }

  function onPeerEvent(event: ScoutPeerEvent): void {
    if (event.type === 'session:open') snapshot.currentSession = event.sessionId;
    if (event.type === 'session:close' && snapshot.currentSession === event.sessionId)
      snapshot.currentSession = null;
    if (event.type === 'engine:error') snapshot.lastError = event.message;
    listener?.({ type: 'event', event, atMs: Date.now() });
    push();
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

    /** Probes, downloads, benchmarks and picks the engine. Never leaves a half-loaded engine. */
    async prepare(options: PrepareOptions): Promise<PrepareResult> {
      snapshot.state = 'preparing';
      snapshot.lastError = null;
      push();
      const candidates: EngineCandidate[] = [];
      const webGpu = await probeWebGpu();
      const modelId = options.modelUrl.split('/').pop() ?? options.modelUrl;
      let fingerprint = options.targetTokenizerFingerprint ?? null;
      let modelSource: 'this device' | 'the oracle' | null = null;

      // wllama on the oracle's draft GGUF.
      if (!engines.has('wllama')) {
        try {
          const { blob: model, isFromCache } = await downloadModel(options.modelUrl, {
            onProgress: (p) => {
              snapshot.download = p;
              push();
            }
          });
          modelSource = isFromCache ? 'this device' : 'the oracle';
          const { createWllamaEngine } = await import('./wllama-engine.js');
          engines.set(
            'wllama',
            await createWllamaEngine({ model, modelId, threads: options.threads })
          );
        } catch (err) {
          candidates.push({
            kind: 'wllama',
            isAvailable: false,
            tokensPerSecond: null,
            reason: (err as Error).message,
            detail: null
          });
        }
      }
      const wllama = engines.get('wllama') as
        | (DraftEngine & {
            vocab?: { pieces: unknown[]; bosId: number | null };
            threads?: number;
            isMultithread?: boolean;
          })
        | undefined;
      fingerprint ??= wllama?.tokenizerFingerprint ?? null;
      const context = benchmarkContext(
        wllama?.vocab?.pieces.length ?? 1000,
        wllama?.vocab?.bosId ?? 1
      );
      if (wllama) {
        try {
          const tps = await timeDraft(wllama, context);
          candidates.push({
            kind: 'wllama',
            isAvailable: true,
            tokensPerSecond: tps,
            reason: null,
            detail: `${wllama.threads ?? 1} thread${wllama.threads === 1 ? '' : 's'}${wllama.isMultithread ? ' (multi-threaded)' : ''}`
          });
        } catch (err) {
          // wllama's UTF-8 bug fails one draft, not the engine: keep it, say what happened.
          const isUtf8Bug = (err as Error).name === 'WllamaUtf8Error';
          candidates.push({
            kind: 'wllama',
            isAvailable: isUtf8Bug,
            tokensPerSecond: isUtf8Bug ? (wllama.tokensPerSecond?.() ?? null) : null,
            reason: isUtf8Bug ? null : `benchmark failed: ${(err as Error).message}`,
            detail: isUtf8Bug
              ? 'the benchmark draft hit wllama’s UTF-8 bug; drafts that do are skipped'
              : null
          });
        }
      }

      // web-llm only when WebGPU is usable and a model is configured.
      if (!webGpu.isAvailable) {
        candidates.push({
          kind: 'web-llm',
          isAvailable: false,
          tokensPerSecond: null,
          reason: webGpu.reason,
          detail: null
        });
      } else if (!options.webLlmModelId) {
        candidates.push({
          kind: 'web-llm',
          isAvailable: false,
          tokensPerSecond: null,
          reason: `WebGPU works here (${webGpu.adapter}${webGpu.hasShaderF16 ? ', shader-f16' : ', no shader-f16'}), but this oracle offers no MLC build of its draft model`,
          detail: null
        });
      } else if (!engines.has('web-llm')) {
        try {
          engines.set('web-llm', await createWebLlmEngine({ modelId: options.webLlmModelId }));
          candidates.push({
            kind: 'web-llm',
            isAvailable: true,
            tokensPerSecond: await timeDraft(engines.get('web-llm')!, context),
            reason: null,
            detail: webGpu.adapter
          });
        } catch (err) {
          candidates.push({
            kind: 'web-llm',
            isAvailable: false,
            tokensPerSecond: null,
            reason: (err as Error).message,
            detail: null
          });
        }
      }

      // Prompt lookup needs no model; it drafts in whatever vocabulary the oracle uses.
      if (fingerprint) {
        const lookup = createPromptLookupEngine({ tokenizerFingerprint: fingerprint });
        engines.set('prompt-lookup', lookup);
        candidates.push({
          kind: 'prompt-lookup',
          isAvailable: true,
          tokensPerSecond: null,
          reason: null,
          detail: 'copies repeated spans of the context; no model'
        });
      } else {
        candidates.push({
          kind: 'prompt-lookup',
          isAvailable: false,
          tokensPerSecond: null,
          reason: 'the oracle did not say which tokenizer it uses',
          detail: null
        });
      }

      // Pick: the user's choice if it runs; else the fastest model engine; else prompt lookup.
      const usable = candidates.filter((c) => c.isAvailable);
      const preferred = options.preferredEngine
        ? usable.find((c) => c.kind === options.preferredEngine)
        : undefined;
      const fastestModel = usable
        .filter((c) => c.kind !== 'prompt-lookup')
        .sort((a, b) => (b.tokensPerSecond ?? 0) - (a.tokensPerSecond ?? 0))[0];
      const choice = preferred ?? fastestModel ?? usable.find((c) => c.kind === 'prompt-lookup');
      if (!choice) {
        snapshot.state = 'error';
        snapshot.lastError = 'No draft engine can run in this browser.';
        push();
        throw new Error(candidates.map((c) => `${c.kind}: ${c.reason}`).join('; '));
      }
      picked = choice.kind;
      const engine = engines.get(picked)!;
      snapshot.engine = engine.name;
      snapshot.state = 'idle';
      push();
      const why = preferred
        ? 'your choice'
        : choice.kind === 'prompt-lookup'
          ? 'no model engine could run here'
          : `fastest in the on-device benchmark (${(choice.tokensPerSecond ?? 0).toFixed(0)} tokens/s)`;
      return {
        engine: picked,
        choice: why,
        modelId: picked === 'prompt-lookup' ? 'no model' : (engine.models?.[0] ?? engine.name),
        tokenizerFingerprint: engine.tokenizerFingerprint,
        candidates,
        webGpu,
        modelSource,
        isCrossOriginIsolated: globalThis.crossOriginIsolated === true
      };
    },

    /** Switches to another prepared engine (takes effect on the next start). */
    choose(kind: EngineKind): boolean {
      if (!engines.has(kind)) return false;
      picked = kind;
      snapshot.engine = engines.get(kind)!.name;
      push();
      return true;
    },

    /** Drafts once with the picked engine (diagnostics and tests). */
    async draft(context: number[], k: number): Promise<number[]> {
      if (!picked) throw new Error('no engine prepared');
      return engines.get(picked)!.draft(context, k);
    },

    async start(options: StartOptions): Promise<void> {
      if (!picked) throw new Error('prepare() must pick an engine before start()');
      if (peer) return;
      snapshot.state = 'starting';
      snapshot.lastError = null;
      push();
      try {
        const privateKey = await loadIdentityKey();
        node = await createBrowserMeshNode(privateKey);
        snapshot.peerId = node.peerId.toString();
        relayAddrs = options.relays;
        node.addEventListener('connection:open', push);
        node.addEventListener('connection:close', push);
        const dials = await Promise.allSettled(options.relays.map((r) => node!.dial(multiaddr(r))));
        const failed = dials.filter((d) => d.status === 'rejected');
        if (options.relays.length > 0 && failed.length === options.relays.length) {
          throw new Error(
            `no relay could be reached (${(failed[0] as PromiseRejectedResult).reason?.message ?? 'dial failed'})`
          );
        }
        peer = createScoutPeer({
          node,
          privateKey,
          engine: throttle(engines.get(picked)!, options.dutyCycle ?? 1),
          software: SOFTWARE,
          oracles: options.oracles ?? [],
          maxSessions: options.maxSessions ?? 2,
          onEvent: onPeerEvent
        });
        await peer.start();
        snapshot.state = 'scouting';
        ticker = setInterval(push, 1000);
        push();
      } catch (err) {
        snapshot.lastError = (err as Error).message;
        snapshot.state = 'error';
        await this.stop().catch(() => undefined);
        snapshot.state = 'error';
        push();
        throw err;
      }
    },

    async stop(): Promise<void> {
      if (ticker) clearInterval(ticker);
      ticker = null;
      snapshot.state = 'stopping';
      push();
      await peer?.stop();
      peer = null;
      await node?.stop();
      node = null;
      snapshot.state = 'idle';
      snapshot.currentSession = null;
      push();
    },

    async dispose(): Promise<void> {
      await this.stop();
      for (const engine of engines.values()) await engine.dispose().catch(() => undefined);
      engines.clear();
      picked = null;
    }
  };
}

export type ScoutService = ReturnType<typeof createScoutService>;
