/**
 * The SDK's one HTTP path: JSON in, JSON out, the API key and (when a contributor key is set) a
 * fresh `x-shard-contributor` header on every request, and error bodies (OpenAI's
 * `{ error: {...} }` or the envelope `{ ok: false, detail, code }`) turned into ShardApiError.
 */
import type { z } from 'zod';
import { CONTRIBUTOR_HEADER, signContributorHeader } from '../protocol/contribution.js';
import { ShardApiError, ShardResponseError } from './errors.js';

export interface HttpOptions {
  baseUrl: string;
  apiKey?: string;
  /** Signs `x-shard-contributor` on every request so the oracle credits and prioritises it. */
  contributorKey?: Uint8Array;
  fetch: typeof fetch;
}

export interface RequestOptions {
  method?: 'GET' | 'POST';
  body?: unknown;
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

export interface Http {
  readonly baseUrl: string;
  /** The raw Response of a request that answered 2xx; throws ShardApiError otherwise. */
  send(path: string, options?: RequestOptions): Promise<Response>;
  /** A 2xx JSON answer checked against `schema`; throws ShardApiError / ShardResponseError. */
  json<T extends z.ZodType>(path: string, schema: T, options?: RequestOptions): Promise<z.infer<T>>;
}

async function toApiError(res: Response): Promise<ShardApiError> {
  let body: unknown = null;
  try {
    body = await res.json();
  } catch {
    // Not JSON: the status says enough.
  }
  const b = (body ?? {}) as {
    detail?: unknown;
    code?: unknown;
    error?: { message?: unknown; code?: unknown };
  };
  const message =
    (typeof b.error?.message === 'string' && b.error.message) ||
    (typeof b.detail === 'string' && b.detail) ||
    `HTTP ${res.status}`;
  const code =
    (typeof b.code === 'string' && b.code) ||
    (typeof b.error?.code === 'string' && b.error.code) ||
    null;
  return new ShardApiError(message, res.status, code, body);
}

export function createHttp(options: HttpOptions): Http {
  const baseUrl = options.baseUrl.replace(/\/+$/, '');
  const send = async (path: string, request: RequestOptions = {}): Promise<Response> => {
    const method = request.method ?? (request.body === undefined ? 'GET' : 'POST');
    const headers: Record<string, string> = { accept: 'application/json', ...request.headers };
    if (request.body !== undefined) headers['content-type'] = 'application/json';
    if (options.apiKey) headers.authorization = `Bearer ${options.apiKey}`;
    if (options.contributorKey) {
      headers[CONTRIBUTOR_HEADER] = signContributorHeader({
        method,
        path: new URL(baseUrl + path).pathname,
        secretKey: options.contributorKey
      });
    }
    const res = await options.fetch(baseUrl + path, {
      method,
      headers,
      ...(request.body !== undefined ? { body: JSON.stringify(request.body) } : {}),
      ...(request.signal ? { signal: request.signal } : {})
    });
    if (!res.ok) throw await toApiError(res);
    return res;
  };
  return {
    baseUrl,
    send,
    async json(path, schema, request) {
      const res = await send(path, request);
      let body: unknown;
      try {
        body = await res.json();
      } catch {
        throw new ShardResponseError(`${path} answered something that is not JSON`);
      }
      const parsed = schema.safeParse(body);
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        throw new ShardResponseError(
          `${path} answered an unexpected shape: ${issue?.path.join('.') ?? ''} ${issue?.message ?? ''}`.trim()
        );
      }
      return parsed.data;
    }
  };
}
