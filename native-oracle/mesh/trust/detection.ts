/**
 * When a scout's golden-ticket record earns a ban: two rules, both pure (README, "Detection
 * math", derives the numbers).
 *
 *  A. Threshold (the predecessor's rule): after at least `minAttemptsBeforeBan` tickets, a
 *     scout that passed fewer than `reputationThreshold` of them is banned. It catches a scout
 *     without the model (it fails every ticket) at the third ticket.
 *  B. CUSUM (Page's cumulative sum): S = max(0, S + w) per ticket, with w = ln(p1/p0) for a
 *     failure and ln((1 - p1)/(1 - p0)) for a pass; banned when S ≥ h. Rule A alone never
 *     catches a scout that cheats on less than 1 - threshold of its work (its lifetime accuracy
 *     stays above the threshold), nor one that turns bad after a long honest record; the
 *     CUSUM forgets old passes (floored at 0) and catches a 20% cheater in tens of tickets.
 */
import { CHEAT_RATE_TO_DETECT, CUSUM_BAN_LEVEL, HONEST_TICKET_FAILURE_RATE } from '../constants.js';

export interface BanRule {
  reputationThreshold: number;
  minAttemptsBeforeBan: number;
  /** CUSUM ban level h; default `CUSUM_BAN_LEVEL`. */
  cusumLevel?: number;
  /** Honest failure rate p0; default `HONEST_TICKET_FAILURE_RATE`. */
  honestFailureRate?: number;
  /** Cheating rate p1 the CUSUM is tuned to; default `CHEAT_RATE_TO_DETECT`. */
  cheatRate?: number;
}

export interface TicketRecord {
  attempts: number;
  correct: number;
  cusum: number;
}

/** The CUSUM after one more ticket (rule B's update). */
export function nextCusum(cusum: number, isPassed: boolean, rule: BanRule): number {
  const p0 = rule.honestFailureRate ?? HONEST_TICKET_FAILURE_RATE;
  const p1 = rule.cheatRate ?? CHEAT_RATE_TO_DETECT;
  const w = isPassed ? Math.log((1 - p1) / (1 - p0)) : Math.log(p1 / p0);
  return Math.max(0, cusum + w);
}

/** Why a record earns a ban, or null when it does not. */
export function banReason(record: TicketRecord, rule: BanRule): string | null {
  if (record.attempts >= rule.minAttemptsBeforeBan) {
    const accuracy = record.correct / record.attempts;
    if (accuracy < rule.reputationThreshold)
      return `golden tickets: ${record.correct}/${record.attempts} passed, below ${rule.reputationThreshold}`;
  }
  if (record.cusum >= (rule.cusumLevel ?? CUSUM_BAN_LEVEL))
    return `golden tickets: recent failures (cusum ${record.cusum.toFixed(2)}) after ${record.attempts} tickets`;
  return null;
}

/** Applies one ticket outcome to a record (pure). */
export function recordTicket(record: TicketRecord, isPassed: boolean, rule: BanRule): TicketRecord {
  return {
    attempts: record.attempts + 1,
    correct: record.correct + (isPassed ? 1 : 0),
    cusum: nextCusum(record.cusum, isPassed, rule)
  };
}

/** Tickets until a ban for a scout failing each ticket independently with probability `failRate`. */
export function simulateTicketsToBan(
  failRate: number,
  rule: BanRule,
  random: () => number,
  maxTickets = 100_000
): number {
  let record: TicketRecord = { attempts: 0, correct: 0, cusum: 0 };
  while (record.attempts < maxTickets) {
    record = recordTicket(record, random() >= failRate, rule);
    if (banReason(record, rule)) return record.attempts;
  }
  return Infinity;
}

/**
 * The predicted distribution of tickets to ban for a cheating rate (Monte Carlo over `trials`
 * seeded runs of the same rules): mean, median and 99th percentile.
 */
export function predictTicketsToBan(
  failRate: number,
  rule: BanRule,
  options: { trials?: number; seed?: number } = {}
): { mean: number; p50: number; p99: number } {
  const random = mulberry32(options.seed ?? 1);
  const runs = Array.from({ length: options.trials ?? 20_000 }, () =>
    simulateTicketsToBan(failRate, rule, random)
  ).sort((a, b) => a - b);
  const at = (q: number) => runs[Math.min(runs.length - 1, Math.floor(q * runs.length))];
  return { mean: runs.reduce((s, x) => s + x, 0) / runs.length, p50: at(0.5), p99: at(0.99) };
}

/** A small seeded PRNG (mulberry32): deterministic ticket choices and simulations. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
