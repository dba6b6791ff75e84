/**
 * One remote draft session over an in-memory verify stream (`streamPair` from @libp2p/utils): the
 * oracle side is the real `ScoutLink` and `createRemoteDraftSource`; the test plays the scout
 * with the shared `ScoutChain` rule and a counting draft rule (mock: protocol logic needs no
 * model), and plays the engine by calling `draft()` / `onVerified()` round by round.
 */
import '../../src/lib/server/node-compat.js';
import { generateKeyPair } from '@libp2p/crypto/keys';
import { TypedEventEmitter, type Connection, type PeerId, type Stream } from '@libp2p/interface';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { lpStream, streamPair } from '@libp2p/utils';
import { describe, expect, it } from 'vitest';
import { createRemoteDraftSource } from '../../native-oracle/mesh/draft-source.js';
import {
  createScoutRegistry,
  type ScoutRegistryComponents
} from '../../native-oracle/mesh/registry/index.js';
import { ScoutLink } from '../../native-oracle/mesh/scout-link.js';
import { ScoutChain } from '../../src/lib/protocol/mesh-chain.js';
import {
  decode,
  encode,
  OracleFrameSchema,
  type DraftFrame,
  type OracleFrame
} from '../../src/lib/protocol/mesh.js';

const K = 4;
const VOCABULARY_SIZE = 100;
const PROMPT = [1, 2, 3];

/** The scout's draft rule: next token = (last + 1) % 50. */
const counting = (context: readonly number[], n: number) => {
  const out: number[] = [];
  let last = context[context.length - 1] ?? 0;
  for (let i = 0; i < n; i++) out.push((last = (last + 1) % 50));
  return out;
};

/** The node as the registry sees it (mock: one connection per peer the test lists). */
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
  }
}

/**
 * The scout end of a verify stream: applies context frames to a `ScoutChain` and, once asked,
 * answers every new view with one draft frame filling the lookahead. `corrupt` may rewrite a
 * frame before it is sent.
 */
function playScout(stream: Stream, corrupt: (frame: DraftFrame, n: number) => DraftFrame) {
  const chain = new ScoutChain();
  const lp = lpStream(stream);
  const received: OracleFrame[] = [];
  let lookahead = 1;
  let isRequested = false;
  let sent = 0;
  const draftAhead = async () => {
    const room = chain.committed.length + lookahead - chain.frontier;
    if (!isRequested || room <= 0) return;
    const frame = chain.extend(counting(chain.view(), Math.min(K, room)));
    if (!frame) return;
    sent += 1;
    await lp.write(encode(corrupt({ type: 'draft', ...frame }, sent)));
  };
  const done = (async () => {
    for (;;) {
      const frame = decode(OracleFrameSchema, (await lp.read()).subarray());
      received.push(frame);
      if (frame.type === 'open') lookahead = frame.lookahead;
      else if (frame.type === 'context') chain.applyContext(frame);
      else if (frame.type === 'draft-request') isRequested = true;
      else if (frame.type === 'close' || frame.type === 'error') return;
      await draftAhead();
    }
  })().catch(() => undefined);
  return { chain, received, done };
}

async function session(corrupt: (frame: DraftFrame, n: number) => DraftFrame = (f) => f) {
  const node = new FakeNode();
  const registry = createScoutRegistry({ node } as unknown as ScoutRegistryComponents);
  const scoutId = peerIdFromPrivateKey(await generateKeyPair('Ed25519'));
  node.connected.push(scoutId);
  const [outbound, inbound] = await streamPair();
  const scout = playScout(inbound, corrupt);
  const link = await ScoutLink.open({
    node: { dialProtocol: async () => outbound } as unknown as Parameters<
      typeof ScoutLink.open
    >[0]['node'],
    peerId: scoutId,
    sessionId: 'test-session',
    k: K,
    lookahead: K,
    vocabularySize: VOCABULARY_SIZE,
    onOffence: (id, err) => registry.punish(id, err)
  });
  // No budget: every round waits (up to UNGOVERNED_MAX_WAIT_MS) for the scout's k drafts.
  const source = createRemoteDraftSource('scout:test', {
    k: K,
    lookahead: K,
    isGoverned: false,
    openLinks: async () => [link],
    onEnd: () => undefined
  });
  const generation = new AbortController();
  const draft = (context: readonly number[]) =>
    source.draft({ context, k: K, signal: generation.signal });
  const end = async () => {
    generation.abort();
    await scout.done;
  };
  return { registry, node, scoutId: scoutId.toString(), link, source, scout, draft, end };
}

describe('remote draft session over an in-memory verify stream', () => {
  it('the scout learns the committed context every round, and its drafts keep being accepted', async () => {
    const s = await session();
    let context = [...PROMPT];
    for (let round = 1; round <= 5; round++) {
      const proposal = await s.draft(context);
      // The drafts continue this round's context: the scout drafted from it.
      expect(proposal?.tokens, `round ${round}`).toEqual(counting(context, K));
      expect(s.scout.chain.committed, `scout view in round ${round}`).toEqual(context);
      // The target accepts two drafts and corrects the third (the scout's chain dies each round).
      const accepted = proposal!.tokens.slice(0, 2);
      s.source.onVerified?.({ accepted: 2, drafted: K });
      context = [...context, ...accepted, (accepted[1] + 7) % 50];
    }
    expect(s.source.stats).toMatchObject({ rounds: 5, scoutRounds: 5, drafted: 20, accepted: 10 });
    // Each later round also reported the previous verify result to the scout.
    expect(s.scout.received.filter((f) => f.type === 'verify-result')).toHaveLength(4);
    await s.end();
  });

  it('a draft token id at or above the vocabulary size is refused, never verified, and bans the scout', async () => {
    // The second frame carries token id VOCABULARY_SIZE in place of its first token.
    const s = await session((frame, n) =>
      n === 2 ? { ...frame, tokens: [VOCABULARY_SIZE, ...frame.tokens.slice(1)] } : frame
    );
    let context = [...PROMPT];
    const first = await s.draft(context);
    expect(first?.tokens).toEqual(counting(context, K));
    s.source.onVerified?.({ accepted: 2, drafted: K });
    context = [...context, ...first!.tokens.slice(0, 2), 40];
    // Round 2: the only draft on offer is the bad one.
    const second = await s.draft(context);
    expect(second).toBeNull();
    expect(s.link.isClosed).toBe(true);
    expect(s.link.closeReason).toBe('protocol error: malformed');
    expect(s.source.stats.scoutRounds).toBe(1);
    expect(s.registry.isBanned(s.scoutId)).toBe(true);
    expect(s.registry.failures(s.scoutId)).toBe(1);
    expect(s.node.hungUp).toEqual([s.scoutId]);
    // The scout is told why before the stream is aborted.
    await s.scout.done;
    expect(s.scout.received.at(-1)).toMatchObject({ type: 'error', reason: 'malformed' });
    await s.end();
  });
});
