/**
 * Remote scouts as a `DraftSource`: one generation session leases one or more scouts, each over
 * its own verify stream, and every verify round takes the longest draft that continues the
 * committed context from any of them, plus up to MAX_ALTERNATIVES drafts from other scouts that
 * diverge from it: the engine verifies those beside it in the same batched pass (greedy rounds)
 * and commits the path it accepts furthest; the scout whose path won is credited.
 *
 * Pipelining: scouts keep drafting along their chain while the oracle verifies, up to
 * `lookahead` tokens past the committed context, and a round takes the drafts already waiting
 * at once, without a round trip. With the mesh default (lookahead = draft length) that overlap
 * covers what a round did not take; a longer lookahead lets a fully accepted round find the
 * next drafts waiting. A chain that a verify result kills is abandoned by the scout at once
 * (workers/scout/core.ts) and simply no longer matches here.
 *
 * Whether a round drafts, and how many tokens, is the engine's speculation governor's decision
 * alone (../engine/governor.ts): asked, this source always drafts. What it decides is how long to
 * wait for drafts that have not arrived, within the governor's budget (`DraftRequest.budget`):
 * it takes what is there, waits for a fresh chain only when the link's measured chain start
 * (round trip plus one draft step) fits the budget, and stops waiting for more tokens once the
 * next batch is predicted to cost more than it wins. The committed output never depends on any
 * of this: the engine verifies every draft.
 */
import { expectedTokensPerRound } from '../engine/acceptance.js';
import { MAX_ALTERNATIVES } from '../engine/draft-validation.js';
import type { DraftBudget, DraftProposal, DraftRequest, DraftSource } from '../engine/index.js';
import { createLogger } from '../../src/lib/server/log.js';
import { DRAFT_SESSION_IDLE_MS, UNGOVERNED_MAX_WAIT_MS } from './constants.js';
import type { ScoutSessionWork } from './credits.js';
import type { ScoutLink } from './scout-link.js';

const log = createLogger('shard:oracle:mesh:draft');

export interface RemoteDraftSourceOptions {
  /**
   * Opens the verify streams of the leased scouts; resolves with those that opened. Called once,
   * at the first draft call (never, when the governor keeps drafting off).
   */
  openLinks(signal: AbortSignal): Promise<ScoutLink[]>;
  /**
   * Called once when the session ends (idle or closed): release the leases. `work` holds, per
   * scout peer id, the draft tokens the target accepted from its chain (credited as verified work).
   */
  onEnd(
    links: ScoutLink[],
    stats: RemoteDraftStats,
    work: ReadonlyMap<string, ScoutSessionWork>
  ): void;
  /** Draft tokens per round the oracle asks for; the engine's `k` caps it. */
  k: number;
  lookahead: number;
  /**
   * Default true: waits follow the governor's budget. False: every round waits up to
   * `UNGOVERNED_MAX_WAIT_MS` for k drafts whatever the budget says (benchmarks' "governor off",
   * with `speculation: 'on'`). Never makes the source skip a round either way.
   */
  isGoverned?: boolean;
  /** Used when no scout is usable this round; default none (plain decoding). */
  fallback?: DraftSource | null;
  /** Session ends after this long without a round; default `DRAFT_SESSION_IDLE_MS` (3000). */
  idleEndMs?: number;
  /** Clock in ms; default `performance.now` (unit tests pass a fake one). */
  now?: () => number;
}

export interface RemoteDraftStats {
  rounds: number;
  scoutRounds: number;
  drafted: number;
  accepted: number;
  waitedMs: number;
}

/** A DraftSource that also ends its session explicitly (the engine may never call it). */
export interface RemoteDraftSource extends DraftSource {
  readonly stats: RemoteDraftStats;
  /** Closes the scout links and releases their leases; idempotent. */
  end(reason?: string): void;
}

/** Builds the remote-scout draft source for one generation session. */
export function createRemoteDraftSource(
  name: string,
  options: RemoteDraftSourceOptions
): RemoteDraftSource {
  const isGoverned = options.isGoverned ?? true;
  const idleEndMs = options.idleEndMs ?? DRAFT_SESSION_IDLE_MS;
  const now = options.now ?? (() => performance.now());
  const stats: RemoteDraftStats = {
    rounds: 0,
    scoutRounds: 0,
    drafted: 0,
    accepted: 0,
    waitedMs: 0
  };
  const controller = new AbortController();

  let links: ScoutLink[] | null = null;
  let isEnded = false;
  let idleTimer: ReturnType<typeof setTimeout> | null = null;
  let lastPosition = 0;
  let lastFromFallback = false;
  let pendingResult: { position: number; drafted: number; accepted: number } | null = null;
  let watchedSignal: AbortSignal | null = null;
  // Whose chains the last round's main draft and alternatives came from, and accepted tokens
  // per scout (credits).
  let lastScoutId: string | null = null;
  let lastAlternativeScoutIds: string[] = [];
  const work = new Map<string, ScoutSessionWork>();

  const end = (reason = 'session ended') => {
    if (isEnded) return;
    isEnded = true;
    if (idleTimer) clearTimeout(idleTimer);
    controller.abort();
    if (links) for (const link of links) link.close(reason);
    else void opening?.then((opened) => opened.forEach((link) => link.close(reason)));
    log.debug('remote draft session ended', { name, reason, ...stats });
    options.onEnd(links ?? [], stats, work);
  };

  const armIdle = () => {
    if (idleTimer) clearTimeout(idleTimer);
    idleTimer = setTimeout(() => end('idle'), idleEndMs);
    idleTimer.unref?.();
  };

  const live = () => (links ?? []).filter((l) => !l.isClosed);

  /**
   * The longest chain continuing `context` (the main draft) and up to MAX_ALTERNATIVES chains
   * of other scouts that diverge from it (longest first; a chain that is a prefix of the main
   * draft or of a kept alternative adds nothing to verify).
   */
  const best = (context: readonly number[], k: number) => {
    let isLive = false;
    const chains: Array<{ tokens: number[]; scoutId: string }> = [];
    for (const link of live()) {
      const found = link.lookup(context, k);
      isLive ||= found.isLive;
      if (found.tokens.length > 0) chains.push({ tokens: found.tokens, scoutId: link.scoutId });
    }
    // Stable: among equally long chains the first live link's stays first, as before.
    chains.sort((a, b) => b.tokens.length - a.tokens.length);
    const [main, ...others] = chains;
    const alternatives: typeof chains = [];
    for (const chain of others) {
      if (alternatives.length >= MAX_ALTERNATIVES) break;
      if ([main, ...alternatives].some((kept) => isPrefix(chain.tokens, kept.tokens))) continue;
      alternatives.push(chain);
    }
    return {
      tokens: main?.tokens ?? [],
      isLive,
      scoutId: main?.scoutId ?? null,
      alternatives: alternatives.map((c) => c.tokens),
      alternativeScoutIds: alternatives.map((c) => c.scoutId)
    };
  };

  /**
   * Step 4 of a round: waits for more drafts while the wait rule allows and returns the best
   * found. Governed (a budget given): never past `budget.waitMs`; no wait for a fresh chain
   * whose measured start (round trip + one draft step) does not fit the budget; and, once
   * tokens are there, the marginal rule below. Ungoverned or forced on: up to
   * `UNGOVERNED_MAX_WAIT_MS` for k drafts.
   */
  const collect = async (
    context: readonly number[],
    k: number,
    budget: DraftBudget | undefined,
    signal: AbortSignal
  ) => {
    const started = now();
    let found = best(context, k);
    const deadline = started + (budget ? budget.waitMs : UNGOVERNED_MAX_WAIT_MS);
    while (found.tokens.length < k && !signal.aborted && live().length > 0) {
      const n = found.tokens.length;
      let until = deadline;
      if (budget && n === 0 && !found.isLive) {
        // A new chain is needed: its first token needs a round trip and a draft step.
        const starts = live()
          .map((l) => l.chainStartMs)
          .filter((x): x is number => x !== null);
        if (starts.length > 0 && Math.min(...starts) > deadline - now()) break;
      }
      if (budget && n > 0 && budget.targetStepMs !== null) {
        const tt = budget.targetStepMs;
        const a = budget.acceptance;
        const paces = live()
          .map((l) => l.draftMsPerToken)
          .filter((x): x is number => x !== null);
        const td = paces.length > 0 ? Math.min(...paces) : tt / 4;
        // Marginal rule: the next batch (m = n tokens, batches double) adds
        // E(n + m) − E(n) = a^(n+1)·(1 − a^m)/(1 − a) expected committed tokens, each worth a
        // plain step tt, and costs about m·td of waiting. Stop when it costs more than it wins.
        const m = Math.min(n, k - n);
        const gain =
          (expectedTokensPerRound(Math.min(a, 0.999), n + m) -
            expectedTokensPerRound(Math.min(a, 0.999), n)) *
          tt;
        if (gain <= m * td) break;
        until = Math.min(deadline, now() + 1.5 * m * td + 1);
      }
      const remaining = until - now();
      if (remaining <= 0) break;
      await waitForAnyLink(live(), remaining, signal);
      const next = best(context, k);
      if (next.tokens.length === n && now() >= until) break;
      found = next;
    }
    const waited = now() - started;
    stats.waitedMs += waited;
    return found;
  };

  const fallbackDraft = async (req: DraftRequest): Promise<DraftProposal | null> => {
    // Without a fallback the round is a plain decode step.
    lastFromFallback = options.fallback != null;
    if (!options.fallback) return null;
    return options.fallback.draft(req);
  };

  // The verify streams open at the first draft call, not at creation: a generation whose
  // governor keeps drafting off never pays a stream set-up (measured: with eager opening, 96
  // plainly decoded tokens of the 0.8 ms test target took about twice as long as no source).
  let opening: Promise<ScoutLink[]> | null = null;
  const openOnce = () =>
    (opening ??= options.openLinks(controller.signal).catch((err: unknown) => {
      log.warn('opening scout links failed', { name, error: err });
      return [] as ScoutLink[];
    }));

  // A session the engine never asks for drafts (plain decoding throughout) still ends.
  armIdle();

  const source: RemoteDraftSource = {
    name,
    stats,
    end,
    async draft(req) {
      if (isEnded) return options.fallback ? options.fallback.draft(req) : null;
      armIdle();
      const { context, signal } = req;
      // Engines pass one signal per generation and abort it when the generation ends: that is
      // the moment to release the scouts (the idle timer is the fallback for other callers).
      if (signal !== watchedSignal) {
        watchedSignal = signal;
        signal.addEventListener('abort', () => end('generation ended'), { once: true });
      }
      const k = Math.max(1, Math.min(req.k, options.k));
      stats.rounds += 1;
      lastPosition = context.length;
      lastFromFallback = false;
      // 1. The first draft call opens the scout links.
      if (links === null) {
        links = await openOnce();
        // Context first, then the request: a request before any context would have the scout
        // draft from an empty chain, which the oracle must refuse as a stale position.
        for (const link of links) {
          link.sync(context);
          link.request(options.k, options.lookahead);
        }
      }
      const open = live();
      if (open.length === 0) return fallbackDraft(req);
      // 2. Every live scout learns the committed context (and the last verify result).
      for (const link of open) link.sync(context, pendingResult ?? undefined);
      pendingResult = null;
      // 3. Take drafts already waiting; wait for more as the budget allows.
      const found = await collect(context, k, isGoverned ? req.budget : undefined, signal);
      if (found.tokens.length === 0) return fallbackDraft(req);
      lastScoutId = found.scoutId;
      lastAlternativeScoutIds = found.alternativeScoutIds;
      stats.scoutRounds += 1;
      return found.alternatives.length > 0
        ? { tokens: found.tokens, alternatives: found.alternatives }
        : { tokens: found.tokens };
    },
    onVerified(result) {
      if (lastFromFallback) {
        options.fallback?.onVerified?.(result);
        return;
      }
      if (result.drafted === 0) return;
      stats.drafted += result.drafted;
      stats.accepted += result.accepted;
      // The committed path's scout: the main draft's, or the winning alternative's.
      const scoutId = result.branch
        ? (lastAlternativeScoutIds[result.branch - 1] ?? null)
        : lastScoutId;
      if (scoutId !== null && result.accepted > 0) {
        const w = work.get(scoutId);
        if (w) {
          w.accepted += result.accepted;
          w.lastRound = stats.rounds;
        } else
          work.set(scoutId, {
            accepted: result.accepted,
            firstRound: stats.rounds,
            lastRound: stats.rounds
          });
      }
      pendingResult = {
        position: lastPosition,
        drafted: result.drafted,
        accepted: result.accepted
      };
    }
  };
  return source;
}

/**
 * Resolves when any link changes, `ms` pass or `signal` aborts. The links that did not fire are
 * released at once (their timers and abort listeners removed) instead of lingering until their
 * own timeouts: with several scouts, lingering waits piled listeners onto the generation's signal.
 */
async function waitForAnyLink(
  links: readonly ScoutLink[],
  ms: number,
  signal: AbortSignal
): Promise<void> {
  const race = new AbortController();
  const stop = () => race.abort();
  signal.addEventListener('abort', stop, { once: true });
  try {
    await Promise.race(links.map((l) => l.waitForChange(ms, race.signal)));
  } finally {
    signal.removeEventListener('abort', stop);
    race.abort();
  }
}

/** True when `a` is a prefix of `b` (or equal to it). */
function isPrefix(a: readonly number[], b: readonly number[]): boolean {
  return a.length <= b.length && a.every((t, i) => t === b[i]);
}
