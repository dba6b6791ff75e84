/**
 * Issue #10, receipts: a chain cut at the end, a missing key file, an unreadable row, retention
 * and a damaged store file, each against a real SQLite file (triggers dropped the way someone
 * editing the file would).
 */
import Database from 'better-sqlite3';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  createNobleSigner,
  sealReceipt,
  signChainHead,
  verifyReceiptChain
} from '../../src/lib/protocol/receipt-chain.js';
import type { UnsignedReceipt } from '../../src/lib/protocol/receipts.js';
import {
  createNodeSigner,
  createReceiptStore,
  KEY_FILE_NAME,
  loadOrCreateNodeSigner,
  NodeKeyError,
  parseRetentionDays,
  ReceiptAppendError,
  ReceiptConfigError,
  ReceiptStoreOpenError,
  rotateNodeKey
} from '../../native-oracle/receipts/index.js';

const dirs: string[] = [];
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), 'shard-hardening-'));
  dirs.push(d);
  return d;
};
afterEach(() => {
  while (dirs.length) rmSync(dirs.pop()!, { recursive: true, force: true });
});

const execId = (n: number) => `exec-00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;
const receipt = (
  exec: string,
  i: number,
  event: UnsignedReceipt['event_kind'] = 'dispatched'
): UnsignedReceipt => ({
  receipt_id: `rcpt-${exec.slice(-4)}-${i}`,
  execution_id: exec,
  step_id: i === 0 ? 'workflow' : 'planner',
  attempt_id: `${exec}:planner:attempt:1`,
  parent_receipt_id: i === 0 ? undefined : `rcpt-${exec.slice(-4)}-${i - 1}`,
  event_kind: i === 0 ? 'planned' : event,
  timestamp_ms: 1_700_000_000_000 + i,
  workflow_kind: 'research_brief',
  ...(event === 'completed'
    ? {
        step_kind: 'workflow_result' as const,
        result: { brief: 'b', sub_questions: [], selected_source_ids: [], source_summaries: [] }
      }
    : {})
});

/** Writes one execution of `count` receipts, the last one `last`. */
function writeExecution(
  store: ReturnType<typeof createReceiptStore>,
  exec: string,
  count: number,
  last: UnsignedReceipt['event_kind'] = 'dispatched',
  createdAtMs = 1
) {
  store.createExecution({ execution_id: exec, created_at_ms: createdAtMs, request_hash: 'h' });
  for (let i = 0; i < count; i++)
    store.append(receipt(exec, i, i === count - 1 ? last : 'dispatched'));
}

/** Opens the file the way an attacker would: triggers dropped. */
function rawDb(path: string) {
  const db = new Database(path);
  for (const t of ['receipts_no_delete', 'receipts_no_update', 'chain_heads_no_delete'])
    db.exec(`DROP TRIGGER IF EXISTS ${t}`);
  return db;
}

describe('signed chain heads (finding 6)', () => {
  it('a chain cut at its end fails verification as truncated, and reads corrupted, not running', () => {
    const dir = tmp();
    const path = join(dir, 'receipts.sqlite');
    const signer = createNodeSigner(new Uint8Array(32).fill(7));
    let store = createReceiptStore({ path, signer });
    const exec = execId(1);
    writeExecution(store, exec, 5, 'completed');
    store.markEnded(exec, 'completed', 2);
    expect(store.summary(exec)?.status).toBe('completed');
    store.close();

    const db = rawDb(path);
    db.prepare('DELETE FROM receipts WHERE seq >= 3').run();
    db.close();

    store = createReceiptStore({ path, signer });
    const report = store.verify(exec);
    expect(report).toMatchObject({
      ok: false,
      count: 3,
      verified: 3,
      first_bad: { index: 3, seq: 3, reason: 'truncated' }
    });
    const summary = store.summary(exec)!;
    expect(summary.status).toBe('corrupted');
    expect(summary.integrity_problem).toMatch(/truncated.*5 receipts.*only 3/);
    // Appending would sign a new head over the cut chain and hide it: refused.
    expect(() => store.append(receipt(exec, 3))).toThrow(ReceiptAppendError);
    store.close();
  });

  it('deleting the head row as well is still detected (head_missing)', () => {
    const path = join(tmp(), 'receipts.sqlite');
    const signer = createNodeSigner(new Uint8Array(32).fill(8));
    let store = createReceiptStore({ path, signer });
    writeExecution(store, execId(2), 3);
    store.close();
    const db = rawDb(path);
    db.prepare('DELETE FROM receipts WHERE seq = 2').run();
    db.prepare('DELETE FROM chain_heads').run();
    db.close();
    store = createReceiptStore({ path, signer });
    expect(store.verify(execId(2)).first_bad?.reason).toBe('head_missing');
    store.close();
  });

  it('the browser verifier checks a head when given one, and keeps its old API without', () => {
    const signer = createNobleSigner(new Uint8Array(32).fill(9));
    const exec = execId(3);
    const chain = [];
    let prev: string | null = null;
    for (let i = 0; i < 4; i++) {
      const sealed = sealReceipt(receipt(exec, i), { seq: i, prevHash: prev, signer });
      chain.push(sealed.receipt);
      prev = sealed.hash;
    }
    const { signatureBytes: _s, ...head } = signChainHead(
      { execution_id: exec, seq: 3, hash: prev! },
      signer
    );
    const wire = JSON.parse(JSON.stringify({ chain, head })) as {
      chain: unknown[];
      head: typeof head;
    };
    const trusted = { trustedKeys: [signer.publicKeyHex] };
    expect(verifyReceiptChain(wire.chain, { ...trusted, head: wire.head })).toMatchObject({
      ok: true,
      head_signed: true
    });
    expect(verifyReceiptChain(wire.chain.slice(0, 2), trusted).ok).toBe(true);
    expect(
      verifyReceiptChain(wire.chain.slice(0, 2), { ...trusted, head: wire.head }).first_bad
    ).toMatchObject({ index: 2, reason: 'truncated' });
    const forged = { ...wire.head, seq: 1 };
    expect(
      verifyReceiptChain(wire.chain.slice(0, 2), { ...trusted, head: forged }).first_bad?.reason
    ).toBe('bad_head');
    const other = createNobleSigner(new Uint8Array(32).fill(10));
    const { signatureBytes: _o, ...otherHead } = signChainHead(wire.head, other);
    expect(verifyReceiptChain(wire.chain, { ...trusted, head: otherHead }).first_bad?.reason).toBe(
      'bad_head'
    );
  });

  it('a store written before heads existed gets heads on upgrade and keeps verifying', () => {
    const path = join(tmp(), 'receipts.sqlite');
    const signer = createNodeSigner(new Uint8Array(32).fill(11));
    let store = createReceiptStore({ path, signer });
    writeExecution(store, execId(4), 3);
    store.close();
    const db = rawDb(path);
    db.exec('DROP TABLE chain_heads; DROP TABLE pruned_executions');
    db.pragma('user_version = 0');
    db.close();
    store = createReceiptStore({ path, signer });
    expect(store.verify(execId(4))).toMatchObject({ ok: true, head_signed: true, count: 3 });
    store.close();
  });
});

describe('node key and keyring (finding 7)', () => {
  it('refuses to create a new key when receipts exist, naming the file', () => {
    const dir = tmp();
    const signer = loadOrCreateNodeSigner(dir);
    const store = createReceiptStore({ path: join(dir, 'receipts.sqlite'), signer });
    writeExecution(store, execId(5), 2);
    store.close();
    rmSync(join(dir, KEY_FILE_NAME));
    expect(() => loadOrCreateNodeSigner(dir)).toThrow(NodeKeyError);
    expect(() => loadOrCreateNodeSigner(dir)).toThrow(
      new RegExp(`${join(dir, KEY_FILE_NAME)} is missing.*restore`)
    );
    expect(existsSync(join(dir, KEY_FILE_NAME))).toBe(false);
  });

  it('creates a key on first start in an empty data dir', () => {
    const dir = join(tmp(), 'fresh');
    expect(loadOrCreateNodeSigner(dir).publicKeyHex).toMatch(/^[0-9a-f]{64}$/);
  });

  it('after a rotation, receipts signed by the old key still verify', () => {
    const dir = tmp();
    const path = join(dir, 'receipts.sqlite');
    const first = loadOrCreateNodeSigner(dir);
    let store = createReceiptStore({ path, signer: first });
    writeExecution(store, execId(6), 3);
    store.close();
    const rotated = rotateNodeKey(dir);
    expect(rotated.previousPublicKeyHex).toBe(first.publicKeyHex);
    const second = loadOrCreateNodeSigner(dir);
    expect(second.publicKeyHex).toBe(rotated.publicKeyHex);
    expect(second.previousPublicKeys).toEqual([first.publicKeyHex]);
    store = createReceiptStore({ path, signer: second });
    expect(store.verify(execId(6))).toMatchObject({ ok: true, count: 3 });
    writeExecution(store, execId(7), 2);
    expect(store.verify(execId(7)).signer_keys).toEqual([second.publicKeyHex]);
    store.close();
  });
});

describe('damaged rows and files (findings 8, 15)', () => {
  it('one undecodable row leaves the other executions listable; that one reads corrupted', () => {
    const path = join(tmp(), 'receipts.sqlite');
    const signer = createNodeSigner(new Uint8Array(32).fill(12));
    let store = createReceiptStore({ path, signer });
    writeExecution(store, execId(8), 3);
    writeExecution(store, execId(9), 3, 'completed');
    store.close();
    const db = rawDb(path);
    db.prepare(
      'UPDATE receipts SET body = ? WHERE seq = 1 AND exec = (SELECT id FROM executions WHERE execution_id = ?)'
    ).run(Buffer.from([0x01, 0xde, 0xad, 0xbe, 0xef]), execId(8));
    db.close();
    store = createReceiptStore({ path, signer });
    // What GET /v1/executions does for each listed execution.
    const listed = store.listExecutions().map((row) => store.summary(row.execution_id));
    expect(listed.map((s) => [s?.execution_id, s?.status])).toEqual([
      [execId(9), 'completed'],
      [execId(8), 'corrupted']
    ]);
    expect(store.list(execId(8)).map((r) => r.seq)).toEqual([0, 2]);
    expect(store.verify(execId(8)).first_bad).toMatchObject({
      index: 1,
      seq: 1,
      reason: 'malformed'
    });
    store.close();
  });

  it('a store file that is not SQLite fails with an error naming the file', () => {
    const path = join(tmp(), 'receipts.sqlite');
    writeFileSync(path, Buffer.alloc(8192, 0x5a));
    expect(() =>
      createReceiptStore({ path, signer: createNodeSigner(new Uint8Array(32).fill(13)) })
    ).toThrow(ReceiptStoreOpenError);
    expect(() =>
      createReceiptStore({ path, signer: createNodeSigner(new Uint8Array(32).fill(13)) })
    ).toThrow(path);
  });
});

describe('retention (finding 14)', () => {
  it('prunes ended executions older than the retention, keeps the rest verifiable', () => {
    const path = join(tmp(), 'receipts.sqlite');
    const signer = createNodeSigner(new Uint8Array(32).fill(14));
    const store = createReceiptStore({ path, signer, retentionDays: 7 });
    const day = 86_400_000;
    const now = 1_800_000_000_000;
    writeExecution(store, execId(10), 3, 'completed');
    store.markEnded(execId(10), 'completed', now - 8 * day);
    writeExecution(store, execId(11), 3, 'completed');
    store.markEnded(execId(11), 'completed', now - 1 * day);
    writeExecution(store, execId(12), 3); // still running: never pruned
    expect(store.prune(now)).toBe(1);
    expect(store.isPruned(execId(10))).toBe(true);
    expect(store.hasExecution(execId(10))).toBe(false);
    expect(store.list(execId(10))).toEqual([]);
    for (const id of [execId(11), execId(12)])
      expect(store.verify(id)).toMatchObject({ ok: true, count: 3 });
    expect(store.prune(now + 30 * day)).toBe(1);
    store.append(receipt(execId(12), 3));
    expect(store.verify(execId(12))).toMatchObject({ ok: true, count: 4 });
    store.close();
    // Still append-only for everything that is not pruned.
    const db = new Database(path);
    expect(() => db.prepare('DELETE FROM receipts').run()).toThrow('receipts are append-only');
    expect(() => db.prepare('INSERT INTO pruned_executions VALUES (?, 1)').run(execId(12))).toThrow(
      'only executions that have ended may be pruned'
    );
    db.close();
  });

  it('keeps everything by default and rejects a bad setting by name', () => {
    expect(parseRetentionDays(undefined)).toBeNull();
    expect(parseRetentionDays('0')).toBeNull();
    expect(parseRetentionDays('30')).toBe(30);
    expect(() => parseRetentionDays('a week')).toThrow(ReceiptConfigError);
    expect(() => parseRetentionDays('-3')).toThrow(/SHARD_RECEIPT_RETENTION_DAYS/);
    const store = createReceiptStore({
      path: ':memory:',
      signer: createNodeSigner(new Uint8Array(32).fill(15))
    });
    writeExecution(store, execId(13), 2, 'completed');
    store.markEnded(execId(13), 'completed', 0);
    expect(store.prune(Number.MAX_SAFE_INTEGER)).toBe(0);
    store.close();
  });
});
