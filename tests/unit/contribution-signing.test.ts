/**
 * The contributor signing rules shared by the oracle and the SDKs: envelopes verify only for the
 * exact signed content and key, the type is part of what is signed, and the request header binds
 * method, path, time and nonce.
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { describe, expect, it } from 'vitest';
import { canonicalize } from '../../src/lib/protocol/canonical-json.js';
import {
  ContributionEnvelopeSchema,
  envelopeSignMessage,
  parseContributorHeader,
  signContributorHeader,
  signEnvelope,
  verifyContributorHeader,
  verifyEnvelopeSignature
} from '../../src/lib/protocol/contribution.js';

const keyA = new Uint8Array(32).fill(7);
const keyB = new Uint8Array(32).fill(9);
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- tampering edits arbitrary JSON fields
type Tampered = Record<string, any>;
const SESSION = 'cs-00000000-0000-4000-8000-000000000001';

const heartbeat = () =>
  signEnvelope(
    'node.heartbeat',
    {
      session_id: SESSION,
      role: 'verifier',
      queue_depth: 0,
      node_latency_ms: 24,
      uptime_seconds: 15,
      capability_tier: 'gpu_fast',
      gpu_available: true,
      public_api: true
    },
    { secretKey: keyA, nonce: 'nonce-0001', timestampMs: 1_700_000_000_000 }
  );

describe('contribution envelope signatures', () => {
  it('signs the domain-prefixed canonical JSON of the envelope without its signature', () => {
    const env = heartbeat();
    expect(ContributionEnvelopeSchema.safeParse(env).success).toBe(true);
    const { signature_hex: _s, ...body } = env;
    const expected = new TextEncoder().encode(`shard-contribution/1\n${canonicalize(body)}`);
    expect(bytesToHex(envelopeSignMessage(env))).toBe(bytesToHex(expected));
    expect(
      ed25519.verify(Buffer.from(env.signature_hex, 'hex'), expected, ed25519.getPublicKey(keyA))
    ).toBe(true);
    expect(verifyEnvelopeSignature(env)).toBe(true);
  });

  it('does not depend on key order (canonical JSON), so any client can sign', () => {
    const env = heartbeat();
    const reordered = JSON.parse(
      JSON.stringify({
        signature_hex: env.signature_hex,
        payload: Object.fromEntries(Object.entries(env.payload).reverse()),
        timestamp_ms: env.timestamp_ms,
        nonce: env.nonce,
        signer_pubkey_hex: env.signer_pubkey_hex,
        type: env.type
      })
    );
    expect(verifyEnvelopeSignature(reordered)).toBe(true);
  });

  it.each([
    ['a payload field', (e: Tampered) => (e.payload.queue_depth = 1)],
    ['an added payload field', (e: Tampered) => (e.payload.uptime_extra = 1)],
    ['the nonce', (e: Tampered) => (e.nonce = 'nonce-0002')],
    ['the timestamp', (e: Tampered) => (e.timestamp_ms += 1)],
    ['the type', (e: Tampered) => (e.type = 'node.register')],
    ['the signature', (e: Tampered) => (e.signature_hex = '00' + e.signature_hex.slice(2))]
  ])('fails when %s changes after signing', (_what, tamper) => {
    const env = structuredClone(heartbeat()) as Tampered;
    tamper(env);
    expect(verifyEnvelopeSignature(env)).toBe(false);
  });

  it('fails for another key than the signer named in the envelope', () => {
    const env = heartbeat();
    const byB = { ...env, signer_pubkey_hex: bytesToHex(ed25519.getPublicKey(keyB)) };
    expect(verifyEnvelopeSignature(byB)).toBe(false);
    const signedByB = signEnvelope('node.heartbeat', env.payload, {
      secretKey: keyB,
      nonce: env.nonce,
      timestampMs: env.timestamp_ms
    });
    expect(
      verifyEnvelopeSignature({ ...signedByB, signer_pubkey_hex: env.signer_pubkey_hex })
    ).toBe(false);
  });

  it('never throws on garbage', () => {
    expect(verifyEnvelopeSignature({})).toBe(false);
    expect(verifyEnvelopeSignature({ signature_hex: 'zz', signer_pubkey_hex: 'zz' })).toBe(false);
  });

  it('uses a fresh random nonce per message by default', () => {
    const a = signEnvelope('session.create', {}, { secretKey: keyA });
    const b = signEnvelope('session.create', {}, { secretKey: keyA });
    expect(a.nonce).not.toBe(b.nonce);
    expect(a.nonce).toMatch(/^[0-9a-f]{32}$/);
  });
});

describe('x-shard-contributor header', () => {
  const request = { method: 'POST', path: '/v1/chat/completions' };
  const value = signContributorHeader({
    ...request,
    secretKey: keyA,
    nonce: 'hdr-nonce-1',
    timestampMs: 1_700_000_000_000
  });

  it('has the form <pubkey>.<timestamp>.<nonce>.<signature> and verifies for its request', () => {
    const parsed = parseContributorHeader(value)!;
    expect(parsed).toMatchObject({
      identity: bytesToHex(ed25519.getPublicKey(keyA)),
      timestampMs: 1_700_000_000_000,
      nonce: 'hdr-nonce-1'
    });
    expect(verifyContributorHeader(parsed, request)).toBe(true);
    expect(verifyContributorHeader(parsed, { method: 'post', path: request.path })).toBe(true);
  });

  it('does not verify for another method, path or key', () => {
    const parsed = parseContributorHeader(value)!;
    expect(verifyContributorHeader(parsed, { ...request, method: 'GET' })).toBe(false);
    expect(verifyContributorHeader(parsed, { ...request, path: '/v1/agents/tasks' })).toBe(false);
    const otherKey = { ...parsed, identity: bytesToHex(ed25519.getPublicKey(keyB)) };
    expect(verifyContributorHeader(otherKey, request)).toBe(false);
    const otherTime = { ...parsed, timestampMs: parsed.timestampMs + 1 };
    expect(verifyContributorHeader(otherTime, request)).toBe(false);
  });

  it.each(['', 'a.b.c', `${'0'.repeat(64)}.12.n.${'0'.repeat(128)}`, value + '.x'])(
    'parses %j as malformed',
    (bad) => expect(parseContributorHeader(bad)).toBeNull()
  );
});
