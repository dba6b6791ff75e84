/**
 * Frames that cross on a verify stream (issue 9, the "stale-position" race of `bench:mesh`): the
 * oracle side is the real `ScoutLink` over an in-memory stream (`streamPair`); the test plays an
 * honest scout with the shared `ScoutChain` rule and decides, deterministically, which oracle
 * frames it has read when it sends each draft — the reordering a slow relayed link causes.
 *
 * Before the fix, an honest draft that answered the oracle's own `draft-request` (sent before any
 * context, as the bench does) or a chain start the oracle had moved far past closed the link as
 * `protocol error: stale-position` and reported the scout. Now such frames are dropped and
 * counted; a chain that starts past the committed end the scout was told is still an offence.
 */
import '../../src/lib/server/node-compat.js';
import { generateKeyPair } from '@libp2p/crypto/keys';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { lpStream, streamPair } from '@libp2p/utils';
import { describe, expect, it } from 'vitest';
import { ScoutLink } from '../../native-oracle/mesh/scout-link.js';
import { ScoutChain } from '../../src/lib/protocol/mesh-chain.js';
import {
  decode,
  encode,
  OracleFrameSchema,
  type MeshProtocolError,
  type OracleFrame
} from '../../src/lib/protocol/mesh.js';

const K = 4;
const LOOKAHEAD = 8;
const VOCABULARY_SIZE = 100;

/** The scout's draft rule: next token = (last + 1) % 50. */
const counting = (context: readonly number[], n: number) => {
  const out: number[] = [];
  let last = context[context.length - 1] ?? 0;
  for (let i = 0; i < n; i++) out.push((last = (last + 1) % 50));
  return out;
};

/** A link to a scripted scout: `readOne()` applies the next oracle frame, `draft(n)` sends. */
async function scriptedSession() {
  const [outbound, inbound] = await streamPair();
  const lp = lpStream(inbound);
  const chain = new ScoutChain();
  const offences: MeshProtocolError[] = [];
  const scoutId = peerIdFromPrivateKey(await generateKeyPair('Ed25519'));
  const link = await ScoutLink.open({
    node: { dialProtocol: async () => outbound } as unknown as Parameters<
      typeof ScoutLink.open
    >[0]['node'],
    peerId: scoutId,
    sessionId: 'stale-test',
    k: K,
    lookahead: LOOKAHEAD,
    vocabularySize: VOCABULARY_SIZE,
    onOffence: (_id, err) => offences.push(err)
  });
  const readOne = async (): Promise<OracleFrame> => {
    const frame = decode(OracleFrameSchema, (await lp.read()).subarray());
    if (frame.type === 'context') chain.applyContext(frame);
    return frame;
  };
  /** Reads oracle frames until one of `type` was applied. */
  const readUntil = async (type: OracleFrame['type']) => {
    for (;;) if ((await readOne()).type === type) return;
  };
  /** Drafts `n` tokens along the scout's current view and sends them as one frame. */
  const draft = async (n: number) => {
    const frame = chain.extend(counting(chain.view(), n));
    await lp.write(encode({ type: 'draft', ...frame! }));
  };
  /** Waits until the link has handled everything sent so far (a draft, a close). */
  const settle = async (predicate: () => boolean) => {
    while (!predicate() && !link.isClosed) await link.waitForChange(50);
  };
  return { link, chain, offences, readOne, readUntil, draft, settle };
}

describe('verify stream: frames that cross a context update', () => {
  it('a draft answering a request made before any context, arriving after the context, keeps the link (the bench:mesh RTT race)', async () => {
    const s = await scriptedSession();
    await s.readUntil('open');
    // The bench's order: request first (position 0, nothing told), then the context.
    s.link.request(K, LOOKAHEAD);
    const context = [1, 2, 3, 200];
    s.link.sync(context);
    // The scout read the request only and drafted from its empty view; the oracle already moved.
    await s.readUntil('draft-request');
    await s.draft(1);
    await s.draft(1);
    await s.settle(() => s.link.tokensReceived >= 2);
    expect(s.link.closeReason).toBeNull();
    expect(s.offences).toEqual([]);
    // Then it reads the context (its chain dies) and answers for the new end.
    await s.readUntil('context');
    await s.draft(K);
    await s.settle(() => s.link.lookup(context, K).tokens.length > 0);
    expect(s.link.lookup(context, K).tokens).toEqual(counting(context, K));
    expect(s.link.isClosed).toBe(false);
    s.link.close('done');
  });

  it('a chain from a committed end the oracle has long moved past is dropped and counted, with the rest of that chain', async () => {
    const s = await scriptedSession();
    await s.readUntil('open');
    const context = [1, 2, 3];
    s.link.sync(context);
    s.link.request(K, LOOKAHEAD);
    await s.readUntil('draft-request');
    // 80 context updates (each rejects the chain) pass the scout's first frames on the wire:
    // more than the mirror remembers as chain starts, so position 3 is not one any more.
    for (let i = 0; i < 80; i++) {
      context.push(60 + (i % 30));
      s.link.sync(context);
    }
    await s.draft(1);
    await s.draft(1);
    await s.draft(2);
    await s.settle(() => s.link.staleFramesDropped >= 3);
    expect(s.link.staleFramesDropped).toBe(3);
    expect(s.link.closeReason).toBeNull();
    expect(s.offences).toEqual([]);
    // The scout catches up and drafts for the newest context: accepted as usual.
    for (let i = 0; i < 80; i++) await s.readUntil('context');
    expect(s.chain.committed).toEqual(context);
    await s.draft(K);
    await s.settle(() => s.link.lookup(context, K).tokens.length > 0);
    expect(s.link.lookup(context, K).tokens).toEqual(counting(context, K));
    expect(s.link.staleFramesDropped).toBe(3);
    s.link.close('done');
  });

  it('a new chain past the committed end the scout was told is still an offence', async () => {
    const s = await scriptedSession();
    await s.readUntil('open');
    const context = [1, 2, 3];
    s.link.sync(context);
    s.link.request(K, LOOKAHEAD);
    await s.readUntil('draft-request');
    // A chain from position 5, which no context ever ended at (within the lookahead).
    s.chain.committed = [1, 2, 3, 7, 8];
    s.chain.epoch = 1;
    await s.draft(1);
    await s.settle(() => false);
    expect(s.link.closeReason).toBe('protocol error: stale-position');
    expect(s.offences.map((e) => e.reason)).toEqual(['stale-position']);
    expect(s.link.staleFramesDropped).toBe(0);
  });
});
