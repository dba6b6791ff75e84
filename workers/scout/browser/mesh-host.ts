/**
 * The browser scout's mesh side, on the leader tab's main thread: the libp2p node (WebSockets to
 * relays, WebRTC to oracles and peers: RTCPeerConnection exists only on the page, not in
 * workers) and the scout peer, drafting through the engine service in the scout worker.
 *
 *  1. `prepare()` / `choose()`: forwarded to the worker (engines, benchmark).
 *  2. `start()`: starts the node, dials the relays, then for every oracle given as a relayed
 *     circuit address tries a direct WebRTC connection through that circuit (bounded retry);
 *     the handshake then runs over the direct connection, or over the circuit when the upgrade
 *     failed (graceful fallback). The oracle's verify streams use the direct connection when
 *     there is one (libp2p prefers direct connections to a peer).
 *  3. `stop()`: ends sessions and the node; the worker keeps the engine for a quick restart.
 *
 * Updates (stats, how each oracle is reached, events) go to the page through one callback, with
 * the worker's engine state merged in.
 */
import type { Connection } from '@libp2p/interface';
import { multiaddr } from '@multiformats/multiaddr';
import { proxy, type Remote } from 'comlink';
import { VERIFY_PROTOCOL } from '../../../src/lib/protocol/mesh.js';
import type { DraftEngine } from '../core.js';
import { createScoutPeer, type ScoutPeer, type ScoutPeerEvent } from '../scout-peer.js';
import { createBrowserMeshNode, loadIdentityKey, type BrowserMeshNode } from './browser-node.js';
import type {
  EngineKind,
  OracleConnectionKind,
  PrepareOptions,
  PrepareResult,
  ScoutService,
  ScoutSnapshot,
  ScoutUpdate
} from './service.js';
import { idleScoutSnapshot } from './snapshot.js';

export interface StartOptions {
  /** Relay WebSocket multiaddrs with /p2p/<id>. */
  relays: string[];
  /**
   * Oracle multiaddrs to join right away: relayed circuit addresses from the topology
   * (`<relay>/p2p-circuit/p2p/<oracle>`, upgraded to WebRTC when possible) or any other address.
   */
  oracles?: string[];
  /** Fraction of time the engine may spend drafting (mobile uses less); default 1. */
  dutyCycle?: number;
  /** Sessions served at once; default 2. */
  maxSessions?: number;
  /** Tries of the direct WebRTC dial per oracle; default `WEBRTC_DIAL_ATTEMPTS`. */
  webRtcAttempts?: number;
}

/** Tries of a direct WebRTC dial before the scout stays on the relayed circuit. */
export const WEBRTC_DIAL_ATTEMPTS = 3;
/**
 * Deadline of one WebRTC dial, ms. Dials on a LAN take 70-170 ms, but some stall for ~6 s and
 * succeed when retried (FIELD-NOTES): cutting each try short and retrying beats waiting.
 */
const WEBRTC_DIAL_TIMEOUT_MS = 4_000;

const SOFTWARE = { name: 'shard-browser-scout', version: '0.1.0' } as const;

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

/**
 * A `DraftEngine` whose drafts run in the scout worker. An abort cancels the worker's draft;
 * the speed is the worker's figure, refreshed after every draft (the interface reads it sync).
 */
async function createRemoteEngine(service: Remote<ScoutService>): Promise<DraftEngine> {
  const info = await service.engineInfo();
  if (!info) throw new Error('prepare() must pick an engine before start()');
  let tokensPerSecond = (await service.tokensPerSecond()) ?? 0;
  let nextRequestId = 1;
  return {
    name: info.name,
    tokenizerFingerprint: info.tokenizerFingerprint,
    ...(info.tokenizerSketch ? { tokenizerSketch: info.tokenizerSketch } : {}),
    models: info.models,
    async draft(context, k, signal) {
      signal?.throwIfAborted();
      const requestId = nextRequestId++;
      const onAbort = () => void service.cancelDraft(requestId);
      signal?.addEventListener('abort', onAbort, { once: true });
      try {
        const tokens = await service.draft([...context], k, requestId);
        tokensPerSecond = (await service.tokensPerSecond()) ?? tokensPerSecond;
        return tokens;
      } finally {
        signal?.removeEventListener('abort', onAbort);
      }
    },
    tokensPerSecond: () => tokensPerSecond,
    // The worker owns the model; the page never frees it through the peer.
    dispose: async () => undefined
  };
}

/** `<relay>/p2p-circuit/p2p/<oracle>` → `<relay>/p2p-circuit/webrtc/p2p/<oracle>`; else null. */
function webRtcAddressOf(circuitAddr: string): string | null {
  const match = /^(.+\/p2p-circuit)\/p2p\/([^/]+)$/.exec(circuitAddr);
  return match ? `${match[1]}/webrtc/p2p/${match[2]}` : null;
}

/** How a connection reaches its peer: WebRTC is direct, a circuit without it is relayed. */
function connectionKind(conn: Pick<Connection, 'remoteAddr'>): OracleConnectionKind {
  const names = conn.remoteAddr.getComponents().map((c) => c.name);
  return names.includes('webrtc') ? 'direct' : names.includes('p2p-circuit') ? 'relayed' : 'direct';
}

function lastPeerId(addr: string): string | null {
  return (
    multiaddr(addr)
      .getComponents()
      .findLast((c) => c.name === 'p2p')?.value ?? null
  );
}

export function createScoutHost(service: Remote<ScoutService>) {
  let node: BrowserMeshNode | null = null;
  let peer: ScoutPeer | null = null;
  let relayAddrs: string[] = [];
  let listener: ((u: ScoutUpdate) => void) | null = null;
  let ticker: ReturnType<typeof setInterval> | null = null;
  let engineSnapshot: ScoutSnapshot | null = null;
  let state: ScoutSnapshot['state'] = 'idle';
  let lastError: string | null = null;
  let currentSession: string | null = null;
  const verifyStreams: Record<OracleConnectionKind, number> = { direct: 0, relayed: 0 };
  const countedStreams = new Set<string>();
  /** Mesh fields of the last refresh with a node; kept after stop() (the page still shows them). */
  /**
   * A closing tab does not always tell the oracle that its WebRTC connections ended (the oracle
   * would notice only when ICE consent expires, long after): close them while the page can.
   */
  const onPageHide = () => {
    for (const conn of node?.getConnections() ?? []) conn.abort(new Error('the scout page closed'));
  };
  let mesh: Pick<ScoutSnapshot, 'peerId' | 'relays' | 'peers' | 'stats' | 'oracles'> | null = null;

  function refresh(): ScoutSnapshot {
    const base: ScoutSnapshot = structuredClone(engineSnapshot ?? idleScoutSnapshot());
    // The worker's state matters only while the mesh side is idle (e.g. during prepare()).
    if (state !== 'idle') base.state = state;
    base.lastError = lastError ?? base.lastError;
    base.currentSession = currentSession;
    base.verifyStreams = { ...verifyStreams };
    if (node) {
      const live = node;
      const connected = new Set(live.getConnections().map((c) => c.remotePeer.toString()));
      mesh = {
        peerId: live.peerId.toString(),
        relays: relayAddrs.map((addr) => ({
          addr,
          isConnected: connected.has(lastPeerId(addr) ?? '')
        })),
        peers: live.getPeers().length,
        stats: peer ? { ...peer.stats } : (mesh?.stats ?? base.stats),
        oracles: mesh?.oracles ?? []
      };
      if (peer) {
        mesh.oracles = peer.oracles().map((o) => {
          const conns = live
            .getConnections()
            .filter((c) => c.remotePeer.toString() === o.peerId && c.status === 'open');
          // Verify streams take a direct connection when there is one (libp2p's choice).
          const used = conns.find((c) => connectionKind(c) === 'direct') ?? conns[0];
          return {
            ...o,
            connection: used ? connectionKind(used) : null,
            remoteAddr: used ? used.remoteAddr.toString() : null
          };
        });
      }
    }
    return mesh ? { ...base, ...structuredClone(mesh) } : base;
  }

  function push(): void {
    listener?.({ type: 'snapshot', snapshot: refresh() });
  }

  function notice(text: string, isError = false): void {
    listener?.({ type: 'notice', text, isError, atMs: Date.now() });
  }

  /** Counts the verify streams now open by the kind of connection they run on (once each). */
  function countVerifyStreams(): void {
    for (const conn of node?.getConnections() ?? []) {
      for (const stream of conn.streams) {
        const key = `${conn.id}/${stream.id}`;
        if (stream.protocol !== VERIFY_PROTOCOL || countedStreams.has(key)) continue;
        countedStreams.add(key);
        verifyStreams[connectionKind(conn)]++;
      }
    }
  }

  function onPeerEvent(event: ScoutPeerEvent): void {
    if (event.type === 'session:open') {
      currentSession = event.sessionId;
      countVerifyStreams();
    }
    if (event.type === 'session:close' && currentSession === event.sessionId) currentSession = null;
    if (event.type === 'engine:error') lastError = event.message;
    listener?.({ type: 'event', event, atMs: Date.now() });
    push();
  }

  /**
   * Tries a direct WebRTC connection to the oracle behind `circuitAddr`, up to `attempts` times.
   * Resolves with the address to join through: the WebRTC one on success, else the circuit.
   */
  async function upgrade(live: BrowserMeshNode, circuitAddr: string, attempts: number) {
    const direct = webRtcAddressOf(circuitAddr);
    if (!direct) return circuitAddr;
    const oracle = lastPeerId(circuitAddr) ?? circuitAddr;
    let lastFailure = '';
    for (let attempt = 1; attempt <= attempts; attempt++) {
      const started = performance.now();
      try {
        const conn = await live.dial(multiaddr(direct), {
          signal: AbortSignal.timeout(WEBRTC_DIAL_TIMEOUT_MS)
        });
        if (connectionKind(conn) !== 'direct') throw new Error(`got ${conn.remoteAddr.toString()}`);
        notice(
          `Direct WebRTC connection to oracle …${oracle.slice(-8)} in ${Math.round(performance.now() - started)} ms (try ${attempt} of ${attempts}).`
        );
        return direct;
      } catch (err) {
        lastFailure = (err as Error).message;
      }
    }
    notice(
      `No direct WebRTC connection to oracle …${oracle.slice(-8)} after ${attempts} tries (${lastFailure}); staying relayed.`,
      true
    );
    return circuitAddr;
  }

  return {
    /** Registers the page's update callback; replaces the previous one. */
    async subscribe(callback: (u: ScoutUpdate) => void): Promise<void> {
      listener = callback;
      await service.subscribe(
        proxy((update: ScoutUpdate) => {
          if (update.type === 'snapshot') {
            engineSnapshot = update.snapshot;
            push();
          } else {
            listener?.(update);
          }
        })
      );
    },

    snapshot(): ScoutSnapshot {
      return refresh();
    },

    prepare(options: PrepareOptions): Promise<PrepareResult> {
      lastError = null;
      return service.prepare(options);
    },

    choose(kind: EngineKind): Promise<boolean> {
      return service.choose(kind);
    },

    /** Starts the node, upgrades to WebRTC where it can, joins the oracles, serves drafts. */
    async start(options: StartOptions): Promise<void> {
      if (peer) return;
      state = 'starting';
      lastError = null;
      push();
      try {
        const engine = await createRemoteEngine(service);
        const privateKey = await loadIdentityKey();
        const live = await createBrowserMeshNode(privateKey);
        node = live;
        relayAddrs = options.relays;
        live.addEventListener('connection:open', push);
        live.addEventListener('connection:close', push);
        globalThis.addEventListener?.('pagehide', onPageHide);
        const dials = await Promise.allSettled(options.relays.map((r) => live.dial(multiaddr(r))));
        const failed = dials.filter((d) => d.status === 'rejected');
        if (options.relays.length > 0 && failed.length === options.relays.length) {
          throw new Error(
            `no relay could be reached (${(failed[0] as PromiseRejectedResult).reason?.message ?? 'dial failed'})`
          );
        }
        // One address per oracle: the first circuit address through a relay we reached.
        const byOracle = new Map<string, string>();
        for (const addr of options.oracles ?? []) {
          const id = lastPeerId(addr);
          if (id && !byOracle.has(id) && !addr.includes('/webrtc')) byOracle.set(id, addr);
        }
        const attempts = options.webRtcAttempts ?? WEBRTC_DIAL_ATTEMPTS;
        const joinAddrs = await Promise.all(
          [...byOracle.values()].map((addr) => upgrade(live, addr, attempts))
        );
        peer = createScoutPeer({
          node: live,
          privateKey,
          engine: throttle(engine, options.dutyCycle ?? 1),
          software: SOFTWARE,
          oracles: joinAddrs,
          maxSessions: options.maxSessions ?? 2,
          onEvent: onPeerEvent
        });
        await peer.start();
        state = 'scouting';
        ticker = setInterval(push, 1000);
        push();
      } catch (err) {
        lastError = (err as Error).message;
        await this.stop().catch(() => undefined);
        state = 'error';
        push();
        throw err;
      }
    },

    async stop(): Promise<void> {
      if (ticker) clearInterval(ticker);
      ticker = null;
      globalThis.removeEventListener?.('pagehide', onPageHide);
      state = 'stopping';
      push();
      await peer?.stop();
      peer = null;
      await node?.stop();
      node = null;
      state = 'idle';
      currentSession = null;
      push();
    },

    async dispose(): Promise<void> {
      await this.stop();
      await service.dispose();
    }
  };
}

export type ScoutHost = ReturnType<typeof createScoutHost>;
