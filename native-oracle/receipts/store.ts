/**
 * The receipt store: one SQLite file (better-sqlite3, WAL) holding every execution's receipts,
 * append-only. Every append seals the receipt (seq, prev_hash, Ed25519 signature) before the
 * row is written, so what is stored is exactly what was signed.
 *
 * Append-only is enforced twice: triggers make UPDATE and DELETE on receipts (and on the
 * execution index) fail inside SQLite, and signatures make any edit that bypasses the triggers
 * (someone editing the file) detectable by `verify()`.
 *
 * Group commit: appends join one open transaction that commits at the end of the current
 * event-loop turn (setImmediate), or at `flush()`. Readers on this connection see appended
 * receipts at once; a process crash can lose only the receipts of the last turn, which is
 * always the tail of a chain (never a hole). Callers that need a receipt durable before they
 * act (the runner, before it dispatches work) call `flush()` first: write-ahead.
 *
 * Tables: executions (index: id, created_at_ms, request hash, idempotency key),
 * receipts (exec, seq, body) WITHOUT ROWID, execution_ends (terminal status, insert-only).
 */
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { createLogger } from '../../src/lib/server/log.js';
import { executionStatus } from '../../src/lib/protocol/provenance.js';
import {
  receiptHash,
  sealReceipt,
  verifyReceiptChain,
  type ChainVerification,
  type ReceiptSigner
} from '../../src/lib/protocol/receipt-chain.js';
import type {
  ExecutionReceipt,
  ExecutionStatus,
  UnsignedReceipt
} from '../../src/lib/protocol/receipts.js';
import { decodeReceipt, encodeBodyJson } from './codec.js';
import { IdempotencyConflictError, ReceiptAppendError, ReceiptDecodeError } from './errors.js';
import { nodeSha256, nodeVerifySignature } from './keys.js';

const log = createLogger('shard:oracle:receipts');

export const ORPHAN_REASON = 'daemon_restart_before_completion';

export interface ReceiptStoreOptions {
  /** SQLite file path; `:memory:` for a throwaway store. */
  path: string;
  signer: ReceiptSigner;
}

export interface ExecutionIndexRow {
  execution_id: string;
  created_at_ms: number;
  /** Terminal status once recorded (completed, failed, orphaned); null while running. */
  ended_status: ExecutionStatus | null;
}

export interface ReceiptStore {
  readonly publicKeyHex: string;
  /** Registers an execution; must precede its first append. Throws IdempotencyConflictError. */
  createExecution(row: {
    execution_id: string;
    created_at_ms: number;
    request_hash: string;
    idempotency_key?: string | null;
  }): void;
  /** The execution an idempotency key maps to, with the hash of its request body. */
  findByIdempotencyKey(key: string): { execution_id: string; request_hash: string } | null;
  hasExecution(executionId: string): boolean;
  /** Seals and appends one receipt; returns it as stored. Throws ReceiptAppendError. */
  append(unsigned: UnsignedReceipt): ExecutionReceipt;
  /** Commits pending appends now (they commit at the end of the event-loop turn anyway). */
  flush(): void;
  /** Records the terminal status of an execution (insert-only; a second call is ignored). */
  markEnded(executionId: string, status: Exclude<ExecutionStatus, 'running'>, atMs: number): void;
  /** All receipts of an execution in seq order; [] when unknown. */
  list(executionId: string): ExecutionReceipt[];
  /** Newest first. */
  listExecutions(options?: { limit?: number; beforeMs?: number }): ExecutionIndexRow[];
  /** Recomputes hashes and signatures of an execution's stored receipts. */
  verify(executionId: string): ChainVerification;
  /**
   * Crash repair, called once at start: every execution without a terminal status gets an
   * `orphaned` receipt for EACH in-flight tail (a leaf receipt that is not the workflow's end),
   * then is marked orphaned. Returns the orphaned receipts appended.
   */
  repairOrphans(nowMs?: number): ExecutionReceipt[];
  close(): void;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS executions (
  id INTEGER PRIMARY KEY,
  execution_id TEXT NOT NULL UNIQUE,
  created_at_ms INTEGER NOT NULL,
  request_hash TEXT NOT NULL,
  idempotency_key TEXT UNIQUE
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
CREATE TRIGGER IF NOT EXISTS receipts_no_update BEFORE UPDATE ON receipts
  BEGIN SELECT RAISE(ABORT, 'receipts are append-only'); END;
CREATE TRIGGER IF NOT EXISTS receipts_no_delete BEFORE DELETE ON receipts
  BEGIN SELECT RAISE(ABORT, 'receipts are append-only'); END;
CREATE TRIGGER IF NOT EXISTS executions_no_update BEFORE UPDATE ON executions
  BEGIN SELECT RAISE(ABORT, 'executions are append-only'); END;
CREATE TRIGGER IF NOT EXISTS executions_no_delete BEFORE DELETE ON executions
  BEGIN SELECT RAISE(ABORT, 'executions are append-only'); END;
CREATE TRIGGER IF NOT EXISTS signers_no_update BEFORE UPDATE ON signers
  BEGIN SELECT RAISE(ABORT, 'signers are append-only'); END;
CREATE TRIGGER IF NOT EXISTS signers_no_delete BEFORE DELETE ON signers
  BEGIN SELECT RAISE(ABORT, 'signers are append-only'); END;
CREATE TRIGGER IF NOT EXISTS execution_ends_no_update BEFORE UPDATE ON execution_ends
  BEGIN SELECT RAISE(ABORT, 'execution_ends are append-only'); END;
CREATE TRIGGER IF NOT EXISTS execution_ends_no_delete BEFORE DELETE ON execution_ends
  BEGIN SELECT RAISE(ABORT, 'execution_ends are append-only'); END;
`;

interface ChainHead {
  exec: number;
  seq: number;
  hash: string | null;
}

/** Opens (creating when needed) the store at `options.path`. */
export function createReceiptStore(options: ReceiptStoreOptions): ReceiptStore {
  if (options.path !== ':memory:') mkdirSync(dirname(options.path), { recursive: true });
  const db = new Database(options.path);
  // 8 KiB pages: a receipt carrying a whole brief stays in its b-tree cell instead of spilling
  // to a mostly empty overflow page (only effective when the file is created).
  db.pragma('page_size = 8192');
  db.pragma('journal_mode = WAL');
  // NORMAL in WAL mode: a commit survives a process crash; only an OS crash may lose the last ones.
  db.pragma('synchronous = NORMAL');
  db.pragma('busy_timeout = 5000');
  db.exec(SCHEMA);
  const signer = options.signer;

  const stmt = {
    insertExec: db.prepare(
      'INSERT INTO executions (execution_id, created_at_ms, request_hash, idempotency_key) VALUES (?, ?, ?, ?)'
    ),
    execId: db.prepare('SELECT id FROM executions WHERE execution_id = ?').pluck(),
    byKey: db.prepare(
      'SELECT execution_id, request_hash FROM executions WHERE idempotency_key = ?'
    ),
    insertReceipt: db.prepare(
      'INSERT INTO receipts (exec, seq, signer, sig, body) VALUES (?, ?, ?, ?, ?)'
    ),
    lastReceipt: db.prepare(
      'SELECT seq, signer, sig, body FROM receipts WHERE exec = ? ORDER BY seq DESC LIMIT 1'
    ),
    receipts: db.prepare('SELECT signer, sig, body FROM receipts WHERE exec = ? ORDER BY seq'),
    signers: db.prepare('SELECT id, public_key_hex FROM signers'),
    insertSigner: db.prepare('INSERT OR IGNORE INTO signers (public_key_hex) VALUES (?)'),
    insertEnd: db.prepare(
      'INSERT OR IGNORE INTO execution_ends (exec, status, ended_at_ms) VALUES (?, ?, ?)'
    ),
    listExec: db.prepare(
      `SELECT e.execution_id, e.created_at_ms, x.status AS ended_status FROM executions e
       LEFT JOIN execution_ends x ON x.exec = e.id WHERE e.created_at_ms < ? ORDER BY e.created_at_ms DESC, e.id DESC LIMIT ?`
    ),
    unended: db.prepare(
      'SELECT e.id, e.execution_id FROM executions e LEFT JOIN execution_ends x ON x.exec = e.id WHERE x.exec IS NULL'
    )
  };

  let commitScheduled = false;
  /** Opens the group transaction if none is open and schedules its commit. */
  function inGroup(): void {
    if (!db.inTransaction) db.exec('BEGIN');
    if (!commitScheduled) {
      commitScheduled = true;
      setImmediate(() => {
        commitScheduled = false;
        if (db.open) commit();
      });
    }
  }
  function commit(): void {
    if (!db.inTransaction) return;
    try {
      db.exec('COMMIT');
    } catch (err) {
      log.error('receipt commit failed; rolling back the group', { err });
      heads.clear();
      if (db.inTransaction) db.exec('ROLLBACK');
      throw new ReceiptAppendError('receipt commit failed', { cause: err });
    }
  }

  // Signer keys by row id (receipts name their signer by id; the body dictionary needs the key).
  stmt.insertSigner.run(signer.publicKeyHex);
  const signerKeys = new Map<number, string>();
  for (const row of stmt.signers.all() as Array<{ id: number; public_key_hex: string }>)
    signerKeys.set(row.id, row.public_key_hex);
  const ownSignerId = [...signerKeys].find(([, k]) => k === signer.publicKeyHex)![0];
  const decodeRow = (r: { signer: number; sig: Buffer; body: Buffer }) => {
    const key = signerKeys.get(r.signer);
    if (key === undefined) throw new ReceiptDecodeError(`receipt names unknown signer ${r.signer}`);
    return decodeReceipt(r.body, r.sig, key);
  };

  const heads = new Map<string, ChainHead>();
  const MAX_CACHED_HEADS = 10_000;

  function head(executionId: string): ChainHead {
    const cached = heads.get(executionId);
    if (cached) return cached;
    const exec = stmt.execId.get(executionId) as number | undefined;
    if (exec === undefined)
      throw new ReceiptAppendError(`unknown execution ${executionId}; createExecution first`);
    const last = stmt.lastReceipt.get(exec) as
      { seq: number; signer: number; sig: Buffer; body: Buffer } | undefined;
    const h: ChainHead = last
      ? { exec, seq: last.seq, hash: receiptHash(decodeRow(last), nodeSha256) }
      : { exec, seq: -1, hash: null };
    if (heads.size >= MAX_CACHED_HEADS) heads.clear();
    heads.set(executionId, h);
    return h;
  }

  const store: ReceiptStore = {
    publicKeyHex: signer.publicKeyHex,

    createExecution(row) {
      if (row.idempotency_key) {
        const existing = store.findByIdempotencyKey(row.idempotency_key);
        if (existing)
          throw new IdempotencyConflictError(
            `idempotency key already used by ${existing.execution_id}`
          );
      }
      inGroup();
      const info = stmt.insertExec.run(
        row.execution_id,
        row.created_at_ms,
        row.request_hash,
        row.idempotency_key ?? null
      );
      heads.set(row.execution_id, { exec: Number(info.lastInsertRowid), seq: -1, hash: null });
    },

    findByIdempotencyKey(key) {
      return (
        (stmt.byKey.get(key) as { execution_id: string; request_hash: string } | undefined) ?? null
      );
    },

    hasExecution(executionId) {
      return stmt.execId.get(executionId) !== undefined;
    },

    append(unsigned) {
      const h = head(unsigned.execution_id);
      const seq = h.seq + 1;
      const { receipt, hash, bodyJson, signatureBytes } = sealReceipt(unsigned, {
        seq,
        prevHash: h.hash,
        signer,
        sha256: nodeSha256
      });
      try {
        inGroup();
        stmt.insertReceipt.run(
          h.exec,
          seq,
          ownSignerId,
          Buffer.from(signatureBytes.buffer, signatureBytes.byteOffset, signatureBytes.byteLength),
          encodeBodyJson(bodyJson, signer.publicKeyHex)
        );
      } catch (err) {
        heads.delete(unsigned.execution_id);
        throw new ReceiptAppendError(`append failed for ${unsigned.execution_id} seq ${seq}`, {
          cause: err
        });
      }
      h.seq = seq;
      h.hash = hash;
      return receipt;
    },

    flush: () => commit(),

    markEnded(executionId, status, atMs) {
      const exec = stmt.execId.get(executionId) as number | undefined;
      if (exec === undefined) return;
      inGroup();
      stmt.insertEnd.run(exec, status, atMs);
      commit();
    },

    list(executionId) {
      const exec = stmt.execId.get(executionId) as number | undefined;
      if (exec === undefined) return [];
      return (stmt.receipts.all(exec) as Array<{ signer: number; sig: Buffer; body: Buffer }>).map(
        decodeRow
      );
    },

    listExecutions({ limit = 50, beforeMs = Number.MAX_SAFE_INTEGER } = {}) {
      return stmt.listExec.all(beforeMs, Math.max(1, Math.min(500, limit))) as ExecutionIndexRow[];
    },

    verify(executionId) {
      return verifyReceiptChain(store.list(executionId), {
        trustedKeys: [signer.publicKeyHex],
        verify: nodeVerifySignature,
        sha256: nodeSha256
      });
    },

    repairOrphans(nowMs = Date.now()) {
      const appended: ExecutionReceipt[] = [];
      for (const row of stmt.unended.all() as Array<{ id: number; execution_id: string }>) {
        const receipts = store.list(row.execution_id);
        const status = executionStatus(receipts);
        if (status !== 'running' || receipts.length === 0) {
          if (receipts.length > 0)
            store.markEnded(row.execution_id, status as Exclude<ExecutionStatus, 'running'>, nowMs);
          continue;
        }
        const parents = new Set(receipts.map((r) => r.parent_receipt_id).filter(Boolean));
        const tails = receipts.filter(
          (r) => !parents.has(r.receipt_id) && r.event_kind !== 'orphaned'
        );
        for (const tail of tails) {
          appended.push(
            store.append({
              receipt_id: `rcpt-${crypto.randomUUID()}`,
              execution_id: tail.execution_id,
              step_id: tail.step_id,
              attempt_id: tail.attempt_id,
              parent_receipt_id: tail.receipt_id,
              event_kind: 'orphaned',
              timestamp_ms: Math.max(nowMs, tail.timestamp_ms),
              workflow_kind: tail.workflow_kind,
              step_kind: tail.step_kind,
              selected_candidate: tail.selected_candidate,
              supply_tier: tail.supply_tier,
              trust_tier: tail.trust_tier,
              estimated_cost_usd: tail.estimated_cost_usd,
              outcome: 'orphaned',
              failure_reason: ORPHAN_REASON,
              agent_identity: 'workflow-controller',
              summary: 'Attempt orphaned during daemon restart'
            })
          );
        }
        store.markEnded(row.execution_id, 'orphaned', nowMs);
        log.warn('execution orphaned by restart', {
          execution_id: row.execution_id,
          tails: tails.length
        });
      }
      return appended;
    },

    close() {
      if (db.open) commit();
      heads.clear();
      db.close();
    }
  };
  return store;
}
