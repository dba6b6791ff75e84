/**
 * The control plane's SQLite file (better-sqlite3, WAL, like the receipt store): sessions, nodes
 * with their last heartbeat, the nonce store of the replay window, and the credit ledger.
 * Statements only; the rules (signatures, freshness, tiers) live in service.ts. All writes are
 * synchronous and small; callers group the writes of one message in `transaction()`.
 */
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type {
  ContributedNode,
  CreditEntry,
  CreditKind,
  NodeHeartbeat,
  NodeRole
} from '../../src/lib/protocol/contribution.js';
import type { SupplyTier, TrustTier } from '../../src/lib/protocol/policy.js';
import { ContributionStoreOpenError } from './errors.js';

/** Schema version this code writes (`PRAGMA user_version`). */
const SCHEMA_VERSION = 1;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS sessions (
  session_id TEXT PRIMARY KEY,
  contributor TEXT NOT NULL,
  label TEXT,
  participation_enabled INTEGER NOT NULL DEFAULT 0,
  created_at_ms INTEGER NOT NULL,
  updated_at_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_by_contributor ON sessions (contributor);
CREATE TABLE IF NOT EXISTS nodes (
  node_id TEXT PRIMARY KEY,
  session_id TEXT NOT NULL REFERENCES sessions (session_id),
  role TEXT NOT NULL,
  capacity INTEGER NOT NULL,
  supply_tier TEXT NOT NULL,
  trust_tier TEXT NOT NULL,
  endpoint TEXT,
  model_id TEXT,
  price_per_1k_input_usd REAL NOT NULL,
  price_per_1k_output_usd REAL NOT NULL,
  registered_at_ms INTEGER NOT NULL,
  heartbeat_at_ms INTEGER,
  heartbeat_json TEXT,
  UNIQUE (session_id, role)
);
CREATE INDEX IF NOT EXISTS nodes_by_heartbeat ON nodes (heartbeat_at_ms);
CREATE TABLE IF NOT EXISTS nonces (
  signer TEXT NOT NULL,
  nonce TEXT NOT NULL,
  expires_at_ms INTEGER NOT NULL,
  PRIMARY KEY (signer, nonce)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS nonces_by_expiry ON nonces (expires_at_ms);
CREATE TABLE IF NOT EXISTS credit_entries (
  id INTEGER PRIMARY KEY,
  identity TEXT NOT NULL,
  kind TEXT NOT NULL,
  amount INTEGER NOT NULL,
  credits INTEGER NOT NULL,
  evidence_source TEXT NOT NULL,
  evidence_ref TEXT NOT NULL,
  evidence_json TEXT NOT NULL,
  at_ms INTEGER NOT NULL,
  UNIQUE (kind, evidence_source, evidence_ref)
);
CREATE INDEX IF NOT EXISTS credit_entries_by_identity ON credit_entries (identity, id);
CREATE TABLE IF NOT EXISTS credit_balances (
  identity TEXT NOT NULL,
  kind TEXT NOT NULL,
  credits INTEGER NOT NULL,
  PRIMARY KEY (identity, kind)
) WITHOUT ROWID;
`;

export interface SessionRow {
  session_id: string;
  contributor: string;
  label: string | null;
  participation_enabled: number;
  created_at_ms: number;
  updated_at_ms: number;
}

export interface NodeRow {
  node_id: string;
  session_id: string;
  role: NodeRole;
  capacity: number;
  supply_tier: SupplyTier;
  trust_tier: TrustTier;
  endpoint: string | null;
  model_id: string | null;
  price_per_1k_input_usd: number;
  price_per_1k_output_usd: number;
  registered_at_ms: number;
  heartbeat_at_ms: number | null;
  heartbeat_json: string | null;
}

/** A node row joined with its session (contributor and participation). */
export type NodeWithSessionRow = NodeRow & { contributor: string; participation_enabled: number };

interface CreditEntryRow {
  kind: CreditKind;
  amount: number;
  credits: number;
  evidence_json: string;
  at_ms: number;
}

function openDatabase(path: string): Database.Database {
  let db: Database.Database | undefined;
  try {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    db = new Database(path);
    db.pragma('journal_mode = WAL');
    // NORMAL in WAL mode: a commit survives a process crash; only an OS crash may lose the last ones.
    db.pragma('synchronous = NORMAL');
    db.pragma('busy_timeout = 5000');
    db.pragma('foreign_keys = ON');
    const version = db.pragma('user_version', { simple: true }) as number;
    if (version > SCHEMA_VERSION) {
      throw new Error(`it was written by a newer version (schema ${version} > ${SCHEMA_VERSION})`);
    }
    db.exec(SCHEMA);
    db.pragma(`user_version = ${SCHEMA_VERSION}`);
    return db;
  } catch (err) {
    db?.close();
    throw new ContributionStoreOpenError(
      `cannot open the contribution store ${path}: ${(err as Error).message}. If the file is ` +
        'damaged, restore it from a backup or move it aside (sessions and credits in it are then lost).',
      { cause: err }
    );
  }
}

/** Maps a node row to its wire view; `healthy` = a heartbeat within `heartbeatTimeoutMs`. */
export function nodeView(
  row: NodeWithSessionRow,
  nowMs: number,
  heartbeatTimeoutMs: number
): ContributedNode {
  const heartbeat = row.heartbeat_json ? (JSON.parse(row.heartbeat_json) as NodeHeartbeat) : null;
  return {
    node_id: row.node_id,
    session_id: row.session_id,
    contributor: row.contributor,
    role: row.role,
    capacity: row.capacity,
    supply_tier: row.supply_tier,
    trust_tier: row.trust_tier,
    endpoint: row.endpoint ?? heartbeat?.public_api_addr ?? null,
    model_id: row.model_id,
    price_per_1k_input_usd: row.price_per_1k_input_usd,
    price_per_1k_output_usd: row.price_per_1k_output_usd,
    registered_at_ms: row.registered_at_ms,
    last_heartbeat: heartbeat,
    healthy: row.heartbeat_at_ms !== null && nowMs - row.heartbeat_at_ms <= heartbeatTimeoutMs
  };
}

const NODE_SELECT = `SELECT n.*, s.contributor, s.participation_enabled
  FROM nodes n JOIN sessions s ON s.session_id = n.session_id`;

/** Opens (creating when needed) the store at `path`. Throws ContributionStoreOpenError. */
export function openContributionStore(path: string) {
  const db = openDatabase(path);
  const s = {
    insertSession: db.prepare(
      `INSERT INTO sessions (session_id, contributor, label, participation_enabled, created_at_ms, updated_at_ms)
       VALUES (@session_id, @contributor, @label, @participation_enabled, @created_at_ms, @updated_at_ms)`
    ),
    session: db.prepare('SELECT * FROM sessions WHERE session_id = ?'),
    sessionCount: db.prepare('SELECT COUNT(*) AS n FROM sessions WHERE contributor = ?'),
    setParticipation: db.prepare(
      'UPDATE sessions SET participation_enabled = ?, updated_at_ms = ? WHERE session_id = ?'
    ),
    touchSession: db.prepare('UPDATE sessions SET updated_at_ms = ? WHERE session_id = ?'),
    nodesOfSession: db.prepare(`${NODE_SELECT} WHERE n.session_id = ? ORDER BY n.registered_at_ms`),
    node: db.prepare(`${NODE_SELECT} WHERE n.session_id = ? AND n.role = ?`),
    upsertNode: db.prepare(
      `INSERT INTO nodes (node_id, session_id, role, capacity, supply_tier, trust_tier, endpoint, model_id,
         price_per_1k_input_usd, price_per_1k_output_usd, registered_at_ms)
       VALUES (@node_id, @session_id, @role, @capacity, @supply_tier, @trust_tier, @endpoint, @model_id,
         @price_per_1k_input_usd, @price_per_1k_output_usd, @registered_at_ms)
       ON CONFLICT (session_id, role) DO UPDATE SET capacity = excluded.capacity,
         supply_tier = excluded.supply_tier, trust_tier = excluded.trust_tier,
         endpoint = excluded.endpoint, model_id = excluded.model_id,
         price_per_1k_input_usd = excluded.price_per_1k_input_usd,
         price_per_1k_output_usd = excluded.price_per_1k_output_usd`
    ),
    heartbeat: db.prepare(
      'UPDATE nodes SET heartbeat_at_ms = ?, heartbeat_json = ? WHERE session_id = ? AND role = ?'
    ),
    deleteNode: db.prepare('DELETE FROM nodes WHERE session_id = ? AND role = ?'),
    freshNodes: db.prepare(
      `${NODE_SELECT} WHERE n.heartbeat_at_ms >= ? AND s.participation_enabled = 1
       ORDER BY n.registered_at_ms, n.node_id`
    ),
    pruneNonces: db.prepare('DELETE FROM nonces WHERE expires_at_ms < ?'),
    hasNonce: db.prepare('SELECT 1 FROM nonces WHERE signer = ? AND nonce = ?'),
    noncesOfSigner: db.prepare('SELECT COUNT(*) AS n FROM nonces WHERE signer = ?'),
    noncesTotal: db.prepare('SELECT COUNT(*) AS n FROM nonces'),
    insertNonce: db.prepare('INSERT INTO nonces (signer, nonce, expires_at_ms) VALUES (?, ?, ?)'),
    insertCredit: db.prepare(
      `INSERT OR IGNORE INTO credit_entries (identity, kind, amount, credits, evidence_source, evidence_ref,
         evidence_json, at_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`
    ),
    addBalance: db.prepare(
      `INSERT INTO credit_balances (identity, kind, credits) VALUES (?, ?, ?)
       ON CONFLICT (identity, kind) DO UPDATE SET credits = credits + excluded.credits`
    ),
    balances: db.prepare('SELECT kind, credits FROM credit_balances WHERE identity = ?'),
    recentCredits: db.prepare(
      `SELECT kind, amount, credits, evidence_json, at_ms FROM credit_entries
       WHERE identity = ? ORDER BY id DESC LIMIT ?`
    )
  };
  const count = (stmt: Database.Statement, ...args: unknown[]) =>
    (stmt.get(...args) as { n: number }).n;

  return {
    path,
    transaction<T>(fn: () => T): T {
      return db.transaction(fn)();
    },
    insertSession(row: SessionRow): void {
      s.insertSession.run(row);
    },
    session: (id: string) => s.session.get(id) as SessionRow | undefined,
    sessionCount: (contributor: string) => count(s.sessionCount, contributor),
    setParticipation(id: string, enabled: boolean, nowMs: number): void {
      s.setParticipation.run(enabled ? 1 : 0, nowMs, id);
    },
    touchSession(id: string, nowMs: number): void {
      s.touchSession.run(nowMs, id);
    },
    nodesOfSession: (id: string) => s.nodesOfSession.all(id) as NodeWithSessionRow[],
    node: (sessionId: string, role: NodeRole) =>
      s.node.get(sessionId, role) as NodeWithSessionRow | undefined,
    upsertNode(row: Omit<NodeRow, 'heartbeat_at_ms' | 'heartbeat_json'>): void {
      s.upsertNode.run(row);
    },
    recordHeartbeat(sessionId: string, role: NodeRole, heartbeat: NodeHeartbeat): void {
      s.heartbeat.run(heartbeat.at_ms, JSON.stringify(heartbeat), sessionId, role);
    },
    deleteNode(sessionId: string, role: NodeRole): void {
      s.deleteNode.run(sessionId, role);
    },
    /** Nodes of participating sessions with a heartbeat at or after `sinceMs`. */
    freshNodes: (sinceMs: number) => s.freshNodes.all(sinceMs) as NodeWithSessionRow[],
    pruneNonces(nowMs: number): void {
      s.pruneNonces.run(nowMs);
    },
    hasNonce: (signer: string, nonce: string) => s.hasNonce.get(signer, nonce) !== undefined,
    nonceCounts: (signer: string) => ({
      signer: count(s.noncesOfSigner, signer),
      total: count(s.noncesTotal)
    }),
    insertNonce(signer: string, nonce: string, expiresAtMs: number): void {
      s.insertNonce.run(signer, nonce, expiresAtMs);
    },
    /** Appends a credit entry; false (nothing written) when its evidence was already credited. */
    insertCredit(entry: {
      identity: string;
      kind: CreditKind;
      amount: number;
      credits: number;
      evidence: { source: string; ref: string } & Record<string, unknown>;
      atMs: number;
    }): boolean {
      const { identity, kind, amount, credits, evidence, atMs } = entry;
      const inserted = s.insertCredit.run(
        identity,
        kind,
        amount,
        credits,
        evidence.source,
        evidence.ref,
        JSON.stringify(evidence),
        atMs
      );
      if (inserted.changes === 0) return false;
      s.addBalance.run(identity, kind, credits);
      return true;
    },
    balances: (identity: string) =>
      s.balances.all(identity) as Array<{ kind: CreditKind; credits: number }>,
    recentCredits: (identity: string, limit: number): CreditEntry[] =>
      (s.recentCredits.all(identity, limit) as CreditEntryRow[]).map((r) => ({
        kind: r.kind,
        amount: r.amount,
        credits: r.credits,
        evidence: JSON.parse(r.evidence_json) as CreditEntry['evidence'],
        at_ms: r.at_ms
      })),
    close(): void {
      if (db.open) db.close();
    }
  };
}

export type ContributionStore = ReturnType<typeof openContributionStore>;
