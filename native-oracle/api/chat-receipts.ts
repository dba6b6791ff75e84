/**
 * The signed receipt of every chat answer: each answer (streamed or not, completed or stopped
 * by the client) is its own execution (`workflow_kind` chat) with one `chat_completion`
 * receipt in the oracle's receipt store, owned by the caller's key, so it is listed, read and
 * verified through the execution routes (`/v1/executions/:id/receipts`, `/receipts/verify`)
 * exactly like a workflow's. The receipt records how the answer was made and hashes of the
 * request messages and of the output (chat-receipt.ts), never the text itself.
 */
import { randomUUID } from 'node:crypto';
import type { GenerationStats } from '../engine/index.js';
import type { ReceiptStore } from '../receipts/index.js';
import { createLogger } from '../../src/lib/server/log.js';
import { chatMessagesSha256, chatOutputSha256 } from '../../src/lib/protocol/chat-receipt.js';
import type { PrivacyEnvelope } from '../../src/lib/protocol/privacy.js';
import {
  CHAT_WORKFLOW_KIND,
  type ChatReceiptRef,
  type UnsignedReceipt
} from '../../src/lib/protocol/receipts.js';

const log = createLogger('shard:oracle:chat-receipts');

/** The finish reason recorded when the client went away before the answer was complete. */
export const STOPPED_FINISH_REASON = 'stopped';

/** Where a receipt is written; read at each answer, so a plugin may supply it after start-up. */
export type ChatReceiptStoreProvider = () => ReceiptStore | undefined;

/** What the chat route knows of one answer when it ends. */
export interface ChatAnswerRecord {
  /** Pre-allocated (`exec-<uuid>`, newChatExecutionId) so a stream can name it up front. */
  executionId: string;
  /** The caller's owner id (security.ts `callerOf(c).owner`). */
  owner: string;
  /** When the request arrived (Date.now()). */
  startedAtMs: number;
  /** When the first text was generated; null when none was. */
  firstTokenAtMs: number | null;
  model: string;
  stream: boolean;
  speculation: string;
  privacy: PrivacyEnvelope;
  /** The request's `messages`, as validated (hashed, never stored). */
  messages: readonly unknown[];
  /** The text the model generated (hashed, never stored). */
  output: string;
  /** The engine's stats; null when the generation stopped before its done event. */
  stats: GenerationStats | null;
  /** OpenAI's finish reason, or STOPPED_FINISH_REASON. */
  finishReason: string;
}

/** A fresh execution id of the shape the execution routes accept. */
export function newChatExecutionId(): string {
  return `exec-${randomUUID()}`;
}

/** The links of an execution (the same as a workflow's accepted response carries). */
export function executionLinks(id: string): ChatReceiptRef['links'] {
  const base = `/v1/executions/${id}`;
  return {
    self: base,
    receipts: `${base}/receipts`,
    provenance: `${base}/provenance`,
    verify: `${base}/receipts/verify`
  };
}

/** The unsigned receipt of one answer (the store seals it). */
function chatReceiptOf(answer: ChatAnswerRecord, nowMs: number): UnsignedReceipt {
  const stats = answer.stats;
  const totalMs = nowMs - answer.startedAtMs;
  const isStopped = answer.finishReason === STOPPED_FINISH_REASON;
  return {
    receipt_id: `rcpt-${randomUUID()}`,
    execution_id: answer.executionId,
    step_id: 'chat',
    attempt_id: `${answer.executionId}:chat:attempt:1`,
    event_kind: 'completed',
    timestamp_ms: nowMs,
    workflow_kind: CHAT_WORKFLOW_KIND,
    step_kind: 'chat_completion',
    latency_ms: totalMs,
    input_tokens: stats?.promptTokens ?? 0,
    output_tokens: stats?.completionTokens ?? 0,
    outcome: isStopped ? 'stopped' : 'completed',
    model_metadata: {
      model_id: answer.model,
      inference_mode: stats?.mode ?? 'standard',
      served_by: 'local_engine'
    },
    summary: isStopped
      ? 'Chat answer stopped by the client'
      : `Chat answer (${stats?.completionTokens ?? 0} tokens, ${stats?.mode ?? 'standard'})`,
    chat: {
      model: answer.model,
      stream: answer.stream,
      speculation: answer.speculation,
      mode: stats?.mode ?? 'standard',
      draft_source: stats?.draftSource ?? null,
      drafted: stats?.drafted ?? 0,
      accepted: stats?.accepted ?? 0,
      rounds: stats?.rounds ?? 0,
      prompt_tokens: stats?.promptTokens ?? 0,
      completion_tokens: stats?.completionTokens ?? 0,
      finish_reason: answer.finishReason,
      // The engine's duration starts when it was admitted: the rest of the total is the wait.
      queue_ms: stats ? Math.max(0, totalMs - stats.durationMs) : 0,
      first_token_ms:
        answer.firstTokenAtMs === null ? null : answer.firstTokenAtMs - answer.startedAtMs,
      total_ms: totalMs,
      privacy: answer.privacy,
      messages_sha256: chatMessagesSha256(answer.messages),
      output_sha256: chatOutputSha256(answer.output)
    }
  };
}

/**
 * Writes the answer's execution and receipt, durable before it returns (the reply names it).
 * Returns where to find it, or null when there is no store or it could not be written (a full
 * disk): the answer is still delivered, and the failure logged.
 */
export function recordChatReceipt(
  store: ReceiptStore | undefined,
  answer: ChatAnswerRecord,
  nowMs = Date.now()
): ChatReceiptRef | null {
  if (!store) return null;
  const id = answer.executionId;
  try {
    store.createExecution({
      execution_id: id,
      created_at_ms: answer.startedAtMs,
      request_hash: chatMessagesSha256(answer.messages),
      owner: answer.owner
    });
    const receipt = store.append(chatReceiptOf(answer, nowMs));
    store.markEnded(id, 'completed', nowMs);
    store.flush();
    if (!store.hasExecution(id)) throw new Error(store.writeProblem()?.message ?? 'not stored');
    return { execution_id: id, receipt_id: receipt.receipt_id, links: executionLinks(id) };
  } catch (err) {
    log.warn('chat receipt not written', { execution_id: id, err });
    return null;
  }
}
