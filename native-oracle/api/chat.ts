/**
 * `POST /v1/chat/completions`: the OpenAI-compatible chat surface over the target engine.
 * Thin route: validate at the edge, enforce the prompt limit, generate through the admitted
 * engine (shared FIFO), and render the OpenAI response or SSE stream plus Shard's speculation
 * stats (`x-shard-*` headers and a top-level `shard` field that OpenAI clients ignore).
 */
import { randomBytes } from 'node:crypto';
import type {
  ChatMessage,
  DraftSource,
  GenerateOptions,
  GenerationEvent,
  GenerationStats,
  TargetEngine
} from '../engine/index.js';
import {
  BadRequestError,
  PayloadTooLargeError,
  ServiceUnavailableError,
  toHttp
} from '../http/errors.js';
import { jsonResponse, type OracleContext, type Router } from '../http/router.js';
import { eventStream, type EventSink } from '../http/sse.js';
import { jsonBody } from '../http/validate.js';
import { createLogger } from '../../src/lib/server/log.js';
import {
  chatCompletionRequestSchema,
  speculationSchema,
  type ChatCompletionRequest,
  type Speculation
} from './chat-schema.js';

const log = createLogger('shard:oracle:chat');

/**
 * Chooses the draft source for one request. Returning undefined leaves the engine's default
 * source in place; null forces plain decoding.
 */
export type DraftSourceProvider = (request: {
  id: string;
  speculation: Speculation;
  /** The request's own word on showing its prompt to scouts; undefined when it said nothing. */
  allowScouts?: boolean;
}) => DraftSource | null | undefined;

/** Outcomes of chat requests that reached the engine, shown by /health. */
export interface ChatCounters {
  completed: number;
  /** The client went away before the reply was complete (generation stopped early). */
  aborted: number;
  failed: number;
}

export interface ChatRouteOptions {
  /** Incremented per finished request; default a private object. */
  counters?: ChatCounters;
  /** Engine to generate with (normally the admitted wrapper); null = no model loaded (503). */
  engine: TargetEngine | null;
  /** Largest total message content in characters (413 beyond). */
  maxPromptChars: number;
  /** Read at each request, so a plugin may install one after start-up. */
  draftSourceProvider?: () => DraftSourceProvider | undefined;
}

/** The `shard` object added to responses; snake_case like the rest of the OpenAI body. */
function shardStats(stats: GenerationStats) {
  return {
    mode: stats.mode,
    draft_source: stats.draftSource,
    drafted: stats.drafted,
    accepted: stats.accepted,
    acceptance_rate: stats.acceptanceRate,
    rounds: stats.rounds,
    duration_ms: stats.durationMs,
    governor: {
      is_speculating: stats.governor.isSpeculating,
      predicted_speedup: stats.governor.predictedSpeedup,
      reason: stats.governor.reason
    }
  };
}

function usageOf(stats: GenerationStats) {
  return {
    prompt_tokens: stats.promptTokens,
    completion_tokens: stats.completionTokens,
    total_tokens: stats.promptTokens + stats.completionTokens
  };
}

function toChatMessages(body: ChatCompletionRequest): ChatMessage[] {
  return body.messages.map((m) => ({
    role: m.role === 'developer' ? 'system' : m.role,
    content: typeof m.content === 'string' ? m.content : m.content.map((p) => p.text).join('')
  }));
}

/** The request's speculation choice: header x-shard-speculation, else body, else `auto`. */
function speculationOf(c: OracleContext, body: ChatCompletionRequest): Speculation {
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
function allowScoutsOf(c: OracleContext, body: ChatCompletionRequest): boolean | undefined {
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

/** One validated chat request, ready for the engine. */
interface ChatRequest {
  id: string;
  created: number;
  body: ChatCompletionRequest;
  messages: ChatMessage[];
  promptChars: number;
  speculation: Speculation;
  allowScouts: boolean | undefined;
}

/**
 * Step 1, parse and validate: the body was checked by the route's schema; this enforces the
 * prompt limit (413) and reads the Shard headers (400 for a bad value).
 */
function parseChatRequest(
  c: OracleContext,
  body: ChatCompletionRequest,
  maxPromptChars: number
): ChatRequest {
  const messages = toChatMessages(body);
  const promptChars = messages.reduce((n, m) => n + m.content.length, 0);
  if (promptChars > maxPromptChars) {
    throw new PayloadTooLargeError(
      `prompt is ${promptChars} characters; this server accepts at most ${maxPromptChars} (SHARD_MAX_PROMPT_CHARS)`,
      'prompt_too_long'
    );
  }
  return {
    id: `chatcmpl-${randomBytes(12).toString('hex')}`,
    created: Math.floor(Date.now() / 1000),
    body,
    messages,
    promptChars,
    speculation: speculationOf(c, body),
    allowScouts: allowScoutsOf(c, body)
  };
}

/** Step 2, the engine's options: OpenAI fields mapped to GenerateOptions. */
function generateOptionsOf(
  request: ChatRequest,
  draftSource: DraftSource | null | undefined,
  signal: AbortSignal
): GenerateOptions {
  const { body } = request;
  const format = body.response_format;
  // json_object has no schema of its own: any JSON object satisfies it.
  const jsonSchema =
    format?.type === 'json_schema'
      ? format.json_schema.schema
      : format?.type === 'json_object'
        ? { type: 'object' }
        : undefined;
  const stop =
    body.stop == null ? undefined : typeof body.stop === 'string' ? [body.stop] : body.stop;
  return {
    messages: request.messages,
    maxTokens: body.max_completion_tokens ?? body.max_tokens ?? undefined,
    temperature: body.temperature ?? undefined,
    topP: body.top_p ?? undefined,
    seed: body.seed ?? undefined,
    stop: stop && stop.length > 0 ? stop : undefined,
    speculation: request.speculation,
    ...(jsonSchema ? { jsonSchema } : {}),
    ...(draftSource !== undefined ? { draftSource } : {}),
    signal
  };
}

type Generation = AsyncGenerator<GenerationEvent>;
type Step = IteratorResult<GenerationEvent>;

/** Step 3a, the non-streaming reply: runs the generation to its done event. */
async function completeChat(
  request: ChatRequest,
  model: string,
  generation: Generation,
  first: Step,
  counters: ChatCounters,
  signal: AbortSignal
): Promise<Response> {
  let step = first;
  while (!step.done && step.value.type !== 'done') step = await generation.next();
  if (step.done || step.value.type !== 'done') {
    throw new Error('generation ended without a done event');
  }
  const done = step.value;
  const { id } = request;
  log.info('chat done', { id, tokens: done.stats.completionTokens, mode: done.stats.mode });
  if (signal.aborted) counters.aborted += 1;
  else counters.completed += 1;
  const headers = {
    'x-request-id': id,
    'x-shard-inference-mode': done.stats.mode,
    'x-shard-draft-source': done.stats.draftSource ?? 'none',
    'x-shard-drafted': String(done.stats.drafted),
    'x-shard-accepted': String(done.stats.accepted)
  };
  const completion = {
    id,
    object: 'chat.completion',
    created: request.created,
    model,
    choices: [
      {
        index: 0,
        message: { role: 'assistant', content: done.text, refusal: null },
        logprobs: null,
        finish_reason: done.finishReason
      }
    ],
    usage: usageOf(done.stats),
    shard: shardStats(done.stats)
  };
  return jsonResponse(completion, 200, headers);
}

/**
 * Step 3b, the streaming reply: OpenAI chunks as SSE `data:` events, the final chunk carrying
 * `shard` stats, an optional usage chunk, then `[DONE]`. Ends the generation on every path.
 */
function streamChat(
  c: OracleContext,
  request: ChatRequest,
  model: string,
  generation: Generation,
  first: Step,
  counters: ChatCounters
): Response {
  const { id, created } = request;
  const includeUsage = request.body.stream_options?.include_usage === true;
  const chunk = (choices: unknown[], extra: Record<string, unknown> = {}) =>
    JSON.stringify({
      id,
      object: 'chat.completion.chunk',
      created,
      model,
      system_fingerprint: null,
      choices,
      ...(includeUsage ? { usage: null } : {}),
      ...extra
    });
  const delta = (content: Record<string, string>) =>
    chunk([{ index: 0, delta: content, logprobs: null, finish_reason: null }]);

  const produce = async (sink: EventSink) => {
    const { signal } = sink;
    let isComplete = false;
    try {
      await sink.send(delta({ role: 'assistant', content: '' }));
      for (let step = first; !step.done; step = await generation.next()) {
        if (signal.aborted) break;
        const event = step.value;
        if (event.type === 'tokens') {
          if (event.text !== '') await sink.send(delta({ content: event.text }));
          continue;
        }
        const finish = [{ index: 0, delta: {}, logprobs: null, finish_reason: event.finishReason }];
        await sink.send(chunk(finish, { shard: shardStats(event.stats) }));
        if (includeUsage) await sink.send(chunk([], { usage: usageOf(event.stats) }));
        log.info('chat stream done', {
          id,
          tokens: event.stats.completionTokens,
          mode: event.stats.mode
        });
        isComplete = true;
        break;
      }
      await sink.send('[DONE]');
      if (signal.aborted || !isComplete) counters.aborted += 1;
      else counters.completed += 1;
    } catch (err) {
      // Headers are out: report the failure as an SSE error event (OpenAI clients raise it).
      if (signal.aborted) counters.aborted += 1;
      else {
        counters.failed += 1;
        log.warn('stream failed', { id, err });
        await sink.send(JSON.stringify(toHttp(err, 'openai').body));
      }
    } finally {
      // Frees the engine sequence and the admission slot: done, client disconnect or error.
      await generation.return(undefined);
    }
  };
  return eventStream(c, produce, { headers: { 'x-request-id': id } });
}

/**
 * A reply for a client that already left: nobody reads it. 499 is the conventional "client
 * closed request" status, so the request log shows what happened.
 */
const clientGone = () => new Response(null, { status: 499 });

/** Registers the chat-completions route on `router`. */
export function registerChatRoutes(router: Router, options: ChatRouteOptions): void {
  const counters = options.counters ?? { completed: 0, aborted: 0, failed: 0 };
  router.post('/v1/chat/completions', jsonBody(chatCompletionRequestSchema), async (c) => {
    const { engine } = options;
    if (!engine) {
      throw new ServiceUnavailableError(
        'no model is loaded on this oracle; run `npm run models` and restart it',
        'model_not_loaded',
        30
      );
    }
    const request = parseChatRequest(c, c.req.valid('json'), options.maxPromptChars);
    const { id, speculation, allowScouts } = request;
    const draftSource = options.draftSourceProvider?.()?.({ id, speculation, allowScouts });
    const signal = c.req.raw.signal;
    const generation = engine.generate(generateOptionsOf(request, draftSource, signal));
    log.debug('chat request', {
      id,
      messages: request.messages.length,
      promptChars: request.promptChars,
      stream: !!request.body.stream,
      speculation
    });
    let isStreaming = false;
    try {
      // The first step waits for admission and the first tokens; failures here (queue full,
      // engine errors) still become a plain JSON error, before any SSE header is sent.
      const first = await generation.next();
      if (!request.body.stream) {
        return await completeChat(request, engine.modelId, generation, first, counters, signal);
      }
      isStreaming = true;
      return streamChat(c, request, engine.modelId, generation, first, counters);
    } catch (err) {
      // The client left (disconnect or abort): nobody to answer, and nothing went wrong.
      if (signal.aborted) {
        counters.aborted += 1;
        log.debug('client left before the reply', { id });
        return clientGone();
      }
      if ((err as Error)?.name !== 'QueueFullError') counters.failed += 1;
      throw err;
    } finally {
      // The stream ends the generation itself; every other path ends it here.
      if (!isStreaming) await generation.return(undefined);
    }
  });
}
