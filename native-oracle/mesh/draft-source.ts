/**
 * Remote scouts as a `DraftSource`: one generation session leases one or more scouts, each over
 * its own verify stream, and every verify round takes the longest draft that continues the
 * committed context from any of them.
 *
 * Pipelining: scouts draft ahead along their chain (up to `lookahead` tokens past the committed
 * context) while the oracle verifies, so a round often finds its drafts already waiting.
 *
 * Governor (on by default): a round waits for drafts only as long as waiting is predicted to pay
 * off, and drafting is skipped (plain decoding, or the fallback source) while the measured
 * acceptance says speculation is slower than plain decoding, with a periodic probe to re-measure.
 * The committed output never depends on any of this: the engine verifies every draft.
 */
import { expectedTokensPerRound } from '../engine/acceptance.js';
import type { DraftProposal, DraftSource } from '../engine/index.js';
import { createLogger } from '../../src/lib/server/log.js';
import {
  DRAFT_SESSION_IDLE_MS,
  EMA_ALPHA,
  GOVERNOR_PROBE_EVERY_ROUNDS,
  INITIAL_TARGET_TOKEN_MS,
  PRIOR_ACCEPTANCE,
  UNGOVERNED_MAX_WAIT_MS
} from './constants.js';
import type { ScoutSessionWork } from './credits.js';
import type { ScoutLink } from './scout-link.js';

const log = createLogger('shard:oracle:mesh:draft');

export interface RemoteDraftSourceOptions {
  /**
   * Opens the verify streams of the leased scouts; resolves with those that opened. Called once,
   * when the source is created (stream set-up overlaps the prompt evaluation).
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
  /** Default true. */
  isGoverned?: boolean;
  /** Used when no scout is usable this round; default none (plain decoding). */
  fallback?: DraftSource | null;
  /** Session ends after this long without a round; default `DRAFT_SESSION_IDLE_MS` (3000). */
  idleEndMs?: number;
  /** The oracle's per-token decode time before it is measured; default `INITIAL_TARGET_TOKEN_MS` (30). */
  initialTargetTokenMs?: number;
}

export interface RemoteDraftStats {
  rounds: number;
  scoutRounds: number;
  drafted: number;
  accepted: number;
  waitedMs: number;
  skippedByGovernor: number;
}

/** A DraftSource that also ends its session explicitly (the engine may never call it). */
export interface RemoteDraftSource extends DraftSource {
  readonly stats: RemoteDraftStats;
  /** Closes the scout links and releases their leases; idempotent. */
  end(reason?: string): void;
}

class Ema {
  value: number | null = null;
  add(sample: number): void {
    this.value = this.value === null ? sample : this.value + EMA_ALPHA * (sample - this.value);
  }
}

/** Builds the remote-scout draft source for one generation session. */
export function createRemoteDraftSource(
  name: string,
  options: RemoteDraftSourceOptions
): RemoteDraftSource {
  const isGoverned = options.isGoverned ?? true;
  const idleEndMs = options.idleEndMs ?? DRAFT_SESSION_IDLE_MS;
  const stats: RemoteDraftStats = {
    rounds: 0,
    scoutRounds: 0,
    drafted: 0,
    accepted: 0,
    waitedMs: 0,
    skippedByGovernor: 0
  };
  // Per-token acceptance, estimated like a geometric run: accepted drafts over accepted drafts
  // plus rejections (a round that stopped before its last draft holds one rejection).
  const acceptedEma = new Ema();
  const rejectedEma = new Ema();
  const perTokenAcceptance = (): number | null =>
    acceptedEma.value === null || rejectedEma.value === null
      ? null
      : acceptedEma.value / Math.max(1e-9, acceptedEma.value + rejectedEma.value);
  let lastAccepted = 0;
  const plainTokenMs = new Ema();
  const verifyMs = new Ema();
  const waitMs = new Ema();
  const controller = new AbortController();

  let links: ScoutLink[] | null = null;
  let isEnded = false;
  let idleTimer: ReturnType<typeof setTimeout> | null = null;
  let lastReturnAt: number | null = null;
  let lastDrafted = 0;
  let lastPosition = 0;
  let lastFromFallback = false;
  let pendingResult: { position: number; drafted: number; accepted: number } | null = null;
  let roundsSinceProbe = 0;
  let watchedSignal: AbortSignal | null = null;
  // Whose chain the last round's drafts came from, and accepted tokens per scout (credits).
  let lastScoutId: string | null = null;
  const work = new Map<string, ScoutSessionWork>();

  const end = (reason = 'session ended') => {
    if (isEnded) return;
    isEnded = true;
    if (idleTimer) clearTimeout(idleTimer);
    controller.abort();
    if (links) for (const link of links) link.close(reason);
    else void opening.then((opened) => opened.forEach((link) => link.close(reason)));
    log.debug('remote draft session ended', { name, reason, ...stats });
    options.onEnd(links ?? [], stats, work);
  };

  const armIdle = () => {
    if (idleTimer) clearTimeout(idleTimer);
    idleTimer = setTimeout(() => end('idle'), idleEndMs);
    idleTimer.unref?.();
  };

  const live = () => (links ?? []).filter((l) => !l.isClosed);

  const best = (context: readonly number[], k: number) => {
    let tokens: number[] = [];
    let isLive = false;
    let scoutId: string | null = null;
    for (const link of live()) {
      const found = link.lookup(context, k);
      isLive ||= found.isLive;
      if (found.tokens.length > tokens.length) {
        tokens = found.tokens;
        scoutId = link.scoutId;
      }
    }
    return { tokens, isLive, scoutId };
  };

  /** Step 3 of a round: is drafting predicted to beat plain decoding right now? */
  const isWorthDrafting = (k: number): boolean => {
    if (!isGoverned) return true;
    const a = perTokenAcceptance();
    const tt = plainTokenMs.value ?? options.initialTargetTokenMs ?? INITIAL_TARGET_TOKEN_MS;
    if (a === null) return true;
    // Verify of k drafts costs a bit more than one decode step; measured once available.
    const tv = verifyMs.value ?? tt * 1.3;
    const predicted = (expectedTokensPerRound(a, k) * tt) / (tv + (waitMs.value ?? 0));
    return predicted >= 1;
  };

  const fallbackDraft = async (
    req: Parameters<DraftSource['draft']>[0]
  ): Promise<DraftProposal | null> => {
    // Without a fallback the round is a plain decode step, which is what the estimator wants.
    lastFromFallback = options.fallback != null;
    if (!options.fallback) return null;
    return options.fallback.draft(req);
  };

  // Open the verify streams right away: stream set-up overlaps the engine's prompt evaluation
  // instead of delaying the first round.
  const opening = options.openLinks(controller.signal).catch((err: unknown) => {
    log.warn('opening scout links failed', { name, error: err });
    return [] as ScoutLink[];
  });

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
      const now = performance.now();
      // 1. Learn the cost of the previous round: plain decode step or verify pass.
      if (lastReturnAt !== null) {
        const elapsed = now - lastReturnAt;
        const committed = Math.max(1, context.length - lastPosition);
        if (lastDrafted === 0 && !lastFromFallback) plainTokenMs.add(elapsed / committed);
        else if (lastDrafted > 0 && !lastFromFallback) {
          // The engine may have decoded plainly after the verify pass before asking again:
          // those steps are not part of the verify cost.
          const extra = Math.max(0, committed - (lastAccepted + 1));
          if (extra === 0) verifyMs.add(elapsed);
          else if (plainTokenMs.value !== null)
            verifyMs.add(Math.max(0, elapsed - extra * plainTokenMs.value));
        }
      }
      stats.rounds += 1;
      lastPosition = context.length;
      lastFromFallback = false;
      // 2. The scout links (opened at creation) are ready by the first round, or awaited here.
      const isFirstRound = links === null;
      if (links === null) {
        links = await opening;
        // Context first, then the request: a request before any context would have the scout
        // draft from an empty chain, which the oracle must refuse as a stale position.
        for (const link of links) {
          link.sync(context);
          link.request(options.k, options.lookahead);
        }
      }
      const open = live();
      if (open.length === 0) {
        lastDrafted = 0;
        lastReturnAt = performance.now();
        return fallbackDraft(req);
      }
      // 3. Governor: skip drafting while it is predicted slower, probing now and then. Skipped
      // rounds send nothing, so idle scouts do not draft (and, on a shared CPU, do not slow the
      // oracle down).
      if (!isWorthDrafting(k) && roundsSinceProbe < GOVERNOR_PROBE_EVERY_ROUNDS) {
        roundsSinceProbe += 1;
        stats.skippedByGovernor += 1;
        lastDrafted = 0;
        lastReturnAt = performance.now();
        return fallbackDraft(req);
      }
      roundsSinceProbe = 0;
      // Every live scout learns the committed context (and the last verify result).
      for (const link of open) link.sync(context, pendingResult ?? undefined);
      pendingResult = null;
      // 4. Take drafts already waiting; wait for more only while it is predicted to pay.
      let found = best(context, k);
      const tt = plainTokenMs.value ?? options.initialTargetTokenMs ?? INITIAL_TARGET_TOKEN_MS;
      const a = perTokenAcceptance() ?? PRIOR_ACCEPTANCE;
      const paces = live()
        .map((l) => l.draftMsPerToken)
        .filter((x): x is number => x !== null);
      const td = paces.length > 0 ? Math.min(...paces) : tt / 4;
      // A fresh chain gets about one plain decode step to show its first token.
      const deadline = now + (isGoverned ? tt : UNGOVERNED_MAX_WAIT_MS);
      while (found.tokens.length < k && !signal.aborted && live().length > 0) {
        const n = found.tokens.length;
        let until = deadline;
        if (isGoverned && n > 0) {
          // Marginal rule: the next batch (m = n tokens, batches double) adds
          // a^(n+1)·(1 − a^m)/(1 − a) expected committed tokens, each worth a plain step tt,
          // and costs about m·td of waiting. Stop when it costs more than it wins.
          const m = Math.min(n, k - n);
          const gain = ((a ** (n + 1) * (1 - a ** m)) / (1 - Math.min(a, 0.999))) * tt;
          if (gain <= m * td) break;
          until = Math.min(deadline, performance.now() + 1.5 * m * td + 1);
        }
        const remaining = until - performance.now();
        if (remaining <= 0) break;
        await Promise.race(live().map((l) => l.waitForChange(remaining, signal)));
        const next = best(context, k);
        if (next.tokens.length === n && performance.now() >= until) break;
        found = next;
      }
      const waited = performance.now() - now;
      stats.waitedMs += waited;
      // The first round also opened the streams; that one-off cost says nothing about later waits.
      if (!isFirstRound) waitMs.add(waited);
      lastReturnAt = performance.now();
      if (found.tokens.length === 0) {
        lastDrafted = 0;
        return fallbackDraft(req);
      }
      lastDrafted = found.tokens.length;
      lastScoutId = found.scoutId;
      stats.scoutRounds += 1;
      return { tokens: found.tokens };
    },
    onVerified(result) {
      if (lastFromFallback) {
        options.fallback?.onVerified?.(result);
        return;
      }
      if (result.drafted === 0) return;
      stats.drafted += result.drafted;
      stats.accepted += result.accepted;
      acceptedEma.add(result.accepted);
      rejectedEma.add(result.accepted < result.drafted ? 1 : 0);
      lastAccepted = result.accepted;
      if (lastScoutId !== null && result.accepted > 0) {
        const w = work.get(lastScoutId);
        if (w) {
          w.accepted += result.accepted;
          w.lastRound = stats.rounds;
        } else
          work.set(lastScoutId, {
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
