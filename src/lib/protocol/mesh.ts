/**
 * Wire shapes of the Shard mesh: the handshake, the verify stream between an oracle and a scout,
 * and the gossip topics. Framework-free (no Node, DOM or Svelte types): the relay, the oracle,
 * the Node scout and the browser scout all import this module.
 *
 * Every message is UTF-8 JSON in one length-prefixed frame. `decode()` is the only path from
 * bytes to objects; it enforces the frame size limit and the schema and throws
 * `MeshProtocolError` with a specific reason otherwise. A peer that sends anything `decode()`
 * rejects is dropped.
 *
 * Verify stream in short (one long-lived stream per generation session, opened by the oracle):
 *
 *   oracle -> scout  open           { sessionId, k, lookahead }           (first frame)
 *   oracle -> scout  context        { base, tokens }   committed sequence from `base` is `tokens`
 *   oracle -> scout  draft-request  { position, k, lookahead }  start drafting at `position`
 *   scout  -> oracle draft          { epoch, position, tokens }  a chain continuation
 *   oracle -> scout  verify-result  { position, drafted, accepted, correction }
 *   either side      close          { reason }
 *
 * Chains: the scout drafts one "chain" of tokens that continues its committed context. Each
 * `context` frame either extends the committed context along the chain (the chain survives and
 * the scout keeps drafting ahead) or diverges from it (the scout starts a new chain with a higher
 * `epoch`). Draft tokens carry absolute positions, so the oracle checks every draft against its
 * own committed tokens; nothing a scout sends can change what the oracle commits.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { z } from 'zod';
import {
  compareTokenizerSketch,
  TokenizerSketchSchema,
  type TokenizerSketch,
  type TokenTextFn
} from './tokenizer-sketch.js';

/** Version of the mesh protocol family; a breaking change bumps it and the protocol ids. */
export const MESH_PROTOCOL_VERSION = '1.0.0';
// Protocol ids follow one pattern, `/shard/<name>/<version>` (libp2p's `/ipfs/ping/1.0.0` shape).
/** Request/response: each side sends one signed hello; the oracle answers welcome or refused. */
export const HANDSHAKE_PROTOCOL = '/shard/handshake/1.0.0';
/** One long-lived stream per generation session between an oracle and a scout. */
export const VERIFY_PROTOCOL = '/shard/verify/1.0.0';
/**
 * Request/response: one signed contributor control message (the `/v1/contribution/*` envelope,
 * src/lib/protocol/contribution.ts) in one frame; the oracle answers one frame like the HTTP body.
 */
export const CONTRIBUTION_PROTOCOL = '/shard/contribution/1.0.0';
/** Gossip: work announcements (oracles advertise sessions scouts can lease). */
export const WORK_TOPIC = 'shard-work';
/** Gossip: results and stats (scout heartbeats, acceptance figures, signed scout bans). */
export const WORK_RESULT_TOPIC = 'shard-work-result';
/** Every topic the relay must subscribe to so that it forwards them. */
export const MESH_TOPICS = [WORK_TOPIC, WORK_RESULT_TOPIC] as const;

/** Largest handshake frame in bytes. */
export const MAX_HANDSHAKE_BYTES = 8 * 1024;
/** Largest verify-stream frame in bytes. */
export const MAX_VERIFY_FRAME_BYTES = 64 * 1024;
/** Largest gossip message in bytes. */
export const MAX_GOSSIP_BYTES = 8 * 1024;
/** Most tokens in one context frame; longer contexts are sent as several frames. */
export const MAX_CONTEXT_TOKENS_PER_FRAME = 4096;
/** Most tokens in one draft frame and the largest `k` an oracle may ask for. */
export const MAX_DRAFT_TOKENS = 64;
/** Largest lookahead (tokens a scout may draft beyond the committed context). */
export const MAX_LOOKAHEAD_TOKENS = 256;
/** Token ids are non-negative integers below this bound (any real vocabulary fits). */
export const MAX_TOKEN_ID = 1 << 24;
/** A hello older or newer than this is refused as stale (clock skew allowance included). */
export const HELLO_MAX_AGE_MS = 5 * 60_000;
/** Domain-separation prefix of the bytes a hello signature covers. */
export const HELLO_SIGNATURE_DOMAIN = 'shard-handshake-v1\n';
/** Domain-separation prefix of the bytes a ban announcement's signature covers. */
export const BAN_SIGNATURE_DOMAIN = 'shard-scout-ban-v1\n';

/** A failure to parse or accept a peer's message; `reason` is a stable machine-readable code. */
export class MeshProtocolError extends Error {
  override name = 'MeshProtocolError';
  constructor(
    readonly reason: MeshErrorReason,
    message: string,
    options?: { cause?: unknown }
  ) {
    super(message, options);
  }
}

export const MeshErrorReasonSchema = z.enum([
  'oversized',
  'malformed',
  'out-of-order',
  'stale-position',
  'exceeds-lookahead',
  'bad-signature',
  'peer-id-mismatch',
  'stale-hello',
  'protocol-version',
  'tokenizer-mismatch',
  'role-not-accepted',
  /** Handshake refused because the peer is banned (protocol violation, failed golden tickets, a trusted oracle's ban). */
  'banned',
  'too-many-streams',
  'timeout',
  'internal'
]);
export type MeshErrorReason = z.infer<typeof MeshErrorReasonSchema>;

const tokenId = z
  .number()
  .int()
  .min(0)
  .max(MAX_TOKEN_ID - 1);
const position = z
  .number()
  .int()
  .min(0)
  .max(1 << 30);
const shortText = (max: number) => z.string().min(1).max(max);

// ---------------------------------------------------------------------------------------------
// Handshake
// ---------------------------------------------------------------------------------------------

export const PeerRoleSchema = z.enum(['scout', 'oracle', 'relay', 'consumer']);

/** What a peer says about itself; signed with its libp2p identity key. */
export const HelloPayloadSchema = z.strictObject({
  role: PeerRoleSchema,
  /** The sender's libp2p peer id; must equal the connection's remote peer. */
  peerId: shortText(128),
  software: z.strictObject({ name: shortText(64), version: shortText(32) }),
  protocolVersion: shortText(16),
  /** Model ids the peer serves (oracle: target; scout: draft model). */
  models: z.array(shortText(256)).max(16),
  /** Fingerprint of the vocabulary the peer's model uses; null for relays and consumers. */
  tokenizerFingerprint: z.string().max(256).nullable(),
  /**
   * A scout's id → text table in short (src/lib/protocol/tokenizer-sketch.ts). Optional: scouts
   * from before it was added match by `tokenizerFingerprint` alone. An oracle that has it
   * compares it instead of the fingerprint, so a tokenizer in another file form (a web-llm
   * `tokenizer.json`) with the same table is accepted.
   */
  tokenizerSketch: TokenizerSketchSchema.optional(),
  /**
   * What drafts and where it computes, e.g. `wllama:draft.gguf@webgpu` (scouts; optional, and
   * absent from scouts older than it). Shown to operators; never trusted for anything.
   */
  draftEngine: z.string().min(1).max(128).optional(),
  /** Measured draft speed in tokens/s (scouts); null when unknown. */
  draftTokensPerSecond: z.number().finite().min(0).max(1e6).nullable(),
  /** Sender's wall clock, ms since the epoch; bounds replay of an old hello. */
  sentAtMs: z.number().int().min(0),
  /** Random per-hello value so two hellos never sign the same bytes. */
  nonce: z.string().min(8).max(64)
});
export type HelloPayload = z.infer<typeof HelloPayloadSchema>;

const hex = z.string().regex(/^[0-9a-f]*$/, 'lower-case hex');

/** A hello on the wire: the exact payload JSON that was signed, and the signature in hex. */
export const SignedHelloSchema = z.strictObject({
  type: z.literal('hello'),
  payload: z.string().min(2).max(4096),
  signature: hex.min(2).max(1024)
});
export type SignedHello = z.infer<typeof SignedHelloSchema>;

/** The oracle's answer to a scout's hello. */
export const HandshakeReplySchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('welcome'), hello: SignedHelloSchema }),
  z.strictObject({
    type: z.literal('refused'),
    reason: MeshErrorReasonSchema,
    message: z.string().max(512),
    hello: SignedHelloSchema
  })
]);
export type HandshakeReply = z.infer<typeof HandshakeReplySchema>;

/** Signs with the peer's private key; libp2p's `PrivateKey.sign` fits. */
export type SignFn = (data: Uint8Array) => Uint8Array | Promise<Uint8Array>;
/** Verifies with the claimed peer's public key; libp2p's `PublicKey.verify` fits. */
export type VerifyFn = (data: Uint8Array, signature: Uint8Array) => boolean | Promise<boolean>;

/** The bytes a hello signature covers: a domain prefix and the payload JSON. */
function helloSigningBytes(payloadJson: string): Uint8Array {
  return textEncoder.encode(HELLO_SIGNATURE_DOMAIN + payloadJson);
}

/** Serialises and signs a hello payload (validated first, so a bad local payload fails early). */
export async function signHello(payload: HelloPayload, sign: SignFn): Promise<SignedHello> {
  const checked = HelloPayloadSchema.parse(payload);
  const json = JSON.stringify(checked);
  const signature = await sign(helloSigningBytes(json));
  return { type: 'hello', payload: json, signature: toHex(signature) };
}

/**
 * Opens a received hello: checks the signature with `verify` (the public key of the connection's
 * remote peer), that the payload names that peer, and that it is fresh. Throws
 * `MeshProtocolError` (`malformed`, `bad-signature`, `peer-id-mismatch`, `stale-hello`).
 */
export async function openHello(
  hello: SignedHello,
  opts: { expectedPeerId: string; verify: VerifyFn; nowMs?: number }
): Promise<HelloPayload> {
  let isValid = false;
  try {
    isValid = await opts.verify(helloSigningBytes(hello.payload), fromHex(hello.signature));
  } catch (err) {
    throw new MeshProtocolError('bad-signature', 'hello signature could not be checked', {
      cause: err
    });
  }
  if (!isValid)
    throw new MeshProtocolError('bad-signature', 'hello signature does not match the peer key');
  let raw: unknown;
  try {
    raw = JSON.parse(hello.payload);
  } catch (err) {
    throw new MeshProtocolError('malformed', 'hello payload is not JSON', { cause: err });
  }
  const payload = parseWith(HelloPayloadSchema, raw, 'hello payload');
  if (payload.peerId !== opts.expectedPeerId) {
    throw new MeshProtocolError(
      'peer-id-mismatch',
      `hello names peer ${payload.peerId}, connection is ${opts.expectedPeerId}`
    );
  }
  const age = Math.abs((opts.nowMs ?? Date.now()) - payload.sentAtMs);
  if (age > HELLO_MAX_AGE_MS)
    throw new MeshProtocolError('stale-hello', `hello is ${age} ms away from now`);
  return payload;
}

/** The oracle's side of the tokenizer check: its own sketch, and the text of its tokens. */
export interface OracleTokenizer {
  /** The target's sketch (computed once; it reads the whole vocabulary). */
  sketch(): TokenizerSketch;
  /** The target's text for one token, as the sketch reads it (named in a refusal). */
  textOf: TokenTextFn;
}

/**
 * Decides whether an oracle accepts a scout's hello for drafting. Returns null when accepted,
 * or the refusal reason and a message a person can act on. The tokenizer rule: a scout that
 * sends a sketch is judged by it when the oracle has one (same id → text table: accepted, else
 * refused naming the token or the sizes that differ); otherwise the fingerprints must be equal.
 */
export function checkScoutHello(
  scout: HelloPayload,
  oracle: { tokenizerFingerprint: string; tokenizer?: OracleTokenizer | null }
): { reason: MeshErrorReason; message: string } | null {
  if (scout.role !== 'scout') {
    return {
      reason: 'role-not-accepted',
      message: `role ${scout.role} cannot draft; only scouts are leased`
    };
  }
  if (majorOf(scout.protocolVersion) !== majorOf(MESH_PROTOCOL_VERSION)) {
    return {
      reason: 'protocol-version',
      message: `protocol ${scout.protocolVersion} is incompatible with ${MESH_PROTOCOL_VERSION}`
    };
  }
  if (scout.tokenizerSketch && oracle.tokenizer) {
    const difference = compareTokenizerSketch(
      scout.tokenizerSketch,
      oracle.tokenizer.sketch(),
      oracle.tokenizer.textOf
    );
    if (!difference) return null;
    return {
      reason: 'tokenizer-mismatch',
      message: `draft tokenizer differs from the target's: ${difference.message}`.slice(0, 500)
    };
  }
  if (scout.tokenizerFingerprint !== oracle.tokenizerFingerprint) {
    const hint = scout.tokenizerSketch
      ? ''
      : ' (this scout sent no tokenizer sketch, so only identical vocabularies match)';
    return {
      reason: 'tokenizer-mismatch',
      message: (
        `draft tokenizer ${scout.tokenizerFingerprint ?? 'none'} differs from the target tokenizer ` +
        `${oracle.tokenizerFingerprint}; load a draft model with the target's vocabulary${hint}`
      ).slice(0, 500)
    };
  }
  return null;
}

/**
 * The tokenizer fingerprint every mesh peer compares: sha256 (hex) of the JSON
 * `{"tokens":[...],"types":[...]}` built from the GGUF metadata `tokenizer.ggml.tokens` (strings)
 * and `tokenizer.ggml.token_type`. The same value the target engine reports, computable in a
 * browser from the draft model's GGUF header.
 */
export function tokenizerFingerprint(tokens: readonly string[], types: ArrayLike<number>): string {
  return toHex(sha256(textEncoder.encode(JSON.stringify({ tokens, types: Array.from(types) }))));
}

// ---------------------------------------------------------------------------------------------
// Verify stream
// ---------------------------------------------------------------------------------------------

const sessionId = z.string().min(1).max(64);

export const VerifyOpenSchema = z.strictObject({
  type: z.literal('open'),
  sessionId,
  k: z.number().int().min(1).max(MAX_DRAFT_TOKENS),
  lookahead: z.number().int().min(1).max(MAX_LOOKAHEAD_TOKENS)
});
export const VerifyContextSchema = z.strictObject({
  type: z.literal('context'),
  /** The committed sequence from `base` on is `tokens` (anything the scout had past base is dropped). */
  base: position,
  tokens: z.array(tokenId).max(MAX_CONTEXT_TOKENS_PER_FRAME)
});
export const DraftRequestSchema = z.strictObject({
  type: z.literal('draft-request'),
  /** Must equal the committed length the scout holds; anything else is out of order. */
  position,
  k: z.number().int().min(1).max(MAX_DRAFT_TOKENS),
  lookahead: z.number().int().min(1).max(MAX_LOOKAHEAD_TOKENS)
});
export const VerifyResultSchema = z.strictObject({
  type: z.literal('verify-result'),
  /** Absolute position of the first drafted token of the verified round. */
  position,
  drafted: z.number().int().min(0).max(MAX_DRAFT_TOKENS),
  accepted: z.number().int().min(0).max(MAX_DRAFT_TOKENS),
  /** The target's token right after the accepted drafts; null when not known. */
  correction: tokenId.nullable()
});
export const DraftSchema = z.strictObject({
  type: z.literal('draft'),
  /** Chain number; increases by one each time the scout starts a new chain. */
  epoch: z
    .number()
    .int()
    .min(0)
    .max(2 ** 31),
  /** Absolute position of `tokens[0]`; contiguous with the previous frame of the same epoch. */
  position,
  tokens: z.array(tokenId).min(1).max(MAX_DRAFT_TOKENS),
  /** Scout's draft speed so far, tokens/s (optional; feeds the oracle's governor). */
  tokensPerSecond: z.number().finite().min(0).max(1e6).optional()
});
export const VerifyCloseSchema = z.strictObject({
  type: z.literal('close'),
  reason: z.string().max(256)
});
export const VerifyErrorSchema = z.strictObject({
  type: z.literal('error'),
  reason: MeshErrorReasonSchema,
  message: z.string().max(512)
});

/** Frames the oracle sends on a verify stream. */
export const OracleFrameSchema = z.discriminatedUnion('type', [
  VerifyOpenSchema,
  VerifyContextSchema,
  DraftRequestSchema,
  VerifyResultSchema,
  VerifyCloseSchema,
  VerifyErrorSchema
]);
export type OracleFrame = z.infer<typeof OracleFrameSchema>;

/** Frames a scout sends on a verify stream. */
export const ScoutFrameSchema = z.discriminatedUnion('type', [
  DraftSchema,
  VerifyCloseSchema,
  VerifyErrorSchema
]);
export type ScoutFrame = z.infer<typeof ScoutFrameSchema>;

export type VerifyContext = z.infer<typeof VerifyContextSchema>;
export type DraftFrame = z.infer<typeof DraftSchema>;

/** Splits a context delta into frames that each fit MAX_CONTEXT_TOKENS_PER_FRAME. */
export function contextFrames(base: number, tokens: readonly number[]): VerifyContext[] {
  if (tokens.length === 0) return [{ type: 'context', base, tokens: [] }];
  const frames: VerifyContext[] = [];
  for (let i = 0; i < tokens.length; i += MAX_CONTEXT_TOKENS_PER_FRAME) {
    frames.push({
      type: 'context',
      base: base + i,
      tokens: tokens.slice(i, i + MAX_CONTEXT_TOKENS_PER_FRAME)
    });
  }
  return frames;
}

// ---------------------------------------------------------------------------------------------
// Gossip
// ---------------------------------------------------------------------------------------------

/** On `shard-work`: an oracle advertises that scouts can lease drafting work from it. */
export const WorkAnnouncementSchema = z.strictObject({
  type: z.literal('oracle-announce'),
  peerId: shortText(128),
  /** Where scouts can dial the oracle (direct and relayed addresses, with /p2p/<id>). */
  multiaddrs: z.array(z.string().min(1).max(512)).max(16),
  models: z.array(shortText(256)).max(16),
  tokenizerFingerprint: z.string().max(256),
  /** Scouts the oracle would still lease. */
  openSlots: z.number().int().min(0).max(10_000),
  sentAtMs: z.number().int().min(0)
});
export type WorkAnnouncement = z.infer<typeof WorkAnnouncementSchema>;

/** On `shard-work-result`: a scout's heartbeat with its stats. */
export const ScoutHeartbeatSchema = z.strictObject({
  type: z.literal('scout-heartbeat'),
  peerId: shortText(128),
  draftTokensPerSecond: z.number().finite().min(0).max(1e6).nullable(),
  sessions: z.number().int().min(0).max(10_000),
  drafted: z.number().int().min(0),
  accepted: z.number().int().min(0),
  sentAtMs: z.number().int().min(0)
});
/** On `shard-work-result`: an oracle's summary of one finished session. */
export const SessionResultSchema = z.strictObject({
  type: z.literal('session-result'),
  oraclePeerId: shortText(128),
  scoutPeerId: shortText(128),
  sessionId,
  drafted: z.number().int().min(0),
  accepted: z.number().int().min(0),
  sentAtMs: z.number().int().min(0)
});
/** What an oracle says when it bans a scout; signed by the oracle (see `ScoutBanSchema`). */
export const ScoutBanPayloadSchema = z.strictObject({
  /** The oracle that decided the ban; the signature must verify with this peer's key. */
  oraclePeerId: shortText(128),
  scoutPeerId: shortText(128),
  reason: z.string().min(1).max(500),
  /** When the ban started (ms since the epoch); receivers keep it, so it expires on time. */
  bannedAtMs: z.number().int().min(0),
  /** 0 = permanent. */
  durationHours: z
    .number()
    .finite()
    .min(0)
    .max(24 * 365 * 100),
  failedAttempts: z.number().int().min(0)
});
export type ScoutBanPayload = z.infer<typeof ScoutBanPayloadSchema>;
/**
 * On `shard-work-result`: an oracle announces a ban. Receivers apply it only when the signer is
 * an oracle they trust; the signature (over the exact payload JSON) makes it verifiable however
 * it travelled.
 */
export const ScoutBanSchema = z.strictObject({
  type: z.literal('scout-ban'),
  payload: z.string().min(2).max(2048),
  signature: hex.min(2).max(1024)
});
export type ScoutBan = z.infer<typeof ScoutBanSchema>;
export const WorkResultSchema = z.discriminatedUnion('type', [
  ScoutHeartbeatSchema,
  SessionResultSchema,
  ScoutBanSchema
]);
export type ScoutHeartbeat = z.infer<typeof ScoutHeartbeatSchema>;

/** Serialises and signs a ban announcement with the oracle's key. */
export async function signBan(payload: ScoutBanPayload, sign: SignFn): Promise<ScoutBan> {
  const json = JSON.stringify(ScoutBanPayloadSchema.parse(payload));
  const signature = await sign(textEncoder.encode(BAN_SIGNATURE_DOMAIN + json));
  return { type: 'scout-ban', payload: json, signature: toHex(signature) };
}

/**
 * Opens a ban announcement: parses the payload and checks the signature with `verifyFor`, the
 * verifier of the claimed oracle's public key (null when its peer id carries none). Throws
 * `MeshProtocolError` (`malformed`, `bad-signature`).
 */
export async function openBan(
  ban: ScoutBan,
  verifyFor: (oraclePeerId: string) => VerifyFn | null
): Promise<ScoutBanPayload> {
  let raw: unknown;
  try {
    raw = JSON.parse(ban.payload);
  } catch (err) {
    throw new MeshProtocolError('malformed', 'ban payload is not JSON', { cause: err });
  }
  const payload = parseWith(ScoutBanPayloadSchema, raw, 'ban payload');
  const verify = verifyFor(payload.oraclePeerId);
  if (!verify) throw new MeshProtocolError('bad-signature', 'ban signer has no public key');
  let isValid = false;
  try {
    isValid = await verify(
      textEncoder.encode(BAN_SIGNATURE_DOMAIN + ban.payload),
      fromHex(ban.signature)
    );
  } catch (err) {
    throw new MeshProtocolError('bad-signature', 'ban signature could not be checked', {
      cause: err
    });
  }
  if (!isValid)
    throw new MeshProtocolError('bad-signature', 'ban signature does not match the oracle key');
  return payload;
}

// ---------------------------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------------------------

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder('utf-8', { fatal: true });

/** Encodes one message as UTF-8 JSON, refusing to produce a frame over `maxBytes`. */
export function encode(message: unknown, maxBytes: number = MAX_VERIFY_FRAME_BYTES): Uint8Array {
  const bytes = textEncoder.encode(JSON.stringify(message));
  if (bytes.byteLength > maxBytes) {
    throw new MeshProtocolError(
      'oversized',
      `message of ${bytes.byteLength} bytes exceeds ${maxBytes}`
    );
  }
  return bytes;
}

/**
 * The only path from bytes to a mesh message: checks the size, UTF-8, JSON and the schema.
 * Throws MeshProtocolError (`oversized` or `malformed`, naming the first schema issue).
 */
export function decode<S extends z.ZodType>(
  schema: S,
  bytes: Uint8Array,
  maxBytes: number = MAX_VERIFY_FRAME_BYTES
): z.infer<S> {
  if (bytes.byteLength > maxBytes) {
    throw new MeshProtocolError(
      'oversized',
      `frame of ${bytes.byteLength} bytes exceeds ${maxBytes}`
    );
  }
  let raw: unknown;
  try {
    raw = JSON.parse(textDecoder.decode(bytes));
  } catch (err) {
    throw new MeshProtocolError('malformed', 'frame is not UTF-8 JSON', { cause: err });
  }
  return parseWith(schema, raw, 'frame');
}

function parseWith<S extends z.ZodType>(schema: S, raw: unknown, what: string): z.infer<S> {
  const result = schema.safeParse(raw);
  if (!result.success) {
    const issue = result.error.issues[0];
    const path = issue?.path.length ? issue.path.join('.') : '(root)';
    throw new MeshProtocolError(
      'malformed',
      `${what} invalid at ${path}: ${issue?.message ?? 'unknown'}`,
      {
        cause: result.error
      }
    );
  }
  return result.data;
}

function majorOf(version: string): string {
  return version.split('.')[0] ?? version;
}

/** Lower-case hex of bytes. */
function toHex(bytes: Uint8Array): string {
  let out = '';
  for (const b of bytes) out += b.toString(16).padStart(2, '0');
  return out;
}

/** Bytes of a lower-case hex string (even length). */
function fromHex(value: string): Uint8Array {
  if (value.length % 2 !== 0) throw new MeshProtocolError('malformed', 'hex string of odd length');
  const out = new Uint8Array(value.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(value.slice(i * 2, i * 2 + 2), 16);
  return out;
}
