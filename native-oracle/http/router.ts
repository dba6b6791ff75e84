/**
 * The oracle's HTTP router: a Hono app on node:http (through `@hono/node-server`) with the
 * context every route may read, JSON replies, explicit per-route-group error shapes, and the
 * route lookups behind 405 replies and route-only guards.
 *
 * Routes are added with Hono's own methods (`router.get(path, ...middleware, handler)`).
 * Validation happens at the route with `jsonBody(schema)` from ./validate.ts; every thrown error
 * goes through `errorResponse()` (./errors.ts), the one error mapper, installed by the server.
 */
import type { HttpBindings } from '@hono/node-server';
import { Hono, type Context, type MiddlewareHandler } from 'hono';
import { matchedRoutes } from 'hono/route';
import type { ErrorShape } from './errors.js';
import type { OracleMetrics } from './metrics.js';

/** What the server puts on every request's context before routes run. */
export interface OracleVariables {
  /** Rate-limit identity: the API key's hash when one was presented, else the client address. */
  clientKey: string;
  /** Request body limit in bytes for `jsonBody()`. */
  maxBodyBytes: number;
  /** The server's Prometheus metrics (routes count what only they see, e.g. receipts). */
  metrics?: OracleMetrics;
}

export interface OracleEnv {
  Bindings: HttpBindings;
  Variables: OracleVariables;
}

/** The router routes and plugins register on. */
export type Router = Hono<OracleEnv>;
export type OracleContext = Context<OracleEnv>;
export type OracleMiddleware = MiddlewareHandler<OracleEnv>;

/** Creates an empty router; a trailing slash matches the same route (`/v1/models/`). */
export function createRouter(): Router {
  return new Hono<OracleEnv>({ strict: false });
}

const ROUTE_METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH'] as const;

/**
 * The methods that have a route handler (not only middleware) for `path`. Empty when the path is
 * unknown. HEAD is served by GET routes, as Hono does.
 */
export function routeMethods(router: Router, path: string): string[] {
  return ROUTE_METHODS.filter((method) => {
    const [handlers] = router.router.match(method, path);
    return handlers.some(([[, route]]) => route.method === method);
  });
}

/** True when a route handler (not only middleware) matched the request of `c`. */
export function hasRouteHandler(c: OracleContext): boolean {
  return matchedRoutes(c).some((route) => route.method !== 'ALL');
}

/**
 * Marker middleware for a route group whose errors add `{ ok: false, detail, code }` to
 * OpenAI's error body (the workflow surface): `router.use('/v1/executions/*', envelopeErrors)`. The error mapper reads
 * the marker from the matched routes, so it applies even to errors raised before it ran (a 401
 * from the guard) and to 404/405 under the group's paths.
 */
export const envelopeErrors: OracleMiddleware = (_c, next) => next();

/** The error body shape for the request of `c`: `envelope` under envelopeErrors, else `openai`. */
export function errorShapeOf(c: OracleContext): ErrorShape {
  return matchedRoutes(c).some((route) => route.handler === envelopeErrors) ? 'envelope' : 'openai';
}

/** A JSON reply: UTF-8, never cached, with extra headers. */
export function jsonResponse(
  body: unknown,
  status = 200,
  headers: Record<string, string> = {}
): Response {
  const payload = JSON.stringify(body);
  return new Response(payload, {
    status,
    headers: {
      'content-type': 'application/json; charset=utf-8',
      'content-length': String(Buffer.byteLength(payload)),
      'cache-control': 'no-store',
      ...headers
    }
  });
}
