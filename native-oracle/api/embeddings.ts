/**
 * `POST /v1/embeddings`: OpenAI's embeddings over the loaded model (`engine.embed`): a string or
 * an array of strings in, one vector per input out, as JSON floats or (`encoding_format:
 * base64`, which the official clients request by default) little-endian float32 bytes in base64.
 * Token-id inputs are refused by name; `dimensions` is honoured only as the model's own size.
 */
import { z } from 'zod';
import type { TargetEngine } from '../engine/index.js';
import { BadRequestError } from '../http/errors.js';
import { jsonResponse, type Router } from '../http/router.js';
import { jsonBody } from '../http/validate.js';
import { requireEngine } from './chat.js';
import { checkModel, checkPromptChars } from './generation.js';
import { apiSchemas, modelField, rejectUnsupported } from './openai-schema.js';

/** OpenAI's limit of inputs per request (also the engine's). */
const MAX_EMBEDDING_INPUTS = 2048;

export const embeddingRequestSchema = z
  .strictObject({
    model: modelField,
    input: z
      .union([
        z.string().min(1, 'must not be empty'),
        z.array(z.string().min(1, 'must not be empty')).min(1).max(MAX_EMBEDDING_INPUTS)
      ])
      .describe('A text or 1..2048 texts (token-id arrays are refused).'),
    encoding_format: z.enum(['float', 'base64']).nullish().describe('Default float.'),
    dimensions: z
      .number()
      .int()
      .min(1)
      .nullish()
      .describe('Only the model’s own embedding size (shortening is not implemented).'),
    user: z.string().optional().describe('Accepted and ignored (see chat).')
  })
  .register(apiSchemas, { id: 'EmbeddingRequest' });

export const embeddingListSchema = z
  .object({
    object: z.literal('list'),
    data: z.array(
      z.object({
        object: z.literal('embedding'),
        index: z.number().int(),
        embedding: z.union([z.array(z.number()), z.string()])
      })
    ),
    model: z.string(),
    usage: z.object({ prompt_tokens: z.number().int(), total_tokens: z.number().int() })
  })
  .register(apiSchemas, { id: 'EmbeddingList' });

const isTokenIds = (v: unknown) =>
  Array.isArray(v) && v.some((x) => typeof x === 'number' || Array.isArray(x));

const EMBEDDING_UNSUPPORTED = {
  input: (v: unknown) =>
    isTokenIds(v) ? 'token-id input is not supported; send the input as text' : undefined
};

/** A vector as OpenAI's base64 encoding: little-endian float32 bytes. */
function toBase64(vector: readonly number[]): string {
  const bytes = Buffer.alloc(vector.length * 4);
  vector.forEach((x, i) => bytes.writeFloatLE(x, i * 4));
  return bytes.toString('base64');
}

export interface EmbeddingRouteOptions {
  engine: TargetEngine | null;
  /** Largest total input in characters (400 context_length_exceeded beyond). */
  maxPromptChars: number;
}

/** Registers `POST /v1/embeddings` on `router`. */
export function registerEmbeddingRoutes(router: Router, options: EmbeddingRouteOptions): void {
  const precheck = (raw: unknown) => rejectUnsupported(raw, EMBEDDING_UNSUPPORTED);
  router.post('/v1/embeddings', jsonBody(embeddingRequestSchema, precheck), async (c) => {
    const engine = requireEngine(options.engine);
    const body = c.req.valid('json');
    checkModel(engine, body.model);
    if (body.dimensions != null && body.dimensions !== engine.embeddingLength) {
      throw new BadRequestError(
        `dimensions: this model's embeddings have ${engine.embeddingLength} dimensions; shortening them is not supported`,
        'unsupported_parameter',
        'dimensions'
      );
    }
    const input = typeof body.input === 'string' ? [body.input] : body.input;
    checkPromptChars(
      input.reduce((n, s) => n + s.length, 0),
      options.maxPromptChars,
      'input'
    );
    let result;
    try {
      result = await engine.embed({ input, signal: c.req.raw.signal });
    } catch (err) {
      if ((err as Error)?.name !== 'PromptTooLongError') throw err;
      const e = err as Error & { contextSize?: number; promptTokens?: number };
      throw new BadRequestError(
        `This model's maximum context length is ${e.contextSize} tokens. However, an input ` +
          `resulted in ${e.promptTokens} tokens. Please reduce the length of the input.`,
        'context_length_exceeded',
        'input'
      );
    }
    const isBase64 = body.encoding_format === 'base64';
    return jsonResponse({
      object: 'list',
      data: result.vectors.map((v, index) => ({
        object: 'embedding',
        index,
        embedding: isBase64 ? toBase64(v) : v
      })),
      model: engine.modelId,
      usage: { prompt_tokens: result.totalTokens, total_tokens: result.totalTokens }
    });
  });
}
