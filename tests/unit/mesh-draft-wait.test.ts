/**
 * The remote draft source's wait rule on fake verify streams and a fake clock (pure: no sockets,
 * no timers decide anything). The source never skips a round on its own: asked, it returns what
 * its scouts drafted. How long it waits for drafts that have not arrived is bounded by the
 * governor's budget (`DraftRequest.budget`), or by UNGOVERNED_MAX_WAIT_MS without one.
 */
import { getEventListeners } from 'node:events';
import { describe, expect, it } from 'vitest';
import type { DraftBudget } from '../../native-oracle/engine/index.js';
import { UNGOVERNED_MAX_WAIT_MS } from '../../native-oracle/mesh/constants.js';
import { createRemoteDraftSource } from '../../native-oracle/mesh/draft-source.js';
import type { ScoutLink } from '../../native-oracle/mesh/scout-link.js';

const K = 4;
const CONTEXT = [1, 2, 3];

/**
 * One scout's verify stream as the source sees it (mock: the wire is tested elsewhere). Tokens
 * continuing the context arrive at scheduled fake times; waiting advances the fake clock to the
 * next arrival or the end of the wait, whichever comes first.
 */
class FakeLink {
  readonly scoutId = 'scout-fake';
  isClosed = false;
  draftMsPerToken: number | null = null;
  chainStartMs: number | null = null;
  /** Whether the scout's chain agrees with the context (false: a new chain is needed). */
  isLive = true;
  held: number[] = [];
  readonly waits: number[] = [];
  syncs = 0;

  constructor(
    private readonly clock: { t: number },
    private readonly arrivals: Array<{ at: number; tokens: number[] }> = []
  ) {}

  lookup(_context: readonly number[], k: number) {
    return { tokens: this.held.slice(0, k), isLive: this.isLive };
  }
  sync() {
    this.syncs++;
  }
  request() {}
  close() {
    this.isClosed = true;
  }
  async waitForChange(ms: number) {
    this.waits.push(ms);
    const next = this.arrivals[0];
    if (next && next.at <= this.clock.t + ms) {
      this.arrivals.shift();
      this.clock.t = Math.max(this.clock.t, next.at);
      this.held.push(...next.tokens);
      this.isLive = true;
    } else this.clock.t += ms;
  }
}

function sourceWith(link: FakeLink, clock: { t: number }, options: { isGoverned?: boolean } = {}) {
  const source = createRemoteDraftSource('scout:fake', {
    k: K,
    lookahead: K,
    openLinks: async () => [link as unknown as ScoutLink],
    onEnd: () => undefined,
    now: () => clock.t,
    ...options
  });
  const generation = new AbortController();
  const draft = (budget?: DraftBudget) =>
    source.draft({ context: CONTEXT, k: K, signal: generation.signal, budget });
  return { source, draft, end: () => generation.abort() };
}

const budget = (waitMs: number, more: Partial<DraftBudget> = {}): DraftBudget => ({
  waitMs,
  acceptance: 0.6,
  targetStepMs: 10,
  ...more
});

describe('remote draft source: drafts whenever asked', () => {
  it('keeps drafting round after round although nothing it drafts is accepted', async () => {
    const clock = { t: 0 };
    const link = new FakeLink(clock);
    link.held = [7, 7, 7, 7];
    const s = sourceWith(link, clock);
    for (let round = 0; round < 40; round++) {
      const proposal = await s.draft(budget(5, { acceptance: 0.05, targetStepMs: 1 }));
      expect(proposal?.tokens, `round ${round}`).toEqual([7, 7, 7, 7]);
      s.source.onVerified?.({ accepted: 0, drafted: K });
      clock.t += 50; // a slow verify pass
    }
    expect(s.source.stats).toMatchObject({
      rounds: 40,
      scoutRounds: 40,
      drafted: 160,
      accepted: 0
    });
    // Every round told the scout the context (and the verify result).
    expect(link.syncs).toBeGreaterThanOrEqual(40);
    s.end();
  });
});

describe('remote draft source: verify streams', () => {
  it('opens them at the first draft call, never for a session the governor keeps plain', async () => {
    const clock = { t: 0 };
    let opened = 0;
    const make = () =>
      createRemoteDraftSource('scout:fake', {
        k: K,
        lookahead: K,
        openLinks: async () => {
          opened++;
          const link = new FakeLink(clock);
          link.held = [5];
          return [link as unknown as ScoutLink];
        },
        onEnd: () => undefined,
        now: () => clock.t
      });
    make().end('generation ended');
    expect(opened).toBe(0);
    const drafting = make();
    const signal = new AbortController().signal;
    await drafting.draft({ context: CONTEXT, k: K, signal, budget: budget(0) });
    await drafting.draft({ context: CONTEXT, k: K, signal, budget: budget(0) });
    expect(opened).toBe(1);
    drafting.end();
  });
});

describe('remote draft source: the wait budget', () => {
  it('a silent scout costs at most the budget', async () => {
    const clock = { t: 0 };
    const link = new FakeLink(clock);
    const s = sourceWith(link, clock);
    expect(await s.draft(budget(50))).toBeNull();
    expect(clock.t).toBe(50);
    expect(s.source.stats.waitedMs).toBe(50);
    s.end();
  });

  it('with a budget of 0 it returns the drafts already there without waiting', async () => {
    const clock = { t: 0 };
    const link = new FakeLink(clock, [{ at: 1, tokens: [9, 9] }]);
    link.held = [5, 6];
    const s = sourceWith(link, clock);
    expect((await s.draft(budget(0)))?.tokens).toEqual([5, 6]);
    expect(link.waits).toEqual([]);
    s.end();
  });

  it('takes drafts that arrive within the budget', async () => {
    const clock = { t: 0 };
    const link = new FakeLink(clock, [
      { at: 5, tokens: [5] },
      { at: 8, tokens: [6] },
      { at: 12, tokens: [7, 8] }
    ]);
    link.draftMsPerToken = 3;
    const s = sourceWith(link, clock);
    expect((await s.draft(budget(40, { acceptance: 0.95 })))?.tokens).toEqual([5, 6, 7, 8]);
    expect(clock.t).toBe(12);
    s.end();
  });

  it('stops waiting for more once the next batch costs more than it is expected to win', async () => {
    const clock = { t: 0 };
    // One token is there; the rest would come at 10 ms per token for a 10 ms target step.
    const poor = new FakeLink(clock, [{ at: 10, tokens: [6] }]);
    poor.held = [5];
    poor.draftMsPerToken = 10;
    const s = sourceWith(poor, clock);
    // Acceptance 0.3: the second token adds 0.09 of a step (0.9 ms) for 10 ms of waiting.
    expect((await s.draft(budget(200, { acceptance: 0.3 })))?.tokens).toEqual([5]);
    expect(poor.waits).toEqual([]);
    s.end();

    const good = new FakeLink(clock, [{ at: clock.t + 1, tokens: [6, 7, 8] }]);
    good.held = [5];
    good.draftMsPerToken = 0.5;
    const g = sourceWith(good, clock);
    // Acceptance 0.95 and 0.5 ms per token: waiting wins.
    expect((await g.draft(budget(200, { acceptance: 0.95 })))?.tokens).toEqual([5, 6, 7, 8]);
    g.end();
  });

  it('does not wait for a fresh chain whose measured start does not fit the budget', async () => {
    const clock = { t: 0 };
    const slow = new FakeLink(clock, [{ at: 60, tokens: [5, 6, 7, 8] }]);
    slow.isLive = false;
    slow.chainStartMs = 80;
    const s = sourceWith(slow, clock);
    expect(await s.draft(budget(50))).toBeNull();
    expect(slow.waits).toEqual([]);
    s.end();

    const fast = new FakeLink(clock, [{ at: clock.t + 20, tokens: [5, 6, 7, 8] }]);
    fast.isLive = false;
    fast.chainStartMs = 20;
    const f = sourceWith(fast, clock);
    expect((await f.draft(budget(50)))?.tokens).toEqual([5, 6, 7, 8]);
    f.end();
  });

  it(`without a budget (speculation forced on) it waits up to ${UNGOVERNED_MAX_WAIT_MS} ms for k drafts`, async () => {
    const clock = { t: 0 };
    const link = new FakeLink(clock);
    const s = sourceWith(link, clock);
    expect(await s.draft(undefined)).toBeNull();
    expect(clock.t).toBe(UNGOVERNED_MAX_WAIT_MS);

    const late = new FakeLink(clock, [
      { at: clock.t + 300, tokens: [5] },
      { at: clock.t + 900, tokens: [6, 7, 8] }
    ]);
    const l = sourceWith(late, clock);
    expect((await l.draft(undefined))?.tokens).toEqual([5, 6, 7, 8]);
    s.end();
    l.end();
  });

  it('isGoverned: false keeps the fixed wait whatever the budget says', async () => {
    const clock = { t: 0 };
    const link = new FakeLink(clock);
    const s = sourceWith(link, clock, { isGoverned: false });
    expect(await s.draft(budget(50))).toBeNull();
    expect(clock.t).toBe(UNGOVERNED_MAX_WAIT_MS);
    s.end();
  });
});

describe('remote draft source: waiting on several scouts', () => {
  /**
   * A link that waits like ScoutLink.waitForChange (a timer plus an abort listener on the signal
   * it is given, both removed when it resolves) and, when `drafts` is set, answers at once.
   */
  class TimedLink {
    isClosed = false;
    draftMsPerToken = null;
    chainStartMs = null;
    held: number[] = [];
    constructor(
      readonly scoutId: string,
      private readonly drafts: number[] | null
    ) {}
    lookup(_context: readonly number[], k: number) {
      return { tokens: this.held.slice(0, k), isLive: true };
    }
    sync() {}
    request() {}
    close() {
      this.isClosed = true;
    }
    waitForChange(ms: number, signal?: AbortSignal) {
      return new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          signal?.removeEventListener('abort', done);
          resolve();
        };
        const timer = setTimeout(done, this.drafts ? 1 : ms);
        signal?.addEventListener('abort', done, { once: true });
        if (this.drafts) this.held = this.drafts;
      });
    }
  }

  it('the scouts that did not answer leave no listeners on the generation signal', async () => {
    const links = [
      new TimedLink('quiet-1', null),
      new TimedLink('quiet-2', null),
      new TimedLink('quiet-3', null),
      new TimedLink('answers', [4, 5, 6, 7])
    ];
    const source = createRemoteDraftSource('scout:four', {
      k: K,
      lookahead: K,
      openLinks: async () => links as unknown as ScoutLink[],
      onEnd: () => undefined,
      isGoverned: false
    });
    const generation = new AbortController();
    const before = getEventListeners(generation.signal, 'abort').length;
    const proposal = await source.draft({ context: CONTEXT, k: K, signal: generation.signal });
    expect(proposal?.tokens).toEqual([4, 5, 6, 7]);
    // Only the source's own "generation ended" listener remains; the quiet links' waits (up to
    // UNGOVERNED_MAX_WAIT_MS) were released when the answering link fired.
    expect(getEventListeners(generation.signal, 'abort').length).toBe(before + 1);
    generation.abort();
  });
});
