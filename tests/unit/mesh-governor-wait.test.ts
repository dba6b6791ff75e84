/**
 * The remote draft source's wait rules (it owns only how long a round waits; the engine's
 * governor owns on/off): the break-even budget for the first token, taking drafts that are
 * already waiting without waiting, and declining at once when the scout's measured first-token
 * latency exceeds the budget — while still telling the scout the new context.
 */
import { describe, expect, it } from 'vitest';
import {
  createRemoteDraftSource,
  expectedTokensPerRound,
  firstTokenBudgetMs
} from '../../native-oracle/mesh/draft-source.js';
import type { ScoutLink } from '../../native-oracle/mesh/scout-link.js';

describe('first-token budget', () => {
  it.each([
    // a, k, tt, tv → budget
    [0.8, 8, 20, 50, 20], // E·tt − tv = 36.6 > tt: capped at one plain step
    [0.8, 8, 19, 70, 12.3], // a loaded box: verify is costly, ~12 ms of wait still pays
    [0.2, 8, 20, 26, 0], // low acceptance: E·tt = 25 < tv, no wait pays
    [0.6, 4, 30, 39, 30] // cheap verify: capped at tt
  ])('a=%s k=%s tt=%s tv=%s → %s ms', (a, k, tt, tv, expected) => {
    const budget = firstTokenBudgetMs({ a, k, tt, tv });
    const breakEven = expectedTokensPerRound(a, k) * tt - tv;
    expect(budget).toBeCloseTo(expected, 0);
    expect(budget).toBeLessThanOrEqual(tt);
    expect(budget).toBeGreaterThanOrEqual(0);
    // At the budget, a round of k drafts is no slower than a plain step (when any wait pays).
    if (breakEven > 0)
      expect((expectedTokensPerRound(a, k) * tt) / (budget + tv)).toBeGreaterThanOrEqual(1 - 1e-9);
  });
});

/** A scout link whose drafts the test controls (mock: the wait rules, not the transport). */
function fakeLink() {
  const listeners = new Set<() => void>();
  const link = {
    isClosed: false,
    draftMsPerToken: 1 as number | null,
    chain: [] as number[],
    synced: [] as number[][],
    /** Times a round waited on this link. */
    waits: 0,
    sync(context: readonly number[]) {
      link.synced.push([...context]);
    },
    request() {},
    lookup(context: readonly number[], k: number) {
      return { tokens: link.chain.slice(0, k), isLive: true, at: context.length };
    },
    waitForChange(ms: number) {
      link.waits += 1;
      return new Promise<void>((resolve) => {
        const t = setTimeout(done, ms);
        function done() {
          clearTimeout(t);
          listeners.delete(done);
          resolve();
        }
        listeners.add(done);
      });
    },
    /** The scout delivers tokens: wakes waiting rounds. */
    deliver(tokens: number[]) {
      link.chain = tokens;
      for (const l of [...listeners]) l();
    },
    close() {
      link.isClosed = true;
    }
  };
  return link;
}

describe('remote draft source wait rules (mock: fake scout link)', () => {
  const make = (link: ReturnType<typeof fakeLink>) =>
    createRemoteDraftSource('scout:test', {
      openLinks: async () => [link as unknown as ScoutLink],
      onEnd: () => undefined,
      k: 8,
      lookahead: 8,
      initialTargetTokenMs: 20,
      idleEndMs: 60_000
    });

  it('takes drafts already waiting at once, without waiting', async () => {
    const link = fakeLink();
    link.chain = [5, 6, 7, 8, 9, 10, 11, 12];
    const source = make(link);
    const proposal = await source.draft({
      context: [1, 2, 3],
      k: 8,
      signal: new AbortController().signal
    });
    expect(proposal?.tokens).toEqual([5, 6, 7, 8, 9, 10, 11, 12]);
    expect(link.waits).toBe(0);
    source.end();
  });

  it('declines at once when the first token is measured slower than the budget, still sending the context', async () => {
    const link = fakeLink();
    const source = make(link);
    const signal = new AbortController().signal;
    // Round 1 opens the links; round 2 waits for a first token that never comes (timeout:
    // a latency lower bound of 1.5 × the budget is learned).
    const waitsAtStart = link.waits;
    await source.draft({ context: [1, 2, 3], k: 8, signal });
    source.onVerified?.({ drafted: 0, accepted: 0 });
    const r2 = await source.draft({ context: [1, 2, 3, 4], k: 8, signal });
    expect(r2).toBeNull();
    expect(link.waits).toBeGreaterThan(waitsAtStart);
    // Round 3: nothing waiting, the latency is over budget → null at once, context sent.
    const declinedBefore = source.stats.skippedByGovernor;
    const waitsBefore = link.waits;
    const r3 = await source.draft({ context: [1, 2, 3, 4, 5], k: 8, signal });
    expect(r3).toBeNull();
    expect(link.waits).toBe(waitsBefore);
    expect(source.stats.skippedByGovernor).toBe(declinedBefore + 1);
    expect(link.synced.at(-1)).toEqual([1, 2, 3, 4, 5]);
    // Drafts that arrive meanwhile are taken in the next round without a wait.
    link.deliver([6, 7, 8]);
    const r4 = await source.draft({ context: [1, 2, 3, 4, 5], k: 8, signal });
    expect(r4?.tokens).toEqual([6, 7, 8]);
    expect(link.waits).toBe(waitsBefore);
    source.end();
  });
});
