/**
 * Validation at the route: `jsonBody(schema)` reads the request body within the size limit,
 * parses it as JSON and checks it with zod before the handler runs; the handler reads the typed
 * result from `c.req.valid('json')`. Failures are 400/413/415 errors whose message names the
 * offending field, e.g. `messages.0.content: expected string, received number`.
 *
 * Why not `@hono/zod-validator`: it reads the body through Hono's JSON validator, which skips
 * bodies without a JSON content type and answers malformed JSON with a generic message; this
 * API's contract is 415 for a non-JSON type, 413 with the limit, and precise 400 messages.
 */
import type { MiddlewareHandler } from 'hono';
import type { z } from 'zod';
import { DEFAULT_MAX_BODY_BYTES } from '../config.js';
import { BadRequestError, PayloadTooLargeError, UnsupportedMediaTypeError } from './errors.js';
import type { OracleContext, OracleEnv } from './router.js';
import { checkJsonDepth } from './json-guard.js';

const pathOf = (path: readonly PropertyKey[]) =>
  path.length > 0 ? path.map(String).join('.') : 'body';

/**
 * Turns zod failures into a 400 naming each offending field (at most five). An unknown field
 * (a strict object's `unrecognized_keys`) gets code `unknown_parameter` and its own sentence:
 * this API rejects what it does not know instead of silently ignoring it.
 */
export function zodErrorToBadRequest(error: z.ZodError): BadRequestError {
  const parts = error.issues.slice(0, 5).map((issue) => {
    if (issue.code === 'unrecognized_keys') {
      const names = issue.keys.map((k) => [...issue.path, k].map(String).join('.'));
      return `unknown field${names.length > 1 ? 's' : ''} ${names.map((n) => `\`${n}\``).join(', ')}: not part of this API (see GET /openapi.json); it is rejected rather than ignored`;
    }
    return `${pathOf(issue.path)}: ${issue.message}`;
  });
  const more = error.issues.length > 5 ? ` (and ${error.issues.length - 5} more)` : '';
  const first = error.issues[0];
  const isUnknown = first?.code === 'unrecognized_keys';
  const param = !first
    ? null
    : isUnknown
      ? [...first.path, first.keys[0]].map(String).join('.')
      : first.path.length > 0
        ? pathOf(first.path)
        : null;
  return new BadRequestError(
    `invalid request: ${parts.join('; ')}${more}`,
    isUnknown ? 'unknown_parameter' : 'invalid_request',
    param
  );
}

/**
 * Reads the body of `c` as JSON, at most `c.var.maxBodyBytes` bytes. Throws
 * UnsupportedMediaTypeError for a non-JSON content type (a missing one is read as JSON),
 * PayloadTooLargeError for a declared or streamed size over the limit, BadRequestError for an
 * empty body or malformed JSON.
 */
async function readJsonBody(c: OracleContext): Promise<unknown> {
  const maxBytes = c.var.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const type = (c.req.header('content-type') ?? '').toLowerCase();
  if (type && !type.includes('application/json') && !type.includes('+json')) {
    throw new UnsupportedMediaTypeError(
      `content-type must be application/json, got ${type.split(';')[0]}`
    );
  }
  const declared = Number(c.req.header('content-length') ?? NaN);
  if (Number.isFinite(declared) && declared > maxBytes) {
    throw new PayloadTooLargeError(`request body is ${declared} bytes; the limit is ${maxBytes}`);
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = c.req.raw.body?.getReader();
  for (let part = await reader?.read(); part && !part.done; part = await reader!.read()) {
    size += part.value.byteLength;
    if (size > maxBytes) {
      // The adapter drains (or closes) the rest of the upload after the 413 is sent.
      void reader!.cancel().catch(() => undefined);
      throw new PayloadTooLargeError(`request body exceeds the limit of ${maxBytes} bytes`);
    }
    chunks.push(part.value);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') {
    throw new BadRequestError('request body is empty; expected a JSON object');
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new BadRequestError(`request body is not valid JSON: ${(err as Error).message}`);
  }
}

/**
 * Route middleware: the body must be JSON matching `schema`; the handler reads the parsed value
 * with `c.req.valid('json')`. `precheck` runs on the raw JSON first (e.g. to refuse OpenAI
 * fields this oracle cannot honour with a reason). Throws the errors of readJsonBody, what
 * `precheck` throws, or BadRequestError naming the fields that failed `schema`.
 */
export function jsonBody<T extends z.ZodType>(
  schema: T,
  precheck?: (raw: unknown) => void
): MiddlewareHandler<OracleEnv, string, { in: { json: z.input<T> }; out: { json: z.infer<T> } }> {
  return async (c, next) => {
    const raw = await readJsonBody(c);
    checkJsonDepth(raw); // 400 naming the field for bodies nested deeper than MAX_JSON_DEPTH
    precheck?.(raw);
    const parsed = schema.safeParse(raw);
    if (!parsed.success) throw zodErrorToBadRequest(parsed.error);
    c.req.addValidatedData('json', parsed.data as object);
    await next();
  };
}
