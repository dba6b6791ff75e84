/**
 * The legacy OpenAI text-completions request (`POST /v1/completions`) and its responses: one
 * text prompt, no chat template. Strict like every body of this API (./openai-schema.ts).
 */
import { z } from 'zod';
import {
  MAX_COMPLETION_LOGPROBS,
  MAX_COMPLETION_TOKENS,
  apiSchemas,
  completionLogprobsSchema,
  generationFields,
  modelField,
  onlyOneChoice,
  shardStatsSchema,
  usageSchema
} from './openai-schema.js';

/** OpenAI's default `max_tokens` for legacy completions. */
export const DEFAULT_COMPLETION_MAX_TOKENS = 16;

export const completionRequestSchema = z
  .strictObject({
    model: modelField,
    prompt: z
      .union([z.string(), z.array(z.string()).length(1)])
      .describe('One text prompt (a one-element array is read as that string).'),
    max_tokens: z
      .number()
      .int()
      .min(1)
      .max(MAX_COMPLETION_TOKENS)
      .nullish()
      .describe(`Default ${DEFAULT_COMPLETION_MAX_TOKENS} (as OpenAI’s).`),
    n: z.literal(1).nullish().describe('Only 1.'),
    best_of: z.literal(1).nullish().describe('Only 1.'),
    echo: z.boolean().nullish().describe('Prepend the prompt to the text (not with logprobs).'),
    logprobs: z
      .number()
      .int()
      .min(0)
      .max(MAX_COMPLETION_LOGPROBS)
      .nullish()
      .describe('Report each token’s logprob and this many alternatives (0..5).'),
    ...generationFields
  })
  .register(apiSchemas, { id: 'CompletionRequest' });
export type CompletionRequest = z.infer<typeof completionRequestSchema>;

const promptRule = (value: unknown) => {
  if (typeof value === 'string') return undefined;
  if (!Array.isArray(value)) return undefined;
  if (value.some((p) => typeof p !== 'string'))
    return 'token-id prompts are not supported; send the prompt as text';
  if (value.length > 1) return 'batched prompts are not supported; send one request per prompt';
  return undefined;
};

/** OpenAI completions fields this oracle refuses with `unsupported_parameter`, and why. */
export const COMPLETION_UNSUPPORTED: Record<
  string,
  string | ((value: unknown) => string | undefined)
> = {
  prompt: promptRule,
  n: onlyOneChoice,
  best_of: (v) => (v === 1 ? undefined : 'only best_of=1 is supported (one sample per request)'),
  suffix: 'insertion (text after the completion) is not implemented'
};

const choiceFields = {
  text: z.string(),
  index: z.number().int(),
  logprobs: completionLogprobsSchema.nullable()
};

export const completionSchema = z
  .object({
    id: z.string(),
    object: z.literal('text_completion'),
    created: z.number().int(),
    model: z.string(),
    system_fingerprint: z.string().nullable(),
    choices: z.array(z.object({ ...choiceFields, finish_reason: z.enum(['stop', 'length']) })),
    usage: usageSchema,
    shard: shardStatsSchema
  })
  .register(apiSchemas, { id: 'Completion' });

export const completionChunkSchema = z
  .object({
    id: z.string(),
    object: z.literal('text_completion'),
    created: z.number().int(),
    model: z.string(),
    system_fingerprint: z.string().nullable(),
    choices: z.array(
      z.object({ ...choiceFields, finish_reason: z.enum(['stop', 'length']).nullable() })
    ),
    usage: usageSchema.nullable().optional(),
    shard: shardStatsSchema.optional()
  })
  .register(apiSchemas, { id: 'CompletionChunk' });
