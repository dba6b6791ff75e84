/**
 * The oracle's HTTP server: one origin that serves the OpenAI-compatible API, health and mesh
 * views, the generated model files and the built PWA, every response cross-origin isolated
 * (COOP/COEP). Other units attach through `plugins` (workflow routes, mesh peers/topology, draft
 * sources) without this file knowing them.
 *
 * Request path: isolation headers → shutdown gate → static files (when no route matches) →
 * router (auth → rate limit → route handler; generations pass the shared admission queue).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { admitEngine } from './admission/admitted-engine.js';
import { createAdmissionQueue, DEFAULT_QUEUE_MAX, type AdmissionQueue } from './admission/queue.js';
import { createRateLimiter, DEFAULT_RATE_LIMIT_PER_MINUTE } from './admission/rate-limit.js';
import { registerChatRoutes, type DraftSourceProvider } from './api/chat.js';
import { registerModelRoutes } from './api/models.js';
import { registerSystemRoutes, type PeerInfo } from './api/system.js';
import type { TargetEngine } from './engine/index.js';
import { ServiceUnavailableError, toHttp } from './http/errors.js';
import { registerModelFileRoutes } from './http/model-files.js';
import { DEFAULT_MAX_BODY_BYTES, Router, sendJson } from './http/router.js';
import {
  checkHostHeader,
  createAuthMiddleware,
  createRateLimitMiddleware,
  isLoopbackHost
} from './http/security.js';
import { createStaticHandler, ISOLATION_HEADERS } from './http/static.js';
import { createLogger } from '../src/lib/server/log.js';

export type { PeerInfo } from './api/system.js';
export type { DraftSourceProvider } from './api/chat.js';

const log = createLogger('shard:oracle:server');

/** Default prompt limit in characters when SHARD_MAX_PROMPT_CHARS is not set. */
export const DEFAULT_MAX_PROMPT_CHARS = 16_000;
/** How long `stop()` lets running requests finish before it aborts them. */
export const DEFAULT_SHUTDOWN_GRACE_MS = 10_000;

/** What a plugin receives when the server is created. */
export interface OraclePluginContext {
  /**
   * The engine behind the shared admission queue: `generate()` waits its turn in the same FIFO
   * as chat requests (and throws QueueFullError when it is full). null when no model is loaded.
   */
  engine: TargetEngine | null;
  admission: AdmissionQueue;
  /** Supplies the peers shown by /v1/system/peers and counted by /health. */
  setPeers(provider: () => PeerInfo[]): void;
  /** Supplies the body of /v1/system/topology. */
  setTopology(provider: () => object): void;
  /** Chooses the draft source of each chat request (e.g. a remote scout). */
  setDraftSourceProvider(provider: DraftSourceProvider): void;
}

/** Optional lifecycle a plugin returns; `start` runs after listen, `stop` before the server closes. */
export interface OraclePluginHandle {
  start?(info: { url: string }): Promise<void> | void;
  stop?(): Promise<void> | void;
}

/** Registers routes (with `router.add`) and hooks; called once from createOracleServer. */
export type OraclePlugin = (router: Router, ctx: OraclePluginContext) => OraclePluginHandle | void;

export interface OracleServerOptions {
  /** The target engine; null starts degraded (health "degraded", chat 503). */
  engine: TargetEngine | null;
  host: string;
  /** 0 picks a free port; read the result from `url` after start(). */
  port: number;
  /** Built PWA served at `/`; default none. */
  staticDir?: string;
  /** Generated models served at /models/<name>.gguf; default none (route absent). */
  modelsDir?: string;
  plugins?: OraclePlugin[];
  /** Peers for /v1/system/peers and /health; default none. A plugin may replace it. */
  peers?: () => PeerInfo[];
  /** Body of /v1/system/topology; default a "standalone" view. A plugin may replace it. */
  topology?: () => object;
  /** Accepted API keys; default none (no key needed). */
  apiKeys?: readonly string[];
  /** Per key or client address on /v1/*; default 60; 0 disables. */
  rateLimitPerMinute?: number;
  /** Default 16 000 characters. */
  maxPromptChars?: number;
  /** Default 1 MiB. */
  maxBodyBytes?: number;
  /** Requests waiting for a generation slot; default 16. */
  queueMax?: number;
  /** Default 10 000 ms. */
  shutdownGraceMs?: number;
  /**
   * Extra Host names accepted when listening on loopback (DNS-rebinding guard); default none.
   * The guard is off when `host` is not a loopback address.
   */
  allowedHosts?: readonly string[];
  /** Draft source per chat request; default the engine's own. A plugin may replace it. */
  draftSourceProvider?: DraftSourceProvider;
}

export interface OracleServer {
  /** `http://host:port` with the real port; throws before start(). */
  readonly url: string;
  readonly router: Router;
  readonly admission: AdmissionQueue;
  /**
   * Listens, then starts plugins in order. Rejects when the port cannot be bound or a plugin's
   * start fails (then started plugins are stopped and the port is released).
   */
  start(): Promise<void>;
  /**
   * Stops accepting, lets running requests finish for `shutdownGraceMs`, aborts the rest (client
   * streams end, generations free their sequences), then stops plugins. Does not dispose the engine.
   */
  stop(): Promise<void>;
}

function formatUrl(address: AddressInfo): string {
  const host =
    address.address === '0.0.0.0' || address.address === '::'
      ? '127.0.0.1'
      : address.family === 'IPv6'
        ? `[${address.address}]`
        : address.address;
  return `http://${host}:${address.port}`;
}

function settledWithin(promises: Iterable<Promise<unknown>>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  return Promise.race([Promise.allSettled([...promises]).then(() => true), timeout]).finally(() =>
    clearTimeout(timer)
  );
}

/** Creates the oracle server; nothing listens until start(). */
export function createOracleServer(options: OracleServerOptions): OracleServer {
  const startedAtMs = Date.now();
  const router = new Router({ maxBodyBytes: options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES });
  const admission = createAdmissionQueue({
    maxConcurrent: options.engine?.maxConcurrent ?? 1,
    maxQueued: options.queueMax ?? DEFAULT_QUEUE_MAX
  });
  const engine = options.engine ? admitEngine(options.engine, admission) : null;
  let peers: () => PeerInfo[] = options.peers ?? (() => []);
  let topology: (() => object) | undefined = options.topology;
  let draftSourceProvider = options.draftSourceProvider;

  router.use(createAuthMiddleware({ apiKeys: options.apiKeys ?? [] }));
  router.use(
    createRateLimitMiddleware({
      limiter: createRateLimiter({
        perMinute: options.rateLimitPerMinute ?? DEFAULT_RATE_LIMIT_PER_MINUTE
      })
    })
  );
  const chatCounters = { completed: 0, aborted: 0, failed: 0 };
  registerSystemRoutes(router, {
    chat: chatCounters,
    engine,
    admission,
    startedAtMs,
    peers: () => peers(),
    topology: () => topology?.()
  });
  registerModelRoutes(router, { engine, startedAtS: Math.floor(startedAtMs / 1000) });
  registerChatRoutes(router, {
    counters: chatCounters,
    engine,
    maxPromptChars: options.maxPromptChars ?? DEFAULT_MAX_PROMPT_CHARS,
    draftSourceProvider: () => draftSourceProvider
  });
  if (options.modelsDir) registerModelFileRoutes(router, { modelsDir: options.modelsDir });

  const handles: OraclePluginHandle[] = [];
  for (const plugin of options.plugins ?? []) {
    const handle = plugin(router, {
      engine,
      admission,
      setPeers: (p) => {
        peers = p;
      },
      setTopology: (t) => {
        topology = t;
      },
      setDraftSourceProvider: (d) => {
        draftSourceProvider = d;
      }
    });
    if (handle) handles.push(handle);
  }

  const serveStatic = options.staticDir ? createStaticHandler(options.staticDir) : undefined;
  const isHostChecked = isLoopbackHost(options.host);
  const allowedHosts = options.allowedHosts ?? [];
  const inFlight = new Set<Promise<void>>();
  let isStopping = false;
  let server: Server | undefined;
  let url: string | undefined;

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    for (const [name, value] of Object.entries(ISOLATION_HEADERS)) res.setHeader(name, value);
    let pathname = '/';
    try {
      pathname = new URL(req.url ?? '/', 'http://localhost').pathname;
    } catch {
      // Unparseable target: the router answers 404 for it below.
    }
    if (isHostChecked) {
      const refusal = checkHostHeader(req.headers.host, allowedHosts);
      if (refusal) {
        const mapped = toHttp(refusal, 'openai');
        sendJson(res, mapped.status, mapped.body, mapped.headers);
        return;
      }
    }
    if (isStopping && pathname !== '/health' && pathname !== '/v1/system/health') {
      const mapped = toHttp(
        new ServiceUnavailableError('the oracle is shutting down', 'shutdown_in_progress', 5),
        'openai'
      );
      sendJson(res, mapped.status, mapped.body, { ...mapped.headers, connection: 'close' });
      return;
    }
    // API paths never fall back to the app shell: an unknown /v1 path is a JSON 404.
    const isApiPath = pathname === '/v1' || pathname.startsWith('/v1/');
    if (serveStatic && !isApiPath && !router.matchesPath(pathname)) {
      try {
        if (serveStatic(req, res)) return;
      } catch (err) {
        log.warn('static file failed', { path: pathname, err });
        if (res.headersSent) {
          res.destroy();
          return;
        }
      }
    }
    await router.handle(req, res);
  };

  return {
    router,
    admission,
    get url(): string {
      if (!url) throw new Error('the oracle server has not started');
      return url;
    },
    async start(): Promise<void> {
      if (server) throw new Error('the oracle server is already started');
      const s = createServer((req, res) => {
        const startedAt = Date.now();
        res.once('close', () =>
          log.debug('request', {
            method: req.method,
            path: (req.url ?? '').split('?')[0],
            status: res.statusCode,
            ms: Date.now() - startedAt,
            isComplete: res.writableFinished
          })
        );
        const p = handle(req, res).catch((err) => {
          log.error('request failed outside the router', { err });
          if (!res.headersSent) sendJson(res, 500, toHttp(err, 'openai').body);
          else res.destroy();
        });
        inFlight.add(p);
        void p.finally(() => inFlight.delete(p));
      });
      await new Promise<void>((resolve, reject) => {
        const onError = (err: Error) => reject(err);
        s.once('error', onError);
        s.listen(options.port, options.host, () => {
          s.off('error', onError);
          resolve();
        });
      });
      s.on('error', (err) => log.error('server error', { err }));
      server = s;
      isStopping = false;
      url = formatUrl(s.address() as AddressInfo);
      const started: OraclePluginHandle[] = [];
      try {
        for (const h of handles) {
          await h.start?.({ url });
          started.push(h);
        }
      } catch (err) {
        // A plugin that cannot start leaves nothing half-running: stop the others and close.
        for (const h of started.reverse()) await Promise.resolve(h.stop?.()).catch(() => undefined);
        server = undefined;
        await new Promise<void>((resolve) => s.close(() => resolve()));
        throw err;
      }
      log.info('listening', { url, model: options.engine?.modelId ?? null });
    },
    async stop(): Promise<void> {
      const s = server;
      if (!s || isStopping) return;
      isStopping = true;
      const closed = new Promise<void>((resolve) => s.close(() => resolve()));
      s.closeIdleConnections();
      const grace = options.shutdownGraceMs ?? DEFAULT_SHUTDOWN_GRACE_MS;
      const isDrained = await settledWithin(inFlight, grace);
      if (!isDrained)
        log.warn('aborting requests still running after the grace period', {
          count: inFlight.size
        });
      // Destroying the sockets fires each request's abort signal: generations stop at the next
      // token boundary and release their sequences.
      s.closeAllConnections();
      await settledWithin(inFlight, grace);
      await closed;
      for (const h of [...handles].reverse()) {
        try {
          await h.stop?.();
        } catch (err) {
          log.error('plugin stop failed', { err });
        }
      }
      server = undefined;
      log.info('stopped');
    }
  };
}
