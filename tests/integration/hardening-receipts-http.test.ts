/**
 * Issue #10, finding 8 over HTTP: one receipt row that cannot be decoded (bytes damaged in the
 * SQLite file) must not turn GET /v1/executions into a 500 for every execution. Real oracle
 * server with the workflow plugin, real SQLite file, extractive engine (no model).
 */
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  getJson,
  postJson,
  startWorkflowOracle,
  task,
  tempDir,
  type WorkflowOracle
} from './workflow-fixtures.js';

describe('a damaged receipt row (real oracle, real SQLite file)', () => {
  const tmp = tempDir('shard-hardening-http-');
  let oracle: WorkflowOracle;
  beforeAll(async () => {
    oracle = await startWorkflowOracle({ dataDir: tmp.dir });
  });
  afterAll(async () => {
    await oracle?.stop();
    tmp.remove();
  });

  it('leaves GET /v1/executions answering 200 with every execution listed', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 2; i++) {
      const res = await postJson(`${oracle.url}/v1/agents/tasks?wait=true`, task());
      expect(res.status).toBe(201);
      ids.push(res.json.execution.execution_id as string);
    }
    oracle.service.store.flush();
    const db = new Database(join(tmp.dir, 'receipts.sqlite'));
    db.exec('DROP TRIGGER receipts_no_update');
    db.prepare(
      'UPDATE receipts SET body = ? WHERE seq = 3 AND exec = (SELECT id FROM executions WHERE execution_id = ?)'
    ).run(Buffer.from([0x01, 0xba, 0xad]), ids[0]);
    db.close();

    const list = await getJson(`${oracle.url}/v1/executions`);
    expect(list.status).toBe(200);
    const listed = (list.json.executions as Array<{ execution_id: string }>).map(
      (e) => e.execution_id
    );
    expect(listed).toEqual(expect.arrayContaining(ids));
    const verify = await getJson(`${oracle.url}/v1/executions/${ids[0]}/receipts/verify`);
    expect(verify.json).toMatchObject({
      valid: false,
      first_bad: { seq: 3, reason: 'malformed' }
    });
    expect(oracle.service.store.summary(ids[0])?.status).toBe('corrupted');
    expect(oracle.service.store.summary(ids[1])?.status).toBe('completed');
  });
});
