/**
 * The node side of step attestations (src/lib/protocol/contribution.ts, `shard-attestation/1`):
 * when a request asks (`x-shard-attest: 1`), this oracle signs what it answered with its receipt
 * key, the key it registers with as a contributed node, so an orchestrator can check that the
 * step result came from the node it chose and was not altered on the way.
 */
import {
  ATTESTATION_REQUEST_HEADER,
  signStepAttestation,
  type StepAttestation
} from '../../src/lib/protocol/contribution.js';
import type { ReceiptSigner } from '../../src/lib/protocol/receipt-chain.js';

/** Signs the attestation of one whole chat answer (its message content). */
export type ChatAttester = (content: string | null) => StepAttestation;

/**
 * The attester of one chat request, or undefined when the request did not ask for one or this
 * oracle has no signer. `body` is the validated request body (strict schemas without defaults,
 * so it is the body as sent).
 */
export function chatAttesterFor(
  headers: Headers,
  body: unknown,
  model: string,
  signer: ReceiptSigner | undefined
): ChatAttester | undefined {
  if (!signer || headers.get(ATTESTATION_REQUEST_HEADER) !== '1') return undefined;
  return (content) => signStepAttestation({ request: body, output: content ?? '', model }, signer);
}
