/**
 * Hash chain and signatures of execution receipts, shared by the oracle (which seals receipts)
 * and the browser (which verifies them with this same code).
 *
 * Scheme `shard-receipt/1`:
 * 1. body = the receipt without its `signature` field (it includes `seq`, `prev_hash` and
 *    `node_identity`, the signer's Ed25519 public key, hex).
 * 2. receipt hash = sha256(RFC 8785 canonical JSON of body), hex.
 * 3. signature = Ed25519(sign message) with sign message = utf8("shard-receipt/1\n") || hash bytes
 *    (the domain prefix keeps a receipt signature from being valid for any other message).
 * 4. chain: receipt `seq` n (0-based, dense) carries prev_hash = hash of receipt n-1 of the
 *    same execution; seq 0 carries prev_hash null.
 * Invariant: changing any byte of any stored receipt breaks that receipt's signature; removing
 * or reordering receipts breaks the seq or prev_hash check of the next one.
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, concatBytes, hexToBytes, utf8ToBytes } from '@noble/hashes/utils.js';
import { canonicalBytes, canonicalize } from './canonical-json.js';
import type { ExecutionReceipt, UnsignedReceipt } from './receipts.js';

export const RECEIPT_SCHEME = 'shard-receipt/1';
const DOMAIN = utf8ToBytes(`${RECEIPT_SCHEME}\n`);

/** Anything that can sign receipts: the Node key file signer, or the noble signer below. */
export interface ReceiptSigner {
  /** Ed25519 public key, 64 hex chars; written into every receipt as `node_identity`. */
  readonly publicKeyHex: string;
  /** Signs `message` (the sign message of step 3); returns the 64-byte signature. */
  sign(message: Uint8Array): Uint8Array;
}

/** Verifies one Ed25519 signature; the default uses noble, Node may pass node:crypto's. */
export type SignatureVerifier = (
  signature: Uint8Array,
  message: Uint8Array,
  publicKey: Uint8Array
) => boolean;

export const nobleVerify: SignatureVerifier = (signature, message, publicKey) => {
  try {
    return ed25519.verify(signature, message, publicKey, { zip215: false });
  } catch {
    return false;
  }
};

/** A signer over a 32-byte Ed25519 secret key, in pure JS (tests, browser demos). */
export function createNobleSigner(secretKey: Uint8Array): ReceiptSigner {
  const publicKeyHex = bytesToHex(ed25519.getPublicKey(secretKey));
  return { publicKeyHex, sign: (message) => ed25519.sign(message, secretKey) };
}

/** A sha256 implementation; the default is noble's (pure JS); Node may pass node:crypto's. */
export type Sha256 = (bytes: Uint8Array) => Uint8Array;

/** sha256 (hex) of the canonical JSON of `receipt` minus `signature` (step 2). */
export function receiptHash(
  receipt: Record<string, unknown> | ExecutionReceipt,
  hash: Sha256 = sha256
): string {
  const { signature: _signature, ...body } = receipt as Record<string, unknown>;
  return bytesToHex(hash(canonicalBytes(body)));
}

const utf8 = new TextEncoder();

/** The bytes that are signed for a receipt of hash `hashHex` (step 3). */
export function signMessage(hashHex: string): Uint8Array {
  return concatBytes(DOMAIN, hexToBytes(hashHex));
}

/**
 * Seals a receipt: fills `seq`, `prev_hash` and `node_identity`, then signs it. Returns the
 * sealed receipt, its hash (the next receipt's prev_hash), the canonical JSON that was hashed
 * (`bodyJson`, what a store may keep verbatim) and the raw signature. Throws
 * CanonicalJsonError when the receipt holds a value with no JSON form.
 */
export function sealReceipt(
  unsigned: UnsignedReceipt,
  chain: { seq: number; prevHash: string | null; signer: ReceiptSigner; sha256?: Sha256 }
): { receipt: ExecutionReceipt; hash: string; bodyJson: string; signatureBytes: Uint8Array } {
  const { signature: _ignored, ...fields } = unsigned as UnsignedReceipt & { signature?: unknown };
  const body = {
    ...stripUndefined(fields),
    seq: chain.seq,
    prev_hash: chain.prevHash,
    node_identity: chain.signer.publicKeyHex
  };
  const bodyJson = canonicalize(body);
  const hash = bytesToHex((chain.sha256 ?? sha256)(utf8.encode(bodyJson)));
  const signatureBytes = chain.signer.sign(signMessage(hash));
  return {
    receipt: { ...body, signature: bytesToHex(signatureBytes) } as ExecutionReceipt,
    hash,
    bodyJson,
    signatureBytes
  };
}

function stripUndefined<T extends object>(value: T): T {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) if (v !== undefined && v !== null) out[k] = v;
  return out as T;
}

export type ChainFailureReason =
  | 'malformed'
  | 'execution_mismatch'
  | 'seq_mismatch'
  | 'prev_hash_mismatch'
  | 'bad_signature'
  | 'untrusted_signer';

export interface ChainVerification {
  ok: boolean;
  execution_id: string | null;
  count: number;
  /** Receipts checked before the first failure (== count when ok). */
  verified: number;
  /** Distinct signer keys seen. */
  signer_keys: string[];
  /** sha256 of the last receipt: a commitment to the whole log so far. */
  head_hash: string | null;
  first_bad: null | {
    index: number;
    receipt_id: string | null;
    seq: number | null;
    reason: ChainFailureReason;
    detail: string;
  };
}

export interface VerifyChainOptions {
  /** When given, every receipt must be signed by one of these keys (hex). */
  trustedKeys?: readonly string[];
  /** Signature check; default noble (pure JS). */
  verify?: SignatureVerifier;
  /** Hash function; default noble (pure JS). */
  sha256?: Sha256;
}

const HEX_64 = /^[0-9a-f]{64}$/;
const HEX_128 = /^[0-9a-f]{128}$/;

/**
 * Recomputes the chain of one execution's receipts, given in `seq` order as received (raw
 * JSON objects). Stops at and reports the first bad receipt. Never throws.
 */
export function verifyReceiptChain(
  receipts: readonly unknown[],
  options: VerifyChainOptions = {}
): ChainVerification {
  const verify = options.verify ?? nobleVerify;
  const trusted = options.trustedKeys
    ? new Set(options.trustedKeys.map((k) => k.toLowerCase()))
    : null;
  const signers = new Set<string>();
  let prevHash: string | null = null;
  let executionId: string | null = null;
  const fail = (
    index: number,
    r: Record<string, unknown> | null,
    reason: ChainFailureReason,
    detail: string
  ) => ({
    ok: false,
    execution_id: executionId,
    count: receipts.length,
    verified: index,
    signer_keys: [...signers],
    head_hash: prevHash,
    first_bad: {
      index,
      receipt_id: typeof r?.receipt_id === 'string' ? r.receipt_id : null,
      seq: typeof r?.seq === 'number' ? r.seq : null,
      reason,
      detail
    }
  });
  for (let i = 0; i < receipts.length; i++) {
    const raw = receipts[i];
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
      return fail(i, null, 'malformed', 'not an object');
    const r = raw as Record<string, unknown>;
    const key = r.node_identity;
    const sig = r.signature;
    if (typeof key !== 'string' || !HEX_64.test(key))
      return fail(i, r, 'malformed', 'node_identity is not a 32-byte hex key');
    if (typeof sig !== 'string' || !HEX_128.test(sig))
      return fail(i, r, 'malformed', 'signature is not 64-byte hex');
    if (typeof r.execution_id !== 'string') return fail(i, r, 'malformed', 'execution_id missing');
    executionId ??= r.execution_id;
    if (r.execution_id !== executionId)
      return fail(i, r, 'execution_mismatch', `belongs to ${r.execution_id}`);
    if (r.seq !== i) return fail(i, r, 'seq_mismatch', `expected seq ${i}, found ${String(r.seq)}`);
    if ((r.prev_hash ?? null) !== prevHash) {
      return fail(
        i,
        r,
        'prev_hash_mismatch',
        `expected prev_hash ${prevHash ?? 'null'}, found ${String(r.prev_hash)}`
      );
    }
    let hash: string;
    try {
      hash = receiptHash(r, options.sha256);
    } catch (err) {
      return fail(i, r, 'malformed', (err as Error).message);
    }
    if (!verify(hexToBytes(sig), signMessage(hash), hexToBytes(key))) {
      return fail(i, r, 'bad_signature', 'signature does not match the receipt content');
    }
    if (trusted && !trusted.has(key))
      return fail(i, r, 'untrusted_signer', `signer ${key} is not trusted`);
    signers.add(key);
    prevHash = hash;
  }
  return {
    ok: true,
    execution_id: executionId,
    count: receipts.length,
    verified: receipts.length,
    signer_keys: [...signers],
    head_hash: prevHash,
    first_bad: null
  };
}
