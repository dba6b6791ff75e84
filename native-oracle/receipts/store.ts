/**
 * The receipt store: one SQLite file (better-sqlite3, WAL) holding every execution's receipts,
 * append-only. Every append seals the receipt (seq, prev_hash, Ed25519 signature) before the
 * row is written, so what is stored is exactly what was signed; the execution's chain head (seq
 * and hash of its last receipt) is signed and written in the same transaction, so receipts cut
 * off the end of a chain are detected too (see receipt-chain.ts, step 5).
 *
 * Append-only is enforced twice: triggers make UPDATE and DELETE fail inside SQLite (schema.ts;
 * only the retention policy may delete, and only whole executions that have ended), and
 * signatures make any edit that bypasses the triggers (someone editing the file) detectable by
 * `verify()`.
 *
 * Group commit: appends join one open transaction that commits at the end of the current
 * event-loop turn (setImmediate), or at `flush()`. Readers on this connection see appended
 * receipts at once; a process crash can lose only the receipts of the last turn, which is
 * always the tail of a chain (never a hole), and their head with them. Callers that need a
 * receipt durable before they act (the runner, before it dispatches work) call `flush()` first:
 * write-ahead.
 *
 * Reading tolerates damage: a row that cannot be decoded is left out of `list()` (and logged),
 * `verify()` names it, and `summary()` reports the execution as `corrupted`, so one bad row never
 * breaks listing the others.
 */
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { createLogger } from '../../src/lib/server/log.js';
import { executionStatus, summarizeExecution } from '../../src/lib/protocol/provenance.js';
import {
  receiptHash,
  sealReceipt,
  signChainHead,
  verifyReceiptChain,
  type ChainVerification,
  type ReceiptSigner,
  type SignedChainHead
} from '../../src/lib/protocol/receipt-chain.js';
import {
  CORRUPTED_STATUS,
  type ExecutionReceipt,
  type ExecutionStatus,
  type ExecutionSummary,
  type UnsignedReceipt
} from '../../src/lib/protocol/receipts.js';
import { decodeReceipt, encodeBodyJson } from './codec.js';
import {
  IdempotencyConflictError,
  ReceiptAppendError,
  ReceiptDecodeError,
  ReceiptStorageFullError,
  ReceiptStoreOpenError
} from './errors.js';
import { nodeSha256, nodeVerifySignature } from './keys.js';
import { DAY_MS, PRUNE_INTERVAL_MS } from './retention.js';
import { LOCAL_OWNER, migrate } from './schema.js';

export { parseRetentionDays, PRUNE_INTERVAL_MS, RETENTION_ENV } from './retention.js';
export { LOCAL_OWNER } from './schema.js';

const log = createLogger('shard:oracle:receipts');

export const ORPHAN_REASON = 'daemon_restart_before_completion';

export interface ReceiptStoreOptions {
  /** SQLite file path; `:memory:` for a throwaway store. */
  path: string;
  signer: ReceiptSigner;
  /**
   * Keys whose receipts and heads `verify()` accepts; default the signer's key plus its
   * `previousPublicKeys` (the keyring's retired keys).
   */
  trustedKeys?: readonly string[];
  /**
   * Days the receipts of an execution that has ENDED are kept after it ended; null keeps them
   * forever. Default null. The oracle passes its validated SHARD_RECEIPT_RETENTION_DAYS.
   */
  retentionDays?: number | null;
  /**
   * Largest file size in SQLite pages (8 KiB each) this connection may grow the file to
   * (`PRAGMA max_page_count`); default SQLite's own (about 4 billion pages). Tests use it to make
   * a full disk real (SQLITE_FULL) without filling one.
   */
  maxPageCount?: number;
}

export interface ExecutionIndexRow {
  execution_id: string;
  created_at_ms: number;
  /** Who created it (security.ts `Caller.owner`); LOCAL_OWNER for rows stored before owners. */
  owner: string;
  /** Terminal status once recorded (completed, failed, orphaned); null while running. */
  ended_status: ExecutionStatus | null;
}

export interface ReceiptStore {
  readonly publicKeyHex: string;
  /** Keys `verify()` trusts: the current one first, then retired ones. */
  readonly trustedKeys: readonly string[];
  /**
   * Registers an execution; must precede its first append. `owner` defaults to LOCAL_OWNER.
   * Throws IdempotencyConflictError when the owner already used the idempotency key,
   * ReceiptStorageFullError when the disk (or the file's size limit) is full.
   */
  createExecution(row: {
    execution_id: string;
    created_at_ms: number;
    request_hash: string;
    owner?: string;
    idempotency_key?: string | null;
  }): void;
  /**
   * The execution `owner` (default LOCAL_OWNER) registered under an idempotency key, with the
   * hash of its request body. Keys are scoped to their owner: another owner's key is not found.
   */
  findByIdempotencyKey(
    key: string,
    owner?: string
  ): { execution_id: string; request_hash: string } | null;
  hasExecution(executionId: string): boolean;
  /** The owner of an execution; null when it is unknown. */
  ownerOf(executionId: string): string | null;
  /**
   * Why writes currently fail (`disk_full`), with a plain message; null once a later write
   * succeeded. Health reports it.
   */
  writeProblem(): { reason: 'disk_full'; message: string } | null;
  /**
   * Seals and appends one receipt; returns it as stored. Throws ReceiptAppendError, also when
   * the stored chain no longer matches its signed head (appending would hide the damage).
   */
  append(unsigned: UnsignedReceipt): ExecutionReceipt;
  /** Commits pending appends now (they commit at the end of the event-loop turn anyway). */
  flush(): void;
  /** Records the terminal status of an execution (insert-only; a second call is ignored). */
  markEnded(executionId: string, status: Exclude<ExecutionStatus, 'running'>, atMs: number): void;
  /**
   * All decodable receipts of an execution in seq order; [] when unknown. Rows that cannot be
   * decoded are left out (logged); `verify()` and `summary()` report them.
   */
  list(executionId: string): ExecutionReceipt[];
  /** Newest first; only `owner`'s when given. */
  listExecutions(options?: {
    limit?: number;
    beforeMs?: number;
    owner?: string;
  }): ExecutionIndexRow[];
  /** The execution's signed chain head (commits pending appends first); null when it has none. */
  head(executionId: string): SignedChainHead | null;
  /**
   * Recomputes hashes and signatures of an execution's stored receipts and checks them against
   * its signed head (truncation, extra receipts). Never throws.
   */
  verify(executionId: string): ChainVerification;
  /**
   * The execution summary (provenance.ts), with status `corrupted` and `integrity_problem` set
   * when `verify()` fails; null when the execution is unknown.
   */
  summary(executionId: string): ExecutionSummary | null;
  /**
   * Applies the retention policy: removes every execution that ended more than `retentionDays`
   * before `nowMs` (receipts, head, index row), leaving a tombstone. Other chains are untouched
   * and still verify. Returns how many were removed; 0 when retention is off.
   */
  prune(nowMs?: number): number;
  /** True when the retention policy removed this execution. */
  isPruned(executionId: string): boolean;
  /**
   * Crash repair, called once at start: every execution without a terminal status gets an
   * `orphaned` receipt for EACH in-flight tail (a leaf receipt that is not the workflow's end),
   * then is marked orphaned. Executions whose stored chain fails verification are left as they
   * are (logged): appending would hide the damage. Returns the orphaned receipts appended.
   */
  repairOrphans(nowMs?: number): ExecutionReceipt[];
  close(): void;
}

/** The append position of one execution: its row id and the seq/hash of its last receipt. */
interface ChainTip {
  exec: number;
  seq: number;
  hash: string | null;
}

type Row = { seq: number; signer: number; sig: Buffer; body: Buffer };

/** Decoded rows of one execution, with the rows that could not be decoded. */
interface StoredChain {
  exec: number;
  receipts: ExecutionReceipt[];
  /** Store seq of each receipt in `receipts`. */
  seqs: number[];
  undecodable: Array<{ seq: number; error: Error }>;
}

function openDatabase(path: string): Database.Database {
  let db: Database.Database | undefined;
  try {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    db = new Database(path);
    // 8 KiB pages: a receipt carrying a whole brief stays in its b-tree cell instead of spilling
    // to a mostly empty overflow page (only effective when the file is created).
    db.pragma('page_size = 8192');
    db.pragma('journal_mode = WAL');
    // NORMAL in WAL mode: a commit survives a process crash; only an OS crash may lose the last ones.
    db.pragma('synchronous = NORMAL');
    db.pragma('busy_timeout = 5000');
    return db;
  } catch (err) {
    db?.close();
    throw new ReceiptStoreOpenError(
      `cannot open the receipt store ${path}: ${(err as Error).message}. If the file is damaged, ` +
        'restore it from a backup, or move it aside to start with an empty store ' +
        '(the receipts in it are then no longer served).',
      { cause: err }
    );
  }
}

/** Opens (creating when needed) the store at `options.path`. Throws ReceiptStoreOpenError. */
export function createReceiptStore(options: ReceiptStoreOptions): ReceiptStore {
  const retentionDays = options.retentionDays ?? null;
  const db = openDatabase(options.path);
  if (options.maxPageCount !== undefined)
    db.pragma(`max_page_count = ${Math.floor(options.maxPageCount)}`);
  const signer = options.signer;
  try {
    migrate(db, () => backfillHeads(db, signer));
  } catch (err) {
    db.close();
    throw new ReceiptStoreOpenError(
      `cannot open the receipt store ${options.path}: ${(err as Error).message}`,
      { cause: err }
    );
  }
  const trustedKeys = options.trustedKeys ?? [
    signer.publicKeyHex,
    ...(signer.previousPublicKeys ?? [])
  ];
  const stmt = prepareStatements(db);

  // Signer keys by row id (receipts name their signer by id; the body dictionary needs the key).
  stmt.insertSigner.run(signer.publicKeyHex);
  const signerKeys = new Map<number, string>();
  for (const row of stmt.signers.all() as Array<{ id: number; public_key_hex: string }>)
    signerKeys.set(row.id, row.public_key_hex);
  const ownSignerId = [...signerKeys].find(([, k]) => k === signer.publicKeyHex)![0];
  for (const key of signerKeys.values()) {
    if (!trustedKeys.includes(key))
      log.warn('the store holds receipts of a key that is not trusted (not in the keyring)', {
        public_key: key
      });
  }
  const decodeRow = (r: { signer: number; sig: Buffer; body: Buffer }) => {
    const key = signerKeys.get(r.signer);
    if (key === undefined) throw new ReceiptDecodeError(`receipt names unknown signer ${r.signer}`);
    return decodeReceipt(r.body, r.sig, key);
  };

  const tips = new Map<string, ChainTip>();
  // Tips appended in the open group transaction: their heads are signed and written at commit.
  const pendingHeads = new Map<string, ChainTip>();
  const MAX_CACHED_TIPS = 10_000;

  let commitScheduled = false;
  /** Set by a write that failed for lack of space; cleared by the next successful commit. */
  let writeProblem: { reason: 'disk_full'; message: string } | null = null;
  /** Opens the group transaction if none is open and schedules its commit. */
  function inGroup(): void {
    if (!db.inTransaction) db.exec('BEGIN');
    if (!commitScheduled) {
      commitScheduled = true;
      setImmediate(() => {
        commitScheduled = false;
        try {
          if (db.open) commit();
        } catch {
          // Logged by commit(); the appends of this turn are lost like in a crash (a chain's tail),
          // and throwing here would end the process.
        }
      });
    }
  }
  function commit(): void {
    if (!db.inTransaction) return;
    try {
      for (const [executionId, tip] of pendingHeads) {
        const signed = signChainHead(
          { execution_id: executionId, seq: tip.seq, hash: tip.hash! },
          signer
        );
        stmt.upsertHead.run(
          tip.exec,
          tip.seq,
          tip.hash,
          ownSignerId,
          toBuffer(signed.signatureBytes)
        );
      }
      pendingHeads.clear();
      db.exec('COMMIT');
      writeProblem = null;
    } catch (err) {
      log.error('receipt commit failed; rolling back the group', { err });
      abandonGroup();
      if (isStorageFull(err)) throw storageFull(err);
      throw new ReceiptAppendError('receipt commit failed', { cause: err });
    }
  }

  /** Drops the open group (its appends are lost like in a crash: chain tails, never holes). */
  function abandonGroup(): void {
    tips.clear();
    pendingHeads.clear();
    try {
      if (db.inTransaction) db.exec('ROLLBACK');
    } catch (err) {
      // SQLite may already have rolled back after SQLITE_FULL; nothing is left open then.
      log.debug('rollback after a failed write', { err });
    }
  }
  /** Records a full disk for health and returns the error to throw. */
  function storageFull(err: unknown): ReceiptStorageFullError {
    writeProblem = { reason: 'disk_full', message: STORAGE_FULL_MESSAGE };
    log.error('the receipt store cannot write: the disk or the file size limit is full', { err });
    return new ReceiptStorageFullError(STORAGE_FULL_MESSAGE, { cause: err });
  }

  function readChain(exec: number): StoredChain {
    const chain: StoredChain = { exec, receipts: [], seqs: [], undecodable: [] };
    for (const row of stmt.receipts.all(exec) as Row[]) {
      try {
        chain.receipts.push(decodeRow(row));
        chain.seqs.push(row.seq);
      } catch (err) {
        chain.undecodable.push({ seq: row.seq, error: err as Error });
      }
    }
    return chain;
  }

  /** The stored signed head; commits the open group first so the head covers every append. */
  function signedHead(exec: number, executionId: string): SignedChainHead | null {
    if (pendingHeads.size > 0) commit();
    const row = stmt.head.get(exec) as
      { seq: number; hash: string; signer: number; sig: Buffer } | undefined;
    if (!row) return null;
    return {
      execution_id: executionId,
      seq: row.seq,
      hash: row.hash,
      node_identity: signerKeys.get(row.signer) ?? '',
      signature: row.sig.toString('hex')
    };
  }

  function verifyChain(executionId: string, chain: StoredChain): ChainVerification {
    const check = { trustedKeys, verify: nodeVerifySignature, sha256: nodeSha256 };
    const head = signedHead(chain.exec, executionId);
    const firstBad = chain.undecodable[0];
    if (!firstBad) return verifyReceiptChain(chain.receipts, { ...check, head });
    // Verify what precedes the unreadable row; the report then points at that row.
    const before = chain.receipts.filter((_, i) => chain.seqs[i]! < firstBad.seq);
    const count = chain.receipts.length + chain.undecodable.length;
    const report = verifyReceiptChain(before, check);
    if (!report.ok) return { ...report, count };
    return {
      ...report,
      ok: false,
      count,
      first_bad: {
        index: before.length,
        receipt_id: null,
        seq: firstBad.seq,
        reason: 'malformed',
        detail: `stored receipt seq ${firstBad.seq} cannot be decoded: ${firstBad.error.message}`
      }
    };
  }

  /** Loads the append position, refusing a chain that no longer matches its signed head. */
  function tip(executionId: string): ChainTip {
    const cached = pendingHeads.get(executionId) ?? tips.get(executionId);
    if (cached) return cached;
    const exec = stmt.execId.get(executionId) as number | undefined;
    if (exec === undefined)
      throw new ReceiptAppendError(`unknown execution ${executionId}; createExecution first`);
    const last = stmt.lastReceipt.get(exec) as Row | undefined;
    const head = stmt.head.get(exec) as { seq: number; hash: string } | undefined;
    let t: ChainTip = { exec, seq: -1, hash: null };
    if (last) {
      try {
        t = { exec, seq: last.seq, hash: receiptHash(decodeRow(last), nodeSha256) };
      } catch (err) {
        throw new ReceiptAppendError(
          `cannot append to ${executionId}: its last stored receipt (seq ${last.seq}) cannot be decoded`,
          { cause: err }
        );
      }
    }
    if ((head?.seq ?? -1) !== t.seq || (head?.hash ?? null) !== t.hash) {
      throw new ReceiptAppendError(
        `cannot append to ${executionId}: the stored chain ends at seq ${t.seq} but its signed ` +
          `head says ${head ? `seq ${head.seq}` : 'nothing'}; the store file was modified`
      );
    }
    if (tips.size >= MAX_CACHED_TIPS) tips.clear();
    tips.set(executionId, t);
    return t;
  }

  let pruneTimer: ReturnType<typeof setInterval> | null = null;

  const store: ReceiptStore = {
    publicKeyHex: signer.publicKeyHex,
    trustedKeys,

    createExecution(row) {
      if (row.idempotency_key) {
        const existing = store.findByIdempotencyKey(row.idempotency_key, row.owner);
        if (existing)
          throw new IdempotencyConflictError(
            `idempotency key already used by ${existing.execution_id}`
          );
      }
      inGroup();
      let info: Database.RunResult;
      try {
        info = stmt.insertExec.run(
          row.execution_id,
          row.created_at_ms,
          row.request_hash,
          row.owner ?? LOCAL_OWNER,
          row.idempotency_key ?? null
        );
      } catch (err) {
        if (!isStorageFull(err)) throw err;
        abandonGroup();
        throw storageFull(err);
      }
      tips.set(row.execution_id, { exec: Number(info.lastInsertRowid), seq: -1, hash: null });
    },

    findByIdempotencyKey(key, owner = LOCAL_OWNER) {
      return (
        (stmt.byKey.get(owner, key) as
          { execution_id: string; request_hash: string } | undefined) ?? null
      );
    },

    ownerOf(executionId) {
      return (stmt.ownerOf.get(executionId) as string | undefined) ?? null;
    },

    writeProblem: () => writeProblem,

    hasExecution(executionId) {
      return stmt.execId.get(executionId) !== undefined;
    },

    append(unsigned) {
      const t = tip(unsigned.execution_id);
      const seq = t.seq + 1;
      const { receipt, hash, bodyJson, signatureBytes } = sealReceipt(unsigned, {
        seq,
        prevHash: t.hash,
        signer,
        sha256: nodeSha256
      });
      try {
        inGroup();
        stmt.insertReceipt.run(
          t.exec,
          seq,
          ownSignerId,
          toBuffer(signatureBytes),
          encodeBodyJson(bodyJson, signer.publicKeyHex)
        );
      } catch (err) {
        if (isStorageFull(err)) {
          abandonGroup();
          throw storageFull(err);
        }
        tips.delete(unsigned.execution_id);
        throw new ReceiptAppendError(`append failed for ${unsigned.execution_id} seq ${seq}`, {
          cause: err
        });
      }
      t.seq = seq;
      t.hash = hash;
      pendingHeads.set(unsigned.execution_id, t);
      return receipt;
    },

    flush: () => commit(),

    markEnded(executionId, status, atMs) {
      const exec = stmt.execId.get(executionId) as number | undefined;
      if (exec === undefined) return;
      inGroup();
      try {
        stmt.insertEnd.run(exec, status, atMs);
      } catch (err) {
        if (!isStorageFull(err)) throw err;
        abandonGroup();
        throw storageFull(err);
      }
      commit();
    },

    list(executionId) {
      const exec = stmt.execId.get(executionId) as number | undefined;
      if (exec === undefined) return [];
      const chain = readChain(exec);
      if (chain.undecodable.length > 0) {
        log.warn('stored receipts cannot be decoded; listing the others', {
          execution_id: executionId,
          seqs: chain.undecodable.map((u) => u.seq)
        });
      }
      return chain.receipts;
    },

    listExecutions({ limit = 50, beforeMs = Number.MAX_SAFE_INTEGER, owner } = {}) {
      const n = Math.max(1, Math.min(500, limit));
      return (
        owner === undefined
          ? stmt.listExec.all(beforeMs, n)
          : stmt.listOwned.all(owner, beforeMs, n)
      ) as ExecutionIndexRow[];
    },

    head(executionId) {
      const exec = stmt.execId.get(executionId) as number | undefined;
      return exec === undefined ? null : signedHead(exec, executionId);
    },

    verify(executionId) {
      const exec = stmt.execId.get(executionId) as number | undefined;
      if (exec === undefined) return verifyReceiptChain([], { trustedKeys });
      return verifyChain(executionId, readChain(exec));
    },

    summary(executionId) {
      const index = stmt.execIndex.get(executionId) as
        { id: number; created_at_ms: number } | undefined;
      if (!index) return null;
      const chain = readChain(index.id);
      const report = verifyChain(executionId, chain);
      const summary = summarizeExecution(chain.receipts) ?? {
        execution_id: executionId,
        workflow_kind: 'unknown',
        status: 'running' as const,
        created_at_ms: index.created_at_ms,
        updated_at_ms: index.created_at_ms,
        source_count: 0,
        receipt_count: 0,
        observed_cost_usd: 0
      };
      if (report.ok) return chain.receipts.length > 0 ? summary : null;
      const bad = report.first_bad!;
      return {
        ...summary,
        status: CORRUPTED_STATUS,
        integrity_problem: `${bad.reason} at receipt #${bad.index}: ${bad.detail}`
      };
    },

    prune(nowMs = Date.now()) {
      if (retentionDays === null) return 0;
      commit();
      const rows = stmt.prunable.all(nowMs - retentionDays * DAY_MS) as Array<{
        id: number;
        execution_id: string;
      }>;
      if (rows.length === 0) return 0;
      db.transaction(() => {
        for (const row of rows) {
          // The tombstone first: the delete triggers allow deleting only pruned executions.
          stmt.insertTombstone.run(row.execution_id, nowMs);
          stmt.deleteReceipts.run(row.id);
          stmt.deleteHead.run(row.id);
          stmt.deleteEnd.run(row.id);
          stmt.deleteExec.run(row.id);
        }
      })();
      for (const row of rows) tips.delete(row.execution_id);
      log.info('pruned the receipts of ended executions', {
        count: rows.length,
        retention_days: retentionDays
      });
      return rows.length;
    },

    isPruned(executionId) {
      return stmt.isPruned.get(executionId) !== undefined;
    },

    repairOrphans(nowMs = Date.now()) {
      const appended: ExecutionReceipt[] = [];
      for (const row of stmt.unended.all() as Array<{ id: number; execution_id: string }>) {
        appended.push(...repairOne(row.execution_id, nowMs));
      }
      return appended;
    },

    close() {
      if (pruneTimer) clearInterval(pruneTimer);
      if (db.open) commit();
      tips.clear();
      db.close();
    }
  };

  /** Orphan repair of one execution without a terminal status (see repairOrphans). */
  function repairOne(executionId: string, nowMs: number): ExecutionReceipt[] {
    const receipts = store.list(executionId);
    const status = executionStatus(receipts);
    if (status !== 'running' || receipts.length === 0) {
      if (receipts.length > 0)
        store.markEnded(executionId, status as Exclude<ExecutionStatus, 'running'>, nowMs);
      return [];
    }
    const report = store.verify(executionId);
    if (!report.ok) {
      log.error('not repairing an execution whose stored receipts fail verification', {
        execution_id: executionId,
        reason: report.first_bad?.reason,
        index: report.first_bad?.index
      });
      return [];
    }
    const parents = new Set(receipts.map((r) => r.parent_receipt_id).filter(Boolean));
    const tails = receipts.filter((r) => !parents.has(r.receipt_id) && r.event_kind !== 'orphaned');
    const appended = tails.map((tail) =>
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
    store.markEnded(executionId, 'orphaned', nowMs);
    log.warn('execution orphaned by restart', { execution_id: executionId, tails: tails.length });
    return appended;
  }

  if (retentionDays !== null) {
    store.prune();
    pruneTimer = setInterval(() => {
      try {
        store.prune();
      } catch (err) {
        log.error('pruning receipts failed', { err });
      }
    }, PRUNE_INTERVAL_MS);
    pruneTimer.unref();
  }
  return store;
}

/** What a client is told when the store cannot write (no path: it goes over HTTP). */
const STORAGE_FULL_MESSAGE =
  "the oracle's disk is full: receipts cannot be written, so no task can start or continue. Free disk space on the oracle's machine and retry.";

/** SQLite and errno codes that mean "no space to write", searched along the cause chain. */
const STORAGE_FULL_CODES = new Set(['SQLITE_FULL', 'ENOSPC', 'EDQUOT', 'EFBIG']);

/** True when `err` (or one of its causes) says the disk or the file's size limit is full. */
export function isStorageFull(err: unknown): boolean {
  for (let e = err, depth = 0; e instanceof Error && depth < 8; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && STORAGE_FULL_CODES.has(code)) return true;
    if (e.name === 'ReceiptStorageFullError') return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}

const toBuffer = (bytes: Uint8Array) =>
  Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);

function prepareStatements(db: Database.Database) {
  return {
    insertExec: db.prepare(
      'INSERT INTO executions (execution_id, created_at_ms, request_hash, owner, idempotency_key) VALUES (?, ?, ?, ?, ?)'
    ),
    ownerOf: db.prepare('SELECT owner FROM executions WHERE execution_id = ?').pluck(),
    execId: db.prepare('SELECT id FROM executions WHERE execution_id = ?').pluck(),
    execIndex: db.prepare('SELECT id, created_at_ms FROM executions WHERE execution_id = ?'),
    byKey: db.prepare(
      'SELECT execution_id, request_hash FROM executions WHERE owner = ? AND idempotency_key = ?'
    ),
    insertReceipt: db.prepare(
      'INSERT INTO receipts (exec, seq, signer, sig, body) VALUES (?, ?, ?, ?, ?)'
    ),
    lastReceipt: db.prepare(
      'SELECT seq, signer, sig, body FROM receipts WHERE exec = ? ORDER BY seq DESC LIMIT 1'
    ),
    receipts: db.prepare('SELECT seq, signer, sig, body FROM receipts WHERE exec = ? ORDER BY seq'),
    head: db.prepare('SELECT seq, hash, signer, sig FROM chain_heads WHERE exec = ?'),
    upsertHead: db.prepare(
      `INSERT INTO chain_heads (exec, seq, hash, signer, sig) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT(exec) DO UPDATE SET seq = excluded.seq, hash = excluded.hash,
       signer = excluded.signer, sig = excluded.sig`
    ),
    signers: db.prepare('SELECT id, public_key_hex FROM signers'),
    insertSigner: db.prepare('INSERT OR IGNORE INTO signers (public_key_hex) VALUES (?)'),
    insertEnd: db.prepare(
      'INSERT OR IGNORE INTO execution_ends (exec, status, ended_at_ms) VALUES (?, ?, ?)'
    ),
    listExec: db.prepare(
      `SELECT e.execution_id, e.created_at_ms, e.owner, x.status AS ended_status FROM executions e
       LEFT JOIN execution_ends x ON x.exec = e.id WHERE e.created_at_ms < ? ORDER BY e.created_at_ms DESC, e.id DESC LIMIT ?`
    ),
    listOwned: db.prepare(
      `SELECT e.execution_id, e.created_at_ms, e.owner, x.status AS ended_status FROM executions e
       LEFT JOIN execution_ends x ON x.exec = e.id WHERE e.owner = ? AND e.created_at_ms < ? ORDER BY e.created_at_ms DESC, e.id DESC LIMIT ?`
    ),
    unended: db.prepare(
      'SELECT e.id, e.execution_id FROM executions e LEFT JOIN execution_ends x ON x.exec = e.id WHERE x.exec IS NULL'
    ),
    prunable: db.prepare(
      'SELECT e.id, e.execution_id FROM executions e JOIN execution_ends x ON x.exec = e.id WHERE x.ended_at_ms < ?'
    ),
    insertTombstone: db.prepare(
      'INSERT OR IGNORE INTO pruned_executions (execution_id, pruned_at_ms) VALUES (?, ?)'
    ),
    isPruned: db.prepare('SELECT 1 FROM pruned_executions WHERE execution_id = ?'),
    deleteReceipts: db.prepare('DELETE FROM receipts WHERE exec = ?'),
    deleteHead: db.prepare('DELETE FROM chain_heads WHERE exec = ?'),
    deleteEnd: db.prepare('DELETE FROM execution_ends WHERE exec = ?'),
    deleteExec: db.prepare('DELETE FROM executions WHERE id = ?')
  };
}

/**
 * Schema upgrade to signed heads: signs the current end of every chain written before heads
 * existed. Runs inside the migration transaction; a chain whose last row cannot be decoded gets
 * no head (verification then reports it).
 */
function backfillHeads(db: Database.Database, signer: ReceiptSigner): void {
  db.prepare('INSERT OR IGNORE INTO signers (public_key_hex) VALUES (?)').run(signer.publicKeyHex);
  const keys = new Map(
    (
      db.prepare('SELECT id, public_key_hex FROM signers').all() as Array<{
        id: number;
        public_key_hex: string;
      }>
    ).map((r) => [r.id, r.public_key_hex])
  );
  const ownId = [...keys].find(([, k]) => k === signer.publicKeyHex)![0];
  const rows = db
    .prepare(
      `SELECT e.id, e.execution_id, r.seq, r.signer, r.sig, r.body FROM executions e
       JOIN receipts r ON r.exec = e.id
       WHERE r.seq = (SELECT MAX(seq) FROM receipts WHERE exec = e.id)`
    )
    .all() as Array<Row & { id: number; execution_id: string }>;
  const insert = db.prepare(
    'INSERT OR IGNORE INTO chain_heads (exec, seq, hash, signer, sig) VALUES (?, ?, ?, ?, ?)'
  );
  let signed = 0;
  for (const row of rows) {
    let hash: string;
    try {
      hash = receiptHash(decodeReceipt(row.body, row.sig, keys.get(row.signer) ?? ''), nodeSha256);
    } catch (err) {
      log.warn('cannot sign a head for a chain whose last receipt cannot be decoded', {
        execution_id: row.execution_id,
        err
      });
      continue;
    }
    const head = signChainHead({ execution_id: row.execution_id, seq: row.seq, hash }, signer);
    insert.run(row.id, row.seq, hash, ownId, toBuffer(head.signatureBytes));
    signed++;
  }
  if (signed > 0)
    log.info('signed chain heads for receipts written before heads existed', { signed });
}
