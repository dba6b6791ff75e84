/**
 * Checks the signed receipt of a chat answer in this browser: fetches it from the oracle that
 * serves the page, verifies its chain and Ed25519 signature (receipt-chain.ts, the code the
 * oracle seals with) against the signer key pinned for this oracle (receipts/pinning.ts, trust
 * on first use), and compares its hashes with the question and answer shown. The result is
 * kept with the conversation, in words a reader can act on.
 *
 * Steps: 1. the oracle's advertised key (/v1/capabilities), pinned or checked; 2. the receipts
 * and signed head of the answer's execution; 3. chain, signatures and head verified against the
 * pinned keys; 4. messages and output hashes compared; 5. `verified` only if all hold.
 */
import { z } from 'zod';
import { apiFetch } from '$lib/api/api-key.svelte.js';
import { chatDetailsOf, chatHashMismatches } from '$lib/protocol/chat-receipt.js';
import { verifyReceiptChain, type SignedChainHead } from '$lib/protocol/receipt-chain.js';
import type { ChatReceiptRef } from '$lib/protocol/receipts.js';
import { checkSigner, trustedKeys, type PinState } from '$lib/receipts/pinning.js';
import { describeVerification } from '$lib/receipts/trust.js';

/** What was found, as stored with the answer. */
export const TurnReceiptSchema = z.object({
  execution_id: z.string(),
  receipt_id: z.string(),
  /** `verified`: signed by the pinned key and matching this answer; `warning` otherwise. */
  status: z.enum(['verified', 'warning']),
  message: z.string(),
  checked_at_ms: z.number()
});
export type TurnReceipt = z.infer<typeof TurnReceiptSchema>;

async function advertisedKey(): Promise<string | null> {
  try {
    const res = await apiFetch('/v1/capabilities', { headers: { accept: 'application/json' } });
    const json = (await res.json()) as { node_public_key?: unknown };
    return typeof json.node_public_key === 'string' ? json.node_public_key : null;
  } catch {
    return null;
  }
}

async function pinState(): Promise<PinState | null> {
  try {
    return await checkSigner(location.origin, await advertisedKey());
  } catch {
    return null; // IndexedDB unavailable: verification still runs, the signer stays unchecked.
  }
}

const HASH_WORDS = { messages: 'the question', output: 'the answer' } as const;

/**
 * Checks the receipt `ref` names against the conversation (`messages` as sent, `output` as
 * shown). Never throws: a receipt that cannot be fetched is a warning too.
 */
export async function checkChatReceipt(
  ref: ChatReceiptRef,
  conversation: { messages: readonly unknown[]; output: string }
): Promise<TurnReceipt> {
  const result = (status: TurnReceipt['status'], message: string): TurnReceipt => ({
    execution_id: ref.execution_id,
    receipt_id: ref.receipt_id,
    status,
    message,
    checked_at_ms: Date.now()
  });
  const pin = await pinState();
  let body: { receipts?: unknown[]; head?: unknown };
  try {
    const res = await apiFetch(ref.links.receipts, { headers: { accept: 'application/json' } });
    if (!res.ok) return result('warning', `The receipt could not be fetched (HTTP ${res.status}).`);
    body = (await res.json()) as typeof body;
  } catch {
    return result('warning', 'The receipt could not be fetched: the oracle did not answer.');
  }
  const receipts = Array.isArray(body.receipts) ? body.receipts : [];
  const keys = pin ? trustedKeys(pin) : null;
  const verification = verifyReceiptChain(receipts, {
    head: (body.head ?? null) as SignedChainHead | null,
    ...(keys ? { trustedKeys: keys } : {})
  });
  const words = describeVerification(verification, pin);
  if (words.tone !== 'ok') return result('warning', `Receipt not verified. ${words.text}`);
  const details = chatDetailsOf(receipts as Parameters<typeof chatDetailsOf>[0]);
  if (!details)
    return result('warning', 'Receipt not verified: it does not describe a chat answer.');
  const mismatches = chatHashMismatches(details, conversation);
  if (mismatches.length > 0) {
    const what = mismatches.map((m) => HASH_WORDS[m]).join(' and ');
    return result('warning', `Receipt signed, but it does not match ${what} shown here.`);
  }
  return result(
    'verified',
    'Receipt verified: signed by the key pinned for this oracle, and it matches this question and answer.'
  );
}
