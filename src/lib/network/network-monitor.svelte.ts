/**
 * Page-side state of the network page (Svelte 5 runes): the oracle's health, the peers and
 * topology it knows, a heartbeat (a timed GET /health), and this browser's scout, if one runs.
 *
 * Polling runs only while the page is visible: `visibilitychange` to hidden clears the timers,
 * back to visible polls at once and restarts them. One monitor per /network page: `start()` on
 * mount, `stop()` on unmount.
 */
import { apiFetch } from '$lib/api/api-key.svelte.js';
import type { SharedScoutState } from '$lib/scout/scout-controller.svelte.js';
import {
  HealthSchema,
  PeersResponseSchema,
  TopologySchema,
  type Health,
  type Peer,
  type Topology
} from '$lib/protocol/chat.js';
import { watchScout, type ScoutWatch } from './scout-watch.js';

/** Health, peers and topology refresh period: modest, the page is for people, not alerting. */
export const NETWORK_POLL_MS = 5_000;
/** Heartbeat period: often enough to see a round trip change, light on the oracle. */
export const HEARTBEAT_MS = 2_000;
/** Heartbeats kept for the chart (one minute at HEARTBEAT_MS). */
export const HEARTBEAT_SAMPLES = 30;
const REQUEST_TIMEOUT_MS = 4_000;
/** The scout's leader answers each ask at once; silence for two polls means none runs. */
const SCOUT_SILENCE_MS = 2 * NETWORK_POLL_MS;

export interface Heartbeat {
  atMs: number;
  /** Round trip of GET /health in ms; null when it failed. */
  rttMs: number | null;
}

/** Plain words for a failed read of one of the oracle's views. */
function failure(what: string, err: unknown, status?: number): string {
  if (status === 401)
    return `This oracle keeps its ${what} behind an API key, so this page cannot show them.`;
  if (status !== undefined && status >= 200 && status < 300)
    return `The oracle sent a ${what} this page cannot read (a different Shard version?).`;
  if (status !== undefined) return `The oracle could not show its ${what} (HTTP ${status}).`;
  if (typeof navigator !== 'undefined' && !navigator.onLine)
    return `You are offline, so the oracle’s ${what} cannot be read.`;
  if (err instanceof DOMException && err.name === 'TimeoutError')
    return `The oracle did not send its ${what} in time.`;
  return `The oracle’s ${what} could not be read: it may be down.`;
}

async function getJson(path: string): Promise<{ status: number; body: unknown }> {
  const res = await apiFetch(path, {
    cache: 'no-store',
    signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS)
  });
  const type = res.headers.get('content-type') ?? '';
  return { status: res.status, body: type.includes('json') ? await res.json() : null };
}

export class NetworkMonitor {
  health = $state<Health | null>(null);
  healthError = $state<string | null>(null);
  peers = $state<Peer[]>([]);
  peersError = $state<string | null>(null);
  topology = $state<Topology | null>(null);
  topologyError = $state<string | null>(null);
  heartbeats = $state<Heartbeat[]>([]);
  lastUpdatedMs = $state<number | null>(null);
  isPaused = $state(false);
  scout = $state<SharedScoutState | null>(null);
  scoutSeenMs = $state<number | null>(null);
  isScoutPresent = $state(false);

  lastRttMs = $derived(this.heartbeats.at(-1)?.rttMs ?? null);

  private timers: ReturnType<typeof setInterval>[] = [];
  private watch: ScoutWatch | null = null;
  private readonly onVisibility = () => {
    if (document.hidden) this.pause();
    else this.resume();
  };

  /** Starts polling (if the page is visible) and listening for this browser's scout. */
  start(): void {
    this.watch = watchScout((state) => {
      this.scout = state;
      this.scoutSeenMs = Date.now();
      this.isScoutPresent = true;
    });
    document.addEventListener('visibilitychange', this.onVisibility);
    if (document.hidden) this.isPaused = true;
    else this.resume();
  }

  stop(): void {
    document.removeEventListener('visibilitychange', this.onVisibility);
    this.pause();
    this.watch?.close();
    this.watch = null;
  }

  /** Reads health, peers and topology now (also asks the scout leader for its state). */
  async refresh(): Promise<void> {
    this.watch?.ask();
    this.isScoutPresent =
      this.scoutSeenMs !== null && Date.now() - this.scoutSeenMs < SCOUT_SILENCE_MS;
    await Promise.all([this.readHealth(), this.readPeers(), this.readTopology()]);
    this.lastUpdatedMs = Date.now();
  }

  /** One heartbeat: times GET /health (never cached: the service worker leaves /health alone). */
  async beat(): Promise<void> {
    const started = performance.now();
    let rttMs: number | null = null;
    try {
      const res = await apiFetch('/health', {
        cache: 'no-store',
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS)
      });
      await res.arrayBuffer();
      if (res.ok || res.status === 503) rttMs = performance.now() - started;
    } catch {
      rttMs = null; // Shown as a missed beat.
    }
    this.heartbeats = [...this.heartbeats, { atMs: Date.now(), rttMs }].slice(-HEARTBEAT_SAMPLES);
  }

  private pause(): void {
    for (const t of this.timers.splice(0)) clearInterval(t);
    this.isPaused = true;
  }

  private resume(): void {
    this.pause();
    this.isPaused = false;
    void this.refresh();
    void this.beat();
    this.timers.push(setInterval(() => void this.refresh(), NETWORK_POLL_MS));
    this.timers.push(setInterval(() => void this.beat(), HEARTBEAT_MS));
  }

  private async readHealth(): Promise<void> {
    try {
      const { status, body } = await getJson('/health');
      const parsed = HealthSchema.safeParse(body);
      if (!parsed.success) {
        this.healthError = failure('health', null, status);
        return;
      }
      this.health = parsed.data;
      this.healthError = null;
    } catch (err) {
      this.healthError = failure('health', err);
    }
  }

  private async readPeers(): Promise<void> {
    try {
      const { status, body } = await getJson('/v1/system/peers');
      const parsed = PeersResponseSchema.safeParse(body);
      if (status !== 200 || !parsed.success) {
        this.peersError = failure('peer list', null, status);
        return;
      }
      this.peers = parsed.data.peers;
      this.peersError = null;
    } catch (err) {
      this.peersError = failure('peer list', err);
    }
  }

  private async readTopology(): Promise<void> {
    try {
      const { status, body } = await getJson('/v1/system/topology');
      const parsed = TopologySchema.safeParse(body);
      if (status !== 200 || !parsed.success) {
        this.topologyError = failure('topology', null, status);
        return;
      }
      this.topology = parsed.data;
      this.topologyError = null;
    } catch (err) {
      this.topologyError = failure('topology', err);
    }
  }
}
