/**
 * The oracle's HTTP server: one origin that serves the OpenAI-compatible API, health and mesh
 * views, the generated model files and the built PWA, every response cross-origin isolated
 * (COOP/COEP). Other units attach through `plugins` (workflow routes, mesh peers/topology, draft
 * sources) without this file knowing them.
 *
 * Request path (Hono middleware, in order): request metrics → isolation headers → Host guard
 * (loopback only) → CORS policy → JSON content type of bodies → shutdown gate → path check →
 * open routes (/health, /v1/system/health, /openapi.json; /models/* behind the key unless
 * published) → guard of /v1/* and /metrics (API key → rate limit) → route (schema validation →
 * handler; generations pass the shared admission queue, per client). A path no route handles
 * gets 405 (other methods exist), a static file or the app shell (non-API GET), or a JSON 404
 * (API-like paths never get the shell). Every error goes through errorResponse(), the one mapper.
 */
import { createServer, type IncomingMessage, type RequestListener, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { getRequestListener, type Http2Bindings, type HttpBindings } from '@hono/node-server';
import { admitEngine, DEFAULT_MAX_TOKENS_LIMIT } from './admission/admitted-engine.js';
import {
  clientLimits,
  createAdmissionQueue,
  DEFAULT_QUEUE_MAX,
  type AdmissionQueue
} from './admission/queue.js';
import { createPriorityMiddleware, type ContributorIdentifier } from './admission/priority.js';
import { createRateLimiter, DEFAULT_RATE_LIMIT_PER_MINUTE } from './admission/rate-limit.js';
import { registerChatRoutes, type DraftSourceProvider } from './api/chat.js';
import { registerCompletionRoutes } from './api/completions.js';
import { registerEmbeddingRoutes } from './api/embeddings.js';
import { registerModelRoutes } from './api/models.js';
import { registerOpenApiRoute } from './api/openapi.js';
import {
  registerHealthRoutes,
  registerSystemRoutes,
  type HealthProbe,
  type PeerInfo
} from './api/system.js';
import { DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_PROMPT_CHARS } from './config.js';
import type { TargetEngine } from './engine/index.js';
import type { ReceiptStore } from './receipts/index.js';
import type { ReceiptSigner } from '../src/lib/protocol/receipt-chain.js';
import {
  BadRequestError,
  MethodNotAllowedError,
  NotFoundError,
  ServiceUnavailableError,
  errorResponse
} from './http/errors.js';
import { createOracleMetrics, type OracleMetrics } from './http/metrics.js';
import { registerModelFileRoutes } from './http/model-files.js';
import {
  createRouter,
  errorShapeOf,
  routeMethods,
  type OracleContext,
  type Router
} from './http/router.js';
import {
  checkHostHeader,
  createAuthenticator,
  createCorsGuard,
  createHostGuard,
  createKeyGuard,
  createRouteGuard,
  isLoopbackHost,
  MAX_FAILED_AUTH_PER_MINUTE,
  requireJsonBodies
} from './http/security.js';
import { createStaticHandler, ISOLATION_HEADERS } from './http/static.js';
import { createLogger } from '../src/lib/server/log.js';

export type { HealthProbe, PeerInfo } from './api/system.js';
export type { DraftSourceProvider } from './api/chat.js';

const log = createLogger('shard:oracle:server');

/** How long `stop()` lets running requests finish before it aborts them. */
const DEFAULT_SHUTDOWN_GRACE_MS = 10_000;

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
  /**
   * Adds a readiness check to /health: while it returns a problem, health says `degraded` with
   * its reason (e.g. the receipt store's `disk_full`).
   */
  addHealthProbe(probe: HealthProbe): void;
  /** Chooses the draft source of each chat request (e.g. a remote scout). */
  setDraftSourceProvider(provider: DraftSourceProvider): void;
  /** The receipt store every chat answer's signed receipt goes to (the workflow plugin's). */
  setReceiptStore(store: ReceiptStore): void;
}

/** Optional lifecycle a plugin returns; `start` runs after listen, `stop` before the server closes. */
export interface OraclePluginHandle {
  start?(info: { url: string }): Promise<void> | void;
  stop?(): Promise<void> | void;
}

/**
 * Registers routes (Hono's `router.get/post/...`; `/v1/*` routes are behind the API-key guard)
 * and hooks; called once from createOracleServer, before start().
 */
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
   * HTTPS with this PEM certificate and key (`--tls-cert`/`--tls-key`); default none (plain
   * http). Browsers on other devices give the app a secure context only over HTTPS.
   */
  tls?: { cert: string | Buffer; key: string | Buffer };
  /**
   * Extra Host names accepted when listening on loopback (DNS-rebinding guard); default none.
   * The guard is off when `host` is not a loopback address.
   */
  allowedHosts?: readonly string[];
  /** Draft source per chat request; default the engine's own. A plugin may replace it. */
  draftSourceProvider?: DraftSourceProvider;
  /** Keys that are accepted and see every owner's executions (`--operator-key`); default none. */
  operatorKeys?: readonly string[];
  /** Origins allowed cross-origin access (`--cors-origin`); default none. */
  corsOrigins?: readonly string[];
  /** Model files under /models served without a key when keys are set (`draft.gguf`); default none. */
  publicModels?: readonly string[];
  /** Generations one client (key, else address) may run at once; default half the slots, at least 1. */
  clientMaxConcurrent?: number;
  /** Requests one client may have waiting; default DEFAULT_CLIENT_QUEUE_MAX. */
  clientQueueMax?: number;
  /** Largest max_tokens a request may ask for; default DEFAULT_MAX_TOKENS_LIMIT. */
  maxTokensLimit?: number;
  /** Whether the target is a generated test model (health and /v1/models say so); default false. */
  isGeneratedTestModel?: boolean;
  /**
   * Serve Prometheus metrics at `GET /metrics` (behind the API key when keys are set); default
   * true. When false the path answers a JSON 404.
   */
  metrics?: boolean;
  /**
   * Resolves each guarded request's contributor (earned priority, admission/priority.ts);
   * default none: every request is a consumer.
   */
  identifyContributor?: ContributorIdentifier;
  /**
   * The node's receipt key: signs `shard.attestation` on chat answers that ask for one (a node
   * contributed to another oracle proves its step results with it); default none.
   */
  attestationSigner?: ReceiptSigner;
}

export interface OracleServer {
  /** `http://host:port` with the real port; throws before start(). */
  readonly url: string;
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

/**
 * Answers a request Node's HTTP parser refuses before any route sees it (a request line and
 * headers over Node's 16 KiB limit, bytes that are not HTTP) with the API's JSON error body
 * instead of Node's bare status line. Found by the HTTP fuzz suite (issue #10).
 */
function answerClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
  if (!socket.writable || err.code === 'ECONNRESET') {
    socket.destroy();
    return;
  }
  const [status, reason, code, message] =
    err.code === 'HPE_HEADER_OVERFLOW'
      ? [
          431,
          'Request Header Fields Too Large',
          'headers_too_large',
          'request line and headers exceed 16 KiB'
        ]
      : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'Request Timeout', 'request_timeout', 'the request took too long to arrive']
        : [400, 'Bad Request', 'malformed_request', 'malformed HTTP request'];
  const body = JSON.stringify({
    error: { message, type: 'invalid_request_error', param: null, code }
  });
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\ncontent-type: application/json\r\n` +
      `content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`
  );
}

function formatUrl(address: AddressInfo, scheme: 'http' | 'https'): string {
  const host =
    address.address === '0.0.0.0' || address.address === '::'
      ? '127.0.0.1'
      : address.family === 'IPv6'
        ? `[${address.address}]`
        : address.address;
  return `${scheme}://${host}:${address.port}`;
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

const isHealthPath = (path: string) => path === '/health' || path === '/v1/system/health';

/**
 * First path segments that name an API, never an app page: a request there that no route
 * handles is a JSON 404 rather than the HTML app shell with 200, which API clients and probes
 * (Ollama's /api/tags, Prometheus' /metrics, doc generators' /openapi.json or /swagger.json)
 * would misread as success.
 */
const API_SEGMENTS = new Set([
  'v1',
  'v2',
  'api',
  'metrics',
  'openapi.json',
  'openapi.yaml',
  'swagger.json',
  'swagger',
  'docs',
  'healthz',
  'readyz',
  'livez',
  'graphql'
]);

/** True for paths under an API-like first segment (`/v1/...`, `/api/...`, `/metrics`). */
export function isApiPath(path: string): boolean {
  return API_SEGMENTS.has(path.split('/')[1]?.toLowerCase() ?? '');
}

/**
 * The middleware in front of every route: isolation headers on every response, the Host guard
 * (when `isHostChecked`), the shutdown gate (health stays up), the per-request context, and a
 * 400 for a path whose percent-encoding is malformed (before any route decodes it).
 */
function installFrontMiddleware(
  router: Router,
  options: {
    isHostChecked: boolean;
    allowedHosts: readonly string[];
    maxBodyBytes: number;
    isStopping: () => boolean;
    metrics: OracleMetrics;
    corsOrigins: readonly string[];
  }
): void {
  router.use(options.metrics.requests);
  router.use(async (c, next) => {
    await next();
    for (const [name, value] of Object.entries(ISOLATION_HEADERS)) c.res.headers.set(name, value);
  });
  if (options.isHostChecked) router.use(createHostGuard(options.allowedHosts));
  router.use(createCorsGuard(options.corsOrigins));
  router.use(requireJsonBodies);
  router.use(async (c, next) => {
    if (options.isStopping() && !isHealthPath(c.req.path)) {
      return errorResponse(
        new ServiceUnavailableError('the oracle is shutting down', 'shutdown_in_progress', 5),
        'openai',
        { connection: 'close' }
      );
    }
    c.set('clientKey', c.env.incoming.socket.remoteAddress ?? 'unknown');
    c.set('maxBodyBytes', options.maxBodyBytes);
    c.set('metrics', options.metrics);
    try {
      decodeURIComponent(new URL(c.req.url).pathname);
    } catch {
      throw new BadRequestError(
        'the request path has malformed percent-encoding (each % must start a valid UTF-8 %XX sequence)',
        'invalid_path'
      );
    }
    await next();
  });
}

/**
 * The reply for a request no route handles: 405 with Allow when the path has routes for other
 * methods, else a static file or the app shell (non-API paths), else 404.
 */
function createFallback(router: Router, serveStatic?: ReturnType<typeof createStaticHandler>) {
  return (c: OracleContext): Response => {
    const { path, method } = c.req;
    const allowed = routeMethods(router, path);
    if (allowed.length > 0) throw new MethodNotAllowedError(allowed);
    // API paths never fall back to the app shell: an unknown /v1 or /api path is a JSON 404.
    if (serveStatic && !isApiPath(path)) {
      const file = serveStatic(method, path);
      if (file) return file;
    }
    throw new NotFoundError(`no route for ${method} ${path}`);
  };
}

/** Creates the oracle server; nothing listens until start(). */
export function createOracleServer(options: OracleServerOptions): OracleServer {
  const startedAtMs = Date.now();
  const router = createRouter();
  const admission = createAdmissionQueue({
    maxConcurrent: options.engine?.maxConcurrent ?? 1,
    maxQueued: options.queueMax ?? DEFAULT_QUEUE_MAX,
    ...clientLimits(options)
  });
  let peers: () => PeerInfo[] = options.peers ?? (() => []);
  const metrics = createOracleMetrics({ admission, peers: () => peers() });
  // Every generation passes the admission queue; generations and embeddings are counted.
  const engine = options.engine
    ? metrics.meterEngine(
        admitEngine(options.engine, admission, {
          maxTokensLimit: options.maxTokensLimit ?? DEFAULT_MAX_TOKENS_LIMIT
        })
      )
    : null;
  let topology: (() => object) | undefined = options.topology;
  let draftSourceProvider = options.draftSourceProvider;
  let receiptStore: ReceiptStore | undefined;
  const isHostChecked = isLoopbackHost(options.host);
  const allowedHosts = options.allowedHosts ?? [];
  const inFlight = new Set<Promise<unknown>>();
  const track = (p: Promise<unknown>) => {
    inFlight.add(p);
    void p.finally(() => inFlight.delete(p));
  };
  let isStopping = false;
  let server: Server | undefined;
  let url: string | undefined;

  installFrontMiddleware(router, {
    isHostChecked,
    allowedHosts,
    maxBodyBytes: options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES,
    isStopping: () => isStopping,
    metrics,
    corsOrigins: options.corsOrigins ?? []
  });
  const healthProbes: HealthProbe[] = [];
  const chatCounters = { completed: 0, aborted: 0, failed: 0 };
  const systemOptions = {
    chat: chatCounters,
    engine,
    admission,
    startedAtMs,
    peers: () => peers(),
    topology: () => topology?.(),
    healthProbes,
    isGeneratedTestModel: options.isGeneratedTestModel ?? false
  };
  // Hono runs matching handlers in registration order: routes added before the guard are open.
  registerHealthRoutes(router, systemOptions);
  registerOpenApiRoute(router);
  const authenticator = createAuthenticator({
    apiKeys: options.apiKeys ?? [],
    operatorKeys: options.operatorKeys ?? [],
    failedAuthLimiter: createRateLimiter({ perMinute: MAX_FAILED_AUTH_PER_MINUTE })
  });
  if (options.modelsDir) {
    const published = new Set(options.publicModels ?? []);
    const isPublic = (c: OracleContext) => published.has(c.req.param('name') ?? '');
    router.use('/models/:name', createKeyGuard({ authenticator, isPublic }));
    registerModelFileRoutes(router, { modelsDir: options.modelsDir });
  }
  const guard = createRouteGuard({
    authenticator,
    limiter: createRateLimiter({
      perMinute: options.rateLimitPerMinute ?? DEFAULT_RATE_LIMIT_PER_MINUTE
    })
  });
  router.use('/v1/*', guard);
  router.use('/metrics', guard);
  // Earned priority: contributors named by a signed header or a mapped key queue ahead.
  router.use(
    '/v1/*',
    createPriorityMiddleware(() => options.identifyContributor)
  );
  if (options.metrics !== false) {
    const { registry } = metrics;
    router.get(
      '/metrics',
      async () =>
        new Response(await registry.metrics(), {
          headers: { 'content-type': registry.contentType, 'cache-control': 'no-store' }
        })
    );
  }
  registerSystemRoutes(router, systemOptions);
  registerModelRoutes(router, {
    engine,
    startedAtS: Math.floor(startedAtMs / 1000),
    isGeneratedTestModel: systemOptions.isGeneratedTestModel
  });
  const maxPromptChars = options.maxPromptChars ?? DEFAULT_MAX_PROMPT_CHARS;
  const generating = { engine, maxPromptChars, draftSourceProvider: () => draftSourceProvider };
  registerChatRoutes(router, {
    ...generating,
    counters: chatCounters,
    receiptStore: () => receiptStore,
    attestationSigner: () => options.attestationSigner
  });
  registerCompletionRoutes(router, generating);
  registerEmbeddingRoutes(router, { engine, maxPromptChars });

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
      addHealthProbe: (probe) => healthProbes.push(probe),
      setDraftSourceProvider: (d) => {
        draftSourceProvider = d;
      },
      setReceiptStore: (store) => {
        receiptStore = store;
      }
    });
    if (handle) handles.push(handle);
  }

  router.notFound(
    createFallback(router, options.staticDir ? createStaticHandler(options.staticDir) : undefined)
  );
  router.onError((err, c) => {
    const response = errorResponse(err, errorShapeOf(c));
    // Only unmapped failures are bugs worth an error line; named errors (queue full, engine
    // busy) already carry their status and are routine under load.
    if (response.status === 500) log.error('unhandled error', { path: c.req.path, err });
    else
      log.debug('request refused', { path: c.req.path, status: response.status, name: err.name });
    return response;
  });

  // node:http (not http2) is the only server here, so the bindings are always HttpBindings.
  const fetch = (request: Request, env: HttpBindings | Http2Bindings) =>
    router.fetch(request, env as HttpBindings, {
      // Streams (SSE) register their work here, so stop() waits for them like for requests.
      waitUntil: track,
      passThroughOnException: () => undefined,
      props: {}
    });
  // One listener per request, so that a request the adapter cannot parse (it builds the URL from
  // Host before any middleware runs) still gets the Host guard's answer for its Host.
  const listenerFor = (req: IncomingMessage) =>
    getRequestListener(fetch, {
      // Without a Host header the URL uses this name; the Host guard still sees none and refuses.
      hostname: 'localhost',
      errorHandler: (err) => {
        log.debug('unparseable request', { err });
        const refusal =
          (isHostChecked && checkHostHeader(req.headers.host, allowedHosts)) ||
          new BadRequestError(`malformed request: ${(err as Error)?.message ?? 'unknown'}`);
        return errorResponse(refusal, 'openai', ISOLATION_HEADERS);
      }
    });

  return {
    admission,
    get url(): string {
      if (!url) throw new Error('the oracle server has not started');
      return url;
    },
    async start(): Promise<void> {
      if (server) throw new Error('the oracle server is already started');
      const listen = (listener: RequestListener): Server =>
        options.tls
          ? (createHttpsServer(
              { cert: options.tls.cert, key: options.tls.key },
              listener
            ) as Server)
          : createServer(listener);
      const s = listen((req, res) => {
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
        track(
          listenerFor(req)(req, res).catch((err) => {
            log.error('request failed outside the router', { err });
            res.destroy();
          })
        );
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
      s.on('clientError', answerClientError);
      server = s;
      isStopping = false;
      url = formatUrl(s.address() as AddressInfo, options.tls ? 'https' : 'http');
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
