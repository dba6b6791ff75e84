/* eslint-disable @typescript-eslint/no-explicit-any -- HTTP JSON bodies are asserted field by field; typing each response adds nothing here */
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyReceiptChain } from '../../src/lib/protocol/receipt-chain.js';
import { decodeReceipt, encodeReceipt } from '../../native-oracle/receipts/index.js';
import {
  events,
  getJson,
  postJson,
  startWorkflowOracle,
  task,
  tempDir,
  type WorkflowOracle
} from './workflow-fixtures.js';

const FULL_RUN = [
  'workflow:planned',
  'planner:candidate_ranked',
  'planner:dispatched',
  'planner:completed',
  // BM25 ranks `sleep` above `coffee` for this question; summaries follow the planner's order.
  'summarize-sleep:candidate_ranked',
  'summarize-sleep:dispatched',
  'summarize-sleep:completed',
  'summarize-coffee:candidate_ranked',
  'summarize-coffee:dispatched',
  'summarize-coffee:completed',
  'synthesize-brief:candidate_ranked',
  'synthesize-brief:dispatched',
  'synthesize-brief:completed',
  'result:completed'
];

describe('research_brief with the extractive engine only (no model)', () => {
  const tmp = tempDir();
  let oracle: WorkflowOracle;
  beforeAll(async () => {
    oracle = await startWorkflowOracle({ dataDir: tmp.dir });
  });
  afterAll(async () => {
    await oracle?.stop();
    tmp.remove();
  });

  it('completes end to end with signed, chained receipts and a brief (wait=true → 201)', async () => {
    const res = await postJson(`${oracle.url}/v1/agents/tasks?wait=true`, task());
    expect(res.status).toBe(201);
    const { ok, execution, receipts, provenance } = res.json;
    expect(ok).toBe(true);
    expect(execution.execution_id).toMatch(/^exec-[0-9a-f-]{36}$/);
    expect(events(receipts)).toEqual(FULL_RUN);
    expect(execution.status).toBe('completed');
    expect(execution.result.selected_source_ids).toEqual(['sleep', 'coffee']);
    expect(execution.result.brief).toContain('Answer:');
    expect(execution.result.source_summaries).toHaveLength(2);
    expect(provenance.incomplete).toBe(false);
    expect(provenance.edges).toHaveLength(FULL_RUN.length - 1);
    // Attempt-id scheme and parent chaining (§2.1, §2.4).
    const id = execution.execution_id as string;
    expect(receipts[1].attempt_id).toBe(`${id}:planner:rank`);
    expect(receipts[2].attempt_id).toBe(`${id}:planner:attempt:1`);
    expect(receipts[0].attempt_id).toMatch(/^workflow-/);
    expect(receipts.at(-1).attempt_id).toMatch(/^result-/);
    expect(receipts[4].parent_receipt_id).toBe(receipts[3].receipt_id);
    // Ranking is explained: scores and the reason the winner won.
    expect(receipts[1].candidate_rankings[0].candidate_id).toBe('extractive');
    expect(receipts[1].candidate_rankings[0].selection_reason).toContain('quality=');
    expect(receipts[1].summary).toContain('winner extractive');
    // The browser's verification path: raw JSON, pure-JS Ed25519, the node's key from /v1/capabilities.
    const caps = await getJson(`${oracle.url}/v1/capabilities`);
    expect(caps.json.count).toBe(1);
    expect(
      verifyReceiptChain(receipts, { trustedKeys: [caps.json.node_public_key] })
    ).toMatchObject({ ok: true, verified: FULL_RUN.length });
    const verify = await getJson(`${oracle.url}/v1/executions/${id}/receipts/verify`);
    expect(verify.json).toMatchObject({
      ok: true,
      valid: true,
      count: FULL_RUN.length,
      first_bad: null
    });
  });

  it('serves the GET surface: summary, receipts, provenance, exports, list, 404', async () => {
    const { json } = await postJson(`${oracle.url}/v1/agents/tasks?wait=true`, task());
    const id = json.execution.execution_id as string;
    const summary = await getJson(`${oracle.url}/v1/executions/${id}`);
    expect(summary.json.execution).toMatchObject({
      status: 'completed',
      question: task().question,
      source_count: 2,
      receipt_count: FULL_RUN.length
    });
    expect((await getJson(`${oracle.url}/v1/executions/${id}/receipts`)).json.count).toBe(
      FULL_RUN.length
    );
    expect(
      (await getJson(`${oracle.url}/v1/executions/${id}/provenance`)).json.provenance
        .root_receipt_id
    ).toBe(json.receipts[0].receipt_id);
    const prov = await getJson(`${oracle.url}/v1/executions/${id}/receipts?format=prov`);
    expect(Object.keys(prov.json.entity)).toHaveLength(FULL_RUN.length + 1);
    const otel = await getJson(`${oracle.url}/v1/executions/${id}/receipts?format=otel`);
    expect(otel.json.spans[0].attributes['gen_ai.operation.name']).toBe('invoke_agent');
    expect(
      otel.json.spans.filter((s: any) => s.attributes['gen_ai.operation.name'] === 'chat')
    ).toHaveLength(4);
    const list = await getJson(`${oracle.url}/v1/executions?limit=50&status=completed`);
    expect(list.json.executions.map((e: any) => e.execution_id)).toContain(id);
    expect(
      await getJson(`${oracle.url}/v1/executions/exec-00000000-0000-4000-8000-000000000000`)
    ).toEqual({
      status: 404,
      // The envelope (ok, detail, code) with OpenAI's error object beside it (ec600de).
      json: {
        ok: false,
        detail: 'execution not found',
        code: 'not_found',
        error: {
          message: 'execution not found',
          type: 'invalid_request_error',
          param: null,
          code: 'not_found'
        }
      }
    });
    expect((await getJson(`${oracle.url}/v1/executions/nope/receipts`)).status).toBe(404);
    expect((await getJson(`${oracle.url}/v1/executions?status=weird`)).json.detail).toBe(
      'status must be one of running, completed, failed, orphaned'
    );
  });

  it.each([
    [{ ...task(), workflow_kind: 'x' }, 'workflow_kind must be research_brief'],
    [{ ...task(), question: ' ' }, 'question is required'],
    [{ ...task(), sources: [] }, 'at least one source is required'],
    [
      { ...task(), sources: Array.from({ length: 7 }, (_, i) => ({ id: `s${i}`, content: 'c' })) },
      'at most 6 sources are supported in v1'
    ],
    [
      {
        ...task(),
        sources: [
          { id: 'a', content: 'x' },
          { id: 'a', content: 'y' }
        ]
      },
      'duplicate source id: a'
    ],
    [{ ...task(), sources: [{ id: 'a', content: ' ' }] }, 'source a content is required'],
    [
      { ...task(), policy: { allowed_supply_tiers: [] } },
      'policy.allowed_supply_tiers: must list at least one tier (omit the field for all tiers)'
    ]
  ])('rejects bad input with 400 and a precise detail: %#', async (body, detail) => {
    const res = await postJson(`${oracle.url}/v1/agents/tasks`, body);
    expect(res.status).toBe(400);
    expect(res.json).toMatchObject({ ok: false, detail });
  });

  it('answers malformed JSON with an envelope 400', async () => {
    const res = await fetch(`${oracle.url}/v1/agents/tasks`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"workflow_kind":'
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { detail: string }).detail).toContain(
      'request body is not valid JSON'
    );
  });

  it('honours Idempotency-Key: same body → same execution, different body → 409; async 202', async () => {
    const key = { 'idempotency-key': 'brief-1' };
    const first = await postJson(`${oracle.url}/v1/agents/tasks`, task(), key);
    expect(first.status).toBe(202);
    expect(first.json).toMatchObject({ ok: true, is_replay: false });
    const id = first.json.execution_id as string;
    expect(first.headers.get('location')).toBe(`/v1/executions/${id}`);
    // Same key, same body (keys in another order): the same execution, waited for.
    const { sources, question, workflow_kind } = task();
    const replay = await postJson(
      `${oracle.url}/v1/agents/tasks?wait=true`,
      { sources, question, workflow_kind },
      key
    );
    expect(replay.status).toBe(201);
    expect(replay.json.execution.execution_id).toBe(id);
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
    const conflict = await postJson(
      `${oracle.url}/v1/agents/tasks`,
      { ...task(), question: 'Another question?' },
      key
    );
    expect(conflict.status).toBe(409);
    expect(conflict.json.detail).toBe(
      'Idempotency-Key brief-1 was already used with a different request body'
    );
    const again = await getJson(`${oracle.url}/v1/executions?limit=500`);
    expect(again.json.executions.filter((e: any) => e.execution_id === id)).toHaveLength(1);
  });

  it('survives a restart, and verify names a receipt edited directly in the SQLite file', async () => {
    const { json } = await postJson(`${oracle.url}/v1/agents/tasks?wait=true`, task());
    const id = json.execution.execution_id as string;
    await oracle.stop();
    const db = new Database(join(tmp.dir, 'receipts.sqlite'));
    expect(() => db.prepare('DELETE FROM receipts').run()).toThrow('append-only');
    db.exec('DROP TRIGGER receipts_no_update');
    const exec = db
      .prepare('SELECT id FROM executions WHERE execution_id = ?')
      .pluck()
      .get(id) as number;
    const row = db
      .prepare(
        'SELECT s.public_key_hex AS key, r.sig, r.body FROM receipts r JOIN signers s ON s.id = r.signer WHERE r.exec = ? AND r.seq = 6'
      )
      .get(exec) as { key: string; sig: Buffer; body: Buffer };
    const receipt = decodeReceipt(row.body, row.sig, row.key);
    expect(receipt.event_kind).toBe('completed');
    db.prepare('UPDATE receipts SET body = ? WHERE exec = ? AND seq = 6').run(
      encodeReceipt({ ...receipt, summary: 'A much nicer summary.' }).body,
      exec
    );
    db.close();
    oracle = await startWorkflowOracle({ dataDir: tmp.dir });
    const receipts = await getJson(`${oracle.url}/v1/executions/${id}/receipts`);
    expect(receipts.json.count).toBe(FULL_RUN.length);
    const verify = await getJson(`${oracle.url}/v1/executions/${id}/receipts/verify`);
    expect(verify.json).toMatchObject({
      ok: true,
      valid: false,
      verified: 6,
      first_bad: { index: 6, seq: 6, receipt_id: receipt.receipt_id, reason: 'bad_signature' }
    });
  });
});
