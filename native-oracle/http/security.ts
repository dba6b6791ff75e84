/**
 * Request guards for protected routes (by default every `/v1/*` route; a route opts out with
 * `isProtected: false`): API-key authentication, then per-client rate limiting. /health, the
 * app's static files and /models/* stay open.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { RateLimiter } from '../admission/rate-limit.js';
import { ForbiddenError, RateLimitedError, UnauthorizedError } from './errors.js';
import type { Middleware, RequestContext, RouteOptions } from './router.js';

/** Whether auth and rate limits apply to a route: its own flag, else "is it under /v1/". */
export function isProtectedRoute(route: RouteOptions): boolean {
  return route.isProtected ?? route.path.startsWith('/v1/');
}

/** Reads the presented key from `Authorization: Bearer <key>` or `X-API-Key: <key>`. */
export function presentedApiKey(ctx: RequestContext): string | undefined {
  const auth = ctx.req.headers.authorization;
  if (typeof auth === 'string') {
    const m = /^Bearer\s+(.+)$/i.exec(auth.trim());
    if (m) return m[1]!.trim();
  }
  const header = ctx.req.headers['x-api-key'];
  const value = Array.isArray(header) ? header[0] : header;
  return value?.trim() || undefined;
}

const digest = (s: string) => createHash('sha256').update(s).digest();

/**
 * Requires one of `apiKeys` on protected routes when the list is non-empty (401 otherwise).
 * On success the rate-limit identity becomes the key's hash, so limits follow the key across
 * addresses. Comparison is constant-time over SHA-256 digests.
 */
export function createAuthMiddleware(options: { apiKeys: readonly string[] }): Middleware {
  const digests = options.apiKeys.map(digest);
  return (ctx, route) => {
    if (digests.length === 0 || !isProtectedRoute(route)) return;
    const key = presentedApiKey(ctx);
    if (!key) {
      throw new UnauthorizedError(
        'missing API key: send `Authorization: Bearer <key>` or `X-API-Key: <key>`'
      );
    }
    const d = digest(key);
    let isValid = false;
    for (const known of digests) isValid = timingSafeEqual(d, known) || isValid;
    if (!isValid) throw new UnauthorizedError('invalid API key');
    ctx.clientKey = `key:${d.toString('hex').slice(0, 16)}`;
    ctx.state.apiKeyId = ctx.clientKey;
  };
}

/** Applies `limiter` per client identity on protected routes; 429 with Retry-After when empty. */
export function createRateLimitMiddleware(options: { limiter: RateLimiter }): Middleware {
  const { limiter } = options;
  return (ctx, route) => {
    if (!isProtectedRoute(route)) return;
    const decision = limiter.take(ctx.clientKey);
    if (!decision.isAllowed) {
      throw new RateLimitedError(
        `rate limit exceeded: ${limiter.perMinute} requests per minute per client; retry in ${decision.retryAfterS} s`,
        decision.retryAfterS
      );
    }
  };
}

const LOOPBACK_NAMES = new Set(['localhost', '127.0.0.1', '[::1]', '::1']);

/** True for addresses that only this machine can reach. */
export function isLoopbackHost(host: string): boolean {
  const h = host.trim().toLowerCase();
  return LOOPBACK_NAMES.has(h) || h.startsWith('127.') || h.endsWith('.localhost');
}

/**
 * DNS-rebinding guard for a server bound to loopback: a web page on another site can point its
 * own host name at 127.0.0.1 and then call this server from the user's browser; such requests
 * carry that foreign name in `Host`. Returns an error for a Host that is neither a loopback name
 * nor in `allowedHosts`, undefined when the request may proceed.
 */
export function checkHostHeader(
  hostHeader: string | undefined,
  allowedHosts: readonly string[]
): ForbiddenError | undefined {
  if (!hostHeader) return new ForbiddenError('missing Host header', 'host_not_allowed');
  let name: string;
  try {
    name = new URL(`http://${hostHeader}`).hostname.toLowerCase();
  } catch {
    return new ForbiddenError('malformed Host header', 'host_not_allowed');
  }
  if (isLoopbackHost(name) || allowedHosts.some((h) => h.toLowerCase() === name)) return undefined;
  return new ForbiddenError(
    `host "${name}" is not served here; this oracle listens on loopback only (add it to SHARD_ALLOWED_HOSTS, or listen on a public address with --host)`,
    'host_not_allowed'
  );
}
