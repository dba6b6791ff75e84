/**
 * What the provenance explorer says about a chain it verified: one sentence that names what was
 * checked and against which key, so the page never reads as trusting a signer it could not check.
 */
import type { ChainVerification } from '$lib/protocol/receipt-chain.js';
import type { PinState } from './pinning.js';

export interface VerificationText {
  /** `ok`: intact and signed by a pinned key; `warn`: intact, signer unchecked; `bad`: failed. */
  tone: 'ok' | 'warn' | 'bad';
  text: string;
}

const REASON_WORDS: Partial<Record<string, string>> = {
  bad_signature: 'its content does not match its signature (it was changed after signing)',
  prev_hash_mismatch: 'it does not follow the receipt before it (the chain was broken)',
  seq_mismatch: 'a receipt is missing or out of place',
  untrusted_signer: 'it is signed by a key this browser has not pinned for this oracle',
  execution_mismatch: 'it belongs to another execution',
  malformed: 'it is not a well-formed receipt'
};

/** The sentence for a verification result under the signer pin `pin` (null while unknown). */
export function describeVerification(v: ChainVerification, pin: PinState | null): VerificationText {
  if (!v.ok) {
    const bad = v.first_bad!;
    const words = REASON_WORDS[bad.reason] ?? bad.detail;
    return {
      tone: 'bad',
      text: `Verification FAILED at receipt #${bad.index} (${bad.receipt_id ?? 'no id'}): ${bad.reason} — ${words}.`
    };
  }
  if (!pin || pin.kind === 'unknown') {
    return {
      tone: 'warn',
      text: `Chain and Ed25519 signatures intact (${v.verified} of ${v.count} receipts), but this browser has no key pinned for this oracle, so who signed them is not checked.`
    };
  }
  return {
    tone: 'ok',
    text: `Verified in this browser: ${v.verified} of ${v.count} receipts, chain and Ed25519 signatures intact, signed by the key pinned for this oracle.`
  };
}
