/* eslint-disable @typescript-eslint/no-explicit-any -- HTTP JSON bodies are asserted field by field; typing each response adds nothing here */
/**
 * research_brief with the real llama.cpp engine on the generated test model (threads 1): once
 * with the model as the local candidate, once as a remote oracle behind a second server on
 * loopback (real HTTP, real usage counts priced per 1k tokens).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTargetEngine, type TargetEngine } from '../../native-oracle/engine/index.js';
import { createOracleServer, type OracleServer } from '../../native-oracle/server.js';
import { ensureTestModels } from '../helpers/models.js';
import {
  events,
  getJson,
  postJson,
  remote,
  startWorkflowOracle,
  task,
  tempDir,
  type WorkflowOracle
} from './workflow-fixtures.js';

describe('research_brief on the real generated model', () => {
  const tmp = tempDir('shard-wf-model-');
  let engine: TargetEngine;
  const oracles: WorkflowOracle[] = [];
  let upstream: OracleServer | undefined;

  beforeAll(async () => {
    const { targetPath } = await ensureTestModels();
    engine = await createTargetEngine({ modelPath: targetPath, threads: 1, maxConcurrent: 1 });
  });
  afterAll(async () => {
    await Promise.all(oracles.map((o) => o.stop()));
    await upstream?.stop();
    await engine?.dispose();
    tmp.remove();
  });

  it('plans with a JSON-schema grammar and synthesizes on the local model; summaries go to the cheaper extractive engine', async () => {
    const o = await startWorkflowOracle({ dataDir: `${tmp.dir}/local`, engine });
    oracles.push(o);
    const caps = (await getJson(`${o.url}/v1/capabilities`)).json;
    expect(caps.capabilities.map((c: { candidate_id: string }) => c.candidate_id)).toEqual([
      'local-oracle',
      'extractive'
    ]);
    const res = await postJson(`${o.url}/v1/agents/tasks?wait=true`, task());
    expect(res.status).toBe(201);
    const receipts = res.json.receipts as Array<Record<string, any>>;
    expect(events(receipts)).toEqual([
      'workflow:planned',
      'planner:candidate_ranked',
      'planner:dispatched',
      'planner:completed',
      ...res.json.execution.result.selected_source_ids.flatMap((id: string) => [
        `summarize-${id}:candidate_ranked`,
        `summarize-${id}:dispatched`,
        `summarize-${id}:completed`
      ]),
      'synthesize-brief:candidate_ranked',
      'synthesize-brief:dispatched',
      'synthesize-brief:completed',
      'result:completed'
    ]);
    const planner = receipts[3]!;
    expect(planner.selected_candidate.candidate_id).toBe('local-oracle');
    expect(planner.model_metadata).toMatchObject({
      model_id: engine.modelId,
      constrained: 'grammar'
    });
    expect(planner.input_tokens).toBeGreaterThan(20);
    expect(planner.output_tokens).toBeGreaterThan(0);
    const summaries = receipts.filter(
      (r) => r.step_kind === 'summarize_source' && r.event_kind === 'completed'
    );
    expect(summaries.every((r) => r.selected_candidate.candidate_id === 'extractive')).toBe(true);
    const synth = receipts.find(
      (r) => r.step_kind === 'synthesize_brief' && r.event_kind === 'completed'
    )!;
    expect(synth.selected_candidate.candidate_id).toBe('local-oracle');
    expect(res.json.execution.result.brief.length).toBeGreaterThan(0);
    // The grammar-constrained planner output parsed as JSON (the free-text fallback would say "Focus on ...").
    expect(res.json.execution.result.planner_notes.startsWith('Focus on')).toBe(false);
    // Planner ids are constrained by the grammar to the given sources.
    for (const id of res.json.execution.result.selected_source_ids)
      expect(['coffee', 'sleep']).toContain(id);
    expect(
      (await getJson(`${o.url}/v1/executions/${res.json.execution.execution_id}/receipts/verify`))
        .json.valid
    ).toBe(true);
  });

  it('runs steps on a remote oracle over real HTTP and prices its real token usage', async () => {
    upstream = createOracleServer({ engine, host: '127.0.0.1', port: 0, rateLimitPerMinute: 0 });
    await upstream.start();
    const prices = { price_per_1k_input_usd: 0.002, price_per_1k_output_usd: 0.006 };
    const o = await startWorkflowOracle({
      dataDir: `${tmp.dir}/remote`,
      config: {
        local: { enabled: false },
        remotes: [remote('upstream-oracle', upstream.url, prices)]
      }
    });
    oracles.push(o);
    const res = await postJson(`${o.url}/v1/agents/tasks?wait=true`, task());
    expect(res.status).toBe(201);
    const remoteSteps = (res.json.receipts as Array<Record<string, any>>).filter(
      (r) =>
        r.event_kind === 'completed' && r.selected_candidate?.candidate_id === 'upstream-oracle'
    );
    expect(remoteSteps.map((r) => r.step_kind)).toEqual(['planner', 'synthesize_brief']);
    for (const r of remoteSteps) {
      expect(r.input_tokens).toBeGreaterThan(20);
      expect(r.model_metadata.model_id).toBe(engine.modelId);
      const expected =
        Math.round(
          ((r.input_tokens * prices.price_per_1k_input_usd +
            r.output_tokens * prices.price_per_1k_output_usd) /
            1000) *
            1e6
        ) / 1e6;
      expect(r.actual_cost_usd).toBe(expected);
    }
    const total = remoteSteps.reduce((s, r) => s + r.actual_cost_usd, 0);
    expect(res.json.execution.observed_cost_usd).toBeCloseTo(total, 6);
  });
});
