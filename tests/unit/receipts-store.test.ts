import Database from 'better-sqlite3';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sha256 } from '@noble/hashes/sha2.js';
import { afterEach, describe, expect, it } from 'vitest';
import { createNobleSigner, verifyReceiptChain } from '../../src/lib/protocol/receipt-chain.js';
import type { UnsignedReceipt } from '../../src/lib/protocol/receipts.js';
import {
  createNodeSigner,
  createReceiptStore,
  decodeReceipt,
  encodeReceipt,
  loadOrCreateNodeSigner,
  nodeSha256,
  NodeKeyError,
  ORPHAN_REASON
} from '../../native-oracle/receipts/index.js';

const dirs: string[] = [];
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), 'shard-receipts-'));
  dirs.push(d);
  return d;
};
afterEach(() => {
  while (dirs.length) rmSync(dirs.pop()!, { recursive: true, force: true });
});

const EXEC = 'exec-aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee';
const base = (
  i: number,
  event: UnsignedReceipt['event_kind'],
  parent?: string,
  extra: Partial<UnsignedReceipt> = {}
): UnsignedReceipt => ({
  receipt_id: `rcpt-${i}`,
  execution_id: EXEC,
  step_id: 'planner',
  attempt_id: `${EXEC}:planner:attempt:1`,
  parent_receipt_id: parent,
  event_kind: event,
  timestamp_ms: 1_700_000_000_000 + i,
  workflow_kind: 'research_brief',
  ...extra
});

describe('node signing key', () => {
  it('is persisted, reloaded, and signs byte-identically to noble', () => {
    const dir = tmp();
    const a = loadOrCreateNodeSigner(dir);
    const b = loadOrCreateNodeSigner(dir);
    expect(b.publicKeyHex).toBe(a.publicKeyHex);
    expect(statSync(join(dir, 'receipt-signing-key.json')).mode & 0o777).toBe(0o600);
    const noble = createNobleSigner(a.secretKey);
    expect(noble.publicKeyHex).toBe(a.publicKeyHex);
    const msg = new TextEncoder().encode('hello');
    expect(Buffer.from(a.sign(msg)).equals(Buffer.from(noble.sign(msg)))).toBe(true);
    expect(Buffer.from(nodeSha256(msg)).equals(Buffer.from(sha256(msg)))).toBe(true);
    expect(
      JSON.parse(readFileSync(join(dir, 'receipt-signing-key.json'), 'utf8')).public_key_hex
    ).toBe(a.publicKeyHex);
  });

  it('refuses a corrupt key file instead of replacing it', async () => {
    const dir = tmp();
    const { writeFileSync } = await import('node:fs');
    writeFileSync(
      join(dir, 'receipt-signing-key.json'),
      '{"algorithm":"ed25519","secret_key_hex":"xx"}'
    );
    expect(() => loadOrCreateNodeSigner(dir)).toThrow(NodeKeyError);
  });
});

describe('receipt store (real SQLite file)', () => {
  it('appends a signed chain that survives reopening and verifies', () => {
    const dir = tmp();
    const path = join(dir, 'receipts.sqlite');
    const signer = loadOrCreateNodeSigner(dir);
    let store = createReceiptStore({ path, signer });
    store.createExecution({ execution_id: EXEC, created_at_ms: 1, request_hash: 'h' });
    store.append(base(0, 'planned', undefined, { step_id: 'workflow' }));
    store.append(base(1, 'candidate_ranked', 'rcpt-0'));
    store.close();
    store = createReceiptStore({ path, signer: loadOrCreateNodeSigner(dir) });
    const third = store.append(base(2, 'dispatched', 'rcpt-1'));
    expect(third.seq).toBe(2);
    const list = store.list(EXEC);
    expect(list.map((r) => r.event_kind)).toEqual(['planned', 'candidate_ranked', 'dispatched']);
    expect(store.verify(EXEC)).toMatchObject({ ok: true, verified: 3 });
    expect(
      verifyReceiptChain(JSON.parse(JSON.stringify(list)) as unknown[], {
        trustedKeys: [signer.publicKeyHex]
      }).ok
    ).toBe(true);
    store.close();
  });

  it('forbids UPDATE and DELETE inside SQLite', () => {
    const dir = tmp();
    const path = join(dir, 'r.sqlite');
    const store = createReceiptStore({
      path,
      signer: createNodeSigner(new Uint8Array(32).fill(1))
    });
    store.createExecution({ execution_id: EXEC, created_at_ms: 1, request_hash: 'h' });
    store.append(base(0, 'planned'));
    store.close();
    const db = new Database(path);
    expect(() => db.prepare('UPDATE receipts SET body = ?').run(Buffer.from('x'))).toThrow(
      'receipts are append-only'
    );
    expect(() => db.prepare('DELETE FROM receipts').run()).toThrow('receipts are append-only');
    expect(() => db.prepare('DELETE FROM executions').run()).toThrow('executions are append-only');
    db.close();
  });

  it('detects a receipt edited directly in the file (trigger dropped) and names it', () => {
    const dir = tmp();
    const path = join(dir, 'r.sqlite');
    const store = createReceiptStore({
      path,
      signer: createNodeSigner(new Uint8Array(32).fill(2))
    });
    store.createExecution({ execution_id: EXEC, created_at_ms: 1, request_hash: 'h' });
    for (let i = 0; i < 4; i++)
      store.append(
        base(i, i === 0 ? 'planned' : 'dispatched', i ? `rcpt-${i - 1}` : undefined, {
          actual_cost_usd: 0.5
        })
      );
    store.close();
    const db = new Database(path);
    db.exec('DROP TRIGGER receipts_no_update');
    const row = db.prepare('SELECT exec, sig, body FROM receipts WHERE seq = 2').get() as {
      exec: number;
      sig: Buffer;
      body: Buffer;
    };
    const key = createNodeSigner(new Uint8Array(32).fill(2)).publicKeyHex;
    const edited = { ...decodeReceipt(row.body, row.sig, key), actual_cost_usd: 0.01 };
    db.prepare('UPDATE receipts SET body = ? WHERE exec = ? AND seq = 2').run(
      encodeReceipt(edited).body,
      row.exec
    );
    db.close();
    const reopened = createReceiptStore({
      path,
      signer: createNodeSigner(new Uint8Array(32).fill(2))
    });
    const report = reopened.verify(EXEC);
    expect(report.ok).toBe(false);
    expect(report.first_bad).toMatchObject({
      index: 2,
      receipt_id: 'rcpt-2',
      reason: 'bad_signature'
    });
    reopened.close();
  });

  it('repairs every in-flight tail of an interrupted execution, and only those', () => {
    const dir = tmp();
    const store = createReceiptStore({
      path: join(dir, 'r.sqlite'),
      signer: createNodeSigner(new Uint8Array(32).fill(3))
    });
    store.createExecution({ execution_id: EXEC, created_at_ms: 1, request_hash: 'h' });
    store.append(base(0, 'planned', undefined, { step_id: 'workflow' }));
    store.append(base(1, 'candidate_ranked', 'rcpt-0'));
    // Two tails: a dispatched attempt and a ranked step that never dispatched (not only dispatched).
    store.append(base(2, 'dispatched', 'rcpt-1'));
    store.append(base(3, 'candidate_ranked', 'rcpt-0', { step_id: 'summarize-a' }));
    const done = 'exec-00000000-0000-4000-8000-000000000009';
    store.createExecution({ execution_id: done, created_at_ms: 2, request_hash: 'h' });
    store.append({ ...base(9, 'planned'), execution_id: done });
    store.append({ ...base(10, 'failed', 'rcpt-9'), execution_id: done });
    const orphaned = store.repairOrphans(1_800_000_000_000);
    expect(orphaned.map((r) => r.parent_receipt_id).sort()).toEqual(['rcpt-2', 'rcpt-3']);
    expect(
      orphaned.every((r) => r.failure_reason === ORPHAN_REASON && r.event_kind === 'orphaned')
    ).toBe(true);
    expect(store.list(done)).toHaveLength(2);
    expect(store.verify(EXEC).ok).toBe(true);
    expect(store.repairOrphans()).toHaveLength(0);
    expect(store.listExecutions().map((e) => [e.execution_id, e.ended_status])).toEqual([
      [done, 'failed'],
      [EXEC, 'orphaned']
    ]);
    store.close();
  });

  it('maps an idempotency key to one execution', () => {
    const store = createReceiptStore({
      path: join(tmp(), 'r.sqlite'),
      signer: createNodeSigner(new Uint8Array(32).fill(4))
    });
    store.createExecution({
      execution_id: EXEC,
      created_at_ms: 1,
      request_hash: 'abc',
      idempotency_key: 'k1'
    });
    expect(store.findByIdempotencyKey('k1')).toEqual({ execution_id: EXEC, request_hash: 'abc' });
    expect(store.findByIdempotencyKey('k2')).toBeNull();
    expect(() =>
      store.createExecution({
        execution_id: 'exec-2',
        created_at_ms: 2,
        request_hash: 'x',
        idempotency_key: 'k1'
      })
    ).toThrow('idempotency key already used');
    store.close();
  });
});
