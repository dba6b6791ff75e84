/**
 * The remote draft source with several scouts (native-oracle/mesh/draft-source.ts): a round
 * proposes the longest chain as the main draft and up to MAX_ALTERNATIVES diverging chains of
 * other scouts as alternatives, and the verified work is credited to the scout whose path the
 * engine committed. Scout links are in-memory fakes holding a fixed chain (mock: the stream
 * protocol has its own tests in mesh-draft-session.test.ts).
 */
import { describe, expect, it } from 'vitest';
import { MAX_ALTERNATIVES } from '../../native-oracle/engine/draft-validation.js';
import type { ScoutSessionWork } from '../../native-oracle/mesh/credits.js';
import { createRemoteDraftSource } from '../../native-oracle/mesh/draft-source.js';
import type { ScoutLink } from '../../native-oracle/mesh/scout-link.js';

const K = 4;
const CONTEXT = [1, 2, 3];

/** A link whose scout drafted `chain` after CONTEXT. */
function fakeLink(scoutId: string, chain: number[]): ScoutLink {
  return {
    scoutId,
    isClosed: false,
    chainStartMs: null,
    draftMsPerToken: null,
    lookup: (_context: readonly number[], k: number) => ({
      tokens: chain.slice(0, k),
      isLive: true
    }),
    sync() {},
    request() {},
    close() {},
    waitForChange: async () => undefined
  } as unknown as ScoutLink;
}

/** A source over links with the given chains; `ended` receives the credited work. */
function sourceOver(chains: Record<string, number[]>) {
  const ended: { work: ReadonlyMap<string, ScoutSessionWork> | null } = { work: null };
  const source = createRemoteDraftSource('scouts', {
    openLinks: async () => Object.entries(chains).map(([id, chain]) => fakeLink(id, chain)),
    onEnd: (_links, _stats, work) => (ended.work = work),
    k: K,
    lookahead: K
  });
  return { source, ended };
}

const request = () => ({ context: CONTEXT, k: K, signal: new AbortController().signal });

describe('remote draft source: several scouts', () => {
  it('the longest chain is the main draft; diverging chains of other scouts are alternatives', async () => {
    const { source } = sourceOver({
      a: [4, 5, 9],
      b: [4, 5, 6, 7],
      c: [4, 5], // a prefix of the main draft: nothing new to verify
      e: [4, 5, 9] // the same chain as a: verified once
    });
    const proposal = await source.draft(request());
    expect(proposal).toEqual({ tokens: [4, 5, 6, 7], alternatives: [[4, 5, 9]] });
    source.end();
  });

  it('at most MAX_ALTERNATIVES alternatives, and none when every scout agrees', async () => {
    const many = sourceOver({ a: [1, 1, 1, 1], b: [2], c: [3], d: [4], e: [5] });
    const proposal = await many.source.draft(request());
    expect(proposal?.alternatives).toHaveLength(MAX_ALTERNATIVES);
    many.source.end();
    const agreeing = sourceOver({ a: [4, 5, 6, 7], b: [4, 5, 6] });
    expect(await agreeing.source.draft(request())).toEqual({ tokens: [4, 5, 6, 7] });
    agreeing.source.end();
  });

  it('credits the scout whose path the engine committed', async () => {
    const { source, ended } = sourceOver({ main: [4, 5, 6, 7], other: [4, 8, 8, 8] });
    await source.draft(request());
    source.onVerified?.({ accepted: 3, drafted: 4, branch: 1 });
    await source.draft(request());
    source.onVerified?.({ accepted: 2, drafted: 4 });
    source.end();
    expect(ended.work?.get('other')?.accepted).toBe(3);
    expect(ended.work?.get('main')?.accepted).toBe(2);
  });
});
