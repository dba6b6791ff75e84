/**
 * Receipt store owners (issue #10, finding 3): every execution has an owner, idempotency keys are
 * unique per owner, and a store written before owners existed (schema version 1) is migrated on
 * open with every existing execution owned by the local user, chains still verifying. Also the
 * store's full-disk state (finding 14) on a real SQLite file.
 */
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { UnsignedReceipt } from '../../src/lib/protocol/receipts.js';
import {
  createNodeSigner,
  createReceiptStore,
  IdempotencyConflictError,
  LOCAL_OWNER,
  ReceiptStorageFullError
} from '../../native-oracle/receipts/index.js';
import { SCHEMA_VERSION } from '../../native-oracle/receipts/schema.js';

const dirs: string[] = [];
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), 'shard-receipts-owners-'));
  dirs.push(d);
  return d;
};
afterEach(() => {
  while (dirs.length) rmSync(dirs.pop()!, { recursive: true, force: true });
});

const signer = createNodeSigner(new Uint8Array(32).fill(21));
const execId = (n: number) => `exec-00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;
const planned = (exec: string): UnsignedReceipt => ({
  receipt_id: `rcpt-${exec.slice(-4)}-0`,
  execution_id: exec,
  step_id: 'workflow',
  attempt_id: `${exec}:workflow:attempt:1`,
  event_kind: 'planned',
  timestamp_ms: 1_700_000_000_000,
  workflow_kind: 'research_brief'
});

describe('receipt store owners', () => {
  it('records the owner, lists by owner and scopes idempotency keys to it', () => {
    const store = createReceiptStore({ path: join(tmp(), 'receipts.sqlite'), signer });
    store.createExecution({
      execution_id: execId(1),
      created_at_ms: 1,
      request_hash: 'a',
      owner: 'key:alice',
      idempotency_key: 'k'
    });
    store.createExecution({
      execution_id: execId(2),
      created_at_ms: 2,
      request_hash: 'b',
      owner: 'key:bob',
      idempotency_key: 'k'
    });
    store.createExecution({ execution_id: execId(3), created_at_ms: 3, request_hash: 'c' });
    expect(store.ownerOf(execId(1))).toBe('key:alice');
    expect(store.ownerOf(execId(3))).toBe(LOCAL_OWNER);
    expect(store.ownerOf(execId(9))).toBeNull();
    expect(store.findByIdempotencyKey('k', 'key:alice')?.execution_id).toBe(execId(1));
    expect(store.findByIdempotencyKey('k', 'key:bob')?.execution_id).toBe(execId(2));
    expect(store.findByIdempotencyKey('k')).toBeNull();
    expect(() =>
      store.createExecution({
        execution_id: execId(4),
        created_at_ms: 4,
        request_hash: 'd',
        owner: 'key:alice',
        idempotency_key: 'k'
      })
    ).toThrow(IdempotencyConflictError);
    expect(store.listExecutions({ owner: 'key:bob' }).map((r) => r.execution_id)).toEqual([
      execId(2)
    ]);
    expect(store.listExecutions().map((r) => r.execution_id)).toEqual([
      execId(3),
      execId(2),
      execId(1)
    ]);
    store.close();
  });

  it('migrates a version-1 file: existing executions belong to the local user and still verify', () => {
    const path = join(tmp(), 'receipts.sqlite');
    let store = createReceiptStore({ path, signer });
    store.createExecution({
      execution_id: execId(5),
      created_at_ms: 5,
      request_hash: 'h',
      idempotency_key: 'old-key'
    });
    store.append(planned(execId(5)));
    store.close();
    // Rewrite the file as version 1 wrote it: no owner column, a globally unique key.
    const db = new Database(path);
    const triggers = db
      .prepare("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'")
      .all() as Array<{ name: string; sql: string }>;
    for (const t of triggers) db.exec(`DROP TRIGGER ${t.name}`);
    db.exec(`
      CREATE TABLE old_executions (id INTEGER PRIMARY KEY, execution_id TEXT NOT NULL UNIQUE,
        created_at_ms INTEGER NOT NULL, request_hash TEXT NOT NULL, idempotency_key TEXT UNIQUE);
      INSERT INTO old_executions SELECT id, execution_id, created_at_ms, request_hash, idempotency_key FROM executions;
      DROP TABLE executions;
      ALTER TABLE old_executions RENAME TO executions;
    `);
    for (const t of triggers) db.exec(t.sql);
    db.pragma('user_version = 1');
    db.close();

    store = createReceiptStore({ path, signer });
    expect(store.ownerOf(execId(5))).toBe(LOCAL_OWNER);
    expect(store.verify(execId(5))).toMatchObject({ ok: true, count: 1 });
    expect(store.findByIdempotencyKey('old-key')?.execution_id).toBe(execId(5));
    // Another owner may now use the same key.
    store.createExecution({
      execution_id: execId(6),
      created_at_ms: 6,
      request_hash: 'h2',
      owner: 'key:carol',
      idempotency_key: 'old-key'
    });
    store.close();
    const check = new Database(path);
    expect(check.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
    // Append-only still holds after the table was rebuilt.
    expect(() => check.prepare('UPDATE executions SET owner = ?').run('x')).toThrow(
      'executions are append-only'
    );
    expect(() => check.prepare('DELETE FROM executions').run()).toThrow(
      'executions are append-only'
    );
    check.close();
  });
});

describe('receipt store on a full disk (finding 14)', () => {
  it('throws ReceiptStorageFullError, reports disk_full until a write succeeds again', () => {
    const store = createReceiptStore({
      path: join(tmp(), 'receipts.sqlite'),
      signer,
      maxPageCount: 30,
      retentionDays: 1
    });
    let error: unknown;
    let n = 0;
    for (; n < 5000 && !error; n++) {
      try {
        store.createExecution({
          execution_id: execId(100 + n),
          created_at_ms: 1,
          request_hash: 'h'
        });
        store.append(planned(execId(100 + n)));
        store.flush();
      } catch (err) {
        error = err;
      }
    }
    expect(error).toBeInstanceOf(ReceiptStorageFullError);
    expect((error as Error).message).toMatch(/disk is full/);
    expect(store.writeProblem()).toMatchObject({ reason: 'disk_full' });
    // The failed group was rolled back whole: every stored chain still verifies.
    for (const row of store.listExecutions({ limit: 500 }))
      expect(store.verify(row.execution_id).ok).toBe(true);
    for (const row of store.listExecutions({ limit: 500 }))
      store.markEnded(row.execution_id, 'completed', 0);
    expect(store.prune(10 * 86_400_000)).toBeGreaterThan(0);
    store.createExecution({ execution_id: execId(99), created_at_ms: 1, request_hash: 'h' });
    store.append(planned(execId(99)));
    store.flush();
    expect(store.writeProblem()).toBeNull();
    store.close();
  });
});
