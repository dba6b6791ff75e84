/**
 * Request guards: the DNS-rebinding Host check for a loopback server, and for protected routes
 * (every `/v1/*` route registered after the guard) API-key authentication, then per-client rate
 * limiting. /health, /v1/system/health, the app's static files and /models/* stay open.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { RateLimiter } from '../admission/rate-limit.js';
import { ForbiddenError, RateLimitedError, UnauthorizedError } from './errors.js';
import { hasRouteHandler, type OracleContext, type OracleMiddleware } from './router.js';

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

export interface RouteGuardOptions {
  /** Accepted API keys; none means no key is needed. */
  apiKeys: readonly string[];
  limiter: RateLimiter;
}

/**
 * Middleware for the protected group (`/v1/*`, registered after the open /v1 routes): when a
 * route handles the request, requires one of `apiKeys` (401 otherwise; constant-time comparison
 * over SHA-256 digests), then takes a token from the client's rate-limit bucket (429 with
 * Retry-After when empty). On success with a key the rate-limit identity becomes the key's hash,
 * so limits follow the key across addresses. Requests no route handles pass through unguarded
 * to their 404/405.
 */
export function createRouteGuard(options: RouteGuardOptions): OracleMiddleware {
  const digests = options.apiKeys.map(digest);
  const { limiter } = options;
  return async (c, next) => {
    if (!hasRouteHandler(c)) return next();
    if (digests.length > 0) {
      const key = presentedApiKey(c);
      if (!key) {
        throw new UnauthorizedError(
          'missing API key: send `Authorization: Bearer <key>` or `X-API-Key: <key>`'
        );
      }
      const d = digest(key);
      let isValid = false;
      for (const known of digests) isValid = timingSafeEqual(d, known) || isValid;
      if (!isValid) throw new UnauthorizedError('invalid API key');
      c.set('clientKey', `key:${d.toString('hex').slice(0, 16)}`);
    }
    const decision = limiter.take(c.var.clientKey);
    if (!decision.isAllowed) {
      throw new RateLimitedError(
        `rate limit exceeded: ${limiter.perMinute} requests per minute per client; retry in ${decision.retryAfterS} s`,
        decision.retryAfterS
      );
    }
    await next();
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

/** Middleware form of checkHostHeader: throws its ForbiddenError (403) for a foreign Host. */
export function createHostGuard(allowedHosts: readonly string[]): OracleMiddleware {
  return async (c, next) => {
    const refusal = checkHostHeader(c.req.header('host'), allowedHosts);
    if (refusal) throw refusal;
    await next();
  };
}
