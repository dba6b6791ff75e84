/* eslint-disable @typescript-eslint/no-explicit-any -- HTTP JSON bodies are asserted field by field */
/**
 * Issue #10, finding 3 over real HTTP: API keys separate users. Each key sees, reads, follows and
 * cancels only the executions it created (another key's answer 404, never 403), idempotency keys
 * are scoped to the API key, and an operator key sees every execution. Real oracle server with
 * the workflow plugin, real SQLite file, extractive engine (no model).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOracleServer, type OracleServer } from '../../native-oracle/server.js';
import { workflowPlugin, type WorkflowService } from '../../native-oracle/workflows/index.js';
import { task, tempDir } from './workflow-fixtures.js';

const ALICE = 'sk-alice-0123456789';
const BOB = 'sk-bob-0123456789';
const OPERATOR = 'sk-operator-0123456789';

describe('executions are scoped to the API key that created them', () => {
  const tmp = tempDir('shard-hardening-owners-');
  let server: OracleServer;
  let service!: WorkflowService;

  beforeAll(async () => {
    server = createOracleServer({
      engine: null,
      host: '127.0.0.1',
      port: 0,
      rateLimitPerMinute: 0,
      apiKeys: [ALICE, BOB],
      operatorKeys: [OPERATOR],
      plugins: [workflowPlugin({ dataDir: tmp.dir, config: {}, onReady: (s) => (service = s) })]
    });
    await server.start();
  });
  afterAll(async () => {
    await server?.stop();
    tmp.remove();
  });

  async function call(
    key: string,
    method: string,
    path: string,
    options: { body?: unknown; headers?: Record<string, string> } = {}
  ) {
    const res = await fetch(`${server.url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${key}`,
        ...(options.body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...options.headers
      },
      ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {})
    });
    const text = await res.text();
    return {
      status: res.status,
      json: (text.startsWith('{') ? JSON.parse(text) : {}) as any,
      text
    };
  }

  it('another key lists, reads, follows and cancels nothing of it (404), the operator everything', async () => {
    const created = await call(ALICE, 'POST', '/v1/agents/tasks?wait=true', { body: task() });
    expect(created.status).toBe(201);
    const id = created.json.execution.execution_id as string;

    const own = await call(ALICE, 'GET', '/v1/executions');
    expect(own.json.executions.map((e: any) => e.execution_id)).toContain(id);
    expect((await call(ALICE, 'GET', `/v1/executions/${id}`)).status).toBe(200);

    const others = await call(BOB, 'GET', '/v1/executions');
    expect(others.status).toBe(200);
    expect(others.json.executions.map((e: any) => e.execution_id)).not.toContain(id);
    for (const path of [
      `/v1/executions/${id}`,
      `/v1/executions/${id}/receipts`,
      `/v1/executions/${id}/receipts?format=prov`,
      `/v1/executions/${id}/receipts/verify`,
      `/v1/executions/${id}/provenance`,
      `/v1/executions/${id}/events`
    ]) {
      const res = await call(BOB, 'GET', path);
      expect(res.status, path).toBe(404);
      expect(res.text, path).not.toContain('rcpt-');
    }
    expect((await call(BOB, 'POST', `/v1/executions/${id}/cancel`)).status).toBe(404);

    const all = await call(OPERATOR, 'GET', '/v1/executions');
    expect(all.json.executions.map((e: any) => e.execution_id)).toContain(id);
    expect(
      (await call(OPERATOR, 'GET', `/v1/executions/${id}/receipts/verify`)).json
    ).toMatchObject({ valid: true });
  });

  it("another key's cancel answers 404 and leaves the execution to finish", async () => {
    const created = await call(ALICE, 'POST', '/v1/agents/tasks', { body: task() });
    expect(created.status).toBe(202);
    const id = created.json.execution_id as string;
    const refused = await call(BOB, 'POST', `/v1/executions/${id}/cancel`);
    expect(refused.status).toBe(404);
    await service.wait(id);
    expect((await call(ALICE, 'GET', `/v1/executions/${id}`)).json.execution.status).toBe(
      'completed'
    );
  });

  it('idempotency keys are scoped to the API key', async () => {
    const headers = { 'idempotency-key': 'shared-key-1' };
    const first = await call(ALICE, 'POST', '/v1/agents/tasks', { body: task(), headers });
    expect(first.status).toBe(202);
    const replay = await call(ALICE, 'POST', '/v1/agents/tasks', { body: task(), headers });
    expect(replay.json).toMatchObject({ execution_id: first.json.execution_id, is_replay: true });
    // Bob's use of the same key is his own: a new execution, not Alice's, and no conflict.
    const bob = await call(BOB, 'POST', '/v1/agents/tasks', {
      body: task({ question: 'A different question from Bob?' }),
      headers
    });
    expect(bob.status).toBe(202);
    expect(bob.json.is_replay).toBe(false);
    expect(bob.json.execution_id).not.toBe(first.json.execution_id);
    const bobReplay = await call(BOB, 'POST', '/v1/agents/tasks', { body: task(), headers });
    expect(bobReplay.status).toBe(409);
    await service.wait(first.json.execution_id);
    await service.wait(bob.json.execution_id);
  });
});
