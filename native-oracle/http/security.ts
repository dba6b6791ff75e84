/**
 * Request guards, in the order the server installs them:
 * - the DNS-rebinding Host check for a loopback server (exact loopback names and addresses, or
 *   the configured allowed hosts);
 * - the CORS policy: no cross-origin access unless an origin is listed (`--cors-origin`), a
 *   preflight answered for listed origins only, and state-changing requests from any other
 *   origin refused;
 * - the JSON media type of request bodies (exact `application/json`, a missing type refused);
 * - for protected routes (every `/v1/*` route registered after the guard, `/models/*` unless
 *   published, `/metrics`): API-key authentication with a per-address limit on failed attempts,
 *   then the per-client rate limit.
 * The guard records who is calling (`callerOf`): the owner id that executions, receipts and
 * idempotency keys are scoped to, and whether the caller is an operator who sees everything.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { isIPv4 } from 'node:net';
import { runAsClient } from '../admission/client-context.js';
import type { RateLimiter } from '../admission/rate-limit.js';
import { LOCAL_OWNER } from '../receipts/schema.js';
import {
  ForbiddenError,
  RateLimitedError,
  UnauthorizedError,
  UnsupportedMediaTypeError
} from './errors.js';
import { hasRouteHandler, type OracleContext, type OracleMiddleware } from './router.js';

/**
 * Failed API-key attempts allowed per client address per minute (a token bucket of this size).
 * Someone mistyping a key needs a handful; guessing a random key needs billions, so at 10 a
 * minute guessing is hopeless while a typo costs nothing. While the bucket is empty every key
 * check from that address answers 429, the right key included: otherwise the 429/200 split would
 * still tell a guesser which key is right.
 */
export const MAX_FAILED_AUTH_PER_MINUTE = 10;

/** Who is calling, as recorded by the guard. */
export interface Caller {
  /**
   * Owner id of what this caller creates: `key:<sha256 prefix>` of its API key, or LOCAL_OWNER
   * when the oracle has no keys (one local user).
   */
  owner: string;
  /** Sees and cancels every owner's executions: an operator key, or the local user without keys. */
  isOperator: boolean;
}

const callers = new WeakMap<Request, Caller>();

/** A caller that owns nothing: what routes see if no guard ran (never for guarded routes). */
const NOBODY: Caller = { owner: 'nobody', isOperator: false };

/** The caller of the request of `c`, recorded by the route or key guard. */
export function callerOf(c: OracleContext): Caller {
  return callers.get(c.req.raw) ?? NOBODY;
}

/** Reads the presented key from `Authorization: Bearer <key>` or `X-API-Key: <key>`. */
function presentedApiKey(c: OracleContext): string | undefined {
  const auth = c.req.header('authorization');
  if (typeof auth === 'string') {
    const m = /^Bearer\s+(.+)$/i.exec(auth.trim());
    if (m) return m[1]!.trim();
  }
  return c.req.header('x-api-key')?.trim() || undefined;
}

const digest = (s: string) => createHash('sha256').update(s).digest();

export interface AuthenticatorOptions {
  /** Accepted API keys; none (and no operator keys) means no key is needed. */
  apiKeys: readonly string[];
  /** Keys that are accepted too and see every owner's executions; default none. */
  operatorKeys?: readonly string[];
  /** Per client address; only failed attempts take from it (MAX_FAILED_AUTH_PER_MINUTE). */
  failedAuthLimiter: RateLimiter;
}

/**
 * Checks the key of a request and names its caller. Shared by every guard so failed attempts
 * count once per address whatever the path.
 */
export interface Authenticator {
  /** True when keys are configured (every protected route needs one). */
  readonly isKeyRequired: boolean;
  /**
   * The caller of `c`, recorded for callerOf(). Throws UnauthorizedError (401) for a missing or
   * wrong key, RateLimitedError (429, Retry-After) while the address has failed too often.
   */
  authenticate(c: OracleContext): Caller;
}

/** Creates the authenticator; keys are compared in constant time over SHA-256 digests. */
export function createAuthenticator(options: AuthenticatorOptions): Authenticator {
  const known = [
    ...options.apiKeys.map((k) => ({ digest: digest(k), isOperator: false })),
    ...(options.operatorKeys ?? []).map((k) => ({ digest: digest(k), isOperator: true }))
  ];
  const limiter = options.failedAuthLimiter;
  const isKeyRequired = known.length > 0;
  const refuse = (address: string, error: UnauthorizedError): never => {
    const decision = limiter.take(address);
    if (!decision.isAllowed) throw tooManyFailures(decision.retryAfterS);
    throw error;
  };
  return {
    isKeyRequired,
    authenticate(c) {
      const remembered = callers.get(c.req.raw);
      if (remembered) return remembered;
      let caller: Caller = { owner: LOCAL_OWNER, isOperator: true };
      if (isKeyRequired) {
        const address = c.env.incoming.socket.remoteAddress ?? 'unknown';
        const blocked = limiter.peek(address);
        if (!blocked.isAllowed) throw tooManyFailures(blocked.retryAfterS);
        const key = presentedApiKey(c);
        // A missing key is not a guess (a browser that has none yet): it is not counted.
        if (!key) {
          throw new UnauthorizedError(
            'missing API key: send `Authorization: Bearer <key>` or `X-API-Key: <key>`'
          );
        }
        const d = digest(key!);
        let match: (typeof known)[number] | undefined;
        for (const k of known) if (timingSafeEqual(d, k.digest) && !match) match = k;
        if (!match) refuse(address, new UnauthorizedError('invalid API key'));
        const id = `key:${d.toString('hex').slice(0, 32)}`;
        caller = { owner: id, isOperator: match!.isOperator };
        // Rate limits and generation slots follow the key across addresses.
        c.set('clientKey', id);
      }
      callers.set(c.req.raw, caller);
      return caller;
    }
  };
}

function tooManyFailures(retryAfterS: number): RateLimitedError {
  return new RateLimitedError(
    `too many failed API-key attempts from this address (at most ${MAX_FAILED_AUTH_PER_MINUTE} per minute); retry in ${retryAfterS} s`,
    retryAfterS
  );
}

export interface RouteGuardOptions {
  authenticator: Authenticator;
  limiter: RateLimiter;
}

/**
 * Middleware for the protected group (`/v1/*`, registered after the open /v1 routes): when a
 * route handles the request, authenticates it (401/429), then takes a token from the client's
 * rate-limit bucket (429 with Retry-After when empty), and runs the route as that client for
 * admission (per-client generation limits). With a key the client identity is the key's hash, so
 * limits follow the key across addresses. Requests no route handles pass through unguarded to
 * their 404/405.
 */
export function createRouteGuard(options: RouteGuardOptions): OracleMiddleware {
  const { authenticator, limiter } = options;
  return async (c, next) => {
    if (!hasRouteHandler(c)) return next();
    authenticator.authenticate(c);
    const decision = limiter.take(c.var.clientKey);
    if (!decision.isAllowed) {
      throw new RateLimitedError(
        `rate limit exceeded: ${limiter.perMinute} requests per minute per client; retry in ${decision.retryAfterS} s`,
        decision.retryAfterS
      );
    }
    await runAsClient({ id: c.var.clientKey }, next);
  };
}

/**
 * Middleware for routes outside `/v1` that reveal state (`/models/*`, `/metrics`): requires a key
 * when keys are configured, unless `isPublic(c)` (a model file the operator published).
 */
export function createKeyGuard(options: {
  authenticator: Authenticator;
  isPublic?: (c: OracleContext) => boolean;
}): OracleMiddleware {
  return async (c, next) => {
    if (hasRouteHandler(c) && !options.isPublic?.(c)) options.authenticator.authenticate(c);
    await next();
  };
}

/**
 * True for names and addresses that only this machine can reach: `localhost`, an IPv4 literal in
 * 127.0.0.0/8, `::1` / `[::1]`. Exact matches only: `127.0.0.1.attacker.example` is a DNS name
 * its owner can point anywhere, so it is not loopback.
 */
export function isLoopbackHost(host: string): boolean {
  const h = host.trim().toLowerCase();
  if (h === 'localhost' || h === '::1' || h === '[::1]') return true;
  return isIPv4(h) && h.startsWith('127.');
}

/** Splits a Host header into its name (lowercase, IPv6 in brackets) and port ('' when none). */
function parseHostHeader(hostHeader: string): { name: string; port: string } | undefined {
  try {
    // URL parsing normalises the forms browsers normalise (127.1, 0x7f.0.0.1, upper case).
    const url = new URL(`http://${hostHeader}`);
    if (url.username || url.password || url.pathname !== '/' || url.search || url.hash)
      return undefined;
    return { name: url.hostname.toLowerCase(), port: url.port };
  } catch {
    return undefined;
  }
}

/**
 * An allowed-host entry matches a Host header: `name` matches it on any port, `name:port` only on
 * that port.
 */
function matchesAllowedHost(entry: string, host: { name: string; port: string }): boolean {
  const parsed = parseHostHeader(entry.trim());
  if (!parsed) return false;
  const hasPort = /:\d+$/.test(entry.trim());
  return parsed.name === host.name && (!hasPort || parsed.port === host.port);
}

/**
 * DNS-rebinding guard for a server bound to loopback: a web page on another site can point its
 * own host name at 127.0.0.1 and then call this server from the user's browser; such requests
 * carry that foreign name in `Host`. Returns an error for a Host that is neither a loopback name
 * or address (isLoopbackHost) nor in `allowedHosts` (`name` or `name:port`), undefined when the
 * request may proceed.
 */
export function checkHostHeader(
  hostHeader: string | undefined,
  allowedHosts: readonly string[]
): ForbiddenError | undefined {
  if (!hostHeader) return new ForbiddenError('missing Host header', 'host_not_allowed');
  const host = parseHostHeader(hostHeader);
  if (!host) return new ForbiddenError('malformed Host header', 'host_not_allowed');
  if (isLoopbackHost(host.name) || allowedHosts.some((h) => matchesAllowedHost(h, host)))
    return undefined;
  return new ForbiddenError(
    `host "${host.name}" is not served here; this oracle listens on loopback only (add it to SHARD_ALLOWED_HOSTS, or listen on a public address with --host)`,
    'host_not_allowed'
  );
}

/** Middleware form of checkHostHeader: throws its ForbiddenError (403) for a foreign Host. */
export function createHostGuard(allowedHosts: readonly string[]): OracleMiddleware {
  return async (c, next) => {
    const refusal = checkHostHeader(c.req.header('host'), allowedHosts);
    if (refusal) throw refusal;
    await next();
  };
}

/** Methods that may change state: refused from origins that are not allowed. */
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
/** Request headers a listed origin may send (the API's own and OpenAI clients'). */
const CORS_ALLOWED_HEADERS =
  'authorization, content-type, x-api-key, idempotency-key, x-shard-speculation, x-shard-allow-scouts, last-event-id, openai-organization, openai-project, x-stainless-arch, x-stainless-lang, x-stainless-os, x-stainless-package-version, x-stainless-retry-count, x-stainless-runtime, x-stainless-runtime-version, x-stainless-timeout';
const CORS_ALLOWED_METHODS = 'GET, HEAD, POST, OPTIONS';
/** Response headers a listed origin may read. */
const CORS_EXPOSED_HEADERS =
  'retry-after, location, idempotent-replayed, x-request-id, x-shard-model, x-shard-speculation, x-shard-inference-mode, x-shard-draft-source, x-shard-drafted, x-shard-accepted';
/** How long a browser may cache a preflight answer: 10 minutes, Chromium's own cap is 2 hours. */
const CORS_MAX_AGE_S = 600;

/**
 * Normalises an origin (`scheme://host[:port]`, no path) or returns undefined when `raw` is not
 * one. Used for the configured list and for request Origin headers.
 */
export function normalizeOrigin(raw: string): string | undefined {
  try {
    const url = new URL(raw.trim());
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return undefined;
    if (url.pathname !== '/' || url.search || url.hash || url.username) return undefined;
    return url.origin;
  } catch {
    return undefined;
  }
}

/**
 * The CORS policy. By default no other origin may read or change anything: responses carry no
 * CORS headers, a preflight (OPTIONS with Access-Control-Request-Method) answers 403, and a
 * state-changing request (not GET/HEAD/OPTIONS) whose Origin is another origin, or that a
 * browser marks `Sec-Fetch-Site: cross-site`/`same-site` without an Origin, answers 403.
 * Origins in `allowedOrigins` get their preflight answered 204 with the allowed methods and
 * headers, and `Access-Control-Allow-Origin` on every response. The request's own origin (its
 * Origin names the Host it was sent to) is always allowed.
 */
export function createCorsGuard(allowedOrigins: readonly string[]): OracleMiddleware {
  const allowed = new Set(allowedOrigins.map((o) => normalizeOrigin(o)).filter(Boolean));
  return async (c, next) => {
    const originHeader = c.req.header('origin');
    const method = c.req.method;
    const origin = originHeader === undefined ? undefined : normalizeOrigin(originHeader);
    const isSameOrigin =
      origin !== undefined && new URL(origin).host === (c.req.header('host') ?? '').toLowerCase();
    const isListed = origin !== undefined && allowed.has(origin);
    if (
      method === 'OPTIONS' &&
      originHeader !== undefined &&
      c.req.header('access-control-request-method')
    ) {
      if (!isListed && !isSameOrigin) throw crossOriginRefusal(originHeader);
      return new Response(null, {
        status: 204,
        headers: {
          'access-control-allow-origin': origin!,
          'access-control-allow-methods': CORS_ALLOWED_METHODS,
          'access-control-allow-headers': CORS_ALLOWED_HEADERS,
          'access-control-max-age': String(CORS_MAX_AGE_S),
          vary: 'origin'
        }
      });
    }
    if (!SAFE_METHODS.has(method)) {
      const site = c.req.header('sec-fetch-site');
      const isCrossOrigin =
        originHeader !== undefined
          ? !isListed && !isSameOrigin
          : site === 'cross-site' || site === 'same-site';
      if (isCrossOrigin) throw crossOriginRefusal(originHeader ?? `a ${site} page`);
    }
    try {
      await next();
    } finally {
      if (isListed) {
        c.res.headers.set('access-control-allow-origin', origin!);
        c.res.headers.set('access-control-expose-headers', CORS_EXPOSED_HEADERS);
        c.res.headers.append('vary', 'origin');
      }
    }
  };
}

function crossOriginRefusal(origin: string): ForbiddenError {
  return new ForbiddenError(
    `cross-origin request from ${origin.slice(0, 200)} refused: this oracle allows no other origin unless it is listed with --cors-origin / SHARD_CORS_ORIGINS`,
    'cross_origin_forbidden'
  );
}

/**
 * `type/subtype` of a Content-Type header (lowercase) and whether its parameters are acceptable
 * for JSON: only `charset=utf-8` (any case, optionally quoted) is.
 */
function parseJsonMediaType(header: string): { type: string; isCharsetOk: boolean } {
  const [essence = '', ...params] = header.split(';');
  let isCharsetOk = true;
  for (const param of params) {
    const [name = '', value = ''] = param.split('=').map((s) => s.trim().toLowerCase());
    if (name === '' && value === '') continue;
    if (name !== 'charset' || value.replace(/^"(.*)"$/, '$1') !== 'utf-8') isCharsetOk = false;
  }
  return { type: essence.trim().toLowerCase(), isCharsetOk };
}

/**
 * Bodies must be JSON, stated exactly: a request that carries a body (Content-Length above 0 or
 * chunked) needs `Content-Type: application/json` (optionally `; charset=utf-8`). A missing or
 * different type gets 415. This is also what keeps cross-site pages out: a page can send a body
 * without a preflight only as text/plain, a form or multipart, and none of those pass.
 */
export const requireJsonBodies: OracleMiddleware = async (c, next) => {
  const length = c.req.header('content-length');
  const hasBody =
    (length !== undefined && length.trim() !== '0') ||
    c.req.header('transfer-encoding') !== undefined;
  if (hasBody && !SAFE_METHODS.has(c.req.method)) {
    const header = c.req.header('content-type');
    if (header === undefined || header.trim() === '') {
      throw new UnsupportedMediaTypeError(
        'content-type is missing; request bodies must be sent as application/json'
      );
    }
    const { type, isCharsetOk } = parseJsonMediaType(header);
    if (type !== 'application/json' || !isCharsetOk) {
      throw new UnsupportedMediaTypeError(
        `content-type must be application/json (optionally with charset=utf-8), got ${header.slice(0, 100)}`
      );
    }
  }
  await next();
};
