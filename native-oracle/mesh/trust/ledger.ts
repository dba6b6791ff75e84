/**
 * The reputation ledger: one SQLite file (better-sqlite3, WAL, like the receipt store) holding
 * each scout's golden-ticket record, its acceptance history from real verification, and the
 * bans. Bans of every kind (golden tickets, protocol violations, bans announced by trusted
 * oracles, operator bans) live in `banned_scouts`, so they all survive a restart and expire the
 * same way. Timestamps are ms since the epoch.
 */
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { banReason, recordTicket, type BanRule } from './detection.js';
import type { BanEntry, BanInput, ReputationEntry, TicketOutcome, TrustLedger } from './index.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS scout_reputation (
  peer_id TEXT PRIMARY KEY,
  golden_attempts INTEGER NOT NULL DEFAULT 0,
  golden_correct INTEGER NOT NULL DEFAULT 0,
  first_seen INTEGER NOT NULL,
  last_seen INTEGER NOT NULL,
  cusum REAL NOT NULL DEFAULT 0,
  protocol_offences INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS scout_acceptance (
  peer_id TEXT PRIMARY KEY,
  sessions INTEGER NOT NULL DEFAULT 0,
  drafted INTEGER NOT NULL DEFAULT 0,
  accepted INTEGER NOT NULL DEFAULT 0,
  updated_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS banned_scouts (
  peer_id TEXT PRIMARY KEY,
  banned_at INTEGER NOT NULL,
  ban_duration_hours REAL NOT NULL,
  reason TEXT NOT NULL,
  failed_attempts INTEGER NOT NULL DEFAULT 0,
  source TEXT NOT NULL DEFAULT 'local'
);
`;

const HOUR_MS = 3_600_000;

interface ReputationRow {
  peer_id: string;
  golden_attempts: number;
  golden_correct: number;
  first_seen: number;
  last_seen: number;
  cusum: number;
  protocol_offences: number;
}

/** The `TrustLedger` on one SQLite connection (all writes synchronous and small). */
export class SqliteTrustLedger implements TrustLedger {
  private readonly db: Database.Database;
  private readonly statements;

  constructor(
    readonly path: string,
    private readonly rule: BanRule & { banDurationHours: number },
    private readonly now: () => number = Date.now
  ) {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('busy_timeout = 5000');
    this.db.exec(SCHEMA);
    this.statements = {
      seen: this.db.prepare(
        `INSERT INTO scout_reputation (peer_id, first_seen, last_seen) VALUES (?, ?, ?)
         ON CONFLICT(peer_id) DO UPDATE SET last_seen = excluded.last_seen`
      ),
      get: this.db.prepare('SELECT * FROM scout_reputation WHERE peer_id = ?'),
      all: this.db.prepare('SELECT * FROM scout_reputation ORDER BY last_seen DESC LIMIT ?'),
      ticket: this.db.prepare(
        `UPDATE scout_reputation SET golden_attempts = ?, golden_correct = ?, cusum = ?, last_seen = ?
         WHERE peer_id = ?`
      ),
      offence: this.db.prepare(
        'UPDATE scout_reputation SET protocol_offences = protocol_offences + 1 WHERE peer_id = ?'
      ),
      acceptance: this.db.prepare(
        `INSERT INTO scout_acceptance (peer_id, sessions, drafted, accepted, updated_at)
         VALUES (?, 1, ?, ?, ?)
         ON CONFLICT(peer_id) DO UPDATE SET sessions = sessions + 1,
           drafted = drafted + excluded.drafted, accepted = accepted + excluded.accepted,
           updated_at = excluded.updated_at`
      ),
      getAcceptance: this.db.prepare(
        'SELECT sessions, drafted, accepted FROM scout_acceptance WHERE peer_id = ?'
      ),
      allAcceptance: this.db.prepare('SELECT * FROM scout_acceptance'),
      ban: this.db.prepare(
        `INSERT INTO banned_scouts (peer_id, banned_at, ban_duration_hours, reason, failed_attempts, source)
         VALUES (@peer_id, @banned_at, @ban_duration_hours, @reason, @failed_attempts, @source)
         ON CONFLICT(peer_id) DO UPDATE SET banned_at = excluded.banned_at,
           ban_duration_hours = excluded.ban_duration_hours, reason = excluded.reason,
           failed_attempts = excluded.failed_attempts, source = excluded.source`
      ),
      getBan: this.db.prepare('SELECT * FROM banned_scouts WHERE peer_id = ?'),
      allBans: this.db.prepare('SELECT * FROM banned_scouts ORDER BY banned_at DESC'),
      unban: this.db.prepare('DELETE FROM banned_scouts WHERE peer_id = ?')
    };
  }

  noteSeen(peerId: string): void {
    const now = this.now();
    this.statements.seen.run(peerId, now, now);
  }

  get(peerId: string): ReputationEntry | null {
    const row = this.statements.get.get(peerId) as ReputationRow | undefined;
    return row ? this.entry(row) : null;
  }

  reputation(limit = 1000): ReputationEntry[] {
    return (this.statements.all.all(limit) as ReputationRow[]).map((r) => this.entry(r));
  }

  recordTicket(peerId: string, isPassed: boolean): TicketOutcome {
    return this.db.transaction((): TicketOutcome => {
      this.noteSeen(peerId);
      const row = this.statements.get.get(peerId) as ReputationRow;
      const next = recordTicket(
        { attempts: row.golden_attempts, correct: row.golden_correct, cusum: row.cusum },
        isPassed,
        this.rule
      );
      this.statements.ticket.run(next.attempts, next.correct, next.cusum, this.now(), peerId);
      const reason = banReason(next, this.rule);
      const ban = reason
        ? this.ban({
            peerId,
            reason,
            hours: this.rule.banDurationHours,
            failedAttempts: next.attempts - next.correct
          })
        : null;
      return { attempts: next.attempts, correct: next.correct, cusum: next.cusum, ban };
    })();
  }

  recordOffence(peerId: string): void {
    this.noteSeen(peerId);
    this.statements.offence.run(peerId);
  }

  recordAcceptance(peerId: string, drafted: number, accepted: number): void {
    this.statements.acceptance.run(peerId, drafted, accepted, this.now());
  }

  acceptance(peerId: string): { sessions: number; drafted: number; accepted: number } | null {
    return (
      (this.statements.getAcceptance.get(peerId) as
        { sessions: number; drafted: number; accepted: number } | undefined) ?? null
    );
  }

  ban(input: BanInput): BanEntry {
    const row = {
      peer_id: input.peerId,
      banned_at: input.bannedAt ?? this.now(),
      ban_duration_hours: input.hours,
      reason: input.reason.slice(0, 500),
      failed_attempts: input.failedAttempts ?? 0,
      source: input.source ?? 'local'
    };
    this.statements.ban.run(row);
    return this.banEntry(row);
  }

  unban(peerId: string): boolean {
    return this.statements.unban.run(peerId).changes > 0;
  }

  activeBan(peerId: string): BanEntry | null {
    const row = this.statements.getBan.get(peerId) as BanRowShape | undefined;
    if (!row) return null;
    const entry = this.banEntry(row);
    return entry.expires_at === null || entry.expires_at > this.now() ? entry : null;
  }

  isBanned(peerId: string): boolean {
    return this.activeBan(peerId) !== null;
  }

  bans(): BanEntry[] {
    const now = this.now();
    return (this.statements.allBans.all() as BanRowShape[])
      .map((r) => this.banEntry(r))
      .filter((b) => b.expires_at === null || b.expires_at > now);
  }

  close(): void {
    this.db.close();
  }

  private entry(row: ReputationRow): ReputationEntry {
    const acceptance = this.acceptance(row.peer_id);
    return {
      peer_id: row.peer_id,
      golden_attempts: row.golden_attempts,
      golden_correct: row.golden_correct,
      accuracy: row.golden_attempts > 0 ? row.golden_correct / row.golden_attempts : 1,
      first_seen: row.first_seen,
      last_seen: row.last_seen,
      cusum: row.cusum,
      protocol_offences: row.protocol_offences,
      sessions: acceptance?.sessions ?? 0,
      drafted: acceptance?.drafted ?? 0,
      accepted: acceptance?.accepted ?? 0,
      is_banned: this.isBanned(row.peer_id)
    };
  }

  private banEntry(row: BanRowShape): BanEntry {
    return {
      peer_id: row.peer_id,
      banned_at: row.banned_at,
      ban_duration_hours: row.ban_duration_hours,
      expires_at:
        row.ban_duration_hours > 0 ? row.banned_at + row.ban_duration_hours * HOUR_MS : null,
      reason: row.reason,
      failed_attempts: row.failed_attempts,
      source: row.source
    };
  }
}

interface BanRowShape {
  peer_id: string;
  banned_at: number;
  ban_duration_hours: number;
  reason: string;
  failed_attempts: number;
  source: string;
}
