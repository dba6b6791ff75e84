/**
 * The oracle's handshake service judging a scout's tokenizer by its sketch, over an in-memory
 * stream pair: a scout in another file form (its fingerprint differs) with the target's id → text
 * table is welcomed; one token off is refused naming the token; an old scout (no sketch) is
 * still matched by fingerprint. The engine is a small table (no model): what the service needs
 * from it is `vocabularySize` and `detokenize`.
 */
import '../../src/lib/server/node-compat.js';
import { generateKeyPair } from '@libp2p/crypto/keys';
import {
  TypedEventEmitter,
  type Connection,
  type PeerId,
  type StreamHandler
} from '@libp2p/interface';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { lpStream, streamPair } from '@libp2p/utils';
import { multiaddr } from '@multiformats/multiaddr';
import { describe, expect, it } from 'vitest';
import {
  createHandshake,
  type HandshakeComponents
} from '../../native-oracle/mesh/handshake/index.js';
import {
  createScoutRegistry,
  type ScoutRegistryComponents
} from '../../native-oracle/mesh/registry/index.js';
import {
  decode,
  encode,
  HANDSHAKE_PROTOCOL,
  HandshakeReplySchema,
  MAX_HANDSHAKE_BYTES,
  MESH_PROTOCOL_VERSION,
  signHello,
  type HandshakeReply,
  type HelloPayload
} from '../../src/lib/protocol/mesh.js';
import { anchoredText, sketchTokenizer } from '../../src/lib/protocol/tokenizer-sketch.js';

const FINGERPRINT = 'f'.repeat(64);
const WORDS = ['', 'a', ' cat', ' sat', ' on', ' the', ' mat', '.'];
/** Joins words; the first word loses its leading space, as llama.cpp's detokenizer does. */
const detokenize = (ids: readonly number[]) =>
  ids
    .map((id) => WORDS[id])
    .join('')
    .trimStart();
const engine = {
  modelId: 'target-test',
  tokenizerFingerprint: FINGERPRINT,
  vocabularySize: WORDS.length,
  detokenize
};

class FakeNode extends TypedEventEmitter<Record<string, CustomEvent<PeerId>>> {
  getConnections(): Connection[] {
    return [];
  }
  async hangUp(): Promise<void> {}
}

async function setup() {
  const registry = createScoutRegistry({
    node: new FakeNode()
  } as unknown as ScoutRegistryComponents);
  registry.start();
  const handlers = new Map<string, StreamHandler>();
  const registrar = {
    async handle(protocol: string, handler: StreamHandler) {
      handlers.set(protocol, handler);
    },
    async unhandle(protocol: string) {
      handlers.delete(protocol);
    }
  } as unknown as HandshakeComponents['registrar'];
  const oracleKey = await generateKeyPair('Ed25519');
  const handshake = createHandshake(
    { registrar, registry, privateKey: oracleKey, peerId: peerIdFromPrivateKey(oracleKey) },
    { engine }
  );
  await handshake.start();
  return { handlers };
}

/** One handshake as a scout with `fingerprint` and (optionally) a sketch of `words`. */
async function handshakeAs(
  env: Awaited<ReturnType<typeof setup>>,
  fingerprint: string,
  words: readonly string[] | null
): Promise<HandshakeReply> {
  const key = await generateKeyPair('Ed25519');
  const peerId = peerIdFromPrivateKey(key);
  const decodeScout = (ids: readonly number[]) => ids.map((id) => words?.[id]).join('');
  const payload: HelloPayload = {
    role: 'scout',
    peerId: peerId.toString(),
    software: { name: 'test-scout', version: '0' },
    protocolVersion: MESH_PROTOCOL_VERSION,
    models: ['draft-test'],
    tokenizerFingerprint: fingerprint,
    ...(words
      ? {
          tokenizerSketch: sketchTokenizer(
            words.length,
            anchoredText(words.length, decodeScout, (id) => id === 0)
          )
        }
      : {}),
    draftTokensPerSecond: 50,
    sentAtMs: Date.now(),
    nonce: 'n'.repeat(16)
  };
  const hello = await signHello(payload, (d) => key.sign(d));
  const [outbound, inbound] = await streamPair();
  const served = env.handlers.get(HANDSHAKE_PROTOCOL)!(inbound, {
    remotePeer: peerId,
    remoteAddr: multiaddr('/ip4/127.0.0.1/tcp/4001')
  } as unknown as Connection);
  const lp = lpStream(outbound, { maxDataLength: MAX_HANDSHAKE_BYTES });
  await lp.write(encode(hello, MAX_HANDSHAKE_BYTES));
  const reply = decode(HandshakeReplySchema, (await lp.read()).subarray(), MAX_HANDSHAKE_BYTES);
  await served;
  return reply;
}

describe('oracle handshake: tokenizer compatibility by sketch', () => {
  it('welcomes a scout whose tokenizer file differs but maps every id to the same text', async () => {
    const env = await setup();
    // The scout's decoder keeps the leading space; the anchor makes both read ' cat' for id 2.
    const reply = await handshakeAs(env, 'mlc:other-file-form', WORDS);
    expect(reply.type).toBe('welcome');
  });

  it('refuses a scout with one token changed, naming the token and the target text', async () => {
    const env = await setup();
    const words = [...WORDS];
    words[5] = ' a';
    const reply = await handshakeAs(env, 'mlc:other-file-form', words);
    expect(reply).toMatchObject({
      type: 'refused',
      reason: 'tokenizer-mismatch',
      message: expect.stringContaining('token id 5 maps to different text')
    });
    expect(reply.type === 'refused' && reply.message).toContain('" the"');
  });

  it('still matches an old scout (no sketch) by fingerprint, and refuses a different one saying why', async () => {
    const env = await setup();
    expect((await handshakeAs(env, FINGERPRINT, null)).type).toBe('welcome');
    const other = await handshakeAs(env, 'b'.repeat(64), null);
    expect(other).toMatchObject({
      type: 'refused',
      reason: 'tokenizer-mismatch',
      message: expect.stringContaining('sent no tokenizer sketch')
    });
  });
});
