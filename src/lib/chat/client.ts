/**
 * Streams one chat reply from the oracle that serves this page (`POST /v1/chat/completions` with
 * `stream: true`). Every event is validated by the protocol decoder; the reply's `shard` stats
 * come with the last chunk. Aborting the signal closes the connection, and the oracle stops
 * generating when its client goes away (native-oracle/api/chat.ts).
 */
import {
  createChatStreamDecoder,
  OpenAIErrorBodySchema,
  type ChatRequestMessage,
  type ChatStreamEvent,
  type ShardStats,
  type Usage
} from '$lib/protocol/chat.js';
import { ChatRequestError, ChatStreamError } from './errors.js';
import { apiFetch } from '$lib/api/api-key.svelte.js';

export const CHAT_COMPLETIONS_PATH = '/v1/chat/completions';

export interface StreamChatOptions {
  messages: ChatRequestMessage[];
  /** Upper bound on the reply's length in tokens. */
  maxTokens: number;
  /** Aborting stops the reply: the promise resolves with what arrived, `isStopped: true`. */
  signal: AbortSignal;
  /** Called with each piece of text as it arrives. */
  onText(text: string): void;
}

/** A finished (or stopped) reply. */
export interface ChatReply {
  text: string;
  /** `stop` or `length` from the oracle; null when stopped before the end. */
  finishReason: string | null;
  /** How the reply was made; null when it was stopped before the last chunk. */
  stats: ShardStats | null;
  usage: Usage | null;
  model: string | null;
  requestId: string | null;
  isStopped: boolean;
}

/** Plain words for an HTTP error answer; `detail` is the oracle's own message when it sent one. */
function describeStatus(status: number, detail: string | null): string {
  const said = detail ? ` The oracle said: “${detail}”` : '';
  switch (status) {
    case 401:
      return `This oracle needs an API key: enter yours in the API key dialog, then send again.${said}`;
    case 413:
      return `The conversation is too long for this oracle. Start a new conversation or shorten the system prompt.${said}`;
    case 429:
      return `The oracle is receiving too many requests. Wait a moment, then send again.${said}`;
    case 503:
      return `The oracle cannot answer right now (busy, or no model loaded).${said}`;
    case 400:
      return `The oracle refused this request.${said}`;
    default:
      return `The oracle answered with an error (HTTP ${status}).${said}`;
  }
}

async function errorOf(res: Response): Promise<ChatRequestError> {
  let detail: string | null = null;
  try {
    const body = OpenAIErrorBodySchema.safeParse(await res.json());
    if (body.success) detail = body.data.error.message;
  } catch {
    detail = null; // Not JSON (a proxy's page, say): the status alone must do.
  }
  return new ChatRequestError(describeStatus(res.status, detail), res.status);
}

function isAbort(err: unknown, signal: AbortSignal): boolean {
  return signal.aborted || (err instanceof DOMException && err.name === 'AbortError');
}

/** Sends the request; throws ChatRequestError in plain words when no stream comes back. */
async function openStream(options: StreamChatOptions): Promise<Response> {
  let res: Response;
  try {
    res = await apiFetch(CHAT_COMPLETIONS_PATH, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
      body: JSON.stringify({
        messages: options.messages,
        max_tokens: options.maxTokens,
        stream: true,
        stream_options: { include_usage: true }
      }),
      cache: 'no-store',
      signal: options.signal
    });
  } catch (cause) {
    if (isAbort(cause, options.signal)) throw cause;
    const message = navigator.onLine
      ? 'The oracle did not answer: it may have stopped, or the connection dropped. Send again to retry.'
      : 'You are offline, so the oracle cannot be reached. Your conversation is saved; send again when you are back online.';
    throw new ChatRequestError(message, 0, { cause });
  }
  if (!res.ok) throw await errorOf(res);
  if (!(res.headers.get('content-type') ?? '').includes('text/event-stream') || !res.body) {
    throw new ChatRequestError(
      'Something answered that is not a Shard oracle (no event stream came back).',
      res.status
    );
  }
  return res;
}

/** Applies one decoded event to the reply; returns true at `[DONE]`. */
function apply(event: ChatStreamEvent, reply: ChatReply, onText: (t: string) => void): boolean {
  if (event.type === 'done') return true;
  if (event.type === 'error') {
    throw new ChatStreamError(`The oracle stopped with an error: “${event.message}”`);
  }
  const { chunk } = event;
  reply.model = chunk.model;
  reply.requestId ??= chunk.id;
  if (chunk.usage) reply.usage = chunk.usage;
  if (chunk.shard) reply.stats = chunk.shard;
  for (const choice of chunk.choices) {
    const text = choice.delta.content ?? '';
    if (text !== '') {
      reply.text += text;
      onText(text);
    }
    if (choice.finish_reason) reply.finishReason = choice.finish_reason;
  }
  return false;
}

/**
 * Streams one reply. Resolves at `[DONE]`, or with `isStopped: true` when `signal` aborts;
 * throws ChatRequestError (no stream) or ChatStreamError (the stream broke).
 */
export async function streamChat(options: StreamChatOptions): Promise<ChatReply> {
  const reply: ChatReply = {
    text: '',
    finishReason: null,
    stats: null,
    usage: null,
    model: null,
    requestId: null,
    isStopped: false
  };
  let res: Response;
  try {
    res = await openStream(options);
  } catch (err) {
    if (isAbort(err, options.signal)) return { ...reply, isStopped: true };
    throw err;
  }
  reply.requestId = res.headers.get('x-request-id');
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  const decoder = createChatStreamDecoder();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      const events = done ? decoder.end() : decoder.push(value);
      for (const event of events) {
        if (apply(event, reply, options.onText)) return reply;
      }
      if (done) {
        throw new ChatStreamError(
          'The connection to the oracle closed before the reply was complete. The text so far is kept; send again to retry.'
        );
      }
    }
  } catch (err) {
    if (isAbort(err, options.signal)) return { ...reply, isStopped: true };
    if (err instanceof ChatStreamError) throw err;
    if ((err as Error)?.name === 'ChatStreamDecodeError') {
      throw new ChatStreamError(`The oracle's reply could not be read: ${(err as Error).message}.`);
    }
    throw new ChatStreamError(
      'The connection to the oracle broke during the reply. The text so far is kept; send again to retry.'
    );
  } finally {
    reader.releaseLock();
  }
}
