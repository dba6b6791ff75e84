/**
 * The OpenAI chat-completions request as this oracle accepts it. Unknown fields are tolerated
 * (stripped) so stock OpenAI clients work; fields whose meaning we cannot honour (n > 1) are
 * rejected with a message naming them.
 */
import { z } from 'zod';

/** Largest `max_tokens` accepted; the engine's context size may cap generation earlier. */
export const MAX_COMPLETION_TOKENS = 32_768;

export const speculationSchema = z.enum(['auto', 'off', 'on']);
export type Speculation = z.infer<typeof speculationSchema>;

const textPartSchema = z.object({ type: z.literal('text'), text: z.string() });

const chatMessageSchema = z.object({
  role: z.enum(['system', 'developer', 'user', 'assistant']),
  content: z.union([z.string(), z.array(textPartSchema)]),
  name: z.string().optional()
});

const maxTokensSchema = z.number().int().min(1).max(MAX_COMPLETION_TOKENS).nullish();

export const chatCompletionRequestSchema = z.object({
  model: z.string().nullish(),
  messages: z.array(chatMessageSchema).min(1, 'must contain at least one message'),
  max_tokens: maxTokensSchema,
  max_completion_tokens: maxTokensSchema,
  temperature: z.number().min(0).max(2).nullish(),
  top_p: z.number().gt(0).max(1).nullish(),
  seed: z.number().int().nullish(),
  stop: z.union([z.string(), z.array(z.string()).max(4)]).nullish(),
  stream: z.boolean().nullish(),
  stream_options: z.object({ include_usage: z.boolean().nullish() }).nullish(),
  n: z.literal(1, 'only n=1 is supported').nullish(),
  response_format: z
    .discriminatedUnion('type', [
      z.object({ type: z.literal('text') }),
      z.object({ type: z.literal('json_object') }),
      z.object({
        type: z.literal('json_schema'),
        json_schema: z.object({
          name: z.string().optional(),
          schema: z.record(z.string(), z.unknown()),
          strict: z.boolean().nullish()
        })
      })
    ])
    .nullish(),
  /**
   * Shard extensions: the speculation choice (header x-shard-speculation wins) and whether this
   * prompt may be shown to mesh scouts (header x-shard-allow-scouts wins; default: the oracle's
   * --scout-prompts setting).
   */
  shard: z
    .object({ speculation: speculationSchema.optional(), allow_scouts: z.boolean().optional() })
    .nullish()
});

export type ChatCompletionRequest = z.infer<typeof chatCompletionRequestSchema>;
