/**
 * The receipt store's SQLite schema and its migrations (`PRAGMA user_version`).
 *
 * Tables: executions (index: id, created_at_ms, request hash, owner, idempotency key unique per
 * owner), receipts (exec,
 * seq, body) WITHOUT ROWID, execution_ends (terminal status), chain_heads (the signed head of each
 * execution's chain: seq, hash and signature of its last receipt, rewritten with every append),
 * pruned_executions (a tombstone per execution removed by the retention policy).
 *
 * Append-only is enforced by triggers: UPDATE and DELETE on receipts, executions, execution_ends
 * and signers fail inside SQLite. The one exception is retention: rows of an execution that has a
 * tombstone in pruned_executions may be deleted, and a tombstone may only be written for an
 * execution that has ended. Someone editing the file can drop the triggers; the signatures and
 * the signed heads are what make such edits detectable.
 */
import type Database from 'better-sqlite3';

/** The schema version this code writes (`PRAGMA user_version`). */
export const SCHEMA_VERSION = 2;

/**
 * Owner of the executions created without an API key (the oracle has none configured: one local
 * user) and of every execution stored before owners existed (schema version 2). Only the local
 * user and operator keys see them.
 */
export const LOCAL_OWNER = 'local';

const BASE_TABLES = `
CREATE TABLE IF NOT EXISTS executions (
  id INTEGER PRIMARY KEY,
  execution_id TEXT NOT NULL UNIQUE,
  created_at_ms INTEGER NOT NULL,
  request_hash TEXT NOT NULL,
  owner TEXT NOT NULL,
  idempotency_key TEXT,
  UNIQUE (owner, idempotency_key)
);
CREATE TABLE IF NOT EXISTS signers (
  id INTEGER PRIMARY KEY,
  public_key_hex TEXT NOT NULL UNIQUE
);
CREATE TABLE IF NOT EXISTS receipts (
  exec INTEGER NOT NULL,
  seq INTEGER NOT NULL,
  signer INTEGER NOT NULL,
  sig BLOB NOT NULL,
  body BLOB NOT NULL,
  PRIMARY KEY (exec, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS execution_ends (
  exec INTEGER PRIMARY KEY,
  status TEXT NOT NULL,
  ended_at_ms INTEGER NOT NULL
);
`;

const BASE_TRIGGERS = `
CREATE TRIGGER IF NOT EXISTS receipts_no_update BEFORE UPDATE ON receipts
  BEGIN SELECT RAISE(ABORT, 'receipts are append-only'); END;
CREATE TRIGGER IF NOT EXISTS executions_no_update BEFORE UPDATE ON executions
  BEGIN SELECT RAISE(ABORT, 'executions are append-only'); END;
CREATE TRIGGER IF NOT EXISTS signers_no_update BEFORE UPDATE ON signers
  BEGIN SELECT RAISE(ABORT, 'signers are append-only'); END;
CREATE TRIGGER IF NOT EXISTS signers_no_delete BEFORE DELETE ON signers
  BEGIN SELECT RAISE(ABORT, 'signers are append-only'); END;
CREATE TRIGGER IF NOT EXISTS execution_ends_no_update BEFORE UPDATE ON execution_ends
  BEGIN SELECT RAISE(ABORT, 'execution_ends are append-only'); END;
`;

/** Whether the execution with row id `exec` has a retention tombstone (SQL fragment). */
const isPruned = (exec: string) =>
  `EXISTS (SELECT 1 FROM executions e JOIN pruned_executions p ON p.execution_id = e.execution_id WHERE e.id = ${exec})`;

/** Version 1: signed chain heads, retention tombstones, deletes allowed only for pruned executions. */
const V1_TABLES = `
CREATE TABLE IF NOT EXISTS chain_heads (
  exec INTEGER PRIMARY KEY,
  seq INTEGER NOT NULL,
  hash TEXT NOT NULL,
  signer INTEGER NOT NULL,
  sig BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS pruned_executions (
  execution_id TEXT PRIMARY KEY,
  pruned_at_ms INTEGER NOT NULL
);
`;

const V1_TRIGGERS = `
DROP TRIGGER IF EXISTS receipts_no_delete;
DROP TRIGGER IF EXISTS executions_no_delete;
DROP TRIGGER IF EXISTS execution_ends_no_delete;
CREATE TRIGGER receipts_no_delete BEFORE DELETE ON receipts WHEN NOT ${isPruned('OLD.exec')}
  BEGIN SELECT RAISE(ABORT, 'receipts are append-only'); END;
CREATE TRIGGER executions_no_delete BEFORE DELETE ON executions
  WHEN OLD.execution_id NOT IN (SELECT execution_id FROM pruned_executions)
  BEGIN SELECT RAISE(ABORT, 'executions are append-only'); END;
CREATE TRIGGER execution_ends_no_delete BEFORE DELETE ON execution_ends
  WHEN NOT ${isPruned('OLD.exec')}
  BEGIN SELECT RAISE(ABORT, 'execution_ends are append-only'); END;
CREATE TRIGGER chain_heads_no_delete BEFORE DELETE ON chain_heads WHEN NOT ${isPruned('OLD.exec')}
  BEGIN SELECT RAISE(ABORT, 'chain heads are deleted only with a pruned execution'); END;
CREATE TRIGGER chain_heads_seq_forward BEFORE UPDATE ON chain_heads WHEN NEW.seq <= OLD.seq
  BEGIN SELECT RAISE(ABORT, 'a chain head only moves forward'); END;
CREATE TRIGGER pruned_only_ended BEFORE INSERT ON pruned_executions
  WHEN NOT EXISTS (SELECT 1 FROM executions e JOIN execution_ends x ON x.exec = e.id
                   WHERE e.execution_id = NEW.execution_id)
  BEGIN SELECT RAISE(ABORT, 'only executions that have ended may be pruned'); END;
CREATE TRIGGER pruned_no_update BEFORE UPDATE ON pruned_executions
  BEGIN SELECT RAISE(ABORT, 'pruned_executions are append-only'); END;
CREATE TRIGGER pruned_no_delete BEFORE DELETE ON pruned_executions
  BEGIN SELECT RAISE(ABORT, 'pruned_executions are append-only'); END;
`;

const V1 = V1_TABLES + V1_TRIGGERS;

/**
 * Version 2: an owner per execution, and idempotency keys unique per owner instead of globally
 * (two API keys may use the same key). New files get this shape from BASE_TABLES; SQLite cannot change a UNIQUE constraint in place, so the
 * table is rebuilt with the same row ids (receipts, heads and ends refer to them); every
 * existing row belongs to LOCAL_OWNER. Triggers are dropped first (a rename re-checks every
 * trigger that names the table) and recreated after.
 */
function migrateV2(db: Database.Database): void {
  const columns = db.prepare("SELECT name FROM pragma_table_info('executions')").pluck().all();
  if (columns.includes('owner')) return;
  const triggers = db
    .prepare("SELECT name FROM sqlite_master WHERE type = 'trigger'")
    .pluck()
    .all() as string[];
  for (const name of triggers) db.exec(`DROP TRIGGER "${name.replaceAll('"', '""')}"`);
  db.exec(`
CREATE TABLE executions_v2 (
  id INTEGER PRIMARY KEY,
  execution_id TEXT NOT NULL UNIQUE,
  created_at_ms INTEGER NOT NULL,
  request_hash TEXT NOT NULL,
  owner TEXT NOT NULL,
  idempotency_key TEXT,
  UNIQUE (owner, idempotency_key)
);
INSERT INTO executions_v2 (id, execution_id, created_at_ms, request_hash, owner, idempotency_key)
  SELECT id, execution_id, created_at_ms, request_hash, '${LOCAL_OWNER}', idempotency_key FROM executions;
DROP TABLE executions;
ALTER TABLE executions_v2 RENAME TO executions;
`);
  db.exec(BASE_TRIGGERS);
  db.exec(V1_TRIGGERS);
}

/**
 * Creates or upgrades the schema. `backfillHeads` runs inside the version-1 transaction, after
 * chain_heads exists: it signs a head for every execution written before heads existed (such
 * files are trusted as they are on upgrade; from then on a missing head is an error).
 */
export function migrate(db: Database.Database, backfillHeads: () => void): void {
  const before = db.pragma('user_version', { simple: true }) as number;
  db.exec(BASE_TABLES + BASE_TRIGGERS);
  if (before < 1) {
    db.exec('BEGIN IMMEDIATE');
    try {
      db.exec(V1);
      backfillHeads();
      db.pragma('user_version = 1');
      db.exec('COMMIT');
    } catch (err) {
      db.exec('ROLLBACK');
      throw err;
    }
  }
  if (before < 2) {
    db.exec('BEGIN IMMEDIATE');
    try {
      migrateV2(db);
      db.pragma(`user_version = ${SCHEMA_VERSION}`);
      db.exec('COMMIT');
    } catch (err) {
      db.exec('ROLLBACK');
      throw err;
    }
  }
  db.exec('CREATE INDEX IF NOT EXISTS executions_by_owner ON executions (owner, created_at_ms)');
}
