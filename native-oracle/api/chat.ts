/**
 * `POST /v1/chat/completions`: the OpenAI-compatible chat surface over the target engine.
 * Thin route: validate at the edge, enforce the prompt limit, generate through the admitted
 * engine (shared FIFO), and render the OpenAI response or SSE stream plus Shard's speculation
 * stats (`x-shard-*` headers and a top-level `shard` field that OpenAI clients ignore).
 */
import { randomBytes } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import type {
  ChatMessage,
  DraftSource,
  FinishReason,
  GenerationStats,
  TargetEngine
} from '../engine/index.js';
import {
  BadRequestError,
  PayloadTooLargeError,
  ServiceUnavailableError,
  toHttp
} from '../http/errors.js';
import type { RequestContext, Router } from '../http/router.js';
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
export function shardStats(stats: GenerationStats) {
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

function speculationOf(ctx: RequestContext, body: ChatCompletionRequest): Speculation {
  const header = ctx.req.headers['x-shard-speculation'];
  const raw = Array.isArray(header) ? header[0] : header;
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
function allowScoutsOf(ctx: RequestContext, body: ChatCompletionRequest): boolean | undefined {
  const header = ctx.req.headers['x-shard-allow-scouts'];
  const raw = Array.isArray(header) ? header[0] : header;
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

/** Writes one SSE event, waiting for drain under backpressure (or until the client left). */
async function writeEvent(res: ServerResponse, signal: AbortSignal, data: string): Promise<void> {
  if (res.write(`data: ${data}\n\n`) || signal.aborted) return;
  await new Promise<void>((resolve) => {
    const done = () => {
      res.off('drain', done);
      signal.removeEventListener('abort', done);
      resolve();
    };
    res.once('drain', done);
    signal.addEventListener('abort', done, { once: true });
  });
}

/** Registers the chat-completions route on `router`. */
export function registerChatRoutes(router: Router, options: ChatRouteOptions): void {
  const counters = options.counters ?? { completed: 0, aborted: 0, failed: 0 };
  router.add({
    method: 'POST',
    path: '/v1/chat/completions',
    handler: async (ctx) => {
      const { engine } = options;
      if (!engine) {
        throw new ServiceUnavailableError(
          'no model is loaded on this oracle; run `npm run models` and restart it',
          'model_not_loaded',
          30
        );
      }
      const body = await ctx.json(chatCompletionRequestSchema);
      const messages = toChatMessages(body);
      const promptChars = messages.reduce((n, m) => n + m.content.length, 0);
      if (promptChars > options.maxPromptChars) {
        throw new PayloadTooLargeError(
          `prompt is ${promptChars} characters; this server accepts at most ${options.maxPromptChars} (SHARD_MAX_PROMPT_CHARS)`,
          'prompt_too_long'
        );
      }
      const speculation = speculationOf(ctx, body);
      const id = `chatcmpl-${randomBytes(12).toString('hex')}`;
      const created = Math.floor(Date.now() / 1000);
      const allowScouts = allowScoutsOf(ctx, body);
      const draftSource = options.draftSourceProvider?.()?.({ id, speculation, allowScouts });
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

      const generation = engine.generate({
        messages,
        maxTokens: body.max_completion_tokens ?? body.max_tokens ?? undefined,
        temperature: body.temperature ?? undefined,
        topP: body.top_p ?? undefined,
        seed: body.seed ?? undefined,
        stop: stop && stop.length > 0 ? stop : undefined,
        speculation,
        ...(jsonSchema ? { jsonSchema } : {}),
        ...(draftSource !== undefined ? { draftSource } : {}),
        signal: ctx.signal
      });
      log.debug('chat request', {
        id,
        messages: messages.length,
        promptChars,
        stream: !!body.stream,
        speculation
      });

      try {
        // The first step waits for admission and the first tokens; failures here (queue full,
        // engine errors) still become a plain JSON error, before any SSE header is sent.
        let step = await generation.next();
        const model = engine.modelId;

        if (!body.stream) {
          while (!step.done && step.value.type !== 'done') step = await generation.next();
          if (step.done) throw new Error('generation ended without a done event');
          const done = step.value as {
            finishReason: FinishReason;
            text: string;
            stats: GenerationStats;
          };
          log.info('chat done', { id, tokens: done.stats.completionTokens, mode: done.stats.mode });
          if (ctx.signal.aborted) counters.aborted += 1;
          else counters.completed += 1;
          return {
            headers: {
              'x-request-id': id,
              'x-shard-inference-mode': done.stats.mode,
              'x-shard-draft-source': done.stats.draftSource ?? 'none',
              'x-shard-drafted': String(done.stats.drafted),
              'x-shard-accepted': String(done.stats.accepted)
            },
            json: {
              id,
              object: 'chat.completion',
              created,
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
            }
          };
        }

        const includeUsage = body.stream_options?.include_usage === true;
        const { res, signal } = ctx;
        res.writeHead(200, {
          'content-type': 'text/event-stream; charset=utf-8',
          'cache-control': 'no-store',
          connection: 'keep-alive',
          'x-accel-buffering': 'no',
          'x-request-id': id
        });
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
        await writeEvent(
          res,
          signal,
          chunk([
            {
              index: 0,
              delta: { role: 'assistant', content: '' },
              logprobs: null,
              finish_reason: null
            }
          ])
        );
        let isComplete = false;
        try {
          for (; !step.done; step = await generation.next()) {
            if (signal.aborted) break;
            const event = step.value;
            if (event.type === 'tokens') {
              if (event.text === '') continue;
              await writeEvent(
                res,
                signal,
                chunk([
                  { index: 0, delta: { content: event.text }, logprobs: null, finish_reason: null }
                ])
              );
              continue;
            }
            await writeEvent(
              res,
              signal,
              chunk([{ index: 0, delta: {}, logprobs: null, finish_reason: event.finishReason }], {
                shard: shardStats(event.stats)
              })
            );
            if (includeUsage)
              await writeEvent(res, signal, chunk([], { usage: usageOf(event.stats) }));
            log.info('chat stream done', {
              id,
              tokens: event.stats.completionTokens,
              mode: event.stats.mode
            });
            isComplete = true;
            break;
          }
          if (!signal.aborted) await writeEvent(res, signal, '[DONE]');
          if (signal.aborted || !isComplete) counters.aborted += 1;
          else counters.completed += 1;
        } catch (err) {
          // Headers are out: report the failure as an SSE error event (OpenAI clients raise it).
          if (signal.aborted) counters.aborted += 1;
          else {
            counters.failed += 1;
            log.warn('stream failed', { id, err });
            const mapped = toHttp(err, 'openai');
            await writeEvent(res, signal, JSON.stringify(mapped.body));
          }
        }
        res.end();
        return;
      } catch (err) {
        // The client left (disconnect or abort): nobody to answer, and nothing went wrong.
        if (ctx.signal.aborted) {
          counters.aborted += 1;
          log.debug('client left before the reply', { id });
          return;
        }
        if ((err as Error)?.name !== 'QueueFullError') counters.failed += 1;
        throw err;
      } finally {
        // Ends the engine generation (freeing its sequence and admission slot) on every path:
        // done, client disconnect, or error.
        await generation.return(undefined);
      }
    }
  });
}
