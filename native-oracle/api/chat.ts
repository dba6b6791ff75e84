/**
 * `POST /v1/chat/completions`: the OpenAI-compatible chat surface over the target engine.
 * Thin route: validate at the edge (every field honoured or refused by name), check the model
 * and the prompt limit, generate through the admitted engine (shared FIFO), and render the
 * OpenAI response or SSE stream plus Shard's speculation stats (`x-shard-*` headers and a
 * top-level `shard` field that OpenAI clients ignore).
 */
import { randomBytes } from 'node:crypto';
import type {
  ChatMessage,
  DraftSource,
  GenerateOptions,
  GenerationEvent,
  TargetEngine,
  TokenLogprobs
} from '../engine/index.js';
import { queueHeaders, queueReport } from '../admission/priority.js';
import { chatAttesterFor, type ChatAttester } from '../contribution/attestation.js';
import { forwardUnserved, forwardWhenFull } from './chat-forward.js';
import type { ReceiptSigner } from '../../src/lib/protocol/receipt-chain.js';
import { ServiceUnavailableError, toHttp } from '../http/errors.js';
import { jsonResponse, type OracleContext, type Router } from '../http/router.js';
import { eventStream, type EventSink } from '../http/sse.js';
import { callerOf } from '../http/security.js';
import { jsonBody } from '../http/validate.js';
import { createLogger } from '../../src/lib/server/log.js';
import {
  CHAT_UNSUPPORTED,
  chatCompletionRequestSchema,
  type ChatCompletionRequest,
  type Speculation
} from './chat-schema.js';
import {
  planTools,
  readToolOutput,
  toEngineMessages,
  type ToolOutput,
  type ToolPlan
} from './chat-tools.js';
import {
  allowScoutsOf,
  chatLogprobsContent,
  checkLogitBias,
  checkModel,
  checkPromptChars,
  createTokenTexts,
  finalHeaders,
  samplingOptionsOf,
  shardStats,
  speculationOf,
  startHeaders,
  usageOf,
  type DraftSourceProvider
} from './generation.js';
import { rejectUnsupported } from './openai-schema.js';
import { chatPrivacyOf } from './chat-privacy.js';
import {
  STOPPED_FINISH_REASON,
  newChatExecutionId,
  recordChatReceipt,
  type ChatReceiptStoreProvider
} from './chat-receipts.js';
import type { PrivacyEnvelope, ScoutFloor } from '../../src/lib/protocol/privacy.js';
import type { ChatReceiptRef } from '../../src/lib/protocol/receipts.js';

export type { DraftSourceProvider } from './generation.js';

const log = createLogger('shard:oracle:chat');

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
  /** Largest total message content in characters (400 context_length_exceeded beyond). */
  maxPromptChars: number;
  /** Read at each request, so a plugin may install one after start-up. */
  draftSourceProvider?: () => DraftSourceProvider | undefined;
  /** The receipt store every answer's receipt is written to; none = no receipts (null in `shard.receipt`). */
  receiptStore?: ChatReceiptStoreProvider;
  /** Signs `shard.attestation` for requests that ask (`x-shard-attest: 1`); default none. */
  attestationSigner?: () => ReceiptSigner | undefined;
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
  privacy: PrivacyEnvelope;
  scoutFloor: ScoutFloor | undefined;
  tools: ToolPlan;
  /** The answer's receipt: its execution id, owner, and what was generated so far. */
  receipt: {
    executionId: string;
    owner: string;
    startedAtMs: number;
    firstTokenAtMs: number | null;
    output: string;
  };
}

/** Throws 503 when no model is loaded (shared by the generating routes). */
export function requireEngine(engine: TargetEngine | null): TargetEngine {
  if (engine) return engine;
  throw new ServiceUnavailableError(
    'no model is loaded on this oracle; run `npm run models` and restart it',
    'model_not_loaded',
    30
  );
}

/**
 * Step 1, parse and validate: the body was checked by the route's schema; this checks the model
 * (404), the prompt limit (400 context_length_exceeded), logit_bias ids, the tool plan, and
 * reads the Shard headers (400 for a bad value).
 */
function parseChatRequest(
  c: OracleContext,
  engine: TargetEngine,
  body: ChatCompletionRequest,
  maxPromptChars: number
): ChatRequest {
  checkModel(engine, body.model);
  const messages = toEngineMessages(body.messages);
  const promptChars = messages.reduce((n, m) => n + m.content.length, 0);
  checkPromptChars(promptChars, maxPromptChars, 'messages');
  checkLogitBias(engine, body.logit_bias);
  const allowScouts = allowScoutsOf(c, body);
  const { privacy, scoutFloor } = chatPrivacyOf(c, body, allowScouts);
  return {
    id: `chatcmpl-${randomBytes(12).toString('hex')}`,
    created: Math.floor(Date.now() / 1000),
    body,
    messages,
    promptChars,
    speculation: speculationOf(c, body),
    allowScouts,
    privacy,
    scoutFloor,
    tools: planTools(body),
    receipt: {
      executionId: newChatExecutionId(),
      owner: callerOf(c).owner,
      startedAtMs: Date.now(),
      firstTokenAtMs: null,
      output: ''
    }
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
    request.tools.jsonSchema ??
    (format?.type === 'json_schema'
      ? format.json_schema.schema
      : format?.type === 'json_object'
        ? { type: 'object' }
        : undefined);
  const wantsLogprobs = body.logprobs === true;
  return {
    messages: request.messages,
    ...(request.tools.tools ? { tools: request.tools.tools } : {}),
    maxTokens: body.max_completion_tokens ?? body.max_tokens ?? undefined,
    ...samplingOptionsOf(body),
    ...(wantsLogprobs ? { logprobs: true, topLogprobs: body.top_logprobs ?? 0 } : {}),
    speculation: request.speculation,
    ...(jsonSchema ? { jsonSchema } : {}),
    ...(draftSource !== undefined ? { draftSource } : {}),
    signal
  };
}

type Generation = AsyncGenerator<GenerationEvent>;
type Step = IteratorResult<GenerationEvent>;
type DoneEvent = Extract<GenerationEvent, { type: 'done' }>;

/** Writes the answer's receipt once it ends (chat-receipts.ts); null when none was written. */
type ReceiptWriter = (
  stats: DoneEvent['stats'] | null,
  finishReason: string,
  output: string
) => ChatReceiptRef | null;

/** Notes generated text for the receipt: when the first text came, and the text so far. */
function noteText(request: ChatRequest, text: string): void {
  if (text === '') return;
  request.receipt.firstTokenAtMs ??= Date.now();
  request.receipt.output += text;
}

/** The receipt writer of one request: the caller's execution, in the store `provider` gives. */
function receiptWriter(
  engine: TargetEngine,
  request: ChatRequest,
  provider: ChatReceiptStoreProvider | undefined
): ReceiptWriter {
  return (stats, finishReason, output) =>
    recordChatReceipt(provider?.(), {
      ...request.receipt,
      model: engine.modelId,
      stream: request.body.stream === true,
      speculation: request.speculation,
      privacy: request.privacy,
      messages: request.body.messages,
      output,
      stats,
      finishReason
    });
}

/** The assistant message and finish reason of a finished output. */
function choiceOf(output: ToolOutput, finishReason: DoneEvent['finishReason']) {
  return {
    message: {
      role: 'assistant' as const,
      content: output.content,
      refusal: null,
      ...(output.toolCall ? { tool_calls: [output.toolCall] } : {})
    },
    finish_reason: output.toolCall ? ('tool_calls' as const) : finishReason
  };
}

/** Step 3a, the non-streaming reply: runs the generation to its done event. */
async function completeChat(
  engine: TargetEngine,
  request: ChatRequest,
  generation: Generation,
  first: Step,
  headers: Record<string, string>,
  writeReceipt: ReceiptWriter,
  attest?: ChatAttester
): Promise<{ response: Response; done: DoneEvent }> {
  const logprobs: TokenLogprobs[] = [];
  let step = first;
  for (; !step.done && step.value.type !== 'done'; step = await generation.next()) {
    if (step.value.type !== 'tokens') continue;
    noteText(request, step.value.text);
    if (step.value.logprobs) logprobs.push(...step.value.logprobs);
  }
  if (step.done || step.value.type !== 'done') {
    throw new Error('generation ended without a done event');
  }
  const done = step.value;
  const texts = createTokenTexts(engine);
  const { message, finish_reason } = choiceOf(
    readToolOutput(request.tools, done.text),
    done.finishReason
  );
  const completion = {
    id: request.id,
    object: 'chat.completion',
    created: request.created,
    model: engine.modelId,
    system_fingerprint: null,
    choices: [
      {
        index: 0,
        message,
        logprobs:
          request.body.logprobs === true
            ? { content: chatLogprobsContent(texts, logprobs), refusal: null }
            : null,
        finish_reason
      }
    ],
    usage: usageOf(done.stats),
    shard: {
      ...shardStats(done.stats),
      ...queueReport(),
      ...(attest ? { attestation: attest(message.content) } : {}),
      receipt: null as ChatReceiptRef | null
    }
  };
  const receipt = writeReceipt(done.stats, finish_reason, done.text);
  completion.shard.receipt = receipt;
  const response = jsonResponse(completion, 200, {
    ...headers,
    ...finalHeaders(done.stats),
    ...(receipt ? { 'x-shard-receipt': receipt.links.receipts } : {})
  });
  return { response, done };
}

/** The chunk writer of one streamed reply (OpenAI `chat.completion.chunk` JSON texts). */
function chunkWriter(engine: TargetEngine, request: ChatRequest) {
  const includeUsage = request.body.stream_options?.include_usage === true;
  const wantsLogprobs = request.body.logprobs === true;
  const chunk = (choices: unknown[], extra: Record<string, unknown> = {}) =>
    JSON.stringify({
      id: request.id,
      object: 'chat.completion.chunk',
      created: request.created,
      model: engine.modelId,
      system_fingerprint: null,
      choices,
      ...(includeUsage ? { usage: null } : {}),
      ...extra
    });
  const texts = createTokenTexts(engine);
  const logprobsOf = (reports: readonly TokenLogprobs[]) =>
    wantsLogprobs ? { content: chatLogprobsContent(texts, reports), refusal: null } : null;
  return {
    includeUsage,
    delta: (delta: Record<string, unknown>, reports: readonly TokenLogprobs[] = []) =>
      chunk([{ index: 0, delta, logprobs: logprobsOf(reports), finish_reason: null }]),
    finish: (finishReason: string, done: DoneEvent, receipt: ChatReceiptRef | null) =>
      chunk([{ index: 0, delta: {}, logprobs: null, finish_reason: finishReason }], {
        shard: { ...shardStats(done.stats), ...queueReport(), receipt }
      }),
    usage: (done: DoneEvent) => chunk([], { usage: usageOf(done.stats) })
  };
}

/**
 * Sends a structured output (tool plan) once it is complete: OpenAI's tool-call deltas (the
 * call's id, type and name, then its arguments) or the text as one content delta. Returns the
 * finish reason.
 */
async function sendStructured(
  sink: EventSink,
  writer: ReturnType<typeof chunkWriter>,
  output: ToolOutput,
  done: DoneEvent,
  reports: readonly TokenLogprobs[]
): Promise<string> {
  const call = output.toolCall;
  if (!call) {
    if (output.content) await sink.send(writer.delta({ content: output.content }, reports));
    return done.finishReason;
  }
  const head = { index: 0, id: call.id, type: 'function', function: { name: call.function.name } };
  await sink.send(
    writer.delta({ tool_calls: [{ ...head, function: { ...head.function, arguments: '' } }] })
  );
  await sink.send(
    writer.delta(
      { tool_calls: [{ index: 0, function: { arguments: call.function.arguments } }] },
      reports
    )
  );
  return 'tool_calls';
}

/**
 * Step 3b, the streaming reply: OpenAI chunks as SSE `data:` events, the final chunk carrying
 * `shard` stats, an optional usage chunk, then `[DONE]`. Text streams as it is committed;
 * a structured output (tool plan) is sent when complete. Ends the generation on every path.
 */
function streamChat(
  c: OracleContext,
  engine: TargetEngine,
  request: ChatRequest,
  generation: Generation,
  first: Step,
  counters: ChatCounters,
  headers: Record<string, string>,
  writeReceipt: ReceiptWriter
): Response {
  const writer = chunkWriter(engine, request);
  const { id } = request;
  const produce = async (sink: EventSink) => {
    const { signal } = sink;
    let isComplete = false;
    let hasFailed = false;
    const held: TokenLogprobs[] = [];
    try {
      await sink.send(writer.delta({ role: 'assistant', content: '' }));
      for (let step = first; !step.done; step = await generation.next()) {
        if (signal.aborted) break;
        const event = step.value;
        if (event.type === 'tokens') {
          noteText(request, event.text);
          if (request.tools.isStructured) held.push(...(event.logprobs ?? []));
          else if (event.text !== '' || event.logprobs?.length)
            await sink.send(writer.delta({ content: event.text }, event.logprobs ?? []));
          continue;
        }
        const finishReason = request.tools.isStructured
          ? await sendStructured(
              sink,
              writer,
              readToolOutput(request.tools, event.text),
              event,
              held
            )
          : event.finishReason;
        const receipt = writeReceipt(event.stats, finishReason, event.text);
        await sink.send(writer.finish(finishReason, event, receipt));
        if (writer.includeUsage) await sink.send(writer.usage(event));
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
        hasFailed = true;
        counters.failed += 1;
        log.warn('stream failed', { id, err });
        await sink.send(JSON.stringify(toHttp(err, 'openai').body));
      }
    } finally {
      // Frees the engine sequence and the admission slot: done, client disconnect or error.
      await generation.return(undefined);
      // A stream the client stopped still gets its receipt (what was generated until then).
      if (!isComplete && !hasFailed)
        writeReceipt(null, STOPPED_FINISH_REASON, request.receipt.output);
    }
  };
  return eventStream(c, produce, { headers });
}

/**
 * A reply for a client that already left: nobody reads it. 499 is the conventional "client
 * closed request" status, so the request log shows what happened.
 */
export const clientGone = () => new Response(null, { status: 499 });

/** Registers the chat-completions route on `router`. */
export function registerChatRoutes(router: Router, options: ChatRouteOptions): void {
  const counters = options.counters ?? { completed: 0, aborted: 0, failed: 0 };
  const precheck = (raw: unknown) => rejectUnsupported(raw, CHAT_UNSUPPORTED);
  router.post(
    '/v1/chat/completions',
    jsonBody(chatCompletionRequestSchema, precheck),
    async (c) => {
      // A model this oracle does not serve may be served by a contributed node (chat-forward.ts).
      const routed = await forwardUnserved(router, c.req.raw, c.req.valid('json'), options.engine);
      if (routed) return routed;
      const engine = requireEngine(options.engine);
      const request = parseChatRequest(c, engine, c.req.valid('json'), options.maxPromptChars);
      const { id, speculation, allowScouts, scoutFloor, privacy } = request;
      const draftSource = options.draftSourceProvider?.()?.({
        id,
        speculation,
        allowScouts,
        ...(scoutFloor !== undefined ? { scoutFloor } : {}),
        privacy
      });
      const signal = c.req.raw.signal;
      const generation = engine.generate(generateOptionsOf(request, draftSource, signal));
      const headers: Record<string, string> = startHeaders(id, engine.modelId, speculation);
      // Known up front, so a client that stops a stream can still find the answer's receipt.
      if (options.receiptStore?.()) headers['x-shard-execution-id'] = request.receipt.executionId;
      const writeReceipt = receiptWriter(engine, request, options.receiptStore);
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
        // engine errors, a prompt over the context) still become a plain JSON error, before any
        // SSE header is sent.
        const first = await generation.next();
        // Admission is decided by now: say where the request queued and in which class.
        Object.assign(headers, queueHeaders());
        if (!request.body.stream) {
          const { response, done } = await completeChat(
            engine,
            request,
            generation,
            first,
            headers,
            writeReceipt,
            chatAttesterFor(
              c.req.raw.headers,
              request.body,
              engine.modelId,
              options.attestationSigner?.()
            )
          );
          log.info('chat done', { id, tokens: done.stats.completionTokens, mode: done.stats.mode });
          if (signal.aborted) counters.aborted += 1;
          else counters.completed += 1;
          return response;
        }
        isStreaming = true;
        return streamChat(c, engine, request, generation, first, counters, headers, writeReceipt);
      } catch (err) {
        // The client left (disconnect or abort): nobody to answer, and nothing went wrong.
        if (signal.aborted) {
          counters.aborted += 1;
          writeReceipt(null, STOPPED_FINISH_REASON, request.receipt.output);
          log.debug('client left before the reply', { id });
          return clientGone();
        }
        if ((err as Error)?.name !== 'QueueFullError') counters.failed += 1;
        const overflow = await forwardWhenFull(
          router,
          c.req.raw,
          request.body,
          engine.modelId,
          err
        );
        if (overflow) return overflow;
        throw err;
      } finally {
        // The stream ends the generation itself; every other path ends it here.
        if (!isStreaming) await generation.return(undefined);
      }
    }
  );
}
