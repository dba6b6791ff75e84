/**
 * Page-side state of the browser scout (Svelte 5 runes). One controller per /scout page:
 *
 *  1. On mount: reads the device profile, probes for an oracle on this device (double-dip),
 *     reads the oracle's health (target tokenizer) and joins the leader election.
 *  2. The leader tab owns the scout worker (draft engines, over comlink) and, on its own main
 *     thread, the scout's libp2p node (WebRTC exists only there; see mesh-host.ts); followers
 *     mirror the leader's state over a BroadcastChannel and forward Start/Stop to it. When the
 *     leader's tab closes, the next tab takes over and resumes scouting if the user had started
 *     it.
 *  3. While scouting, the screen wake lock is held and the worker's snapshots drive the UI.
 */
import { apiFetch, authHeaders } from '$lib/api/api-key.svelte.js';
import { wrap, releaseProxy, type Remote } from 'comlink';
import type { ScoutHost } from '$workers/scout/browser/mesh-host.js';
import type {
  EngineKind,
  PrepareResult,
  ScoutService,
  ScoutSnapshot,
  ScoutUpdate
} from '$workers/scout/browser/service.js';
import { scoutCounts } from './counts.js';
import { detectDevice, type DeviceProfile } from './device.js';
import { probeLocalOracle, type DoubleDipDecision } from './double-dip.js';
import { joinElection, type LeaderElection } from './leader.js';
import { ScoutWakeLock } from './wake-lock.js';

export type {
  EngineKind,
  OracleConnectionKind,
  PrepareResult,
  ScoutSnapshot
} from '$workers/scout/browser/service.js';

/** localStorage keys: the user's intent survives reloads and is shared by all tabs. */
const WANTED_KEY = 'shard.scout.wanted';
const ENGINE_KEY = 'shard.scout.engine';
/** '1' keeps wllama on the CPU (WASM) even where a WebGPU adapter could run it. */
const WLLAMA_CPU_KEY = 'shard.scout.wllama-cpu';
const OVERRIDE_KEY = 'shard.scout.ignore-local-oracle';
const RELAYS_KEY = 'shard.relays';
export const MODEL_URL = '/models/draft.gguf';
/** Shown on /scout where Web Locks are missing (plain http under a name other than localhost). */
export const SCOUTING_NEEDS_SECURE_CONTEXT =
  'Scouting cannot run here: this page is not a secure context, so the browser offers no Web Locks (one scouting tab per browser) and no service worker. Open Shard over HTTPS, or as http://localhost on the machine that runs it.';
const MAX_LOG = 30;

export type Phase = 'idle' | 'preparing' | 'starting' | 'scouting' | 'stopping' | 'error';

/** What the leader shares with follower tabs. */
export interface SharedScoutState {
  phase: Phase;
  snapshot: ScoutSnapshot | null;
  prepared: PrepareResult | null;
  error: string | null;
  isWakeLockActive: boolean;
  log: LogEntry[];
}

export interface LogEntry {
  atMs: number;
  text: string;
  isError: boolean;
}

interface Topology {
  relays?: string[];
  circuit_addrs?: string[];
  listen_addrs?: string[];
}

export class ScoutController {
  role = $state<'electing' | 'leader' | 'follower'>('electing');
  phase = $state<Phase>('idle');
  snapshot = $state<ScoutSnapshot | null>(null);
  prepared = $state<PrepareResult | null>(null);
  error = $state<string | null>(null);
  device = $state<DeviceProfile | null>(null);
  doubleDip = $state<DoubleDipDecision | null>(null);
  isIgnoringLocalOracle = $state(false);
  isWakeLockActive = $state(false);
  preferredEngine = $state<EngineKind | 'auto'>('auto');
  /** The user's "keep wllama on the CPU" setting (applies when wllama next loads). */
  isWllamaOnCpu = $state(false);
  targetFingerprint = $state<string | null>(null);
  log = $state<LogEntry[]>([]);

  /** Sent, drafted (verified), accepted and the acceptance rate, defined once in counts.ts. */
  counts = $derived(scoutCounts(this.snapshot?.stats));
  /** True when the double-dip rule keeps this browser from drafting. */
  isHeldBack = $derived(this.doubleDip?.kind === 'local-oracle' && !this.isIgnoringLocalOracle);

  private worker: Worker | null = null;
  private engineService: Remote<ScoutService> | null = null;
  private service: ScoutHost | null = null;
  private election: LeaderElection<SharedScoutState> | null = null;
  private readonly wakeLock = new ScoutWakeLock((isActive) => {
    this.isWakeLockActive = isActive;
    this.share();
  });
  private isDestroyed = false;

  /** Called from the page's onMount. */
  async init(): Promise<void> {
    this.device = detectDevice();
    this.preferredEngine = (localStorage.getItem(ENGINE_KEY) as EngineKind | null) ?? 'auto';
    this.isWllamaOnCpu = localStorage.getItem(WLLAMA_CPU_KEY) === '1';
    this.isIgnoringLocalOracle = localStorage.getItem(OVERRIDE_KEY) === '1';
    const [decision] = await Promise.all([
      probeLocalOracle('/health', apiFetch),
      this.readTarget()
    ]);
    if (this.isDestroyed) return;
    this.doubleDip = decision;
    if (!('locks' in navigator)) {
      // Not a secure context: no Web Locks, so no leader tab and no scouting (the layout's banner
      // says why and how to fix it).
      this.error = SCOUTING_NEEDS_SECURE_CONTEXT;
      return;
    }
    this.election = joinElection<SharedScoutState>({
      onLeader: () => void this.becomeLeader(),
      onState: (state) => this.mirror(state),
      onCommand: (command) => void (command === 'start' ? this.start() : this.stop()),
      onHello: () => this.share()
    });
  }

  /** Called from the page's onDestroy: gives up leadership so another tab takes over. */
  destroy(): void {
    this.isDestroyed = true;
    this.election?.close();
    void this.wakeLock.disable();
    const engineService = this.engineService;
    const worker = this.worker;
    void this.service
      ?.dispose()
      .catch(() => undefined)
      .finally(() => {
        engineService?.[releaseProxy]();
        worker?.terminate();
      });
    if (!this.service) worker?.terminate();
    this.worker = null;
    this.service = null;
    this.engineService = null;
  }

  /** Start scouting (a follower forwards the command to the leader). */
  async start(): Promise<void> {
    localStorage.setItem(WANTED_KEY, '1');
    if (this.role === 'follower') {
      this.election?.send('start');
      return;
    }
    if (this.role !== 'leader' || !this.service) return;
    if (this.phase === 'scouting' || this.phase === 'starting' || this.phase === 'preparing')
      return;
    this.error = null;
    try {
      if (!this.prepared) await this.prepare();
      this.setPhase('starting');
      const { relays, oracles } = await this.readTopology();
      await this.service.start({
        relays,
        oracles,
        dutyCycle: this.device?.dutyCycle ?? 1,
        maxSessions: this.device?.maxSessions ?? 2
      });
      this.setPhase('scouting');
      this.addLog(
        `Scouting with ${this.prepared?.engine ?? 'the draft engine'} via ${relays.length} relay${relays.length === 1 ? '' : 's'}.`
      );
      await this.wakeLock.enable();
    } catch (err) {
      this.fail(err);
    }
  }

  /** Stop scouting; the engine stays loaded so Start is quick. */
  async stop(): Promise<void> {
    localStorage.removeItem(WANTED_KEY);
    if (this.role === 'follower') {
      this.election?.send('stop');
      return;
    }
    if (!this.service) return;
    this.setPhase('stopping');
    await this.service.stop().catch((err) => this.addLog(`Stop: ${(err as Error).message}`, true));
    await this.wakeLock.disable();
    this.setPhase('idle');
    this.addLog('Stopped scouting.');
  }

  /** Scout even though an oracle runs on this device (the user's call, remembered). */
  ignoreLocalOracle(isIgnoring: boolean): void {
    this.isIgnoringLocalOracle = isIgnoring;
    if (isIgnoring) localStorage.setItem(OVERRIDE_KEY, '1');
    else localStorage.removeItem(OVERRIDE_KEY);
  }

  /** The Start card's "Scout anyway": remembers the choice, then starts. */
  async scoutAnyway(): Promise<void> {
    this.ignoreLocalOracle(true);
    await this.start();
  }

  /** Overrides the benchmark's engine choice (applies at the next start). */
  async chooseEngine(kind: EngineKind | 'auto'): Promise<void> {
    this.preferredEngine = kind;
    if (kind === 'auto') localStorage.removeItem(ENGINE_KEY);
    else localStorage.setItem(ENGINE_KEY, kind);
    if (!this.service || !this.prepared || kind === 'auto') return;
    const candidate = this.prepared.candidates.find((c) => c.kind === kind);
    if (candidate?.isAvailable && (await this.service.choose(kind))) {
      this.prepared = { ...this.prepared, engine: kind, choice: 'your choice' };
      this.addLog(`Engine set to ${kind}; it is used from the next start.`);
      this.share();
    }
  }

  /** The "keep wllama on the CPU" setting; remembered, used when the scout next starts. */
  keepWllamaOnCpu(isOnCpu: boolean): void {
    this.isWllamaOnCpu = isOnCpu;
    if (isOnCpu) localStorage.setItem(WLLAMA_CPU_KEY, '1');
    else localStorage.removeItem(WLLAMA_CPU_KEY);
    this.addLog(
      isOnCpu
        ? 'wllama will draft on the CPU from the next start.'
        : 'wllama will use WebGPU where this device can run it, from the next start.'
    );
  }

  /** Leader only: load engines and run the on-device benchmark. */
  async prepare(): Promise<PrepareResult> {
    if (!this.service) throw new Error('This tab is not the scout.');
    this.setPhase('preparing');
    this.addLog('Downloading the draft model and measuring the engines on this device…');
    const result = await this.service.prepare({
      modelUrl: MODEL_URL,
      preferredEngine: this.preferredEngine === 'auto' ? null : this.preferredEngine,
      targetTokenizerFingerprint: this.targetFingerprint,
      wllamaBackend: this.isWllamaOnCpu ? 'cpu' : 'auto',
      modelHeaders: authHeaders()
    });
    this.prepared = result;
    if (result.modelSource) this.addLog(`Draft model loaded from ${result.modelSource}.`);
    const backend = result.wllamaBackend;
    if (backend) {
      this.addLog(
        backend.kind === 'webgpu'
          ? `wllama runs on the GPU: ${backend.device ?? 'WebGPU'} (${backend.gpuLayers ?? 'all'} layers).`
          : `wllama runs on the CPU (WASM): ${backend.reason}.`
      );
    }
    for (const c of result.candidates) {
      if (!c.isAvailable) this.addLog(`${c.kind} not used: ${c.reason}`);
    }
    if (this.targetFingerprint && result.tokenizerFingerprint !== this.targetFingerprint) {
      this.addLog(
        'The draft model uses a different vocabulary than the oracle’s target; the oracle will refuse its drafts.',
        true
      );
    }
    this.addLog(`Picked ${result.engine}: ${result.choice}.`);
    this.setPhase('idle');
    return result;
  }

  private async becomeLeader(): Promise<void> {
    if (this.isDestroyed) return;
    const { default: ScoutWorker } = await import('$workers/scout.worker.ts?worker');
    const { createScoutHost } = await import('$workers/scout/browser/mesh-host.js');
    this.worker = new ScoutWorker({ name: 'shard-scout' });
    this.engineService = wrap<ScoutService>(this.worker);
    this.service = createScoutHost(this.engineService);
    // What this tab mirrored from the previous leader is stale now: its worker is gone.
    this.phase = 'idle';
    this.snapshot = null;
    this.prepared = null;
    this.error = null;
    await this.service.subscribe((update: ScoutUpdate) => this.onUpdate(update));
    this.role = 'leader';
    this.addLog('This tab is the scout for this browser.');
    const isWanted = localStorage.getItem(WANTED_KEY) === '1';
    if (isWanted && this.isHeldBack) {
      this.addLog('Not resuming scouting: an oracle runs on this device (see above).');
    } else if (isWanted) {
      this.addLog('Resuming scouting (it was on in another tab).');
      await this.start();
    }
    this.share();
  }

  private onUpdate(update: ScoutUpdate): void {
    if (update.type === 'snapshot') {
      this.snapshot = update.snapshot;
    } else if (update.type === 'notice') {
      this.addLog(update.text, update.isError);
    } else {
      const e = update.event;
      if (e.type === 'oracle:welcome')
        this.addLog(`Oracle ${short(e.oracle)} accepted this scout.`);
      else if (e.type === 'oracle:refused')
        this.addLog(`Oracle ${short(e.oracle)} refused this scout: ${e.message}`, true);
      else if (e.type === 'oracle:error')
        this.addLog(`Could not join oracle ${short(e.oracle)}: ${e.message}`, true);
      else if (e.type === 'session:open') this.addLog(`Drafting for session ${e.sessionId}.`);
      else if (e.type === 'session:close')
        this.addLog(`Session ${e.sessionId} ended (${e.reason}).`);
      else if (e.type === 'engine:error') this.addLog(`Draft engine: ${e.message}`, true);
      else if (e.type === 'protocol:error')
        this.addLog(`Protocol error in ${e.sessionId}: ${e.message}`, true);
    }
    this.share();
  }

  private mirror(state: SharedScoutState): void {
    if (this.role === 'electing') this.role = 'follower';
    if (this.role !== 'follower') return;
    this.phase = state.phase;
    this.snapshot = state.snapshot;
    this.prepared = state.prepared;
    this.error = state.error;
    this.isWakeLockActive = state.isWakeLockActive;
    this.log = state.log;
  }

  private share(): void {
    if (this.role !== 'leader') return;
    this.election?.publish(
      $state.snapshot({
        phase: this.phase,
        snapshot: this.snapshot,
        prepared: this.prepared,
        error: this.error,
        isWakeLockActive: this.isWakeLockActive,
        log: this.log
      })
    );
  }

  private async readTarget(): Promise<void> {
    try {
      const res = await apiFetch('/health', { cache: 'no-store' });
      const body = (await res.json()) as { tokenizer_fingerprint?: string | null };
      this.targetFingerprint = body.tokenizer_fingerprint ?? null;
    } catch {
      this.targetFingerprint = null;
    }
  }

  /** Relays (WebSocket addresses) and oracle circuit addresses from the topology or settings. */
  private async readTopology(): Promise<{ relays: string[]; oracles: string[] }> {
    const configured = (localStorage.getItem(RELAYS_KEY) ?? '').split(/\s+/).filter(Boolean);
    let topology: Topology = {};
    let isReachable = false;
    try {
      const res = await apiFetch('/v1/system/topology', { cache: 'no-store' });
      if (res.ok) topology = (await res.json()) as Topology;
      isReachable = true;
    } catch {
      // Offline or no oracle: configured relays may still work.
    }
    const isWs = (a: string) => /\/wss?(\/|$)/.test(a);
    const circuit = (topology.circuit_addrs ?? []).filter(isWs);
    const relays = [
      ...configured,
      ...(topology.relays ?? []).filter(isWs),
      ...circuit.map((a) => a.split('/p2p-circuit')[0])
    ].filter((a, index, all) => all.indexOf(a) === index);
    if (relays.length === 0 && !isReachable) {
      throw new Error(
        'The oracle cannot be reached (you may be offline), so no relay address is known. The draft model is ready; start again when you are back online.'
      );
    }
    if (relays.length === 0) {
      throw new Error(
        'The oracle is not connected to a relay that browsers can reach (no WebSocket relay address), so there is nobody to draft for yet.'
      );
    }
    return { relays, oracles: circuit };
  }

  private setPhase(phase: Phase): void {
    this.phase = phase;
    this.share();
  }

  private fail(err: unknown): void {
    const message = (err as Error)?.message ?? String(err);
    this.error = message;
    this.phase = 'error';
    this.addLog(message, true);
    void this.wakeLock.disable();
  }

  private addLog(text: string, isError = false): void {
    this.log = [{ atMs: Date.now(), text, isError }, ...this.log].slice(0, MAX_LOG);
    this.share();
  }
}

function short(peerId: string): string {
  return peerId.length > 12 ? `…${peerId.slice(-8)}` : peerId;
}
