/**
 * The hashes a chat answer's receipt commits to, computed the same way by the oracle (which
 * signs them) and the browser (which checks a stored conversation against them):
 *   - messages_sha256 = sha256(RFC 8785 canonical JSON of the request's `messages` array, as sent);
 *   - output_sha256 = sha256(UTF-8 of the text the model generated).
 * Only the hashes are signed and stored: the receipt never holds the prompt or the answer.
 * Framework-free (noble hashes only).
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, utf8ToBytes } from '@noble/hashes/utils.js';
import { canonicalBytes } from './canonical-json.js';
import type { ChatReceiptDetails, ExecutionReceipt } from './receipts.js';

/** sha256 hex of the canonical JSON of a chat request's `messages`. */
export function chatMessagesSha256(messages: readonly unknown[]): string {
  return bytesToHex(sha256(canonicalBytes(messages)));
}

/** sha256 hex of a chat answer's text. */
export function chatOutputSha256(text: string): string {
  return bytesToHex(sha256(utf8ToBytes(text)));
}

/** The `chat` details of the receipt of a chat answer, or null when none carries them. */
export function chatDetailsOf(
  receipts: readonly Partial<ExecutionReceipt>[]
): ChatReceiptDetails | null {
  for (const r of receipts) if (r.chat) return r.chat;
  return null;
}

/**
 * Which of the receipt's hashes disagree with the conversation a client holds (`messages` as it
 * sent them, `output` as it received it): [] when both match.
 */
export function chatHashMismatches(
  details: Pick<ChatReceiptDetails, 'messages_sha256' | 'output_sha256'>,
  conversation: { messages?: readonly unknown[]; output?: string }
): Array<'messages' | 'output'> {
  const out: Array<'messages' | 'output'> = [];
  if (
    conversation.messages &&
    chatMessagesSha256(conversation.messages) !== details.messages_sha256
  )
    out.push('messages');
  if (
    conversation.output !== undefined &&
    chatOutputSha256(conversation.output) !== details.output_sha256
  )
    out.push('output');
  return out;
}
