/**
 * The browser's own copy of executions and their receipts, in IndexedDB (`idb`), so the
 * provenance explorer lists its history and opens and verifies an execution with no network.
 *
 * Database `shard-receipts` (version 1):
 *  - `executions`: one record per execution this browser saw (key `execution_id`), with the
 *    oracle origin it came from and the source titles the page submitted (receipts carry ids only);
 *  - `receipts`: each receipt exactly as received (key `[execution_id, seq]`), kept inside a
 *    wrapper so the signed object is stored and read back untouched;
 *  - `pins`: the signer key pinned per oracle origin (see pinning.ts).
 *
 * Only chains that verified are saved, and a saved chain is never replaced by a different one:
 * the copy kept here is an outside record that can catch an oracle whose store was edited later.
 */
import { openDB, type DBSchema, type IDBPDatabase } from 'idb';
import { summarizeExecution } from '$lib/protocol/provenance.js';
import type { ExecutionReceipt, SummaryStatus } from '$lib/protocol/receipts.js';

const DB_NAME = 'shard-receipts';
const DB_VERSION = 1;

/** What the history list shows of one saved execution. */
export interface StoredExecution {
  execution_id: string;
  /** Origin of the oracle that served it, e.g. `http://127.0.0.1:9091`. */
  origin: string;
  question: string | null;
  status: SummaryStatus;
  receipt_count: number;
  observed_cost_usd: number;
  created_at_ms: number;
  updated_at_ms: number;
  /** When this browser last wrote it. */
  saved_at_ms: number;
  /** Source id -> title, as submitted from this page (receipts only carry ids). */
  source_titles: Record<string, string>;
}

/** The signer key(s) this browser trusts for one oracle origin. */
export interface SignerPin {
  origin: string;
  /** The key the oracle advertised when it was pinned (or last accepted by the user). */
  current_key: string;
  /** Every key the user accepted for this origin, oldest first (receipts they signed verify). */
  trusted_keys: string[];
  pinned_at_ms: number;
}

interface ReceiptDb extends DBSchema {
  executions: { key: string; value: StoredExecution; indexes: { 'by-updated': number } };
  receipts: {
    key: [string, number];
    value: { execution_id: string; seq: number; receipt: ExecutionReceipt };
    indexes: { 'by-execution': string };
  };
  pins: { key: string; value: SignerPin };
}

let dbPromise: Promise<IDBPDatabase<ReceiptDb>> | null = null;

/** Opens (once per page) the receipt database. Rejects when IndexedDB is unavailable. */
export function receiptDb(): Promise<IDBPDatabase<ReceiptDb>> {
  dbPromise ??= openDB<ReceiptDb>(DB_NAME, DB_VERSION, {
    upgrade(db) {
      const executions = db.createObjectStore('executions', { keyPath: 'execution_id' });
      executions.createIndex('by-updated', 'updated_at_ms');
      const receipts = db.createObjectStore('receipts', { keyPath: ['execution_id', 'seq'] });
      receipts.createIndex('by-execution', 'execution_id');
      db.createObjectStore('pins', { keyPath: 'origin' });
    }
  }).catch((err: unknown) => {
    dbPromise = null;
    throw err;
  });
  return dbPromise;
}

/**
 * Where a fresh copy of a chain first departs from the saved one: the seq of the first receipt
 * that differs (id or signature) or is missing from the fresh copy; null when the fresh copy
 * holds the saved one as its prefix (same chain, possibly grown). Both in seq order.
 */
export function firstDifference(
  saved: readonly ExecutionReceipt[],
  fresh: readonly ExecutionReceipt[]
): number | null {
  for (let i = 0; i < saved.length; i++) {
    const a = saved[i]!;
    const b = fresh[i];
    if (!b || b.receipt_id !== a.receipt_id || b.signature !== a.signature) return a.seq;
  }
  return null;
}

/** Receipts saved for `executionId`, in seq order (empty when none). */
export async function loadSavedReceipts(executionId: string): Promise<ExecutionReceipt[]> {
  const db = await receiptDb();
  const rows = await db.getAllFromIndex('receipts', 'by-execution', executionId);
  return rows.sort((a, b) => a.seq - b.seq).map((row) => row.receipt);
}

/** The saved record of one execution, or null. */
export async function savedExecution(executionId: string): Promise<StoredExecution | null> {
  return (await (await receiptDb()).get('executions', executionId)) ?? null;
}

/** Saved executions, most recently updated first. */
export async function listSavedExecutions(limit = 50): Promise<StoredExecution[]> {
  const db = await receiptDb();
  const all = await db.getAllFromIndex('executions', 'by-updated');
  return all.reverse().slice(0, limit);
}

/**
 * Saves a verified chain (in seq order) and its summary. Titles merge with those saved before.
 * Returns `{ conflictAtSeq }` instead of writing when a different chain is already saved under
 * this id (see firstDifference); the saved copy is then kept as it is.
 */
export async function saveExecution(options: {
  origin: string;
  receipts: readonly ExecutionReceipt[];
  sourceTitles?: Record<string, string>;
}): Promise<{ conflictAtSeq: number | null }> {
  const summary = summarizeExecution(options.receipts);
  if (!summary) return { conflictAtSeq: null };
  const id = summary.execution_id;
  const saved = await loadSavedReceipts(id);
  const conflictAtSeq = firstDifference(saved, options.receipts);
  if (conflictAtSeq !== null) return { conflictAtSeq };
  const db = await receiptDb();
  const tx = db.transaction(['executions', 'receipts'], 'readwrite');
  const before = await tx.objectStore('executions').get(id);
  const record: StoredExecution = {
    execution_id: id,
    origin: options.origin,
    question: summary.question ?? null,
    status: summary.status,
    receipt_count: summary.receipt_count,
    observed_cost_usd: summary.observed_cost_usd,
    created_at_ms: summary.created_at_ms,
    updated_at_ms: summary.updated_at_ms,
    saved_at_ms: Date.now(),
    source_titles: { ...before?.source_titles, ...options.sourceTitles }
  };
  await Promise.all([
    ...options.receipts
      .slice(saved.length)
      .map((receipt) =>
        tx.objectStore('receipts').put({ execution_id: id, seq: receipt.seq, receipt })
      ),
    tx.objectStore('executions').put(record),
    tx.done
  ]);
  return { conflictAtSeq: null };
}

/** Reads the pin of `origin`, or null. */
export async function readPin(origin: string): Promise<SignerPin | null> {
  return (await (await receiptDb()).get('pins', origin)) ?? null;
}

/** Writes the pin of `pin.origin`. */
export async function writePin(pin: SignerPin): Promise<void> {
  await (await receiptDb()).put('pins', pin);
}
