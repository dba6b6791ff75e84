/**
 * `client.chat.completions.create()`: OpenAI-shaped chat against the oracle. Without `stream` it
 * resolves with the completion; with `stream: true` it resolves with an async iterable of
 * validated chunks, decoded by the protocol's SSE decoder (the last chunk carries `shard` stats).
 */
import { z } from 'zod';
import {
  ChatCompletionChunkSchema,
  createChatStreamDecoder,
  ShardStatsSchema,
  UsageSchema,
  type ChatCompletionChunk
} from '../protocol/chat.js';
import { ShardApiError } from './errors.js';
import type { Http } from './http.js';

/** A non-streamed completion (`object: chat.completion`); unknown fields pass through. */
export const ChatCompletionSchema = z.looseObject({
  id: z.string(),
  object: z.literal('chat.completion'),
  created: z.number(),
  model: z.string(),
  choices: z.array(
    z.looseObject({
      index: z.number().int(),
      message: z.looseObject({ role: z.string(), content: z.string().nullable() }),
      finish_reason: z.string().nullable()
    })
  ),
  usage: UsageSchema.nullish(),
  shard: ShardStatsSchema.optional()
});
export type ChatCompletion = z.infer<typeof ChatCompletionSchema>;

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant' | 'tool';
  content: string;
  [field: string]: unknown;
}

/** The request body: OpenAI's fields (`model`, `messages`, `max_tokens`, `temperature`, ...). */
export interface ChatCompletionRequest {
  model?: string;
  messages: ChatMessage[];
  max_tokens?: number;
  temperature?: number;
  seed?: number;
  [field: string]: unknown;
}

async function* streamChunks(res: Response): AsyncGenerator<ChatCompletionChunk> {
  const decoder = createChatStreamDecoder();
  const text = new TextDecoder();
  const reader = res.body!.getReader();
  try {
    for (;;) {
      const { value, done } = await reader.read();
      const events = done ? decoder.end() : decoder.push(text.decode(value, { stream: true }));
      for (const event of events) {
        if (event.type === 'done') return;
        if (event.type === 'error') throw new ShardApiError(event.message, 200, event.code, event);
        yield event.chunk;
      }
      if (done) return;
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
}

export interface Completions {
  create(
    request: ChatCompletionRequest & { stream?: false },
    options?: { signal?: AbortSignal }
  ): Promise<ChatCompletion>;
  create(
    request: ChatCompletionRequest & { stream: true },
    options?: { signal?: AbortSignal }
  ): Promise<AsyncIterable<ChatCompletionChunk>>;
}

export function createChat(http: Http): { completions: Completions } {
  const create = async (
    request: ChatCompletionRequest & { stream?: boolean },
    options: { signal?: AbortSignal } = {}
  ): Promise<ChatCompletion | AsyncIterable<ChatCompletionChunk>> => {
    const body = { model: 'default', ...request };
    if (!request.stream) {
      return http.json('/v1/chat/completions', ChatCompletionSchema, { body, ...options });
    }
    const res = await http.send('/v1/chat/completions', {
      body,
      headers: { accept: 'text/event-stream' },
      ...options
    });
    return streamChunks(res);
  };
  return { completions: { create } as Completions };
}

export { ChatCompletionChunkSchema };
