/**
 * Schemas shared by the OpenAI-compatible routes (chat, completions, embeddings): the sampling
 * fields, the response pieces (usage, logprobs, Shard's stats, the error body), and the field
 * policy of the whole API: every request field is honoured, or accepted and ignored for a
 * stated reason (ACCEPTED_IGNORED_FIELDS), or rejected with a 400 that names it
 * (`unsupported_parameter` for OpenAI fields this oracle cannot honour, `unknown_parameter` for
 * anything else). The same zod schemas validate requests and generate the OpenAPI document.
 */
import { z } from 'zod';
import { BadRequestError } from '../http/errors.js';
import { StepAttestationSchema } from '../../src/lib/protocol/contribution.js';
import { ChatReceiptRefSchema } from '../../src/lib/protocol/receipts.js';

/**
 * The named schemas of the API: each becomes `#/components/schemas/<id>` in the OpenAPI document
 * (./openapi.ts). A registry of its own, not zod's global one, so that re-evaluating these
 * modules (test isolation) never collides with ids registered before.
 */
export const apiSchemas = z.registry<{ id: string }>();

/** Largest `max_tokens` accepted; the engine's context size may cap generation earlier. */
export const MAX_COMPLETION_TOKENS = 32_768;
/** OpenAI's documented logit_bias range and the engine's entry cap (each costs work per token). */
const MAX_ABS_LOGIT_BIAS = 100;
const MAX_LOGIT_BIAS_ENTRIES = 1024;
/** OpenAI's documented top_logprobs limit for chat. */
export const MAX_TOP_LOGPROBS = 20;
/** OpenAI's documented limit of the legacy completions `logprobs` integer. */
export const MAX_COMPLETION_LOGPROBS = 5;
/** OpenAI's documented limit of stop sequences. */
const MAX_STOP_SEQUENCES = 4;

export const speculationSchema = z
  .enum(['auto', 'off', 'on'])
  .describe('`auto` lets the speculation governor decide; `off` never drafts; `on` always drafts.');
export type Speculation = z.infer<typeof speculationSchema>;

/** Shard's extension object of a request body, before it is made optional (chat extends it). */
export const shardRequestObject = z.strictObject({
  speculation: speculationSchema.optional(),
  allow_scouts: z
    .boolean()
    .optional()
    .describe(
      'false: never show this prompt to mesh scouts (header x-shard-allow-scouts wins; default: the oracle’s --scout-prompts).'
    )
});

/** Shard's extension object of a request body (headers of the same name win). */
export const shardRequestSchema = shardRequestObject
  .nullish()
  .describe('Shard extensions. Header `x-shard-speculation` / `x-shard-allow-scouts` win.');

const penalty = (what: string) =>
  z
    .number()
    .min(-2)
    .max(2)
    .nullish()
    .describe(
      `-2..2, default 0. Subtracted from the logit of every token already in the OUTPUT ${what} (not the prompt).`
    );

/** The fields every generating route (chat, completions) accepts: sampling (OpenAI names; top_k and min_p as llama.cpp servers name them), stop, streaming, user and the Shard extension. */
export const generationFields = {
  temperature: z
    .number()
    .min(0)
    .max(2)
    .nullish()
    .describe('0..2, default 0 (greedy; OpenAI’s default is 1).'),
  top_p: z.number().gt(0).max(1).nullish().describe('(0, 1], default 1.'),
  top_k: z
    .number()
    .int()
    .min(0)
    .nullish()
    .describe('Shard/llama.cpp extension: keep the k most likely tokens; 0 (default) is off.'),
  min_p: z
    .number()
    .min(0)
    .max(1)
    .nullish()
    .describe(
      'Shard/llama.cpp extension: drop tokens below min_p × the top token’s probability; default 0.'
    ),
  presence_penalty: penalty('once'),
  frequency_penalty: penalty('once per occurrence'),
  logit_bias: z
    .record(
      z.string().regex(/^(0|[1-9][0-9]*)$/, 'keys must be token ids as decimal strings'),
      z.number().min(-MAX_ABS_LOGIT_BIAS).max(MAX_ABS_LOGIT_BIAS)
    )
    .refine((m) => Object.keys(m).length <= MAX_LOGIT_BIAS_ENTRIES, {
      message: `at most ${MAX_LOGIT_BIAS_ENTRIES} entries`
    })
    .nullish()
    .describe('Token id (decimal string) → bias in -100..100 added to its logit; -100 bans it.'),
  seed: z
    .number()
    .int()
    .nullish()
    .describe(
      'Same seed, same settings → same text, with or without speculative drafts (position-keyed sampling).'
    ),
  stop: z
    .union([z.string(), z.array(z.string()).max(MAX_STOP_SEQUENCES)])
    .nullish()
    .describe('Up to 4 stop strings; the output ends right before the first one completed.'),
  stream: z.boolean().nullish(),
  stream_options: z
    .strictObject({
      include_usage: z.boolean().nullish(),
      include_obfuscation: z
        .boolean()
        .nullish()
        .describe('Accepted and ignored: this oracle never adds obfuscation padding.')
    })
    .nullish(),
  user: z
    .string()
    .optional()
    .describe('Accepted and ignored: no per-end-user tracking here (not logged, not stored).'),
  shard: shardRequestSchema
};

/**
 * OpenAI fields accepted but without effect, and why (README and OpenAPI list them). Fields that
 * are honoured are not listed; fields that cannot be honoured are in the unsupported tables.
 */
export const ACCEPTED_IGNORED_FIELDS: Record<string, string> = {
  user: 'no per-end-user abuse tracking exists here; the value is neither logged nor stored',
  safety_identifier: 'same as user',
  metadata: 'only meaningful for stored completions, and this oracle stores none',
  store: 'this oracle stores no completions (there is no GET /v1/chat/completions/{id})',
  service_tier: 'one oracle has one tier; every request runs in the same FIFO admission queue',
  prompt_cache_key:
    'the oracle reuses the KV cache of a shared prompt prefix on its own; there are no cache shards to route between',
  prompt_cache_retention: 'same as prompt_cache_key: cache lifetime is the sequence’s',
  'stream_options.include_obfuscation':
    'streams carry no obfuscation padding, whatever the value (include_usage is honoured)'
};

/**
 * Throws `unsupported_parameter` for the first field of `body` that `rules` refuses. A rule is a
 * reason (always refused when present and not null) or a function returning a reason for the
 * value (or undefined when that value is fine, e.g. `n: 1`).
 */
export function rejectUnsupported(
  body: unknown,
  rules: Record<string, string | ((value: unknown) => string | undefined)>
): void {
  if (!body || typeof body !== 'object' || Array.isArray(body)) return;
  for (const [field, rule] of Object.entries(rules)) {
    const value = (body as Record<string, unknown>)[field];
    if (value === undefined || value === null) continue;
    const reason = typeof rule === 'string' ? rule : rule(value);
    if (reason) {
      throw new BadRequestError(
        `${field} is not supported by this oracle: ${reason}`,
        'unsupported_parameter',
        field
      );
    }
  }
}

/** `n` as OpenAI clients send it: only 1 choice per request is generated. */
export const onlyOneChoice = (value: unknown) =>
  value === 1
    ? undefined
    : 'only n=1 is supported (one choice per request; send several requests with different seeds)';

/** The `model` field: the oracle's model id or the alias `default`; absent means `default`. */
export const modelField = z
  .string()
  .nullish()
  .describe('The served model’s id (GET /v1/models) or `default`; absent means `default`.');

/** OpenAI's error body (every 4xx/5xx of the API; workflow errors add `ok`, `detail`, `code`). */
export const errorBodySchema = z
  .object({
    error: z.object({
      message: z.string(),
      type: z.string(),
      param: z.string().nullable(),
      code: z.string().nullable()
    })
  })
  .register(apiSchemas, { id: 'Error' });

export const usageSchema = z
  .object({
    prompt_tokens: z.number().int(),
    completion_tokens: z.number().int(),
    total_tokens: z.number().int()
  })
  .register(apiSchemas, { id: 'Usage' });

/** How one reply was made (the `shard` object of a completion and of a stream's final chunk). */
export const shardStatsSchema = z
  .object({
    mode: z.enum(['standard', 'speculative']),
    draft_source: z.string().nullable(),
    drafted: z.number().int(),
    accepted: z.number().int(),
    acceptance_rate: z.number(),
    rounds: z.number().int(),
    duration_ms: z.number(),
    branch_rounds: z
      .number()
      .int()
      .optional()
      .describe(
        "Rounds that verified other scouts' diverging drafts beside the main one in the same batched pass (present only when one ran)."
      ),
    branch_wins: z
      .number()
      .int()
      .optional()
      .describe('Of branch_rounds, those where an alternative draft was committed.'),
    governor: z.object({
      is_speculating: z.boolean(),
      predicted_speedup: z.number().nullable(),
      realized_speedup: z
        .number()
        .nullable()
        .describe(
          "Measured speed of the source's recent speculative rounds over plain decoding; null before any (the governor keeps drafting off below its floor, 0.97)."
        ),
      reason: z.string()
    }),
    receipt: ChatReceiptRefSchema.nullable()
      .optional()
      .describe(
        'Chat only: where the signed receipt of this answer is (also header `x-shard-receipt` on whole replies); null when it could not be written.'
      ),
    queue: z
      .object({
        class: z.enum(['contributor', 'consumer']),
        position: z.number().int(),
        waited_admissions: z.number().int(),
        identity: z.string().optional(),
        credit: z.number().optional()
      })
      .optional()
      .describe(
        'How the request was admitted: its class, its place in the queue on arrival (0 = a slot was free) and how many requests were admitted while it waited.'
      ),
    attestation: StepAttestationSchema.optional().describe(
      'Present when the request asked with `x-shard-attest: 1`: this node signs the request and output hashes with its receipt key.'
    )
  })
  .register(apiSchemas, { id: 'ShardStats' });

const tokenLogprobFields = {
  token: z.string(),
  logprob: z.number(),
  bytes: z.array(z.number().int()).nullable()
};

/** OpenAI's `choices[].logprobs` of chat (`content[]` per output token). */
export const chatLogprobsSchema = z
  .object({
    content: z
      .array(
        z.object({
          ...tokenLogprobFields,
          top_logprobs: z.array(z.object(tokenLogprobFields))
        })
      )
      .nullable(),
    refusal: z.array(z.unknown()).nullable()
  })
  .register(apiSchemas, { id: 'ChatLogprobs' });

/** Legacy completions `choices[].logprobs`. */
export const completionLogprobsSchema = z
  .object({
    tokens: z.array(z.string()),
    token_logprobs: z.array(z.number()),
    top_logprobs: z.array(z.record(z.string(), z.number())),
    text_offset: z.array(z.number().int())
  })
  .register(apiSchemas, { id: 'CompletionLogprobs' });
