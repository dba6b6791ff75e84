/**
 * The oracle's handshake service over an in-memory stream pair (`streamPair` from
 * @libp2p/utils): the test plays the scout on one end, the service's registered handler serves
 * the other, and the scout registry behind it is real. No sockets, no model.
 */
import '../../src/lib/server/node-compat.js';
import { generateKeyPair } from '@libp2p/crypto/keys';
import {
  TypedEventEmitter,
  type Connection,
  type PeerId,
  type PrivateKey,
  type StreamHandler
} from '@libp2p/interface';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { lpStream, streamPair } from '@libp2p/utils';
import { multiaddr } from '@multiformats/multiaddr';
import { describe, expect, it } from 'vitest';
import { MAX_HANDSHAKES_PER_WINDOW } from '../../native-oracle/mesh/constants.js';
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
  openHello,
  signHello,
  type HandshakeReply
} from '../../src/lib/protocol/mesh.js';

const FINGERPRINT = 'a'.repeat(64);
const engine = { modelId: 'target-test', tokenizerFingerprint: FINGERPRINT };

/** The node as the registry sees it (mock: connections are a list the test controls). */
class FakeNode extends TypedEventEmitter<Record<string, CustomEvent<PeerId>>> {
  connected: PeerId[] = [];
  hungUp: string[] = [];
  getConnections(peer?: PeerId): Connection[] {
    return this.connected
      .filter((p) => !peer || p.equals(peer))
      .map((remotePeer) => ({ remotePeer }) as unknown as Connection);
  }
  async hangUp(peer: PeerId): Promise<void> {
    this.hungUp.push(peer.toString());
    this.connected = this.connected.filter((p) => !p.equals(peer));
  }
}

async function setup() {
  const node = new FakeNode();
  const registry = createScoutRegistry({ node } as unknown as ScoutRegistryComponents);
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
  const oracleId = peerIdFromPrivateKey(oracleKey);
  const handshake = createHandshake(
    { registrar, registry, privateKey: oracleKey, peerId: oracleId },
    { engine }
  );
  await handshake.start();
  const joined: string[] = [];
  handshake.addEventListener('scout:join', (evt) => joined.push(evt.detail.toString()));
  return { node, registry, handshake, handlers, oracleId, joined };
}

async function newScout() {
  const key = await generateKeyPair('Ed25519');
  return { key, peerId: peerIdFromPrivateKey(key) };
}

function helloOf(scout: { key: PrivateKey; peerId: PeerId }, fingerprint = FINGERPRINT) {
  return signHello(
    {
      role: 'scout',
      peerId: scout.peerId.toString(),
      software: { name: 'test-scout', version: '0' },
      protocolVersion: MESH_PROTOCOL_VERSION,
      models: ['draft-test'],
      tokenizerFingerprint: fingerprint,
      draftTokensPerSecond: 50,
      sentAtMs: Date.now(),
      nonce: 'n'.repeat(16)
    },
    (d) => scout.key.sign(d)
  );
}

/**
 * Runs one handshake: the scout writes `frame` on its end, the oracle's handler serves the other
 * end. Resolves with the oracle's reply (null when the stream ended without one).
 */
async function handshakeOnce(
  env: Awaited<ReturnType<typeof setup>>,
  scout: { peerId: PeerId },
  frame: Uint8Array
): Promise<HandshakeReply | null> {
  const handler = env.handlers.get(HANDSHAKE_PROTOCOL);
  if (!handler) throw new Error('no handshake handler registered');
  const [outbound, inbound] = await streamPair();
  const served = handler(inbound, {
    remotePeer: scout.peerId,
    remoteAddr: multiaddr('/ip4/127.0.0.1/tcp/4001')
  } as unknown as Connection);
  const lp = lpStream(outbound, { maxDataLength: MAX_HANDSHAKE_BYTES });
  await lp.write(frame);
  const reply = await lp
    .read({ signal: AbortSignal.timeout(2_000) })
    .then((buf) => decode(HandshakeReplySchema, buf.subarray(), MAX_HANDSHAKE_BYTES))
    .catch(() => null);
  await served;
  return reply;
}

describe('oracle handshake service (in-memory streams)', () => {
  it('registers its handler on start and removes it on stop', async () => {
    const env = await setup();
    expect([...env.handlers.keys()]).toEqual([HANDSHAKE_PROTOCOL]);
    await env.handshake.stop();
    expect(env.handlers.size).toBe(0);
  });

  it('welcomes a scout with the target tokenizer: signed oracle hello, registry record, scout:join', async () => {
    const env = await setup();
    const scout = await newScout();
    env.node.connected.push(scout.peerId);
    const reply = await handshakeOnce(
      env,
      scout,
      encode(await helloOf(scout), MAX_HANDSHAKE_BYTES)
    );
    expect(reply?.type).toBe('welcome');
    const oracle = await openHello(reply!.hello, {
      expectedPeerId: env.oracleId.toString(),
      verify: (d, s) => env.oracleId.publicKey!.verify(d, s)
    });
    expect(oracle).toMatchObject({ role: 'oracle', tokenizerFingerprint: FINGERPRINT });
    expect(env.registry.get(scout.peerId.toString())?.hello.draftTokensPerSecond).toBe(50);
    expect(env.registry.eligible().map((s) => s.peerId.toString())).toEqual([
      scout.peerId.toString()
    ]);
    expect(env.joined).toEqual([scout.peerId.toString()]);
  });

  it('refuses a scout whose tokenizer differs, counts the failure, does not ban it', async () => {
    const env = await setup();
    const scout = await newScout();
    const hello = await helloOf(scout, 'f'.repeat(64));
    const reply = await handshakeOnce(env, scout, encode(hello, MAX_HANDSHAKE_BYTES));
    expect(reply).toMatchObject({ type: 'refused', reason: 'tokenizer-mismatch' });
    expect(env.registry.get(scout.peerId.toString())).toBeUndefined();
    expect(env.registry.failures(scout.peerId.toString())).toBe(1);
    expect(env.registry.isBanned(scout.peerId.toString())).toBe(false);
    expect(env.joined).toEqual([]);
  });

  it('a malformed frame bans the peer and hangs up; its next handshake is refused as banned', async () => {
    const env = await setup();
    const scout = await newScout();
    env.node.connected.push(scout.peerId);
    const garbage = new TextEncoder().encode('{"type":"hello","payload":7}');
    const first = await handshakeOnce(env, scout, garbage);
    // The refusal is written (and the in-memory pair delivers it) before the stream is aborted.
    expect(first).toMatchObject({ type: 'refused', reason: 'malformed' });
    const id = scout.peerId.toString();
    expect(env.registry.isBanned(id)).toBe(true);
    expect(env.registry.failures(id)).toBe(1);
    expect(env.node.hungUp).toEqual([id]);
    // A valid hello does not lift the ban, and the reason says why.
    const again = await handshakeOnce(
      env,
      scout,
      encode(await helloOf(scout), MAX_HANDSHAKE_BYTES)
    );
    expect(again).toMatchObject({ type: 'refused', reason: 'banned' });
    expect(env.registry.get(id)).toBeUndefined();
    expect(env.joined).toEqual([]);
  });

  it('a peer that floods handshakes is banned at the first attempt over the limit', async () => {
    const env = await setup();
    const scout = await newScout();
    const outcomes: string[] = [];
    for (let i = 0; i <= MAX_HANDSHAKES_PER_WINDOW + 1; i++) {
      const reply = await handshakeOnce(
        env,
        scout,
        encode(await helloOf(scout), MAX_HANDSHAKE_BYTES)
      );
      outcomes.push(reply ? (reply.type === 'welcome' ? 'welcome' : reply.reason) : 'none');
    }
    expect(outcomes.slice(0, MAX_HANDSHAKES_PER_WINDOW)).toEqual(
      Array(MAX_HANDSHAKES_PER_WINDOW).fill('welcome')
    );
    expect(outcomes[MAX_HANDSHAKES_PER_WINDOW]).toBe('too-many-streams');
    expect(outcomes[MAX_HANDSHAKES_PER_WINDOW + 1]).toBe('banned');
    expect(env.registry.isBanned(scout.peerId.toString())).toBe(true);
  });
});
