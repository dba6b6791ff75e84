/**
 * `POST /v1/completions`: OpenAI's legacy text completions over the target engine (the prompt
 * as raw text, no chat template), whole or streamed, with the same sampling fields, model check,
 * limits and Shard stats as chat. `echo` prepends the prompt; `logprobs: k` reports each token's
 * logprob and k alternatives in the legacy shape (`tokens`, `token_logprobs`, `top_logprobs`,
 * `text_offset`).
 */
import { randomBytes } from 'node:crypto';
import type {
  DraftSource,
  GenerateOptions,
  GenerationEvent,
  TargetEngine,
  TokenLogprobs
} from '../engine/index.js';
import { BadRequestError, toHttp } from '../http/errors.js';
import { jsonResponse, type OracleContext, type Router } from '../http/router.js';
import { eventStream, type EventSink } from '../http/sse.js';
import { jsonBody } from '../http/validate.js';
import { createLogger } from '../../src/lib/server/log.js';
import { clientGone, requireEngine } from './chat.js';
import {
  COMPLETION_UNSUPPORTED,
  DEFAULT_COMPLETION_MAX_TOKENS,
  completionRequestSchema,
  type CompletionRequest
} from './completions-schema.js';
import {
  allowScoutsOf,
  checkLogitBias,
  checkModel,
  checkPromptChars,
  finalHeaders,
  samplingOptionsOf,
  shardStats,
  speculationOf,
  startHeaders,
  createTokenTexts,
  usageOf,
  type TokenTexts,
  type DraftSourceProvider
} from './generation.js';
import { rejectUnsupported } from './openai-schema.js';

const log = createLogger('shard:oracle:completions');

export interface CompletionRouteOptions {
  engine: TargetEngine | null;
  maxPromptChars: number;
  draftSourceProvider?: () => DraftSourceProvider | undefined;
}

type DoneEvent = Extract<GenerationEvent, { type: 'done' }>;

/** Legacy `logprobs` for reports, offsets counted from `offset` characters into the text. */
function legacyLogprobs(texts: TokenTexts, reports: readonly TokenLogprobs[], offset: number) {
  const tokens: string[] = [];
  const textOffset: number[] = [];
  const topLogprobs: Array<Record<string, number>> = [];
  let at = offset;
  for (const r of reports) {
    const text = texts.at(r.token).token;
    tokens.push(text);
    textOffset.push(at);
    topLogprobs.push(Object.fromEntries(r.top.map((t) => [texts.at(t.token).token, t.logprob])));
    texts.commit(r.token);
    at += text.length;
  }
  return {
    tokens,
    token_logprobs: reports.map((r) => r.logprob),
    top_logprobs: topLogprobs,
    text_offset: textOffset
  };
}

/** The request's engine options (the prompt is raw text: no template). */
function optionsOf(
  body: CompletionRequest,
  prompt: string,
  speculation: GenerateOptions['speculation'],
  draftSource: DraftSource | null | undefined,
  signal: AbortSignal
): GenerateOptions {
  const logprobs = body.logprobs ?? null;
  return {
    prompt,
    maxTokens: body.max_tokens ?? DEFAULT_COMPLETION_MAX_TOKENS,
    ...samplingOptionsOf(body),
    ...(logprobs !== null ? { logprobs: true, topLogprobs: logprobs } : {}),
    speculation,
    ...(draftSource !== undefined ? { draftSource } : {}),
    signal
  };
}

/** A prompt over the context, in OpenAI's wording for the completions API. */
function contextOverflow(err: unknown): unknown {
  const e = err as { name?: string; promptTokens?: number; contextSize?: number };
  if (e?.name !== 'PromptTooLongError') return err;
  return new BadRequestError(
    `This model's maximum context length is ${e.contextSize} tokens. However, your prompt ` +
      `resulted in ${e.promptTokens} tokens (at least 1 more is needed to generate). Please ` +
      'reduce the length of the prompt.',
    'context_length_exceeded',
    'prompt'
  );
}

interface Reply {
  id: string;
  created: number;
  engine: TargetEngine;
  body: CompletionRequest;
  prompt: string;
  headers: Record<string, string>;
}

function chunkOf(r: Reply, choice: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  const includeUsage = r.body.stream_options?.include_usage === true;
  return JSON.stringify({
    id: r.id,
    object: 'text_completion',
    created: r.created,
    model: r.engine.modelId,
    system_fingerprint: null,
    choices: Object.keys(choice).length > 0 ? [{ index: 0, logprobs: null, ...choice }] : [],
    ...(includeUsage ? { usage: null } : {}),
    ...extra
  });
}

/** Streams text chunks, the final chunk (finish reason, `shard`), usage if asked, `[DONE]`. */
function streamCompletion(
  c: OracleContext,
  r: Reply,
  generation: AsyncGenerator<GenerationEvent>,
  first: IteratorResult<GenerationEvent>
): Response {
  const wantsLogprobs = r.body.logprobs != null;
  const texts = createTokenTexts(r.engine);
  return eventStream(
    c,
    async (sink: EventSink) => {
      let offset = 0;
      try {
        if (r.body.echo) {
          await sink.send(chunkOf(r, { text: r.prompt, finish_reason: null }));
          offset = r.prompt.length;
        }
        for (let step = first; !step.done; step = await generation.next()) {
          if (sink.signal.aborted) break;
          const event = step.value;
          if (event.type === 'tokens') {
            const logprobs = wantsLogprobs
              ? legacyLogprobs(texts, event.logprobs ?? [], offset)
              : null;
            offset += event.text.length;
            if (event.text !== '' || logprobs)
              await sink.send(chunkOf(r, { text: event.text, logprobs, finish_reason: null }));
            continue;
          }
          const finish = { text: '', finish_reason: event.finishReason };
          await sink.send(chunkOf(r, finish, { shard: shardStats(event.stats) }));
          if (r.body.stream_options?.include_usage)
            await sink.send(chunkOf(r, {}, { usage: usageOf(event.stats) }));
          break;
        }
        await sink.send('[DONE]');
      } catch (err) {
        if (!sink.signal.aborted) {
          log.warn('stream failed', { id: r.id, err });
          await sink.send(JSON.stringify(toHttp(contextOverflow(err), 'openai').body));
        }
      } finally {
        await generation.return(undefined);
      }
    },
    { headers: r.headers }
  );
}

/** Runs the generation to its end and renders the whole completion. */
async function completeText(
  r: Reply,
  generation: AsyncGenerator<GenerationEvent>,
  first: IteratorResult<GenerationEvent>
): Promise<Response> {
  const reports: TokenLogprobs[] = [];
  let step = first;
  for (; !step.done && step.value.type !== 'done'; step = await generation.next()) {
    if (step.value.type === 'tokens' && step.value.logprobs) reports.push(...step.value.logprobs);
  }
  if (step.done || step.value.type !== 'done') throw new Error('generation ended without done');
  const done: DoneEvent = step.value;
  const echo = r.body.echo ? r.prompt : '';
  const body = {
    id: r.id,
    object: 'text_completion',
    created: r.created,
    model: r.engine.modelId,
    system_fingerprint: null,
    choices: [
      {
        text: echo + done.text,
        index: 0,
        logprobs:
          r.body.logprobs != null
            ? legacyLogprobs(createTokenTexts(r.engine), reports, echo.length)
            : null,
        finish_reason: done.finishReason
      }
    ],
    usage: usageOf(done.stats),
    shard: shardStats(done.stats)
  };
  return jsonResponse(body, 200, { ...r.headers, ...finalHeaders(done.stats) });
}

/** Registers `POST /v1/completions` on `router`. */
export function registerCompletionRoutes(router: Router, options: CompletionRouteOptions): void {
  const precheck = (raw: unknown) => rejectUnsupported(raw, COMPLETION_UNSUPPORTED);
  router.post('/v1/completions', jsonBody(completionRequestSchema, precheck), async (c) => {
    const engine = requireEngine(options.engine);
    const body = c.req.valid('json');
    checkModel(engine, body.model);
    const prompt = typeof body.prompt === 'string' ? body.prompt : body.prompt[0]!;
    checkPromptChars(prompt.length, options.maxPromptChars, 'prompt');
    checkLogitBias(engine, body.logit_bias);
    if (body.echo && body.logprobs != null) {
      throw new BadRequestError(
        'echo with logprobs is not supported: prompt tokens have no logprobs here; drop one of them',
        'unsupported_parameter',
        'echo'
      );
    }
    const id = `cmpl-${randomBytes(12).toString('hex')}`;
    const speculation = speculationOf(c, body);
    const allowScouts = allowScoutsOf(c, body);
    const draftSource = options.draftSourceProvider?.()?.({ id, speculation, allowScouts });
    const signal = c.req.raw.signal;
    const generation = engine.generate(optionsOf(body, prompt, speculation, draftSource, signal));
    const reply: Reply = {
      id,
      created: Math.floor(Date.now() / 1000),
      engine,
      body,
      prompt,
      headers: startHeaders(id, engine.modelId, speculation)
    };
    let isStreaming = false;
    try {
      const first = await generation.next();
      if (!body.stream) return await completeText(reply, generation, first);
      isStreaming = true;
      return streamCompletion(c, reply, generation, first);
    } catch (err) {
      if (signal.aborted) return clientGone();
      throw contextOverflow(err);
    } finally {
      if (!isStreaming) await generation.return(undefined);
    }
  });
}
