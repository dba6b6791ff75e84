/**
 * What the app reads from an oracle's OpenAI-compatible chat API and its system views, as zod
 * schemas (types derived from them), plus the one decoder of a streamed chat reply (SSE).
 * Framework-free: no DOM, Svelte or Node types. Shapes follow native-oracle/api/chat.ts and
 * native-oracle/api/system.ts; objects are loose (unknown fields pass through) so a newer
 * oracle that adds fields does not break an older app.
 */
import { z } from 'zod';
import { ChatReceiptRefSchema } from './receipts.js';

/** The governor's decision for one reply (`shard.governor`). */
export const GovernorDecisionSchema = z.looseObject({
  is_speculating: z.boolean(),
  /** Predicted speculative tokens/s over plain tokens/s; JSON has no Infinity/NaN, so null. */
  predicted_speedup: z.number().nullable(),
  reason: z.string()
});

/**
 * How one reply was made: the top-level `shard` object of a completion, and of the last
 * streamed chunk (the one with `finish_reason`).
 */
export const ShardStatsSchema = z.looseObject({
  mode: z.enum(['standard', 'speculative']),
  draft_source: z.string().nullable(),
  drafted: z.number().int().nonnegative(),
  accepted: z.number().int().nonnegative(),
  /** accepted / drafted; 0 when nothing was drafted. */
  acceptance_rate: z.number().min(0).max(1),
  rounds: z.number().int().nonnegative().optional(),
  duration_ms: z.number().nonnegative().optional(),
  governor: GovernorDecisionSchema,
  /** Where the answer's signed receipt is (chat); null when the oracle could not write it. */
  receipt: ChatReceiptRefSchema.nullish()
});
export type ShardStats = z.infer<typeof ShardStatsSchema>;

export const UsageSchema = z.looseObject({
  prompt_tokens: z.number().int().nonnegative(),
  completion_tokens: z.number().int().nonnegative(),
  total_tokens: z.number().int().nonnegative()
});
export type Usage = z.infer<typeof UsageSchema>;

/** One `data:` event of a streamed reply (`object: chat.completion.chunk`). */
export const ChatCompletionChunkSchema = z.looseObject({
  id: z.string(),
  object: z.literal('chat.completion.chunk'),
  created: z.number(),
  model: z.string(),
  choices: z.array(
    z.looseObject({
      index: z.number().int(),
      delta: z.looseObject({
        role: z.string().optional(),
        content: z.string().nullish()
      }),
      finish_reason: z.string().nullable()
    })
  ),
  usage: UsageSchema.nullish(),
  shard: ShardStatsSchema.optional()
});
export type ChatCompletionChunk = z.infer<typeof ChatCompletionChunkSchema>;

/** The OpenAI error body: HTTP errors, and an error sent as a `data:` event mid-stream. */
export const OpenAIErrorBodySchema = z.looseObject({
  error: z.looseObject({
    message: z.string(),
    type: z.string().nullish(),
    code: z.string().nullish()
  })
});
export type OpenAIErrorBody = z.infer<typeof OpenAIErrorBodySchema>;

/** A message of the request body (`POST /v1/chat/completions`). */
export interface ChatRequestMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

/** `GET /health` (also `/v1/system/health`). */
export const HealthSchema = z.looseObject({
  status: z.string(),
  readiness_reason: z.string().optional(),
  ready_for_inference: z.boolean().optional(),
  /** The target model's id (its file name without `.gguf` unless the oracle was told one). */
  model: z.string().nullable().optional(),
  tokenizer_fingerprint: z.string().nullable().optional(),
  uptime_ms: z.number().optional(),
  peers: z.number().optional(),
  queue: z
    .looseObject({
      active: z.number(),
      queued: z.number(),
      max_concurrent: z.number(),
      max_queued: z.number()
    })
    .optional(),
  chat: z.looseObject({ completed: z.number(), aborted: z.number(), failed: z.number() }).optional()
});
export type Health = z.infer<typeof HealthSchema>;

/** One peer of `GET /v1/system/peers` (the oracle's libp2p connections). */
export const PeerSchema = z.looseObject({
  peer_id: z.string(),
  addrs: z.array(z.string()).optional(),
  /** Role from the signed handshake (e.g. `scout`); null for peers that did not shake hands. */
  role: z.string().nullish(),
  connected_at: z.number().optional(),
  last_seen_at: z.number().optional(),
  verified: z.boolean().optional(),
  draft_tokens_per_second: z.number().nullish(),
  sessions: z.number().optional(),
  drafted: z.number().optional(),
  accepted: z.number().optional(),
  acceptance_rate: z.number().optional(),
  /** Measured round trip to the peer; not sent by oracles yet (the app shows it when present). */
  rtt_ms: z.number().nullish()
});
export type Peer = z.infer<typeof PeerSchema>;

export const PeersResponseSchema = z.looseObject({
  peers: z.array(PeerSchema),
  count: z.number().optional()
});

/** `GET /v1/system/topology`: the oracle's own place in the mesh ("standalone" without one). */
export const TopologySchema = z.looseObject({
  status: z.string(),
  role: z.string().optional(),
  shard_peer_id: z.string().optional(),
  listen_addrs: z.array(z.string()).optional(),
  circuit_addrs: z.array(z.string()).optional(),
  relays: z.array(z.string()).optional(),
  relay_reservation_active: z.boolean().optional(),
  known_peer_count: z.number().optional(),
  scouts: z.number().optional(),
  model_id: z.string().nullish(),
  tokenizer_fingerprint: z.string().nullish()
});
export type Topology = z.infer<typeof TopologySchema>;

/** What the stream decoder yields, in order: chunks, then `done` (or an `error`). */
export type ChatStreamEvent =
  | { type: 'chunk'; chunk: ChatCompletionChunk }
  | { type: 'error'; message: string; code: string | null }
  | { type: 'done' };

/** A `data:` payload that is neither a valid chunk, an error body nor `[DONE]`. */
export class ChatStreamDecodeError extends Error {
  override name = 'ChatStreamDecodeError';
}

/** Largest event the decoder buffers; a bigger one is a broken or hostile stream. */
export const MAX_SSE_EVENT_CHARS = 1_000_000;

/**
 * Decodes a streamed chat reply from its text as it arrives (`push` per network chunk, then
 * `end`). Follows the SSE rules the oracle relies on (WHATWG HTML, "event stream
 * interpretation"): lines end in LF, CRLF or CR; `data:` lines of one event join with LF; an
 * empty line ends the event; comment lines (`: ping` heartbeats) and other fields are ignored.
 * Every payload is validated; throws ChatStreamDecodeError for one that is not a chunk, an
 * OpenAI error body or `[DONE]`.
 */
export function createChatStreamDecoder(): {
  push(text: string): ChatStreamEvent[];
  end(): ChatStreamEvent[];
} {
  let buffer = '';
  let data: string[] = [];

  const decodePayload = (payload: string): ChatStreamEvent => {
    if (payload === '[DONE]') return { type: 'done' };
    let json: unknown;
    try {
      json = JSON.parse(payload);
    } catch {
      throw new ChatStreamDecodeError(`the stream sent something that is not JSON`);
    }
    const chunk = ChatCompletionChunkSchema.safeParse(json);
    if (chunk.success) return { type: 'chunk', chunk: chunk.data };
    const error = OpenAIErrorBodySchema.safeParse(json);
    if (error.success) {
      return {
        type: 'error',
        message: error.data.error.message,
        code: error.data.error.code ?? null
      };
    }
    throw new ChatStreamDecodeError(
      `the stream sent an unexpected event: ${chunk.error.issues[0]?.path.join('.') ?? ''} ${chunk.error.issues[0]?.message ?? ''}`.trim()
    );
  };

  const takeLines = (isFinal: boolean): ChatStreamEvent[] => {
    const events: ChatStreamEvent[] = [];
    const pattern = /\r\n|\r|\n/g;
    let start = 0;
    for (let m = pattern.exec(buffer); m; m = pattern.exec(buffer)) {
      // A CR at the very end may be the first half of CRLF: wait for the next chunk.
      if (m[0] === '\r' && m.index === buffer.length - 1 && !isFinal) break;
      const line = buffer.slice(start, m.index);
      start = m.index + m[0].length;
      if (line === '') {
        if (data.length > 0) events.push(decodePayload(data.join('\n')));
        data = [];
      } else if (line.startsWith('data:')) {
        data.push(line.slice(line.startsWith('data: ') ? 6 : 5));
      }
    }
    buffer = buffer.slice(start);
    if (buffer.length + data.reduce((n, d) => n + d.length, 0) > MAX_SSE_EVENT_CHARS) {
      throw new ChatStreamDecodeError('the stream sent an event larger than this app accepts');
    }
    return events;
  };

  return {
    push(text) {
      buffer += text;
      return takeLines(false);
    },
    end() {
      // A stream cut without the final blank line still dispatches nothing (SSE rule).
      const events = takeLines(true);
      buffer = '';
      data = [];
      return events;
    }
  };
}
