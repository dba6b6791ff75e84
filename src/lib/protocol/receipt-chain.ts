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
 * 5. head (scheme `shard-receipt-head/1`): the signer also signs `{ execution_id, seq, hash }`
 *    of the LAST receipt, with sign message = utf8("shard-receipt-head/1\n") || canonical JSON of
 *    that object; the oracle re-signs it in the same transaction as every append.
 * Invariant: changing any byte of any stored receipt breaks that receipt's signature; removing
 * or reordering receipts breaks the seq or prev_hash check of the next one; removing receipts at
 * the END (which steps 1-4 cannot see) breaks the check against the signed head. A head commits
 * to the chain as it was when signed: someone holding an older copy of the head (an old backup of
 * the store) could present that older, shorter chain; only an outside copy of the newest head
 * (a client that kept it) detects that.
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, concatBytes, hexToBytes, utf8ToBytes } from '@noble/hashes/utils.js';
import { canonicalBytes, canonicalize } from './canonical-json.js';
import type { ExecutionReceipt, UnsignedReceipt } from './receipts.js';

export const RECEIPT_SCHEME = 'shard-receipt/1';
export const HEAD_SCHEME = 'shard-receipt-head/1';
const DOMAIN = utf8ToBytes(`${RECEIPT_SCHEME}\n`);
const HEAD_DOMAIN = utf8ToBytes(`${HEAD_SCHEME}\n`);

/** Anything that can sign receipts: the Node key file signer, or the noble signer below. */
export interface ReceiptSigner {
  /** Ed25519 public key, 64 hex chars; written into every receipt as `node_identity`. */
  readonly publicKeyHex: string;
  /** Signs `message` (the sign message of step 3); returns the 64-byte signature. */
  sign(message: Uint8Array): Uint8Array;
  /**
   * Keys this node signed with before a key rotation (hex); receipts and heads they signed stay
   * trusted by the node's own verification. Default none.
   */
  readonly previousPublicKeys?: readonly string[];
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

/** What a chain head commits to: the seq and hash of an execution's last receipt (step 5). */
export interface ChainHead {
  execution_id: string;
  seq: number;
  hash: string;
}

/** A chain head signed by `node_identity` (Ed25519 public key, hex; signature hex). */
export interface SignedChainHead extends ChainHead {
  node_identity: string;
  signature: string;
}

/** The bytes that are signed for a chain head (step 5). */
export function chainHeadMessage(head: ChainHead): Uint8Array {
  return concatBytes(
    HEAD_DOMAIN,
    canonicalBytes({ execution_id: head.execution_id, seq: head.seq, hash: head.hash })
  );
}

/** Signs a chain head; returns it with `node_identity` and `signature` filled in. */
export function signChainHead(
  head: ChainHead,
  signer: ReceiptSigner
): SignedChainHead & { signatureBytes: Uint8Array } {
  const signatureBytes = signer.sign(chainHeadMessage(head));
  return {
    execution_id: head.execution_id,
    seq: head.seq,
    hash: head.hash,
    node_identity: signer.publicKeyHex,
    signature: bytesToHex(signatureBytes),
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
  | 'untrusted_signer'
  /** Fewer receipts than the signed head commits to: receipts were removed from the end. */
  | 'truncated'
  /** More receipts than the head commits to, or a last receipt whose hash is not the head's. */
  | 'head_mismatch'
  /** A head was expected (`head: null` given) but there is none for a non-empty chain. */
  | 'head_missing'
  /** The head is malformed, for another execution, or its signature is bad or untrusted. */
  | 'bad_head';

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
  /** True when a signed head was given and the chain matched it (complete up to that head). */
  head_signed: boolean;
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
  /**
   * The execution's signed head. Absent (undefined): no head check (the chain can then be cut
   * at the end unnoticed). `null`: the source says it has no head, which fails a non-empty chain.
   * Given: the chain must end exactly at the head, and the head must be validly signed (by a
   * trusted key when `trustedKeys` is set).
   */
  head?: SignedChainHead | null;
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
  ): ChainVerification => ({
    ok: false,
    execution_id: executionId,
    count: receipts.length,
    verified: Math.min(index, receipts.length),
    signer_keys: [...signers],
    head_hash: prevHash,
    head_signed: false,
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
  if (options.head !== undefined) {
    const problem = checkHead(options.head, {
      count: receipts.length,
      executionId,
      lastHash: prevHash,
      verify,
      trusted
    });
    if (problem) {
      const r = receipts[problem.index] as Record<string, unknown> | undefined;
      return fail(problem.index, r ?? { seq: problem.index }, problem.reason, problem.detail);
    }
  }
  return {
    ok: true,
    execution_id: executionId,
    count: receipts.length,
    verified: receipts.length,
    signer_keys: [...signers],
    head_hash: prevHash,
    head_signed: options.head != null,
    first_bad: null
  };
}

/**
 * Checks an intact chain of `count` receipts (last hash `lastHash`) against its signed head.
 * Returns the failure (index = the first receipt that is missing, extra or different) or null.
 */
function checkHead(
  head: SignedChainHead | null,
  chain: {
    count: number;
    executionId: string | null;
    lastHash: string | null;
    verify: SignatureVerifier;
    trusted: Set<string> | null;
  }
): { index: number; reason: ChainFailureReason; detail: string } | null {
  const { count } = chain;
  if (head === null) {
    return count === 0
      ? null
      : { index: count, reason: 'head_missing', detail: 'no signed chain head is stored' };
  }
  // Head failures point just past the receipts: each receipt verified; what vouches for the end did not.
  const bad = (detail: string) => ({ index: count, reason: 'bad_head' as const, detail });
  if (typeof head !== 'object' || !Number.isInteger(head.seq) || head.seq < 0)
    return bad('head is malformed');
  if (typeof head.hash !== 'string' || !HEX_64.test(head.hash)) return bad('head hash malformed');
  if (typeof head.node_identity !== 'string' || !HEX_64.test(head.node_identity))
    return bad('head node_identity is not a 32-byte hex key');
  if (typeof head.signature !== 'string' || !HEX_128.test(head.signature))
    return bad('head signature is not 64-byte hex');
  if (chain.executionId !== null && head.execution_id !== chain.executionId)
    return bad(`head belongs to ${String(head.execution_id)}`);
  const message = chainHeadMessage(head);
  if (!chain.verify(hexToBytes(head.signature), message, hexToBytes(head.node_identity)))
    return bad('head signature does not match');
  if (chain.trusted && !chain.trusted.has(head.node_identity))
    return bad(`head signer ${head.node_identity} is not trusted`);
  const expected = head.seq + 1;
  if (count < expected) {
    return {
      index: count,
      reason: 'truncated',
      detail: `the signed head commits to ${expected} receipts (last seq ${head.seq}); only ${count} are present`
    };
  }
  if (count > expected) {
    return {
      index: expected,
      reason: 'head_mismatch',
      detail: `${count - expected} receipt(s) after seq ${head.seq}, where the signed head ends`
    };
  }
  if (chain.lastHash !== head.hash) {
    return {
      index: count - 1,
      reason: 'head_mismatch',
      detail: `last receipt hash ${String(chain.lastHash)} is not the signed head's ${head.hash}`
    };
  }
  return null;
}
