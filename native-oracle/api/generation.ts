/**
 * What the generating routes (chat and legacy completions) share: the `model` check, the Shard
 * headers, the prompt-size limit, OpenAI sampling fields mapped to the engine's options, the
 * headers known before generation, and the response pieces (usage, `shard` stats, logprobs).
 */
import type {
  DraftSource,
  GenerateOptions,
  GenerationStats,
  TargetEngine,
  TokenLogprobs
} from '../engine/index.js';
import { BadRequestError, ModelNotFoundError } from '../http/errors.js';
import type { OracleContext } from '../http/router.js';
import { speculationSchema, type Speculation } from './openai-schema.js';
import type { PrivacyEnvelope, ScoutFloor } from '../../src/lib/protocol/privacy.js';

/** The alias every client may send instead of the served model's id. */
export const DEFAULT_MODEL_ALIAS = 'default';

/**
 * Chooses the draft source for one request. Returning undefined leaves the engine's default
 * source in place; null forces plain decoding.
 */
export type DraftSourceProvider = (request: {
  id: string;
  speculation: Speculation;
  /** The request's own word on showing its prompt to scouts; undefined when it said nothing. */
  allowScouts?: boolean;
  /**
   * The scout floor the request asked for (its privacy envelope; `none` when it said
   * allow_scouts false); undefined when it named none (the mesh's default applies).
   */
  scoutFloor?: ScoutFloor;
  /** The request's normalized privacy envelope (chat); undefined for routes without one. */
  privacy?: PrivacyEnvelope;
}) => DraftSource | null | undefined;

/**
 * Throws ModelNotFoundError (404 `model_not_found`, OpenAI's wording) unless `model` is the
 * engine's id or the alias `default`; absent or null means `default`.
 */
export function checkModel(engine: TargetEngine, model: string | null | undefined): void {
  if (model == null || model === DEFAULT_MODEL_ALIAS || model === engine.modelId) return;
  throw new ModelNotFoundError(model);
}

/** The sampling and Shard fields common to chat and completions request bodies. */
export interface GenerationFields {
  temperature?: number | null;
  top_p?: number | null;
  top_k?: number | null;
  min_p?: number | null;
  presence_penalty?: number | null;
  frequency_penalty?: number | null;
  logit_bias?: Record<string, number> | null;
  seed?: number | null;
  stop?: string | string[] | null;
  shard?: { speculation?: Speculation; allow_scouts?: boolean } | null;
}

/** The request's speculation choice: header x-shard-speculation, else body, else `auto`. */
export function speculationOf(c: OracleContext, body: GenerationFields): Speculation {
  const raw = c.req.header('x-shard-speculation');
  if (raw !== undefined) {
    const parsed = speculationSchema.safeParse(raw.trim().toLowerCase());
    if (!parsed.success) {
      throw new BadRequestError(
        `x-shard-speculation must be auto, off or on; got "${raw.slice(0, 40)}"`,
        'invalid_header'
      );
    }
    return parsed.data;
  }
  return body.shard?.speculation ?? 'auto';
}

/** The request's choice on showing its prompt to scouts: header, else body, else undefined. */
export function allowScoutsOf(c: OracleContext, body: GenerationFields): boolean | undefined {
  const raw = c.req.header('x-shard-allow-scouts');
  if (raw !== undefined) {
    const value = raw.trim().toLowerCase();
    if (value === 'true') return true;
    if (value === 'false') return false;
    throw new BadRequestError(
      `x-shard-allow-scouts must be true or false; got "${raw.slice(0, 40)}"`,
      'invalid_header'
    );
  }
  return body.shard?.allow_scouts;
}

/**
 * Throws 400 `context_length_exceeded` when the prompt is longer than SHARD_MAX_PROMPT_CHARS:
 * a cap on prompt size that clients handle like a context overflow (they shorten the input),
 * unlike 413, which they report as a generic failure. The raw body-size limit stays 413.
 */
export function checkPromptChars(promptChars: number, maxPromptChars: number, param: string) {
  if (promptChars <= maxPromptChars) return;
  throw new BadRequestError(
    `prompt is ${promptChars} characters; this server accepts at most ${maxPromptChars} ` +
      `(SHARD_MAX_PROMPT_CHARS), a limit on the context length. Please reduce the length of the ${param}.`,
    'context_length_exceeded',
    param
  );
}

/**
 * Throws 400 naming `logit_bias` when a key is outside the vocabulary (the schema checked the
 * format and range; only the engine knows its vocabulary size).
 */
export function checkLogitBias(engine: TargetEngine, bias: Record<string, number> | null = null) {
  for (const key of Object.keys(bias ?? {})) {
    if (Number(key) >= engine.vocabularySize) {
      throw new BadRequestError(
        `logit_bias: token ${key} is outside the vocabulary (${engine.vocabularySize} tokens; ids 0..${engine.vocabularySize - 1})`,
        'invalid_request',
        'logit_bias'
      );
    }
  }
}

/** OpenAI sampling fields as the engine's options (null and absent both mean the default). */
export function samplingOptionsOf(body: GenerationFields): Partial<GenerateOptions> {
  const stop =
    body.stop == null ? undefined : typeof body.stop === 'string' ? [body.stop] : body.stop;
  const options: Partial<GenerateOptions> = {
    temperature: body.temperature ?? undefined,
    topP: body.top_p ?? undefined,
    topK: body.top_k ?? undefined,
    minP: body.min_p ?? undefined,
    presencePenalty: body.presence_penalty ?? undefined,
    frequencyPenalty: body.frequency_penalty ?? undefined,
    logitBias: body.logit_bias ?? undefined,
    seed: body.seed ?? undefined,
    stop: stop && stop.length > 0 ? stop : undefined
  };
  return Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined));
}

/**
 * Headers known before generation starts, on streamed and whole replies alike: the request id,
 * the model, and the speculation choice (`auto` / `off` / `on`). How the reply was actually made
 * (mode, draft source, drafted, accepted) is known only at the end: whole replies carry it in
 * headers too (finalHeaders), streams in the final chunk's `shard` object.
 */
export function startHeaders(
  id: string,
  model: string,
  speculation: Speculation
): Record<string, string> {
  return { 'x-request-id': id, 'x-shard-model': model, 'x-shard-speculation': speculation };
}

/** Headers of a whole (non-streamed) reply: start headers plus the final stats. */
export function finalHeaders(stats: GenerationStats): Record<string, string> {
  return {
    'x-shard-inference-mode': stats.mode,
    'x-shard-draft-source': stats.draftSource ?? 'none',
    'x-shard-drafted': String(stats.drafted),
    'x-shard-accepted': String(stats.accepted)
  };
}

const finiteOrNull = (x: number | null | undefined): number | null =>
  typeof x === 'number' && Number.isFinite(x) ? x : null;

/** The `shard` object added to responses; snake_case like the rest of the OpenAI body. */
export function shardStats(stats: GenerationStats) {
  return {
    mode: stats.mode,
    draft_source: stats.draftSource,
    drafted: stats.drafted,
    accepted: stats.accepted,
    acceptance_rate: stats.acceptanceRate,
    rounds: stats.rounds,
    duration_ms: stats.durationMs,
    // Rounds that verified other scouts' diverging drafts beside the main one, and how many of
    // them an alternative won (present only when such a round ran).
    ...(stats.branchRounds !== undefined
      ? { branch_rounds: stats.branchRounds, branch_wins: stats.branchWins ?? 0 }
      : {}),
    governor: {
      is_speculating: stats.governor.isSpeculating,
      // JSON has no Infinity or NaN.
      predicted_speedup: finiteOrNull(stats.governor.predictedSpeedup),
      realized_speedup: finiteOrNull(stats.governor.realizedSpeedup),
      reason: stats.governor.reason
    }
  };
}

export function usageOf(stats: GenerationStats) {
  return {
    prompt_tokens: stats.promptTokens,
    completion_tokens: stats.completionTokens,
    total_tokens: stats.promptTokens + stats.completionTokens
  };
}

/** Tokens of context used to read one token's text (enough for the tokenizer's spacing rules). */
const TOKEN_TEXT_CONTEXT = 4;

/**
 * Reads tokens' texts as they appear in the output: a tokenizer drops a leading space when a
 * token is decoded on its own, so each token is decoded after the last TOKEN_TEXT_CONTEXT
 * committed tokens (or an anchor token at the start) and the context's own text is cut off.
 * Bytes are the UTF-8 of that text, so a token that is part of a multi-byte character shows
 * U+FFFD (the generated test vocabulary has none).
 */
export function createTokenTexts(engine: TargetEngine) {
  const committed: number[] = engine.tokenize('.').slice(-1);
  const textAfter = (context: readonly number[], token: number) => {
    const base = engine.detokenize(context);
    const text = engine.detokenize([...context, token]);
    return text.startsWith(base) ? text.slice(base.length) : engine.detokenize([token]);
  };
  return {
    /** The texts of `token` and its alternatives at the next output position. */
    at(token: number) {
      const context = committed.slice(-TOKEN_TEXT_CONTEXT);
      const text = textAfter(context, token);
      return { token: text, bytes: [...Buffer.from(text, 'utf8')] };
    },
    /** Moves past a committed token. */
    commit(token: number) {
      committed.push(token);
      if (committed.length > 4 * TOKEN_TEXT_CONTEXT)
        committed.splice(0, committed.length - TOKEN_TEXT_CONTEXT);
    }
  };
}

export type TokenTexts = ReturnType<typeof createTokenTexts>;

/** OpenAI chat `logprobs.content[]` entries for the engine's per-token reports (in order). */
export function chatLogprobsContent(texts: TokenTexts, reports: readonly TokenLogprobs[]) {
  return reports.map((r) => {
    const entry = {
      ...texts.at(r.token),
      logprob: r.logprob,
      top_logprobs: r.top.map((t) => ({ ...texts.at(t.token), logprob: t.logprob }))
    };
    texts.commit(r.token);
    return entry;
  });
}
