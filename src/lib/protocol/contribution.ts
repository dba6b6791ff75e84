/**
 * Wire shapes of the contributor control plane (`/v1/contribution/*`) and its signing rules,
 * shared by the oracle (which verifies) and the SDKs and browser (which sign).
 *
 * A contributor is an Ed25519 key. Every control message is a signed envelope:
 *   { type, signer_pubkey_hex, nonce, timestamp_ms, payload, signature_hex }
 * Scheme `shard-contribution/1`:
 * 1. body = the envelope without `signature_hex`.
 * 2. sign message = utf8("shard-contribution/1\n") || RFC 8785 canonical JSON of body. The `type`
 *    is inside the signed bytes, so a signed heartbeat can never be replayed as a registration;
 *    the domain prefix keeps the signature from being valid for any other Shard message.
 * 3. signature_hex = Ed25519(sign message), 64 bytes as hex.
 * The oracle also refuses a message whose timestamp is outside its freshness window or whose
 * (signer, nonce) it has seen (see native-oracle/contribution/constants.ts).
 *
 * Requests that want contributor credit (chat, workflows) carry a header instead of an envelope:
 *   x-shard-contributor: <pubkey hex>.<timestamp_ms>.<nonce>.<signature hex>
 * signed over utf8("shard-contributor-request/1\n" + METHOD + "\n" + path + "\n" +
 * timestamp_ms + "\n" + nonce), with `path` the URL path without the query.
 *
 * Field names follow the predecessor where it had them (`signer_pubkey_hex`, `nonce`,
 * `timestamp_ms`, `signature_hex`, `node_pubkey`, `role`, `capacity`, `queue_depth`,
 * `node_latency_ms`, `uptime_seconds`, `capability_tier`, `gpu_available`, `accepts_scout_work`,
 * `public_api`, `public_api_addr`) and the capacity registry's (`supply_tier`, `trust_tier`,
 * `price_per_1k_input_usd`, `price_per_1k_output_usd`, `endpoint`). Payload objects are strict:
 * a field this version does not know is refused, never silently dropped from what was signed.
 * The schemas carry no defaults or transforms, so a parsed message is exactly what was signed.
 *
 * Framework-free (zod and noble only): runs in the browser, workers and Node.
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, concatBytes, hexToBytes, utf8ToBytes } from '@noble/hashes/utils.js';
import { z } from 'zod';
import { canonicalBytes } from './canonical-json.js';
import { SupplyTierSchema, TrustTierSchema } from './policy.js';

export const CONTRIBUTION_SCHEME = 'shard-contribution/1';
export const CONTRIBUTOR_REQUEST_SCHEME = 'shard-contributor-request/1';
/** The request header that names (and proves) the contributor behind a request. */
export const CONTRIBUTOR_HEADER = 'x-shard-contributor';

const ENVELOPE_DOMAIN = utf8ToBytes(`${CONTRIBUTION_SCHEME}\n`);

const hex64 = z.string().regex(/^[0-9a-f]{64}$/, 'expected 64 lowercase hex characters');
const hex128 = z.string().regex(/^[0-9a-f]{128}$/, 'expected 128 lowercase hex characters');

/** Nonce: 8-64 characters of [A-Za-z0-9_-] (no `.`, so it fits the header's dot-separated form). */
export const NONCE_PATTERN = /^[A-Za-z0-9_-]{8,64}$/;
export const NonceSchema = z
  .string()
  .regex(NONCE_PATTERN, 'expected 8-64 characters of A-Z, a-z, 0-9, _ or -');

export const SESSION_ID_PATTERN =
  /^cs-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
export const SessionIdSchema = z.string().regex(SESSION_ID_PATTERN, 'expected a session id cs-…');

export const NODE_ROLES = ['scout', 'verifier', 'oracle'] as const;
export const NodeRoleSchema = z.enum(NODE_ROLES);
export type NodeRole = z.infer<typeof NodeRoleSchema>;
/** Roles that serve requests at an endpoint and can therefore be routed to. */
export const SERVING_ROLES: readonly NodeRole[] = ['verifier', 'oracle'];

/** Largest capacity (concurrent requests) one registration may declare. */
export const MAX_NODE_CAPACITY = 1024;

const price = z.number().finite().min(0).max(1000);
const httpUrl = z.url({ protocol: /^https?$/ }).max(2048);
/** `cpu`, `gpu`, `gpu_fast`, `webgpu`, `wasm`, ...: a short lowercase label the node chooses. */
const capabilityTier = z
  .string()
  .regex(/^[a-z0-9_]{1,32}$/, 'expected 1-32 characters of a-z, 0-9 or _');

export const SessionCreatePayloadSchema = z.strictObject({
  /** A name the contributor chooses for this session (shown in status); optional. */
  label: z.string().max(100).optional()
});

export const ParticipationPayloadSchema = z.strictObject({
  session_id: SessionIdSchema,
  enabled: z.boolean()
});

export const RegisterNodePayloadSchema = z.strictObject({
  session_id: SessionIdSchema,
  /** The node's key; when given it must be the signer's (predecessor field). */
  node_pubkey: hex64.optional(),
  role: NodeRoleSchema,
  /** Concurrent requests the node accepts; default 1. */
  capacity: z.number().int().min(1).max(MAX_NODE_CAPACITY).optional(),
  /** Supply tier the node offers; default `public`. */
  supply_tier: SupplyTierSchema.optional(),
  /** USD per 1k input tokens; default 0. */
  price_per_1k_input_usd: price.optional(),
  /** USD per 1k output tokens; default 0. */
  price_per_1k_output_usd: price.optional(),
  /** Base URL serving `/v1/chat/completions` (verifier and oracle nodes only). */
  endpoint: httpUrl.optional(),
  model_id: z.string().min(1).max(200).optional()
});

export const HeartbeatPayloadSchema = z.strictObject({
  session_id: SessionIdSchema,
  node_pubkey: hex64.optional(),
  role: NodeRoleSchema,
  queue_depth: z.number().int().min(0).max(1_000_000),
  node_latency_ms: z.number().finite().min(0).max(3_600_000),
  uptime_seconds: z.number().finite().min(0),
  capability_tier: capabilityTier.optional(),
  gpu_available: z.boolean().optional(),
  accepts_scout_work: z.boolean().optional(),
  public_api: z.boolean().optional(),
  /** Public base URL of the node's API; used as its endpoint when registration gave none. */
  public_api_addr: httpUrl.optional()
});

export const DeregisterNodePayloadSchema = z.strictObject({
  session_id: SessionIdSchema,
  node_pubkey: hex64.optional(),
  role: NodeRoleSchema,
  /** Accepted for the predecessor's payload shape; ignored. */
  capacity: z.number().int().min(1).max(MAX_NODE_CAPACITY).optional()
});

export type SessionCreatePayload = z.infer<typeof SessionCreatePayloadSchema>;
export type ParticipationPayload = z.infer<typeof ParticipationPayloadSchema>;
export type RegisterNodePayload = z.infer<typeof RegisterNodePayloadSchema>;
export type HeartbeatPayload = z.infer<typeof HeartbeatPayloadSchema>;
export type DeregisterNodePayload = z.infer<typeof DeregisterNodePayloadSchema>;

const envelopeOf = <T extends string, P extends z.ZodType>(type: T, payload: P) =>
  z.strictObject({
    type: z.literal(type),
    signer_pubkey_hex: hex64,
    nonce: NonceSchema,
    timestamp_ms: z.number().int().nonnegative(),
    payload,
    signature_hex: hex128
  });

/** One schema per message type; the route of each type accepts only its own. */
export const ContributionEnvelopeSchemas = {
  'session.create': envelopeOf('session.create', SessionCreatePayloadSchema),
  'participation.set': envelopeOf('participation.set', ParticipationPayloadSchema),
  'node.register': envelopeOf('node.register', RegisterNodePayloadSchema),
  'node.heartbeat': envelopeOf('node.heartbeat', HeartbeatPayloadSchema),
  'node.deregister': envelopeOf('node.deregister', DeregisterNodePayloadSchema)
} as const;

export type ContributionMessageType = keyof typeof ContributionEnvelopeSchemas;
export const CONTRIBUTION_MESSAGE_TYPES = Object.keys(
  ContributionEnvelopeSchemas
) as ContributionMessageType[];

/** Any control message, keyed by `type`. */
export const ContributionEnvelopeSchema = z.discriminatedUnion('type', [
  ContributionEnvelopeSchemas['session.create'],
  ContributionEnvelopeSchemas['participation.set'],
  ContributionEnvelopeSchemas['node.register'],
  ContributionEnvelopeSchemas['node.heartbeat'],
  ContributionEnvelopeSchemas['node.deregister']
]);
export type ContributionEnvelope = z.infer<typeof ContributionEnvelopeSchema>;
export type EnvelopeOf<T extends ContributionMessageType> = z.infer<
  (typeof ContributionEnvelopeSchemas)[T]
>;
export type PayloadOf<T extends ContributionMessageType> = EnvelopeOf<T>['payload'];

/** The bytes signed for an envelope (steps 1-2). Throws CanonicalJsonError for non-JSON values. */
export function envelopeSignMessage(envelope: Record<string, unknown>): Uint8Array {
  const { signature_hex: _signature, ...body } = envelope;
  return concatBytes(ENVELOPE_DOMAIN, canonicalBytes(body));
}

/** A random nonce of 32 hex characters (128 bits) from the platform's CSPRNG. */
export function randomNonce(): string {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return bytesToHex(bytes);
}

/** The public key (hex) of a 32-byte Ed25519 secret key. */
export function contributorPublicKeyHex(secretKey: Uint8Array): string {
  return bytesToHex(ed25519.getPublicKey(secretKey));
}

/**
 * Builds and signs an envelope of `type` over `payload` with `secretKey` (32 bytes). `nonce`
 * defaults to randomNonce(), `timestampMs` to Date.now(). Called by the SDKs for every message.
 */
export function signEnvelope<T extends ContributionMessageType>(
  type: T,
  payload: PayloadOf<T>,
  signer: { secretKey: Uint8Array; nonce?: string; timestampMs?: number }
): EnvelopeOf<T> {
  const body = {
    type,
    signer_pubkey_hex: contributorPublicKeyHex(signer.secretKey),
    nonce: signer.nonce ?? randomNonce(),
    timestamp_ms: signer.timestampMs ?? Date.now(),
    payload
  };
  const signature = ed25519.sign(envelopeSignMessage(body), signer.secretKey);
  return { ...body, signature_hex: bytesToHex(signature) } as EnvelopeOf<T>;
}

/**
 * True when `envelope.signature_hex` is a valid Ed25519 signature by `signer_pubkey_hex` over the
 * envelope's sign message. Verify the object as received (raw JSON), never a re-serialised copy
 * that may have lost fields. Never throws.
 */
export function verifyEnvelopeSignature(envelope: Record<string, unknown>): boolean {
  const { signature_hex: sig, signer_pubkey_hex: key } = envelope;
  if (typeof sig !== 'string' || typeof key !== 'string') return false;
  try {
    return ed25519.verify(hexToBytes(sig), envelopeSignMessage(envelope), hexToBytes(key), {
      zip215: false
    });
  } catch {
    return false;
  }
}

/** The bytes signed for an `x-shard-contributor` header. */
export function contributorRequestMessage(request: {
  method: string;
  path: string;
  timestampMs: number;
  nonce: string;
}): Uint8Array {
  return utf8ToBytes(
    `${CONTRIBUTOR_REQUEST_SCHEME}\n${request.method.toUpperCase()}\n${request.path}\n` +
      `${request.timestampMs}\n${request.nonce}`
  );
}

/**
 * The `x-shard-contributor` header value for one request (`path` without the query). A header
 * is valid for one request only: the oracle remembers its nonce.
 */
export function signContributorHeader(request: {
  method: string;
  path: string;
  secretKey: Uint8Array;
  nonce?: string;
  timestampMs?: number;
}): string {
  const timestampMs = request.timestampMs ?? Date.now();
  const nonce = request.nonce ?? randomNonce();
  const message = contributorRequestMessage({ ...request, timestampMs, nonce });
  const signature = bytesToHex(ed25519.sign(message, request.secretKey));
  return `${contributorPublicKeyHex(request.secretKey)}.${timestampMs}.${nonce}.${signature}`;
}

/** A parsed `x-shard-contributor` header (not yet verified). */
export interface ContributorHeader {
  identity: string;
  timestampMs: number;
  nonce: string;
  signatureHex: string;
}

/** Parses the header's four dot-separated fields; null when the form is wrong. */
export function parseContributorHeader(value: string): ContributorHeader | null {
  const parts = value.trim().split('.');
  if (parts.length !== 4) return null;
  const [identity, ts, nonce, signatureHex] = parts as [string, string, string, string];
  if (!/^[0-9a-f]{64}$/.test(identity) || !/^[0-9a-f]{128}$/.test(signatureHex)) return null;
  if (!/^\d{1,16}$/.test(ts) || !NONCE_PATTERN.test(nonce)) return null;
  return { identity, timestampMs: Number(ts), nonce, signatureHex };
}

/** True when the header's signature is valid for `method` and `path`. Never throws. */
export function verifyContributorHeader(
  header: ContributorHeader,
  request: { method: string; path: string }
): boolean {
  try {
    return ed25519.verify(
      hexToBytes(header.signatureHex),
      contributorRequestMessage({ ...request, ...header }),
      hexToBytes(header.identity),
      { zip215: false }
    );
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------
// Responses

/** The last heartbeat of a node, as the oracle recorded it. */
export const NodeHeartbeatSchema = z.object({
  at_ms: z.number(),
  queue_depth: z.number(),
  node_latency_ms: z.number(),
  uptime_seconds: z.number(),
  capability_tier: z.string().nullable(),
  gpu_available: z.boolean().nullable(),
  accepts_scout_work: z.boolean().nullable(),
  public_api: z.boolean().nullable(),
  public_api_addr: z.string().nullable()
});
export type NodeHeartbeat = z.infer<typeof NodeHeartbeatSchema>;

/** A registered node. `trust_tier` is assigned by the oracle, never claimed by the node. */
export const ContributedNodeSchema = z.object({
  node_id: z.string(),
  session_id: z.string(),
  contributor: z.string(),
  role: NodeRoleSchema,
  capacity: z.number(),
  supply_tier: SupplyTierSchema,
  trust_tier: TrustTierSchema,
  /** Registration endpoint, else the last heartbeat's public_api_addr, else null. */
  endpoint: z.string().nullable(),
  model_id: z.string().nullable(),
  price_per_1k_input_usd: z.number(),
  price_per_1k_output_usd: z.number(),
  registered_at_ms: z.number(),
  last_heartbeat: NodeHeartbeatSchema.nullable(),
  /** A heartbeat arrived within the oracle's heartbeat timeout. */
  healthy: z.boolean()
});
export type ContributedNode = z.infer<typeof ContributedNodeSchema>;

export const ContributorSessionSchema = z.object({
  session_id: z.string(),
  contributor: z.string(),
  label: z.string().nullable(),
  participation_enabled: z.boolean(),
  created_at_ms: z.number(),
  updated_at_ms: z.number(),
  nodes: z.array(ContributedNodeSchema)
});
export type ContributorSession = z.infer<typeof ContributorSessionSchema>;

/** `{ ok, detail }` acknowledgement (the predecessor's `ContributionAck`), with what changed. */
export const ContributionAckSchema = z.looseObject({
  ok: z.boolean(),
  detail: z.string().nullish(),
  session: ContributorSessionSchema.optional(),
  node: ContributedNodeSchema.optional()
});
export type ContributionAck = z.infer<typeof ContributionAckSchema>;

export const CREDIT_KINDS = [
  'accepted_draft_tokens',
  'golden_tickets_passed',
  'verified_steps_served'
] as const;
export const CreditKindSchema = z.enum(CREDIT_KINDS);
export type CreditKind = z.infer<typeof CreditKindSchema>;

export const CreditEntrySchema = z.object({
  kind: CreditKindSchema,
  amount: z.number(),
  credits: z.number(),
  evidence: z.object({ source: z.string(), ref: z.string() }).loose(),
  at_ms: z.number()
});
export type CreditEntry = z.infer<typeof CreditEntrySchema>;

/** `GET /v1/contribution/credits/:identity`. */
export const CreditBalanceSchema = z.looseObject({
  ok: z.literal(true),
  identity: z.string(),
  credits: z.number(),
  by_kind: z.record(z.string(), z.number()),
  /** Credits per unit of each kind (the documented rate). */
  rates: z.record(z.string(), z.number()),
  recent: z.array(CreditEntrySchema)
});
export type CreditBalance = z.infer<typeof CreditBalanceSchema>;

/**
 * A contributed node's signed statement about one chat answer it served (scheme
 * `shard-attestation/1`), returned as `shard.attestation` when the request asked for one
 * (header ATTESTATION_REQUEST_HEADER). The orchestrator checks it against the public key the
 * node registered with before it accepts the answer as a workflow step, and records it in the
 * step's receipt (`model_metadata.attestation`):
 *   request_sha256 = sha256(RFC 8785 canonical JSON of the request body, as sent);
 *   output_sha256  = sha256(UTF-8 of choices[0].message.content, '' when null);
 *   sign message   = utf8("shard-attestation/1\n") || canonical JSON of the attestation without
 *                    signature_hex; signature_hex = Ed25519 by signer_pubkey_hex.
 */
export const ATTESTATION_SCHEME = 'shard-attestation/1';
/** The request header that asks a node for an attestation (`1`). */
export const ATTESTATION_REQUEST_HEADER = 'x-shard-attest';
const ATTESTATION_DOMAIN = utf8ToBytes(`${ATTESTATION_SCHEME}\n`);

export const StepAttestationSchema = z.object({
  signer_pubkey_hex: z.string().regex(/^[0-9a-f]{64}$/),
  request_sha256: z.string().regex(/^[0-9a-f]{64}$/),
  output_sha256: z.string().regex(/^[0-9a-f]{64}$/),
  model: z.string(),
  signature_hex: z.string().regex(/^[0-9a-f]{128}$/)
});
export type StepAttestation = z.infer<typeof StepAttestationSchema>;

/** sha256 hex of the canonical JSON of a value (a request body). */
export function canonicalSha256(value: unknown): string {
  return bytesToHex(sha256(canonicalBytes(value)));
}

/** sha256 hex of a text's UTF-8 bytes (an answer). */
export function textSha256(text: string): string {
  return bytesToHex(sha256(utf8ToBytes(text)));
}

function attestationMessage(body: Omit<StepAttestation, 'signature_hex'>): Uint8Array {
  return concatBytes(ATTESTATION_DOMAIN, canonicalBytes(body));
}

/** Signs an attestation with `sign` (an Ed25519 signer of the node's key `publicKeyHex`). */
export function signStepAttestation(
  fields: { request: unknown; output: string; model: string },
  signer: { publicKeyHex: string; sign(message: Uint8Array): Uint8Array }
): StepAttestation {
  const body = {
    signer_pubkey_hex: signer.publicKeyHex,
    request_sha256: canonicalSha256(fields.request),
    output_sha256: textSha256(fields.output),
    model: fields.model
  };
  return { ...body, signature_hex: bytesToHex(signer.sign(attestationMessage(body))) };
}

/**
 * Why `raw` is not a valid attestation of this answer by `expectedSigner`, or null when it is:
 * `missing`, `malformed`, `wrong_signer`, `request_mismatch`, `output_mismatch`,
 * `bad_signature`. Never throws.
 */
export function checkStepAttestation(
  raw: unknown,
  expected: { signer: string; request?: unknown; output?: string }
): string | null {
  if (raw === undefined || raw === null) return 'missing';
  const parsed = StepAttestationSchema.safeParse(raw);
  if (!parsed.success) return 'malformed';
  const a = parsed.data;
  if (a.signer_pubkey_hex !== expected.signer.toLowerCase()) return 'wrong_signer';
  if (expected.request !== undefined && a.request_sha256 !== canonicalSha256(expected.request))
    return 'request_mismatch';
  if (expected.output !== undefined && a.output_sha256 !== textSha256(expected.output))
    return 'output_mismatch';
  const { signature_hex: sig, ...body } = a;
  try {
    const isValid = ed25519.verify(
      hexToBytes(sig),
      attestationMessage(body),
      hexToBytes(a.signer_pubkey_hex),
      { zip215: false }
    );
    return isValid ? null : 'bad_signature';
  } catch {
    return 'bad_signature';
  }
}
