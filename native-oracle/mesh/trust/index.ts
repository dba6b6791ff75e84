/**
 * Trust for an open mesh: the oracle does not take a scout's word for anything. It learns who
 * drafts honestly from golden tickets (draft requests whose honest answer it already knows,
 * indistinguishable on the wire from real sessions), keeps each scout's record and every ban in
 * a SQLite ledger, and leases a scout for a real prompt only when the request's scout floor
 * admits it.
 *
 * Units: `ledger.ts` (SQLite ledger, this contract's `TrustLedger`), `scoring.ts` (a ticket's
 * verdict against the reference draft model), `detection.ts` (ban rules and their predicted
 * detection times), `reference.ts` (the reference draft model and the ticket contexts),
 * `golden-ticket.ts` (one ticket session over a verify stream), `auditor.ts` (probation and the
 * ticket schedule). The numbers and the detection math: ../README.md, "Trust".
 */
import { SqliteTrustLedger } from './ledger.js';

/**
 * Which scouts a request's prompt may be shown to:
 * - `none`: no scout (the oracle drafts itself);
 * - `trusted`: only peer ids the operator listed (`trustedScouts`);
 * - `reputable`: scouts past probation, not banned, at or above the reputation threshold (default);
 * - `any`: any scout the handshake welcomed, probation included.
 */
export type ScoutFloor = 'none' | 'trusted' | 'reputable' | 'any';
export const SCOUT_FLOORS: readonly ScoutFloor[] = ['none', 'trusted', 'reputable', 'any'];

/** One scout's row as GET /v1/system/reputation shows it. */
export interface ReputationEntry {
  peer_id: string;
  golden_attempts: number;
  golden_correct: number;
  /** golden_correct / golden_attempts; 1 before any ticket. */
  accuracy: number;
  first_seen: number;
  last_seen: number;
  /** Detection rule B's cumulative sum (README, "Detection math"). */
  cusum: number;
  protocol_offences: number;
  /** Real sessions verified, and the draft tokens drafted / accepted in them. */
  sessions: number;
  drafted: number;
  accepted: number;
  is_banned: boolean;
  [field: string]: unknown;
}

/** One active ban as GET /v1/system/bans shows it. */
export interface BanEntry {
  peer_id: string;
  banned_at: number;
  /** 0 = permanent. */
  ban_duration_hours: number;
  /** null when permanent. */
  expires_at: number | null;
  reason: string;
  failed_attempts: number;
  /** `local`, `operator`, or the peer id of the trusted oracle that announced it. */
  source: string;
  [field: string]: unknown;
}

export interface BanInput {
  peerId: string;
  reason: string;
  hours: number;
  failedAttempts?: number;
  /** Default now. A ban announced by another oracle keeps its own start, so it expires on time. */
  bannedAt?: number;
  /** Default `local`. */
  source?: string;
}

/** What one ticket did to a scout's record; `ban` is set when it earned one. */
export interface TicketOutcome {
  attempts: number;
  correct: number;
  cusum: number;
  ban: BanEntry | null;
}

export interface TrustLedger {
  readonly path: string;
  /** Creates the scout's row on first sight and refreshes `last_seen`. */
  noteSeen(peerId: string): void;
  get(peerId: string): ReputationEntry | null;
  /** Most recently seen first. */
  reputation(limit?: number): ReputationEntry[];
  /** Records a ticket verdict and applies the ban rules (bans in the same transaction). */
  recordTicket(peerId: string, isPassed: boolean): TicketOutcome;
  /** Counts a protocol offence (the ban itself is a separate `ban()`). */
  recordOffence(peerId: string): void;
  /** Adds one verified real session's drafted / accepted tokens to the acceptance history. */
  recordAcceptance(peerId: string, drafted: number, accepted: number): void;
  acceptance(peerId: string): { sessions: number; drafted: number; accepted: number } | null;
  /** Writes a ban (replacing an older one of the peer). */
  ban(input: BanInput): BanEntry;
  /** Lifts a ban; true when there was one. */
  unban(peerId: string): boolean;
  activeBan(peerId: string): BanEntry | null;
  isBanned(peerId: string): boolean;
  /** Active bans, newest first. */
  bans(): BanEntry[];
  close(): void;
}

export interface TrustLedgerOptions {
  /** SQLite file; `:memory:` for a throwaway ledger (tests). */
  path: string;
  reputationThreshold: number;
  minAttemptsBeforeBan: number;
  /** Hours a golden-ticket ban lasts; 0 = permanent. */
  banDurationHours: number;
  /** Clock; default Date.now (tests move it to expire bans). */
  now?: () => number;
}

/** Opens (creating when needed) the ledger file. Throws what better-sqlite3 throws. */
export function createTrustLedger(options: TrustLedgerOptions): TrustLedger {
  return new SqliteTrustLedger(
    options.path,
    {
      reputationThreshold: options.reputationThreshold,
      minAttemptsBeforeBan: options.minAttemptsBeforeBan,
      banDurationHours: options.banDurationHours
    },
    options.now
  );
}
