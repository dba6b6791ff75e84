/**
 * A small HTTP router over node:http: method + path patterns (`/v1/executions/:id`), middleware
 * that may reject a request, bounded JSON bodies, one error mapper, and an AbortSignal that fires
 * when the client goes away (so generation and workflows stop with it).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { z } from 'zod';
import { createLogger } from '../../src/lib/server/log.js';
import {
  BadRequestError,
  HttpError,
  MethodNotAllowedError,
  NotFoundError,
  PayloadTooLargeError,
  UnsupportedMediaTypeError,
  toHttp,
  type ErrorShape
} from './errors.js';
import { formatZodError } from './validate.js';

const log = createLogger('shard:oracle:http');

/** Default request body limit; SHARD_MAX_BODY_BYTES overrides. */
export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;

export interface RequestContext {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly url: URL;
  readonly params: Record<string, string>;
  /** Aborted when the client disconnects before the response finished. */
  readonly signal: AbortSignal;
  /** Rate-limit identity: the API key if one was presented, else the client address. */
  clientKey: string;
  /** Reads, parses and validates the JSON body; throws 400/413/415 with a precise message. */
  json<T extends z.ZodType>(schema: T): Promise<z.infer<T>>;
  /** Per-request bag for middleware results (e.g. the authenticated key). */
  readonly state: Record<string, unknown>;
}

/** What a handler returns: a JSON reply, or nothing when it wrote the response itself (SSE). */
export type Reply = { status?: number; headers?: Record<string, string>; json: unknown } | void;
export type Handler = (ctx: RequestContext) => Promise<Reply> | Reply;
export type Middleware = (ctx: RequestContext, route: RouteOptions) => Promise<void> | void;

export interface RouteOptions {
  method: 'GET' | 'POST' | 'DELETE' | 'PUT';
  path: string;
  handler: Handler;
  /** Error body shape for this route; default `openai`. */
  errorShape?: ErrorShape;
  /** Whether API-key auth and rate limiting apply; default true for /v1 routes. */
  isProtected?: boolean;
}

interface CompiledRoute extends RouteOptions {
  regex: RegExp;
  keys: string[];
}

export interface RouterOptions {
  /** Request body limit in bytes; default DEFAULT_MAX_BODY_BYTES. */
  maxBodyBytes?: number;
}

export class Router {
  private readonly routes: CompiledRoute[] = [];
  private readonly middleware: Middleware[] = [];
  readonly maxBodyBytes: number;

  constructor(options: RouterOptions = {}) {
    this.maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  }

  /** Adds a middleware; they run in order before every matched route's handler. */
  use(mw: Middleware): this {
    this.middleware.push(mw);
    return this;
  }

  /** Registers a route. Later registrations of the same method and path are an error. */
  add(route: RouteOptions): this {
    const keys: string[] = [];
    const pattern = route.path
      .split('/')
      .map((seg) => {
        if (seg.startsWith(':')) {
          keys.push(seg.slice(1));
          return '([^/]+)';
        }
        return seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      })
      .join('/');
    if (this.routes.some((r) => r.method === route.method && r.path === route.path)) {
      throw new Error(`route registered twice: ${route.method} ${route.path}`);
    }
    this.routes.push({ ...route, regex: new RegExp(`^${pattern}/?$`), keys });
    return this;
  }

  /** True when some route matches the path (any method); lets the server fall through to static files. */
  matchesPath(pathname: string): boolean {
    return this.routes.some((r) => r.regex.test(pathname));
  }

  /** Handles one request. Never throws: every failure becomes a mapped error response. */
  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const method = (req.method ?? 'GET').toUpperCase();
    const candidates = this.routes.filter((r) => r.regex.test(url.pathname));
    const route = candidates.find(
      (r) => r.method === method || (method === 'HEAD' && r.method === 'GET')
    );
    const shape: ErrorShape =
      route?.errorShape ?? candidates[0]?.errorShape ?? guessShape(url.pathname);
    const abort = new AbortController();
    res.on('close', () => {
      if (!res.writableFinished) abort.abort(new Error('client disconnected'));
    });
    try {
      if (!route) {
        if (candidates.length > 0) throw new MethodNotAllowedError(candidates.map((r) => r.method));
        throw new NotFoundError(`no route for ${method} ${url.pathname}`);
      }
      const match = route.regex.exec(url.pathname)!;
      const params: Record<string, string> = {};
      route.keys.forEach((k, i) => {
        params[k] = decodeURIComponent(match[i + 1]!);
      });
      const ctx = this.context(req, res, url, params, abort.signal);
      for (const mw of this.middleware) await mw(ctx, route);
      const reply = await route.handler(ctx);
      if (reply && !res.headersSent) sendJson(res, reply.status ?? 200, reply.json, reply.headers);
    } catch (err) {
      const mapped = toHttp(err, shape);
      // Only unmapped failures are bugs worth an error line; named errors (queue full, engine
      // busy) already carry their status and are routine under load.
      if (mapped.status === 500) {
        log.error('unhandled error', { path: url.pathname, err });
      } else if (!(err instanceof HttpError)) {
        log.debug('request refused', {
          path: url.pathname,
          status: mapped.status,
          name: (err as Error)?.name
        });
      }
      if (res.headersSent) {
        res.end();
        return;
      }
      sendJson(res, mapped.status, mapped.body, mapped.headers);
    }
  }

  private context(
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
    params: Record<string, string>,
    signal: AbortSignal
  ): RequestContext {
    const maxBodyBytes = this.maxBodyBytes;
    let cached: Promise<unknown> | undefined;
    return {
      req,
      res,
      url,
      params,
      signal,
      clientKey: req.socket.remoteAddress ?? 'unknown',
      state: {},
      async json<T extends z.ZodType>(schema: T): Promise<z.infer<T>> {
        cached ??= readJsonBody(req, maxBodyBytes);
        const raw = await cached;
        const parsed = schema.safeParse(raw);
        if (!parsed.success) throw new BadRequestError(formatZodError(parsed.error));
        return parsed.data;
      }
    };
  }
}

function guessShape(pathname: string): ErrorShape {
  return /^\/v1\/(agents|executions|capabilities)/.test(pathname) ? 'envelope' : 'openai';
}

/** Reads a JSON body up to `maxBytes`; rejects non-JSON content types and malformed JSON. */
export async function readJsonBody(req: IncomingMessage, maxBytes: number): Promise<unknown> {
  const type = (req.headers['content-type'] ?? '').toLowerCase();
  if (type && !type.includes('application/json') && !type.includes('+json')) {
    throw new UnsupportedMediaTypeError(
      `content-type must be application/json, got ${type.split(';')[0]}`
    );
  }
  const declared = Number(req.headers['content-length'] ?? NaN);
  if (Number.isFinite(declared) && declared > maxBytes) {
    req.resume();
    throw new PayloadTooLargeError(`request body is ${declared} bytes; the limit is ${maxBytes}`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buf = chunk as Buffer;
    size += buf.length;
    if (size > maxBytes) {
      req.resume();
      throw new PayloadTooLargeError(`request body exceeds the limit of ${maxBytes} bytes`);
    }
    chunks.push(buf);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '')
    throw new BadRequestError('request body is empty; expected a JSON object');
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new BadRequestError(`request body is not valid JSON: ${(err as Error).message}`);
  }
}

/** Writes a JSON response with the given status and extra headers. */
export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {}
): void {
  const payload = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(payload),
    'cache-control': 'no-store',
    ...headers
  });
  res.end(payload);
}
