/**
 * Seeded property-based fuzzing of every peer-message decoder in `src/lib/protocol/` (issue #10):
 * mesh `decode()` for handshake, verify-stream and gossip frames; `openHello` / `openBan` (signed
 * hello and ban); the chat SSE stream decoder; the privacy envelope (body and header); the
 * contribution envelopes, the contributor header and step attestations; receipt-chain
 * verification. Each gets arbitrary bytes or JSON and near-valid mutations of a valid message.
 * Properties: it throws nothing but its documented error class (or returns its documented
 * failure result), what it returns passes its own schema, and valid messages round-trip.
 * `SHARD_FUZZ_RUNS=10` runs ten times more.
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { ChatCompletionChunkSchema, createChatStreamDecoder } from '../../src/lib/protocol/chat.js';
import { canonicalize } from '../../src/lib/protocol/canonical-json.js';
import {
  ContributionEnvelopeSchema,
  parseContributorHeader,
  signContributorHeader,
  signEnvelope,
  checkStepAttestation,
  signStepAttestation,
  StepAttestationSchema,
  verifyContributorHeader,
  verifyEnvelopeSignature
} from '../../src/lib/protocol/contribution.js';
import {
  decode,
  encode,
  HandshakeReplySchema,
  HelloPayloadSchema,
  MAX_GOSSIP_BYTES,
  MAX_HANDSHAKE_BYTES,
  MAX_VERIFY_FRAME_BYTES,
  MeshProtocolError,
  OracleFrameSchema,
  openBan,
  openHello,
  ScoutFrameSchema,
  signBan,
  signHello,
  SignedHelloSchema,
  WorkAnnouncementSchema,
  WorkResultSchema,
  type HelloPayload
} from '../../src/lib/protocol/mesh.js';
import {
  encodePrivacyHeader,
  parsePrivacy,
  parsePrivacyHeader,
  PrivacyEnvelopeSchema
} from '../../src/lib/protocol/privacy.js';
import {
  createNobleSigner,
  sealReceipt,
  signChainHead,
  verifyReceiptChain
} from '../../src/lib/protocol/receipt-chain.js';
import type { ExecutionReceipt } from '../../src/lib/protocol/receipts.js';
import { anyJson, fuzzRuns, nearValid } from '../helpers/fuzz-arbitraries.js';

const SEED = 2010;
const RUNS = fuzzRuns(300);
const runs = new Map<string, number>();
const count = (surface: string) => runs.set(surface, (runs.get(surface) ?? 0) + 1);
afterAll(() => {
  for (const [surface, n] of runs)
    console.log(JSON.stringify({ fuzz: 'protocol', surface, runs: n }));
});

const enc = new TextEncoder();
const secret = new Uint8Array(32).fill(41);
const publicKey = ed25519.getPublicKey(secret);
const sign = (data: Uint8Array) => ed25519.sign(data, secret);
const verify = (data: Uint8Array, sig: Uint8Array) => ed25519.verify(sig, data, publicKey);
const NOW = 1_700_000_000_000;

/** Bytes a decoder may see: random bytes, JSON of anything, or a near-valid message's JSON. */
function bytesFor(valid: unknown): fc.Arbitrary<Uint8Array> {
  return fc.oneof(
    fc.uint8Array({ maxLength: 200 }),
    anyJson.map((v) => enc.encode(JSON.stringify(v))),
    nearValid(valid).map((m) => enc.encode(JSON.stringify(m.value))),
    fc.constant(enc.encode(JSON.stringify(valid)))
  );
}

/** decode() returns a value its schema accepts, or throws MeshProtocolError oversized/malformed. */
function decodeProperty(schema: Parameters<typeof decode>[0], bytes: Uint8Array, max: number) {
  try {
    const value = decode(schema, bytes, max);
    expect(schema.safeParse(value).success).toBe(true);
    // A decoded message re-encodes to bytes that decode to the same message.
    expect(decode(schema, encode(value, Number.MAX_SAFE_INTEGER), max)).toEqual(value);
    return 'ok';
  } catch (err) {
    expect((err as Error).name).toBe('MeshProtocolError');
    expect(['oversized', 'malformed']).toContain((err as MeshProtocolError).reason);
    return 'rejected';
  }
}

const hello: HelloPayload = {
  role: 'scout',
  peerId: '12D3KooWFuzz',
  software: { name: 'shard-scout', version: '0.1.0' },
  protocolVersion: '1.0.0',
  models: ['draft'],
  tokenizerFingerprint: 'f'.repeat(64),
  draftTokensPerSecond: 120,
  sentAtMs: NOW,
  nonce: 'nonce-123456'
};
const ban = {
  oraclePeerId: '12D3KooWOracle',
  scoutPeerId: '12D3KooWScout',
  reason: 'lied about drafts',
  bannedAtMs: NOW,
  durationHours: 24,
  failedAttempts: 3
};

describe('mesh decode(): every frame schema', async () => {
  const signedHello = await signHello(hello, sign);
  const signedBan = await signBan(ban, sign);
  const cases = [
    {
      name: 'handshake hello',
      schema: SignedHelloSchema,
      max: MAX_HANDSHAKE_BYTES,
      valid: signedHello
    },
    {
      name: 'handshake welcome',
      schema: HandshakeReplySchema,
      max: MAX_HANDSHAKE_BYTES,
      valid: { type: 'welcome', hello: signedHello }
    },
    {
      name: 'handshake refusal',
      schema: HandshakeReplySchema,
      max: MAX_HANDSHAKE_BYTES,
      valid: { type: 'refused', reason: 'tokenizer-mismatch', message: 'no', hello: signedHello }
    },
    {
      name: 'verify open',
      schema: OracleFrameSchema,
      max: MAX_VERIFY_FRAME_BYTES,
      valid: { type: 'open', sessionId: 's1', k: 4, lookahead: 8 }
    },
    {
      name: 'verify context',
      schema: OracleFrameSchema,
      max: MAX_VERIFY_FRAME_BYTES,
      valid: { type: 'context', base: 0, tokens: [1, 2, 3] }
    },
    {
      name: 'verify result',
      schema: OracleFrameSchema,
      max: MAX_VERIFY_FRAME_BYTES,
      valid: { type: 'verify-result', position: 3, drafted: 4, accepted: 2, correction: 7 }
    },
    {
      name: 'draft',
      schema: ScoutFrameSchema,
      max: MAX_VERIFY_FRAME_BYTES,
      valid: { type: 'draft', epoch: 0, position: 3, tokens: [5, 6], tokensPerSecond: 99.5 }
    },
    {
      name: 'oracle announce (gossip)',
      schema: WorkAnnouncementSchema,
      max: MAX_GOSSIP_BYTES,
      valid: {
        type: 'oracle-announce',
        peerId: '12D3KooWOracle',
        multiaddrs: ['/ip4/127.0.0.1/tcp/4001'],
        models: ['target'],
        tokenizerFingerprint: 'f'.repeat(64),
        openSlots: 2,
        sentAtMs: NOW
      }
    },
    {
      name: 'scout heartbeat (gossip)',
      schema: WorkResultSchema,
      max: MAX_GOSSIP_BYTES,
      valid: {
        type: 'scout-heartbeat',
        peerId: '12D3KooWScout',
        draftTokensPerSecond: null,
        sessions: 1,
        drafted: 10,
        accepted: 5,
        sentAtMs: NOW
      }
    },
    {
      name: 'session result (gossip)',
      schema: WorkResultSchema,
      max: MAX_GOSSIP_BYTES,
      valid: {
        type: 'session-result',
        oraclePeerId: 'o',
        scoutPeerId: 's',
        sessionId: 's1',
        drafted: 4,
        accepted: 4,
        sentAtMs: NOW
      }
    },
    {
      name: 'signed ban (gossip)',
      schema: WorkResultSchema,
      max: MAX_GOSSIP_BYTES,
      valid: signedBan
    }
  ];
  it.each(cases)('$name: arbitrary and near-valid bytes', ({ name, schema, max, valid }) => {
    expect(decode(schema, encode(valid, max), max)).toEqual(valid); // round trip
    fc.assert(
      fc.property(bytesFor(valid), (bytes) => {
        count(`decode ${name}`);
        decodeProperty(schema, bytes, max);
      }),
      { seed: SEED, numRuns: RUNS }
    );
  });

  it('oversized frames are refused before parsing', () => {
    const big = enc.encode(
      JSON.stringify({ type: 'context', base: 0, tokens: Array(20_000).fill(1) })
    );
    expect(() => decode(OracleFrameSchema, big, MAX_VERIFY_FRAME_BYTES)).toThrow(MeshProtocolError);
  });
});

/** Runs `fn`; a throw must be a MeshProtocolError with one of `reasons`. */
async function onlyMeshErrors<T>(fn: () => Promise<T>, reasons: string[]): Promise<T | null> {
  try {
    return await fn();
  } catch (err) {
    expect((err as Error).name, String(err)).toBe('MeshProtocolError');
    expect(reasons).toContain((err as MeshProtocolError).reason);
    return null;
  }
}

describe('signed hello and ban', () => {
  it('openHello: valid round-trips; re-signed mutations and forged wire hellos throw only MeshProtocolError', async () => {
    const valid = await signHello(hello, sign);
    expect(await openHello(valid, { expectedPeerId: hello.peerId, verify, nowMs: NOW })).toEqual(
      hello
    );
    const reasons = ['malformed', 'bad-signature', 'peer-id-mismatch', 'stale-hello'];
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          // A correctly signed payload that is not a valid hello (a peer signing garbage).
          fc
            .oneof(
              nearValid(hello).map((m) => JSON.stringify(m.value)),
              anyJson.map((v) => JSON.stringify(v) ?? 'null'),
              fc.string()
            )
            .map(async (payload) => ({
              type: 'hello' as const,
              payload,
              signature: bytesToHex(sign(enc.encode(`shard-handshake-v1\n${payload}`)))
            })),
          // A wire hello with a payload or signature that does not match.
          fc
            .record({
              payload: fc.string({ minLength: 2, maxLength: 300 }),
              signature: fc.stringMatching(/^[0-9a-f]{2,200}$/)
            })
            .map(async (h) => ({ type: 'hello' as const, ...h }))
        ),
        async (pending) => {
          count('openHello');
          const wire = await pending;
          const out = await onlyMeshErrors(
            () => openHello(wire, { expectedPeerId: hello.peerId, verify, nowMs: NOW }),
            reasons
          );
          if (out) expect(HelloPayloadSchema.safeParse(out).success).toBe(true);
        }
      ),
      { seed: SEED, numRuns: RUNS }
    );
  });

  it('openBan: valid round-trips; mutations throw only MeshProtocolError and never pass', async () => {
    const valid = await signBan(ban, sign);
    const verifyFor = () => verify;
    expect(await openBan(valid, verifyFor)).toEqual(ban);
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          nearValid(ban).map((m) => ({ ...valid, payload: JSON.stringify(m.value) })),
          fc.stringMatching(/^[0-9a-f]{2,200}$/).map((signature) => ({ ...valid, signature })),
          anyJson.map((v) => ({ ...valid, payload: JSON.stringify(v) ?? 'null' }))
        ),
        async (wire) => {
          count('openBan');
          const out = await onlyMeshErrors(
            () => openBan(wire, verifyFor),
            ['malformed', 'bad-signature']
          );
          // A ban whose payload or signature changed never verifies.
          expect(out).toBeNull();
        }
      ),
      { seed: SEED, numRuns: RUNS }
    );
  });
});

describe('chat SSE stream decoder', () => {
  const chunk = {
    id: 'chatcmpl-1',
    object: 'chat.completion.chunk',
    created: 1,
    model: 'target',
    choices: [{ index: 0, delta: { content: 'hi' }, finish_reason: null }]
  };

  /** Feeds `text` split at `cuts`; returns the events or the error thrown. */
  function feed(text: string, cuts: number[]) {
    const decoder = createChatStreamDecoder();
    const events = [];
    let at = 0;
    try {
      for (const cut of [...cuts].sort((a, b) => a - b)) {
        events.push(...decoder.push(text.slice(at, cut)));
        at = Math.max(at, cut);
      }
      events.push(...decoder.push(text.slice(at)), ...decoder.end());
      return { events };
    } catch (err) {
      return { error: err as Error };
    }
  }

  it('arbitrary text and near-valid chunks: only ChatStreamDecodeError; every chunk passes its schema', () => {
    const payload = fc.oneof(
      fc.string({ unit: 'binary', maxLength: 200 }),
      anyJson.map((v) => `data: ${JSON.stringify(v)}\n\n`),
      nearValid(chunk).map((m) => `data: ${JSON.stringify(m.value)}\n\n`),
      fc.constantFrom(
        'data: [DONE]\n\n',
        ': ping\n\n',
        'data: {"error":{"message":"x"}}\r\n\r\n',
        'data:\r',
        'event: x\ndata: 1\n\n'
      )
    );
    fc.assert(
      fc.property(
        fc.array(payload, { maxLength: 4 }),
        fc.array(fc.nat(400), { maxLength: 4 }),
        (parts, cuts) => {
          count('chat SSE decoder');
          const result = feed(parts.join(''), cuts);
          if (result.error) {
            expect(result.error.name).toBe('ChatStreamDecodeError');
            return;
          }
          for (const e of result.events) {
            if (e.type === 'chunk')
              expect(ChatCompletionChunkSchema.safeParse(e.chunk).success).toBe(true);
            if (e.type === 'error') expect(typeof e.message).toBe('string');
          }
        }
      ),
      { seed: SEED, numRuns: RUNS }
    );
  });

  it('valid chunks round-trip whatever the network splits', () => {
    fc.assert(
      fc.property(
        fc.array(fc.string({ maxLength: 20 }), { minLength: 1, maxLength: 5 }),
        fc.constantFrom('\n', '\r\n', '\r'),
        fc.array(fc.nat(600), { maxLength: 6 }),
        (texts, eol, cuts) => {
          count('chat SSE round trip');
          const chunks = texts.map((content) => ({
            ...chunk,
            choices: [{ ...chunk.choices[0]!, delta: { content } }]
          }));
          const text =
            chunks.map((c) => `data: ${JSON.stringify(c)}${eol}${eol}`).join('') +
            `data: [DONE]${eol}${eol}`;
          const result = feed(text, cuts);
          expect(result.error).toBeUndefined();
          expect(result.events).toEqual([
            ...chunks.map((c) => ({ type: 'chunk', chunk: c })),
            { type: 'done' }
          ]);
        }
      ),
      { seed: SEED, numRuns: RUNS }
    );
  });
});

describe('privacy envelope', () => {
  const valid = { requires_tee: true, tee_mode: 'sev', scout_floor: 'none', encrypted: false };
  it('parsePrivacy / parsePrivacyHeader never throw; ok results pass the schema and round-trip', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          anyJson,
          nearValid(valid).map((m) => m.value),
          fc.constant(valid)
        ),
        (raw) => {
          count('privacy envelope');
          for (const result of [
            parsePrivacy(raw),
            parsePrivacyHeader(typeof raw === 'string' ? raw : JSON.stringify(raw))
          ]) {
            if (!result.ok) {
              expect(typeof result.detail).toBe('string');
              continue;
            }
            expect(PrivacyEnvelopeSchema.strict().safeParse(result.privacy).success).toBe(true);
            expect(parsePrivacyHeader(encodePrivacyHeader(result.privacy))).toEqual(result);
          }
        }
      ),
      { seed: SEED, numRuns: RUNS }
    );
  });
});

describe('contribution envelopes, contributor header, attestations', () => {
  const key = new Uint8Array(32).fill(42);
  const envelope = signEnvelope(
    'node.heartbeat',
    {
      session_id: 'cs-00000000-0000-4000-8000-000000000000',
      role: 'verifier',
      queue_depth: 1,
      node_latency_ms: 2,
      uptime_seconds: 3
    },
    { secretKey: key, nonce: 'nonce-abcdef', timestampMs: NOW }
  );

  it('a signed envelope round-trips; any mutation fails the schema or the signature; nothing throws', () => {
    expect(ContributionEnvelopeSchema.safeParse(envelope).success).toBe(true);
    expect(verifyEnvelopeSignature(envelope)).toBe(true);
    fc.assert(
      fc.property(
        fc.oneof(
          nearValid(envelope).map((m) => m.value),
          anyJson
        ),
        (raw) => {
          count('contribution envelope');
          const parsed = ContributionEnvelopeSchema.safeParse(raw);
          const isSigned =
            !!raw && typeof raw === 'object' && !Array.isArray(raw)
              ? verifyEnvelopeSignature(raw as Record<string, unknown>)
              : false;
          // Accepted = schema and signature; a mutated envelope never is (canonical twins aside).
          if (parsed.success && isSigned) expect(canonicalize(raw)).toBe(canonicalize(envelope));
        }
      ),
      { seed: SEED, numRuns: RUNS }
    );
  });

  it('contributor header: parse returns null or a well-formed header; verify never throws', () => {
    const header = signContributorHeader({
      method: 'POST',
      path: '/v1/chat/completions',
      secretKey: key
    });
    const parsedValid = parseContributorHeader(header)!;
    expect(
      verifyContributorHeader(parsedValid, { method: 'POST', path: '/v1/chat/completions' })
    ).toBe(true);
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ unit: 'binary', maxLength: 300 }),
          fc
            .tuple(fc.nat(header.length), fc.string({ maxLength: 3 }))
            .map(([i, s]) => header.slice(0, i) + s + header.slice(i + 1))
        ),
        fc.constantFrom('POST', 'GET', ''),
        (value, method) => {
          count('contributor header');
          const parsed = parseContributorHeader(value);
          if (parsed === null) return;
          expect(parsed.identity).toMatch(/^[0-9a-f]{64}$/);
          expect(Number.isSafeInteger(parsed.timestampMs)).toBe(true);
          const isValid = verifyContributorHeader(parsed, { method, path: '/v1/chat/completions' });
          if (isValid) expect(value.trim() === header && method === 'POST').toBe(true);
        }
      ),
      { seed: SEED, numRuns: RUNS }
    );
  });

  it('step attestation: checkStepAttestation never throws and returns null only for the real one', () => {
    const request = { messages: [{ role: 'user', content: 'hi' }] };
    const attestation = signStepAttestation(
      { request, output: 'out', model: 'target' },
      createNobleSigner(key)
    );
    const expected = { signer: attestation.signer_pubkey_hex, request, output: 'out' };
    expect(checkStepAttestation(attestation, expected)).toBeNull();
    const reasons = [
      'missing',
      'malformed',
      'wrong_signer',
      'request_mismatch',
      'output_mismatch',
      'bad_signature'
    ];
    fc.assert(
      fc.property(
        fc.oneof(
          nearValid(attestation).map((m) => m.value),
          anyJson
        ),
        (raw) => {
          count('step attestation');
          const why = checkStepAttestation(raw, expected);
          // The schema is not strict: fields outside it are dropped, never signed or trusted.
          if (why === null)
            expect(canonicalize(StepAttestationSchema.parse(raw))).toBe(canonicalize(attestation));
          else expect(reasons).toContain(why);
        }
      ),
      { seed: SEED, numRuns: RUNS }
    );
  });
});

describe('receipt chain verification input', () => {
  const signer = createNobleSigner(new Uint8Array(32).fill(43));
  const receipts: ExecutionReceipt[] = [];
  let prev: string | null = null;
  for (let i = 0; i < 3; i++) {
    const sealed = sealReceipt(
      {
        receipt_id: `rcpt-${i}`,
        execution_id: 'exec-fuzz',
        step_id: 'planner',
        attempt_id: `exec-fuzz:planner:attempt:${i}`,
        event_kind: 'dispatched',
        timestamp_ms: NOW + i,
        workflow_kind: 'research_brief',
        summary: `receipt ${i} – ü`
      } as Parameters<typeof sealReceipt>[0],
      { seq: i, prevHash: prev, signer }
    );
    receipts.push(sealed.receipt);
    prev = sealed.hash;
  }
  const { signatureBytes: _s, ...head } = signChainHead(
    { execution_id: 'exec-fuzz', seq: 2, hash: prev! },
    signer
  );
  const options = { head, trustedKeys: [signer.publicKeyHex] };

  it('never throws; a changed chain never verifies (canonical twins aside)', () => {
    expect(verifyReceiptChain(receipts, options).ok).toBe(true);
    fc.assert(
      fc.property(
        fc.oneof(
          nearValid(receipts).map((m) => m.value),
          fc.array(anyJson, { maxLength: 4 }),
          nearValid(head).map((m) => ({ chain: receipts, head: m.value }))
        ),
        (input) => {
          count('receipt chain');
          const isHeadCase =
            !!input &&
            typeof input === 'object' &&
            'head' in (input as object) &&
            !Array.isArray(input);
          const chain = isHeadCase ? (input as { chain: unknown[] }).chain : (input as unknown[]);
          const givenHead = isHeadCase ? (input as { head: never }).head : head;
          const result = Array.isArray(chain)
            ? verifyReceiptChain(chain, { ...options, head: givenHead })
            : verifyReceiptChain([chain], options);
          expect(typeof result.ok).toBe('boolean');
          if (!result.ok) expect(result.first_bad?.reason).toBeTypeOf('string');
          if (result.ok && !isHeadCase) {
            let same = false;
            try {
              same = canonicalize(chain) === canonicalize(receipts);
            } catch {
              same = false;
            }
            expect(same, JSON.stringify(chain).slice(0, 300)).toBe(true);
          }
        }
      ),
      { seed: SEED, numRuns: RUNS }
    );
  });
});
