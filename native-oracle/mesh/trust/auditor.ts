/**
 * The ticket schedule: which scout gets a golden ticket when, and what its verdict changes.
 *
 * - Probation: a scout whose record holds fewer than `probationTickets` passed tickets gets
 *   tickets back to back (`PROBATION_TICKET_GAP_MS` apart) from the moment it joins, and is never
 *   leased for a real prompt under the `reputable` floor until it passes them.
 * - Audit: after each real session a reputable scout served, it gets tickets in proportion to
 *   its real work, so `goldenTicketRate` of its sessions are tickets (rate r: r/(1 - r) tickets
 *   per real session, the fraction drawn at random). A rate of 1 audits without end (every
 *   session a ticket: a quarantine, and what tests use to run many tickets).
 * - Verdicts go to the ledger, whose rules may ban; a ban ends the scout's sessions (`onBan`).
 * A ticket takes a lease like a real session (so it counts against the scout's session cap and
 * the scout sees the usual concurrency), and its figures are not added to acceptance history.
 */
import { randomBytes } from 'node:crypto';
import { createLogger } from '../../../src/lib/server/log.js';
import { PROBATION_TICKET_GAP_MS, TICKET_ROUNDS_MAX, TICKET_ROUNDS_MIN } from '../constants.js';
import type { ScoutRegistry } from '../registry/index.js';
import type { ScoutLink } from '../scout-link.js';
import { mulberry32 } from './detection.js';
import { runGoldenTicket } from './golden-ticket.js';
import type { BanEntry, TrustLedger } from './index.js';
import {
  declaresPromptLookup,
  PROMPT_LOOKUP_MAX_LEAD_TOKENS,
  promptLookupTicket
} from './prompt-lookup-ticket.js';
import type { GoldenTicket, TicketReference } from './reference.js';

/** Reference tickets tried before a prompt-lookup scout's ticket is skipped this time. */
const PROMPT_LOOKUP_TICKET_TRIES = 3;

const log = createLogger('shard:oracle:mesh:trust');

export interface AuditorOptions {
  registry: ScoutRegistry;
  ledger: TrustLedger;
  /** Resolves to the reference, or null when tickets are impossible (no reference model). */
  reference: Promise<TicketReference | null>;
  openLink(peerId: string, sessionId: string, signal: AbortSignal): Promise<ScoutLink>;
  onBan(entry: BanEntry): void;
  goldenTicketRate: number;
  probationTickets: number;
  reputationThreshold: number;
  minAttemptsBeforeBan: number;
  k: number;
  lookahead: number;
  /** Seed of ticket choices (contexts, rounds, pacing); default random. */
  seed?: number;
  /** Called when a scout passed a ticket (`ticketId`: its verify session id); default none. */
  onTicketPassed?(peerId: string, ticketId: string): void;
}

export interface AuditorStats {
  tickets: number;
  passed: number;
  failed: number;
  void: number;
  /** Mean ms the oracle spent making a ticket (the reference model's run). */
  meanCostMs: number;
  /** Scored draft tokens counted correct only through the near-tie tolerance (backend drift). */
  nearTieTokens: number;
  /** Passed tickets that would have failed with exact (argmax-only) scoring. */
  passedByNearTie: number;
}

export class TicketAuditor {
  readonly stats: AuditorStats = {
    tickets: 0,
    passed: 0,
    failed: 0,
    void: 0,
    meanCostMs: 0,
    nearTieTokens: 0,
    passedByNearTie: 0
  };
  private readonly loops = new Set<string>();
  private readonly random: () => number;
  private readonly controller = new AbortController();
  private costTotalMs = 0;

  constructor(private readonly options: AuditorOptions) {
    this.random = mulberry32(options.seed ?? randomBytes(4).readUInt32LE());
  }

  /** Passed fewer than `probationTickets` tickets so far. */
  isOnProbation(peerId: string): boolean {
    return (this.options.ledger.get(peerId)?.golden_correct ?? 0) < this.options.probationTickets;
  }

  /** Past probation, not banned, and at or above the threshold once the minimum was reached. */
  isReputable(peerId: string): boolean {
    const entry = this.options.ledger.get(peerId);
    if (!entry || entry.is_banned) return false;
    if (entry.golden_correct < this.options.probationTickets) return false;
    return (
      entry.golden_attempts < this.options.minAttemptsBeforeBan ||
      entry.accuracy >= this.options.reputationThreshold
    );
  }

  /** A scout was welcomed: start its probation (or endless audit at rate 1). */
  onJoin(peerId: string): void {
    this.options.ledger.noteSeen(peerId);
    if (this.isOnProbation(peerId) || this.options.goldenTicketRate >= 1) void this.loop(peerId);
  }

  /** A real session a scout served has ended: audit it at the ticket rate. */
  onRealSessionEnd(peerId: string): void {
    const rate = this.options.goldenTicketRate;
    if (rate <= 0 || rate >= 1) return;
    const perSession = rate / (1 - rate);
    let count = Math.floor(perSession) + (this.random() < perSession % 1 ? 1 : 0);
    void (async () => {
      while (count-- > 0 && !this.controller.signal.aborted) await this.runOne(peerId);
    })();
  }

  stop(): void {
    this.controller.abort();
  }

  private async loop(peerId: string): Promise<void> {
    if (this.loops.has(peerId)) return;
    this.loops.add(peerId);
    try {
      while (
        !this.controller.signal.aborted &&
        this.options.registry.get(peerId) &&
        (this.isOnProbation(peerId) || this.options.goldenTicketRate >= 1)
      ) {
        await this.runOne(peerId);
        await new Promise((r) => setTimeout(r, PROBATION_TICKET_GAP_MS).unref?.());
      }
    } finally {
      this.loops.delete(peerId);
    }
  }

  /**
   * A ticket for the engine the scout declared: the reference model's, or its prompt-lookup form
   * for a scout whose hello names only the prompt-lookup rule. Null when no lookup ticket came
   * out of a few tries (nothing is recorded; probation tries again).
   */
  private async makeTicket(
    reference: TicketReference,
    peerId: string,
    length: number
  ): Promise<GoldenTicket | null> {
    const models = this.options.registry.get(peerId)?.hello.models ?? [];
    if (!declaresPromptLookup(models)) return reference.makeTicket(length, this.random);
    for (let attempt = 0; attempt < PROMPT_LOOKUP_TICKET_TRIES; attempt++) {
      const base = await reference.makeTicket(length + PROMPT_LOOKUP_MAX_LEAD_TOKENS, this.random);
      const ticket = promptLookupTicket(base, length);
      if (ticket) return ticket;
    }
    log.debug('no prompt-lookup ticket this time', { scout: peerId });
    return null;
  }

  /** Runs one ticket on a scout if it can take a session now; records the verdict. */
  private async runOne(peerId: string): Promise<void> {
    const reference = await this.options.reference;
    if (!reference || this.controller.signal.aborted) return;
    const leased = this.options.registry.lease({ peerIds: [peerId], count: 1 });
    if (leased.length === 0) return;
    const rounds =
      TICKET_ROUNDS_MIN + Math.floor(this.random() * (TICKET_ROUNDS_MAX - TICKET_ROUNDS_MIN + 1));
    let link: ScoutLink | null = null;
    // One signal per ticket, tied to the auditor's: listeners never pile up on the long-lived one.
    const ticketController = new AbortController();
    const onStop = () => ticketController.abort();
    this.controller.signal.addEventListener('abort', onStop, { once: true });
    try {
      const ticket = await this.makeTicket(reference, peerId, rounds * (this.options.k + 1));
      if (!ticket) return;
      this.costTotalMs += ticket.costMs;
      const signal = ticketController.signal;
      const ticketId = randomBytes(8).toString('hex');
      link = await this.options.openLink(peerId, ticketId, signal);
      const result = await runGoldenTicket({
        link,
        ticket,
        k: this.options.k,
        lookahead: this.options.lookahead,
        rounds,
        random: this.random,
        signal
      });
      this.options.registry.noteMeasured(peerId, link);
      if (result.status === 'void') {
        this.stats.void += 1;
        return;
      }
      this.stats.tickets += 1;
      this.stats.meanCostMs = this.costTotalMs / this.stats.tickets;
      if (result.score.isPassed) this.stats.passed += 1;
      else this.stats.failed += 1;
      this.stats.nearTieTokens += result.nearTie;
      if (result.score.isPassed && !result.isPassedExactly) this.stats.passedByNearTie += 1;
      const outcome = this.options.ledger.recordTicket(peerId, result.score.isPassed);
      if (result.score.isPassed) this.options.onTicketPassed?.(peerId, ticketId);
      log.debug('golden ticket', {
        scout: peerId,
        ...result.score,
        nearTie: result.nearTie,
        attempts: outcome.attempts
      });
      if (outcome.ban) this.options.onBan(outcome.ban);
    } catch (err) {
      log.debug('golden ticket not delivered', { scout: peerId, error: err });
    } finally {
      this.controller.signal.removeEventListener('abort', onStop);
      ticketController.abort();
      link?.close('generation ended');
      this.options.registry.release(leased, [], null);
    }
  }
}
