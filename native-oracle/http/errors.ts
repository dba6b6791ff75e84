/**
 * HTTP-facing errors of the oracle. One class per failure mode, `name` equal to the class name;
 * `toHttp()` is the one table that maps error names to status codes and wire bodies.
 *
 * Every error body carries OpenAI's `{ error: { message, type, param, code } }`. Route groups
 * marked with `envelopeErrors` (the workflow surface) add the predecessor's fields alongside:
 * `{ ok: false, detail, code, error: {...} }` (`detail` = `error.message`), which its clients and
 * tests read; the shape is chosen per route group, never guessed from the path.
 */
import { jsonResponse } from './router.js';

/** Base of the HTTP-facing errors: a status, an error code and extra response headers. */
export class HttpError extends Error {
  override name = 'HttpError';
  constructor(
    message: string,
    readonly status: number,
    readonly code: string,
    readonly headers: Record<string, string> = {},
    options?: { cause?: unknown; param?: string | null }
  ) {
    super(message, options);
    this.param = options?.param ?? null;
  }
  /** The request field the error is about (OpenAI's `param`), e.g. `messages.0.content`. */
  readonly param: string | null;
}

/** 400: the body or query failed validation; `message` names the field and the rule. */
export class BadRequestError extends HttpError {
  override name = 'BadRequestError';
  constructor(message: string, code = 'invalid_request', param: string | null = null) {
    super(message, 400, code, {}, { param });
  }
}

/** 401: an API key is required and missing or wrong. */
export class UnauthorizedError extends HttpError {
  override name = 'UnauthorizedError';
  constructor(message: string) {
    super(message, 401, 'invalid_api_key');
  }
}

/** 403: the request is understood but refused (e.g. a Host header this server does not serve). */
export class ForbiddenError extends HttpError {
  override name = 'ForbiddenError';
  constructor(message: string, code = 'forbidden') {
    super(message, 403, code);
  }
}

/** 404: no such route or resource. */
export class NotFoundError extends HttpError {
  override name = 'NotFoundError';
  constructor(message: string, code = 'not_found', param: string | null = null) {
    super(message, 404, code, {}, { param });
  }
}

/** 404 for a `model` the oracle does not serve, in OpenAI's wording and code. */
export class ModelNotFoundError extends NotFoundError {
  override name = 'ModelNotFoundError';
  constructor(model: string) {
    super(
      `The model \`${model.slice(0, 200)}\` does not exist or you do not have access to it.`,
      'model_not_found',
      'model'
    );
  }
}

/** 405: the path exists but not with this method. */
export class MethodNotAllowedError extends HttpError {
  override name = 'MethodNotAllowedError';
  constructor(allowed: string[]) {
    super(`method not allowed; use ${allowed.join(', ')}`, 405, 'method_not_allowed', {
      allow: allowed.join(', ')
    });
  }
}

/** 409: the request conflicts with the resource's state (e.g. idempotency key reused). */
export class ConflictError extends HttpError {
  override name = 'ConflictError';
  constructor(message: string) {
    super(message, 409, 'conflict');
  }
}

/** 413: body or prompt larger than allowed. */
export class PayloadTooLargeError extends HttpError {
  override name = 'PayloadTooLargeError';
  constructor(message: string, code = 'payload_too_large') {
    super(message, 413, code);
  }
}

/** 415: the body is not JSON. */
export class UnsupportedMediaTypeError extends HttpError {
  override name = 'UnsupportedMediaTypeError';
  constructor(message: string) {
    super(message, 415, 'unsupported_media_type');
  }
}

/** 429: rate limited; carries Retry-After in seconds. */
export class RateLimitedError extends HttpError {
  override name = 'RateLimitedError';
  constructor(message: string, retryAfterS: number) {
    super(message, 429, 'rate_limit_exceeded', {
      'retry-after': String(Math.max(1, Math.ceil(retryAfterS)))
    });
  }
}

/** 503: overloaded (queue full) or not ready (no model); carries Retry-After. */
export class ServiceUnavailableError extends HttpError {
  override name = 'ServiceUnavailableError';
  constructor(message: string, code = 'service_unavailable', retryAfterS = 1) {
    super(message, 503, code, { 'retry-after': String(Math.max(1, Math.ceil(retryAfterS))) });
  }
}

export type ErrorShape = 'openai' | 'envelope';

/**
 * Errors raised below the HTTP layer (admission, engine) that have a meaningful status. Matched
 * by `name`, not `instanceof`, so errors that crossed a worker or module boundary map the same.
 */
const STATUS_BY_ERROR_NAME: Record<string, { status: number; code: string }> = {
  QueueFullError: { status: 503, code: 'queue_full' },
  EngineBusyError: { status: 503, code: 'engine_busy' },
  AdmissionAbortedError: { status: 503, code: 'request_aborted' },
  GenerationAbortedError: { status: 503, code: 'request_aborted' },
  EngineDisposedError: { status: 503, code: 'shutdown_in_progress' },
  PromptTooLongError: { status: 400, code: 'context_length_exceeded' },
  InvalidGenerateOptionsError: { status: 400, code: 'invalid_request' },
  InvalidJsonSchemaError: { status: 400, code: 'invalid_json_schema' },
  InvalidEmbeddingInputError: { status: 400, code: 'invalid_request' }
};

/**
 * OpenAI's wording for a prompt over the context window; clients match it (LangChain looks for
 * "maximum context length" and the code `context_length_exceeded`). The engine's own sentence
 * stays in parentheses: a prompt of exactly the context size also fails, since at least one
 * token must be generated.
 */
function contextOverflowMessage(err: Error): string | undefined {
  const { promptTokens, contextSize } = err as { promptTokens?: unknown; contextSize?: unknown };
  if (typeof promptTokens !== 'number' || typeof contextSize !== 'number') return undefined;
  return (
    `This model's maximum context length is ${contextSize} tokens. However, your messages ` +
    `resulted in ${promptTokens} tokens (${err.message}). Please reduce the length of the messages.`
  );
}

function fromNamedError(err: unknown): HttpError | undefined {
  if (!(err instanceof Error)) return undefined;
  const entry = STATUS_BY_ERROR_NAME[err.name];
  if (!entry) return undefined;
  const message =
    (err.name === 'PromptTooLongError' ? contextOverflowMessage(err) : undefined) ?? err.message;
  const retryAfter = (err as { retryAfterS?: unknown }).retryAfterS;
  const retryAfterS =
    typeof retryAfter === 'number' && Number.isFinite(retryAfter) ? retryAfter : 1;
  const headers: Record<string, string> =
    entry.status === 503 || entry.status === 429
      ? { 'retry-after': String(Math.max(1, Math.ceil(retryAfterS))) }
      : {};
  return new HttpError(message, entry.status, entry.code, headers, {
    cause: err,
    param: err.name === 'PromptTooLongError' ? 'messages' : null
  });
}

const OPENAI_TYPE_BY_STATUS: Record<number, string> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  403: 'permission_error',
  404: 'invalid_request_error',
  405: 'invalid_request_error',
  409: 'invalid_request_error',
  413: 'invalid_request_error',
  415: 'invalid_request_error',
  416: 'invalid_request_error',
  429: 'rate_limit_error',
  503: 'server_error'
};

/**
 * Maps any thrown value to a status, headers and body. Unknown errors become 500 with a generic
 * message: a stack or internal detail never reaches a client.
 */
export function toHttp(
  err: unknown,
  shape: ErrorShape
): { status: number; headers: Record<string, string>; body: unknown } {
  const known = err instanceof HttpError ? err : fromNamedError(err);
  const status = known?.status ?? 500;
  const message = known?.message ?? 'internal server error';
  const code = known?.code ?? 'internal_error';
  const headers = known?.headers ?? {};
  const error = {
    message,
    type: OPENAI_TYPE_BY_STATUS[status] ?? 'server_error',
    param: known?.param ?? null,
    code
  };
  if (shape === 'openai') return { status, headers, body: { error } };
  return { status, headers, body: { ok: false, detail: message, code, error } };
}

/** `toHttp()` as a JSON Response; called by the server's error and not-found handlers. */
export function errorResponse(
  err: unknown,
  shape: ErrorShape,
  extraHeaders: Record<string, string> = {}
): Response {
  const mapped = toHttp(err, shape);
  return jsonResponse(mapped.body, mapped.status, { ...mapped.headers, ...extraHeaders });
}
