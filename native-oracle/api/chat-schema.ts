/**
 * The OpenAI chat-completions request as this oracle accepts it, and the responses it sends.
 * Objects are strict: a field this API does not know is a 400 naming it (`unknown_parameter`);
 * OpenAI fields it cannot honour are refused by CHAT_UNSUPPORTED with the reason
 * (`unsupported_parameter`); fields accepted without effect are listed in
 * ACCEPTED_IGNORED_FIELDS (./openai-schema.ts). The OpenAPI document is generated from these.
 */
import { z } from 'zod';
import { PrivacyEnvelopeInputSchema } from '../../src/lib/protocol/privacy.js';
import {
  MAX_COMPLETION_TOKENS,
  MAX_TOP_LOGPROBS,
  apiSchemas,
  chatLogprobsSchema,
  generationFields,
  modelField,
  onlyOneChoice,
  shardRequestObject,
  shardStatsSchema,
  usageSchema
} from './openai-schema.js';

export { speculationSchema, type Speculation } from './openai-schema.js';

const TEXT_ONLY =
  'only text content parts are supported: this oracle serves a text-only model (image_url, input_audio and file parts are refused)';

const textPartSchema = z.strictObject({
  type: z.literal('text', TEXT_ONLY),
  text: z.string()
});
const contentSchema = z.union([z.string(), z.array(textPartSchema)]);
const nameField = z
  .string()
  .optional()
  .describe('Accepted and ignored: the chat template has no slot for a participant name.');

/** A tool call as the assistant made it (request history and response message). */
export const toolCallSchema = z
  .strictObject({
    id: z.string().min(1),
    type: z.literal('function'),
    function: z.strictObject({
      name: z.string().min(1),
      arguments: z.string().describe('The arguments as a JSON text.')
    })
  })
  .register(apiSchemas, { id: 'ToolCall' });

const systemMessageSchema = z.strictObject({
  role: z.enum(['system', 'developer']).describe('`developer` is read as `system`.'),
  content: contentSchema,
  name: nameField
});
const userMessageSchema = z.strictObject({
  role: z.literal('user'),
  content: contentSchema,
  name: nameField
});
const assistantMessageSchema = z.strictObject({
  role: z.literal('assistant'),
  content: contentSchema.nullish(),
  name: nameField,
  refusal: z.string().nullish().describe('Accepted and ignored: refusals are never generated.'),
  tool_calls: z.array(toolCallSchema).optional()
});
const toolMessageSchema = z.strictObject({
  role: z.literal('tool'),
  content: contentSchema,
  tool_call_id: z.string().min(1)
});

export const chatMessageSchema = z
  .discriminatedUnion('role', [
    systemMessageSchema,
    userMessageSchema,
    assistantMessageSchema,
    toolMessageSchema
  ])
  .register(apiSchemas, { id: 'ChatMessage' });
export type ChatMessageInput = z.infer<typeof chatMessageSchema>;

/** A JSON-schema object (tool parameters, response_format): passed to the grammar compiler. */
const jsonSchemaObject = z.record(z.string(), z.unknown());

export const toolSchema = z
  .strictObject({
    type: z.literal('function'),
    function: z.strictObject({
      name: z
        .string()
        .regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be 1-64 letters, digits, underscores or dashes'),
      description: z.string().optional(),
      parameters: jsonSchemaObject
        .optional()
        .describe('JSON schema of the arguments; absent means no arguments ({}).'),
      strict: z
        .boolean()
        .nullish()
        .describe(
          'Accepted; calls always follow the schema (grammar-constrained) for required/named.'
        )
    })
  })
  .register(apiSchemas, { id: 'Tool' });
export type ToolInput = z.infer<typeof toolSchema>;

export const toolChoiceSchema = z
  .union([
    z.enum(['none', 'auto', 'required']),
    z.strictObject({
      type: z.literal('function'),
      function: z.strictObject({ name: z.string() })
    })
  ])
  .register(apiSchemas, { id: 'ToolChoice' });
export type ToolChoiceInput = z.infer<typeof toolChoiceSchema>;

const maxTokensSchema = z.number().int().min(1).max(MAX_COMPLETION_TOKENS).nullish();

const responseFormatSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('text') }),
  z.strictObject({ type: z.literal('json_object') }),
  z.strictObject({
    type: z.literal('json_schema'),
    json_schema: z.strictObject({
      name: z.string().optional(),
      description: z.string().optional(),
      schema: jsonSchemaObject,
      strict: z.boolean().nullish()
    })
  })
]);

export const chatCompletionRequestSchema = z
  .strictObject({
    model: modelField,
    messages: z.array(chatMessageSchema).min(1, 'must contain at least one message'),
    max_tokens: maxTokensSchema.describe(
      'Default 256; capped by the context left after the prompt.'
    ),
    max_completion_tokens: maxTokensSchema.describe('Same as max_tokens; wins when both are sent.'),
    n: z.literal(1).nullish().describe('Only 1.'),
    logprobs: z.boolean().nullish(),
    top_logprobs: z.number().int().min(0).max(MAX_TOP_LOGPROBS).nullish(),
    response_format: responseFormatSchema.nullish(),
    tools: z.array(toolSchema).optional(),
    tool_choice: toolChoiceSchema.optional(),
    parallel_tool_calls: z
      .boolean()
      .optional()
      .describe('Honoured either way: at most one tool call is generated per turn.'),
    modalities: z
      .array(z.literal('text', 'only the text modality is supported'))
      .nullish()
      .describe('Only ["text"].'),
    metadata: z.record(z.string(), z.string()).nullish().describe('Accepted and ignored.'),
    store: z.boolean().nullish().describe('Accepted and ignored: nothing is stored.'),
    service_tier: z.string().nullish().describe('Accepted and ignored: one tier.'),
    safety_identifier: z.string().nullish().describe('Accepted and ignored.'),
    prompt_cache_key: z.string().nullish().describe('Accepted and ignored.'),
    prompt_cache_retention: z.string().nullish().describe('Accepted and ignored.'),
    ...generationFields,
    shard: shardRequestObject
      .extend({
        privacy: PrivacyEnvelopeInputSchema.nullish().describe(
          'The privacy envelope (same as header `x-shard-privacy`; both sent must agree). `scout_floor` limits which scouts may see the prompt (`none`: no scout); `requires_tee` / `encrypted` cannot be honoured here: 400 `privacy_unsatisfiable`.'
        )
      })
      .nullish()
      .describe(
        'Shard extensions. Headers `x-shard-speculation` / `x-shard-allow-scouts` win; `x-shard-privacy` must agree with `privacy`.'
      )
  })
  .superRefine((body, ctx) => {
    if ((body.top_logprobs ?? 0) > 0 && body.logprobs !== true) {
      ctx.addIssue({
        code: 'custom',
        path: ['top_logprobs'],
        message: 'requires logprobs: true'
      });
    }
  })
  .register(apiSchemas, { id: 'ChatCompletionRequest' });
export type ChatCompletionRequest = z.infer<typeof chatCompletionRequestSchema>;

/** OpenAI chat fields this oracle refuses with `unsupported_parameter`, and why. */
export const CHAT_UNSUPPORTED: Record<string, string | ((value: unknown) => string | undefined)> = {
  n: onlyOneChoice,
  audio: 'the model is text-only',
  modalities: (v) =>
    Array.isArray(v) && v.every((m) => m === 'text')
      ? undefined
      : 'the model is text-only (only ["text"])',
  prediction: 'predicted outputs are not implemented (speculative drafts come from scouts)',
  web_search_options: 'this oracle has no web access',
  functions: 'the legacy functions API is not implemented; send tools',
  function_call: 'the legacy functions API is not implemented; send tool_choice',
  reasoning_effort: 'the model has no reasoning mode',
  verbosity: 'the model has no verbosity control',
  moderation: 'this oracle runs no moderation model',
  prompt_cache_options: 'the oracle manages its KV cache itself'
};

const assistantMessageOut = z.object({
  role: z.literal('assistant'),
  content: z.string().nullable(),
  refusal: z.null(),
  tool_calls: z.array(toolCallSchema).optional()
});

export const chatCompletionSchema = z
  .object({
    id: z.string(),
    object: z.literal('chat.completion'),
    created: z.number().int(),
    model: z.string(),
    system_fingerprint: z.string().nullable(),
    choices: z.array(
      z.object({
        index: z.number().int(),
        message: assistantMessageOut,
        logprobs: chatLogprobsSchema.nullable(),
        finish_reason: z.enum(['stop', 'length', 'tool_calls'])
      })
    ),
    usage: usageSchema,
    shard: shardStatsSchema
  })
  .register(apiSchemas, { id: 'ChatCompletion' });

const toolCallDeltaSchema = z.object({
  index: z.number().int(),
  id: z.string().optional(),
  type: z.literal('function').optional(),
  function: z.object({ name: z.string().optional(), arguments: z.string().optional() })
});

export const chatCompletionChunkSchema = z
  .object({
    id: z.string(),
    object: z.literal('chat.completion.chunk'),
    created: z.number().int(),
    model: z.string(),
    system_fingerprint: z.string().nullable(),
    choices: z.array(
      z.object({
        index: z.number().int(),
        delta: z.object({
          role: z.literal('assistant').optional(),
          content: z.string().nullable().optional(),
          tool_calls: z.array(toolCallDeltaSchema).optional()
        }),
        logprobs: chatLogprobsSchema.nullable(),
        finish_reason: z.enum(['stop', 'length', 'tool_calls']).nullable()
      })
    ),
    usage: usageSchema.nullable().optional(),
    shard: shardStatsSchema.optional()
  })
  .register(apiSchemas, { id: 'ChatCompletionChunk' });
