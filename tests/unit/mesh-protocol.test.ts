import { generateKeyPair } from '@libp2p/crypto/keys';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ChainMirror, ScoutChain } from '../../src/lib/protocol/mesh-chain.js';
import {
  checkScoutHello,
  contextFrames,
  decode,
  encode,
  HANDSHAKE_PROTOCOL,
  HandshakeReplySchema,
  MAX_CONTEXT_TOKENS_PER_FRAME,
  MAX_VERIFY_FRAME_BYTES,
  MESH_PROTOCOL_VERSION,
  MeshProtocolError,
  openHello,
  ScoutFrameSchema,
  signHello,
  VerifyContextSchema,
  tokenizerFingerprint,
  VERIFY_PROTOCOL,
  type HelloPayload
} from '../../src/lib/protocol/mesh.js';
import { createHash } from 'node:crypto';

const bytes = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));

function reasonOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof MeshProtocolError) return err.reason;
    throw err;
  }
  return 'no error';
}

describe('mesh decode()', () => {
  it.each([
    ['draft', { type: 'draft', epoch: 0, position: 5, tokens: [1, 2, 3] }],
    ['close', { type: 'close', reason: 'done' }],
    ['error', { type: 'error', reason: 'internal', message: 'x' }]
  ])('accepts a valid scout %s frame', (_name, frame) => {
    expect(decode(ScoutFrameSchema, bytes(frame))).toEqual(frame);
  });

  it.each([
    ['unknown type', { type: 'drafts', epoch: 0, position: 0, tokens: [1] }, 'malformed'],
    ['negative token', { type: 'draft', epoch: 0, position: 0, tokens: [-1] }, 'malformed'],
    ['fractional position', { type: 'draft', epoch: 0, position: 1.5, tokens: [1] }, 'malformed'],
    ['empty draft', { type: 'draft', epoch: 0, position: 0, tokens: [] }, 'malformed'],
    [
      'too many tokens',
      { type: 'draft', epoch: 0, position: 0, tokens: Array(65).fill(1) },
      'malformed'
    ],
    ['extra field', { type: 'draft', epoch: 0, position: 0, tokens: [1], evil: true }, 'malformed'],
    ['oracle-only frame', { type: 'context', base: 0, tokens: [] }, 'malformed']
  ])('rejects a scout frame with %s', (_name, frame, reason) => {
    expect(reasonOf(() => decode(ScoutFrameSchema, bytes(frame)))).toBe(reason);
  });

  it('rejects bytes that are not UTF-8 JSON, and oversized frames', () => {
    expect(reasonOf(() => decode(ScoutFrameSchema, new Uint8Array([0xff, 0xfe, 0x00])))).toBe(
      'malformed'
    );
    expect(reasonOf(() => decode(ScoutFrameSchema, new TextEncoder().encode('{"type":')))).toBe(
      'malformed'
    );
    const huge = new Uint8Array(MAX_VERIFY_FRAME_BYTES + 1).fill(0x20);
    expect(reasonOf(() => decode(ScoutFrameSchema, huge))).toBe('oversized');
    expect(reasonOf(() => encode({ pad: 'x'.repeat(MAX_VERIFY_FRAME_BYTES) }))).toBe('oversized');
  });

  it('splits long contexts into frames that each decode', () => {
    const tokens = Array.from(
      { length: MAX_CONTEXT_TOKENS_PER_FRAME * 2 + 7 },
      (_, i) => (i * 7919) % 32000
    );
    const frames = contextFrames(3, tokens);
    expect(frames.map((f) => f.base)).toEqual([
      3,
      3 + MAX_CONTEXT_TOKENS_PER_FRAME,
      3 + 2 * MAX_CONTEXT_TOKENS_PER_FRAME
    ]);
    expect(frames.flatMap((f) => decode(VerifyContextSchema, encode(f)).tokens)).toEqual(tokens);
  });
});

describe('signed hello', () => {
  async function identity() {
    const key = await generateKeyPair('Ed25519');
    return { key, peerId: peerIdFromPrivateKey(key) };
  }
  const payloadFor = (peerId: string, fingerprint: string | null): HelloPayload => ({
    role: 'scout',
    peerId,
    software: { name: 'shard-test', version: '0.1.0' },
    protocolVersion: MESH_PROTOCOL_VERSION,
    models: ['draft-test'],
    tokenizerFingerprint: fingerprint,
    draftTokensPerSecond: 120,
    sentAtMs: Date.now(),
    nonce: 'abcdef0123456789'
  });

  it('opens a hello signed by the connection peer key', async () => {
    const { key, peerId } = await identity();
    const hello = await signHello(payloadFor(peerId.toString(), 'fp-a'), (d) => key.sign(d));
    const opened = await openHello(hello, {
      expectedPeerId: peerId.toString(),
      verify: (d, s) => key.publicKey.verify(d, s)
    });
    expect(opened.tokenizerFingerprint).toBe('fp-a');
  });

  it('refuses a tampered payload, a foreign key, a wrong peer id and a stale hello', async () => {
    const a = await identity();
    const b = await identity();
    const hello = await signHello(payloadFor(a.peerId.toString(), 'fp-a'), (d) => a.key.sign(d));
    const verifyA = (d: Uint8Array, s: Uint8Array) => a.key.publicKey.verify(d, s);
    const tampered = { ...hello, payload: hello.payload.replace('fp-a', 'fp-b') };
    await expect(
      openHello(tampered, { expectedPeerId: a.peerId.toString(), verify: verifyA })
    ).rejects.toMatchObject({ reason: 'bad-signature' });
    await expect(
      openHello(hello, {
        expectedPeerId: a.peerId.toString(),
        verify: (d, s) => b.key.publicKey.verify(d, s)
      })
    ).rejects.toMatchObject({ reason: 'bad-signature' });
    await expect(
      openHello(hello, { expectedPeerId: b.peerId.toString(), verify: verifyA })
    ).rejects.toMatchObject({ reason: 'peer-id-mismatch' });
    await expect(
      openHello(hello, {
        expectedPeerId: a.peerId.toString(),
        verify: verifyA,
        nowMs: Date.now() + 3_600_000
      })
    ).rejects.toMatchObject({ reason: 'stale-hello' });
  });

  it('refuses a scout whose tokenizer differs from the target, with a reason naming both', async () => {
    const refusal = checkScoutHello(payloadFor('p', 'fp-draft'), {
      tokenizerFingerprint: 'fp-target'
    });
    expect(refusal?.reason).toBe('tokenizer-mismatch');
    expect(refusal?.message).toContain('fp-draft');
    expect(refusal?.message).toContain('fp-target');
    expect(
      checkScoutHello(payloadFor('p', 'fp-target'), { tokenizerFingerprint: 'fp-target' })
    ).toBeNull();
    expect(
      checkScoutHello(
        { ...payloadFor('p', 'fp-target'), role: 'consumer' },
        { tokenizerFingerprint: 'fp-target' }
      )?.reason
    ).toBe('role-not-accepted');
    expect(
      checkScoutHello(
        { ...payloadFor('p', 'fp-target'), protocolVersion: '2.0.0' },
        { tokenizerFingerprint: 'fp-target' }
      )?.reason
    ).toBe('protocol-version');
  });

  it('handshake replies decode', async () => {
    const { key, peerId } = await identity();
    const hello = await signHello({ ...payloadFor(peerId.toString(), 'fp'), role: 'oracle' }, (d) =>
      key.sign(d)
    );
    const reply = { type: 'refused', reason: 'tokenizer-mismatch', message: 'no', hello };
    expect(decode(HandshakeReplySchema, encode(reply))).toEqual(reply);
  });
});

describe('tokenizer fingerprint', () => {
  it('equals the target engine fingerprint for the same vocabulary, and changes with any token or type', () => {
    const tokens = ['<unk>', '<s>', '</s>', '▁the', 'é', '\u0000x', '"quoted"'];
    const types = [2, 3, 3, 1, 1, 6, 1];
    // An independent implementation (node:crypto) of the documented rule must agree.
    const expected = createHash('sha256').update(JSON.stringify({ tokens, types })).digest('hex');
    expect(tokenizerFingerprint(tokens, Int32Array.from(types))).toBe(expected);
    expect(tokenizerFingerprint(tokens, types)).toMatch(/^[0-9a-f]{64}$/);
    expect(tokenizerFingerprint([...tokens.slice(0, 6), 'x'], types)).not.toBe(
      tokenizerFingerprint(tokens, types)
    );
    expect(tokenizerFingerprint(tokens, [...types.slice(0, 6), 2])).not.toBe(
      tokenizerFingerprint(tokens, types)
    );
  });
});

describe('draft chains', () => {
  it('a scout chain survives a context that runs along it and restarts on a correction', () => {
    const scout = new ScoutChain();
    scout.applyContext({ base: 0, tokens: [1, 2, 3] });
    expect(scout.epoch).toBe(1);
    expect(scout.extend([4, 5, 6])).toEqual({ epoch: 1, position: 3, tokens: [4, 5, 6] });
    expect(scout.applyContext({ base: 3, tokens: [4, 5] })).toBe(true);
    expect(scout.chain).toEqual([6]);
    expect(scout.applyContext({ base: 5, tokens: [9] })).toBe(false);
    expect(scout.epoch).toBe(2);
    expect(scout.frontier).toBe(6);
    expect(reasonOf(() => scout.applyContext({ base: 7, tokens: [] }))).toBe('out-of-order');
  });

  it('the mirror rejects out-of-order, stale-position and over-lookahead drafts', () => {
    const mirror = new ChainMirror(8);
    mirror.noteCommittedEnd(3);
    mirror.accept({ epoch: 1, position: 3, tokens: [4, 5] });
    expect(reasonOf(() => mirror.accept({ epoch: 1, position: 6, tokens: [7] }))).toBe(
      'out-of-order'
    );
    expect(reasonOf(() => mirror.accept({ epoch: 0, position: 5, tokens: [7] }))).toBe(
      'out-of-order'
    );
    expect(reasonOf(() => mirror.accept({ epoch: 2, position: 4, tokens: [7] }))).toBe(
      'stale-position'
    );
    expect(reasonOf(() => mirror.accept({ epoch: 1, position: 5, tokens: Array(7).fill(1) }))).toBe(
      'exceeds-lookahead'
    );
    expect(mirror.lookup([1, 2, 3], 4)).toEqual({ tokens: [4, 5], isLive: true });
    expect(mirror.lookup([1, 2, 3, 4], 4)).toEqual({ tokens: [5], isLive: true });
    expect(mirror.lookup([1, 2, 3, 4, 9], 4)).toEqual({ tokens: [], isLive: false });
  });

  it('for any schedule of drafts and commits, the oracle only gets drafts that continue its context (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 5 }), { minLength: 5, maxLength: 12 }),
        fc.array(
          fc.tuple(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 0, max: 6 }), fc.boolean()),
          { maxLength: 40 }
        ),
        (prompt, steps) => {
          const lookahead = 12;
          const scout = new ScoutChain();
          const mirror = new ChainMirror(lookahead);
          const committed = [...prompt];
          let scoutKnows = 0;
          const sync = () => {
            scout.applyContext({ base: scoutKnows, tokens: committed.slice(scoutKnows) });
            scoutKnows = committed.length;
            mirror.noteCommittedEnd(committed.length);
          };
          sync();
          for (const [draftCount, commitCount, isCorrection] of steps) {
            // Scout drafts a deterministic continuation within its lookahead.
            const room = committed.length + lookahead - scout.frontier;
            const n = Math.min(draftCount, room);
            if (n > 0) {
              const frame = scout.extend(
                Array.from({ length: n }, (_, i) => (scout.frontier + i) % 4)
              );
              if (frame) mirror.accept(frame);
            }
            // Oracle looks up drafts; they must equal the scout's chain tokens at those positions.
            const { tokens } = mirror.lookup(committed, 8);
            const view = scout.view();
            tokens.forEach((t, i) => expect(t).toBe(view[committed.length + i]));
            // Oracle commits: a prefix of the drafts, then its own token (a correction or a bonus).
            const accepted = tokens.slice(0, Math.min(commitCount, tokens.length));
            committed.push(...accepted, isCorrection ? 5 : committed.length % 4);
            sync();
          }
        }
      ),
      { seed: 42, numRuns: 300 }
    );
  });
});

describe('mesh protocol ids', () => {
  it.each([HANDSHAKE_PROTOCOL, VERIFY_PROTOCOL])(
    '%s follows /shard/<name>/<version> with the mesh protocol version',
    (id) => {
      expect(id).toMatch(/^\/shard\/[a-z][a-z-]*\/\d+\.\d+\.\d+$/);
      expect(id.endsWith(`/${MESH_PROTOCOL_VERSION}`)).toBe(true);
    }
  );
});
