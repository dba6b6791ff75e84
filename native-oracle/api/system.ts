/**
 * Health and mesh views: `GET /health` (= `/v1/system/health`, always open, for load balancers
 * and the app; registered by registerHealthRoutes before the API-key guard), and the protected
 * `GET /v1/system/topology` and `GET /v1/system/peers`. Mesh data comes from the callbacks given
 * to the server (the mesh plugin); until then the lists are empty. The mesh plugin also adds the
 * scout trust views `GET /v1/system/reputation` and `GET /v1/system/bans` (registerTrustRoutes).
 */
import type { AdmissionQueue } from '../admission/queue.js';
import type { ChatCounters } from './chat.js';
import type { TargetEngine } from '../engine/index.js';
import { jsonResponse, type Router } from '../http/router.js';
import { createLogger } from '../../src/lib/server/log.js';

const log = createLogger('shard:oracle:system');

/** One known peer, in the predecessor's snake_case shape; extra fields pass through. */
export interface PeerInfo {
  peer_id: string;
  addrs?: string[];
  connected_at?: number;
  last_seen_at?: number;
  verified?: boolean;
  [field: string]: unknown;
}

/**
 * A readiness check a plugin adds to /health (e.g. the receipt store's free space): undefined
 * while all is well, else the reason (snake_case, e.g. `disk_full`) and a plain message.
 */
export type HealthProbe = () => { reason: string; message: string } | null | undefined;

export interface SystemRouteOptions {
  engine: TargetEngine | null;
  admission: AdmissionQueue;
  startedAtMs: number;
  /** Read at each request so a plugin can install it after start-up. */
  peers: () => PeerInfo[];
  topology: () => object | undefined;
  /** Chat outcomes since start. */
  chat: ChatCounters;
  /** Checks read at each /health; the first problem makes health `degraded`. Default none. */
  healthProbes?: readonly HealthProbe[];
  /** Whether the target model is one `npm run models` generated (word salad by design). */
  isGeneratedTestModel?: boolean;
}

/** Registers `/health` and `/v1/system/health`; call before the guard so both stay open. */
export function registerHealthRoutes(router: Router, options: SystemRouteOptions): void {
  // Health must answer even when the mesh's provider fails: count what can be counted.
  const peerCount = () => {
    try {
      return options.peers().length;
    } catch (err) {
      log.warn('peers provider failed', { err });
      return 0;
    }
  };
  // A probe that throws counts as a problem: health must answer, and say what it could not check.
  const firstProblem = () => {
    for (const probe of options.healthProbes ?? []) {
      try {
        const problem = probe();
        if (problem) return problem;
      } catch (err) {
        log.warn('health probe failed', { err });
        return { reason: 'probe_failed', message: 'a readiness check failed; see the oracle log' };
      }
    }
    return null;
  };
  const health = () => {
    const { engine } = options;
    const queue = options.admission.snapshot();
    const problem = firstProblem();
    return jsonResponse({
      status: engine && !problem ? 'ok' : 'degraded',
      readiness_reason: problem?.reason ?? (engine ? 'ready' : 'engine_unavailable'),
      ...(problem ? { readiness_detail: problem.message } : {}),
      ready_for_inference: engine !== null,
      model: engine?.modelId ?? null,
      // What llama.cpp runs the target on (`cpu`, `cuda`, `vulkan`, `metal`); null without a model.
      backend: engine?.backend ?? null,
      model_is_generated_test_model: engine !== null && options.isGeneratedTestModel === true,
      tokenizer_fingerprint: engine?.tokenizerFingerprint ?? null,
      uptime_ms: Date.now() - options.startedAtMs,
      peers: peerCount(),
      queue: {
        active: queue.active,
        queued: queue.queued,
        max_concurrent: queue.maxConcurrent,
        max_queued: queue.maxQueued,
        by_class: options.admission.classSnapshot()
      },
      chat: { ...options.chat }
    });
  };
  router.get('/health', health);
  router.get('/v1/system/health', health);
}

/** Registers `/v1/system/peers` and `/v1/system/topology` (protected: call after the guard). */
export function registerSystemRoutes(router: Router, options: SystemRouteOptions): void {
  router.get('/v1/system/peers', () => {
    const peers = options.peers();
    return jsonResponse({ peers, count: peers.length });
  });
  router.get('/v1/system/topology', () => {
    const peers = options.peers();
    return jsonResponse(
      options.topology() ?? {
        status: 'standalone',
        model_id: options.engine?.modelId ?? null,
        known_peer_count: peers.length,
        peers: [],
        links: []
      }
    );
  });
}

/** What the trust views read: the mesh's ledger (`OracleMesh.reputation()` / `bans()`). */
export interface TrustRouteOptions {
  /** Every scout the ledger knows, most recently seen first. */
  reputation(): readonly object[];
  /** Active bans, newest first. */
  bans(): readonly object[];
}

/**
 * Registers `GET /v1/system/reputation` (`{ scouts: ReputationEntry[], count }`) and
 * `GET /v1/system/bans` (`{ bans: BanEntry[], count }`); both under /v1, so behind the API key
 * when keys are set. Called by the mesh plugin: an oracle without a mesh has no such routes.
 */
export function registerTrustRoutes(router: Router, options: TrustRouteOptions): void {
  router.get('/v1/system/reputation', () => {
    const scouts = options.reputation();
    return jsonResponse({ scouts, count: scouts.length });
  });
  router.get('/v1/system/bans', () => {
    const bans = options.bans();
    return jsonResponse({ bans, count: bans.length });
  });
}
