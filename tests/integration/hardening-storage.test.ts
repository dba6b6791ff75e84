/* eslint-disable @typescript-eslint/no-explicit-any -- HTTP JSON bodies are asserted field by field */
/**
 * Issue #10, finding 14, and the receipt-integrity wiring, over real HTTP with a real SQLite file:
 * a full store answers task submissions 507 and turns /health `degraded` (`disk_full`) until a
 * later write succeeds; a chain whose tail was cut reads `corrupted`, not `running`; receipts and
 * verify carry the signed head and the trusted keys; a pruned execution answers 410.
 *
 * The full disk is real without filling one: the store's connection gets a small
 * `PRAGMA max_page_count`, so SQLite itself answers SQLITE_FULL.
 */
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTargetEngine, type TargetEngine } from '../../native-oracle/engine/index.js';
import { createOracleServer, type OracleServer } from '../../native-oracle/server.js';
import { workflowPlugin, type WorkflowService } from '../../native-oracle/workflows/index.js';
import { ensureTestModels } from '../helpers/models.js';
import { getJson, postJson, task, tempDir } from './workflow-fixtures.js';

const DAY_MS = 86_400_000;

let engine: TargetEngine;
beforeAll(async () => {
  const { targetPath } = await ensureTestModels();
  engine = await createTargetEngine({ modelPath: targetPath, threads: 1, maxConcurrent: 1 });
});
afterAll(async () => {
  await engine?.dispose();
});

/** An oracle with the workflow plugin (extractive steps only, so runs are fast). */
async function startOracle(dataDir: string, extra: { maxStorePages?: number } = {}) {
  let service!: WorkflowService;
  const server: OracleServer = createOracleServer({
    engine,
    host: '127.0.0.1',
    port: 0,
    rateLimitPerMinute: 0,
    plugins: [
      workflowPlugin({
        dataDir,
        config: { local: { enabled: false } },
        retentionDays: 1,
        ...extra,
        onReady: (s) => (service = s)
      })
    ]
  });
  await server.start();
  return { server, service, url: server.url };
}

describe('a full disk (finding 14)', () => {
  const tmp = tempDir('shard-hardening-full-');
  let oracle: Awaited<ReturnType<typeof startOracle>>;
  beforeAll(async () => {
    oracle = await startOracle(tmp.dir, { maxStorePages: 40 });
  });
  afterAll(async () => {
    await oracle?.server.stop();
    tmp.remove();
  });

  it('answers task submissions 507 and health degraded until a later write succeeds', async () => {
    expect((await getJson(`${oracle.url}/health`)).json).toMatchObject({
      status: 'ok',
      readiness_reason: 'ready'
    });
    let full: Awaited<ReturnType<typeof postJson>> | undefined;
    for (let i = 0; i < 300 && !full; i++) {
      const res = await postJson(`${oracle.url}/v1/agents/tasks?wait=true`, task());
      if (res.status === 507) full = res;
      else expect(res.status).toBeLessThan(500);
    }
    expect(full, 'the store never filled up').toBeDefined();
    expect(full!.json).toMatchObject({ ok: false, code: 'insufficient_storage' });
    expect(full!.json.detail).toMatch(/disk is full/);
    expect(full!.json.detail).not.toMatch(/sqlite|\//i);
    const degraded = (await getJson(`${oracle.url}/health`)).json;
    expect(degraded).toMatchObject({ status: 'degraded', readiness_reason: 'disk_full' });
    // Still full: still 507, still degraded.
    expect((await postJson(`${oracle.url}/v1/agents/tasks`, task())).status).toBe(507);
    expect((await getJson(`${oracle.url}/health`)).json.readiness_reason).toBe('disk_full');
    // Free space (the retention policy removes old executions), then a write succeeds.
    expect(oracle.service.store.prune(Date.now() + 2 * DAY_MS)).toBeGreaterThan(0);
    const after = await postJson(`${oracle.url}/v1/agents/tasks?wait=true`, task());
    expect(after.status).toBe(201);
    expect((await getJson(`${oracle.url}/health`)).json).toMatchObject({
      status: 'ok',
      readiness_reason: 'ready'
    });
  });
});

describe('receipt integrity over HTTP', () => {
  const tmp = tempDir('shard-hardening-integrity-');
  let oracle: Awaited<ReturnType<typeof startOracle>>;
  beforeAll(async () => {
    oracle = await startOracle(tmp.dir);
  });
  afterAll(async () => {
    await oracle?.server.stop();
    tmp.remove();
  });

  async function completed(): Promise<string> {
    const res = await postJson(`${oracle.url}/v1/agents/tasks?wait=true`, task());
    expect(res.status).toBe(201);
    return res.json.execution.execution_id as string;
  }

  it('a chain whose tail was cut reads corrupted, not running', async () => {
    const id = await completed();
    oracle.service.store.flush();
    const db = new Database(join(tmp.dir, 'receipts.sqlite'));
    db.exec('DROP TRIGGER receipts_no_delete');
    db.prepare(
      `DELETE FROM receipts WHERE exec = (SELECT id FROM executions WHERE execution_id = ?)
       AND seq = (SELECT MAX(seq) FROM receipts r JOIN executions e ON e.id = r.exec WHERE e.execution_id = ?)`
    ).run(id, id);
    db.close();

    const one = await getJson(`${oracle.url}/v1/executions/${id}`);
    expect(one.status).toBe(200);
    expect(one.json.execution.status).toBe('corrupted');
    expect(one.json.execution.integrity_problem).toMatch(/truncat|head/i);
    const list = await getJson(`${oracle.url}/v1/executions`);
    const listed = (list.json.executions as any[]).find((e) => e.execution_id === id);
    expect(listed.status).toBe('corrupted');
  });

  it('receipts and verify carry the signed head; verify lists the trusted keys', async () => {
    const id = await completed();
    const receipts = await getJson(`${oracle.url}/v1/executions/${id}/receipts`);
    const count = receipts.json.count as number;
    expect(receipts.json.head).toMatchObject({
      execution_id: id,
      seq: count - 1,
      hash: expect.stringMatching(/^[0-9a-f]{64}$/),
      signature: expect.any(String)
    });
    const verify = await getJson(`${oracle.url}/v1/executions/${id}/receipts/verify`);
    expect(verify.json).toMatchObject({ valid: true, head: receipts.json.head });
    expect(verify.json.node_public_keys).toEqual(oracle.service.store.trustedKeys);
    expect(verify.json.node_public_keys).toContain(verify.json.node_public_key);
  });

  it('an execution removed by the retention policy answers 410', async () => {
    const id = await completed();
    expect(oracle.service.store.prune(Date.now() + 2 * DAY_MS)).toBeGreaterThan(0);
    for (const path of ['', '/receipts', '/receipts/verify', '/provenance']) {
      const res = await getJson(`${oracle.url}/v1/executions/${id}${path}`);
      expect(res.status, path).toBe(410);
      expect(res.json.code).toBe('gone');
    }
  });
});
