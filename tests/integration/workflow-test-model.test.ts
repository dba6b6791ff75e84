/* eslint-disable @typescript-eslint/no-explicit-any -- HTTP JSON bodies are asserted field by field; typing each response adds nothing here */
/**
 * Issue 12, "a first run that tells the truth": an oracle serving the generated test model
 * (real llama.cpp, threads 1) with the workflow plugin told so (`isGeneratedTestModel: true`).
 * By default the brief is built by the extractive engine, says so, and its receipts say why the
 * model was not chosen; a request opts in to the model with policy.allow_generated_test_model.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTargetEngine, type TargetEngine } from '../../native-oracle/engine/index.js';
import { ensureTestModels } from '../helpers/models.js';
import {
  getJson,
  postJson,
  SOURCES,
  startWorkflowOracle,
  task,
  tempDir,
  type WorkflowOracle
} from './workflow-fixtures.js';

const REASON =
  'generated_test_model: its text is meaningless by design (policy.allow_generated_test_model opts in)';

/** A source about something else entirely: the planner must leave it out. */
const UNRELATED = {
  id: 'ferry',
  title: 'Harbour ferry timetable',
  content:
    'The harbour ferry leaves every forty minutes from May to September. The boats are in good condition. Bicycles travel free of charge.'
};

describe('research_brief on an oracle serving the generated test model', () => {
  const tmp = tempDir('shard-wf-test-model-');
  let engine: TargetEngine;
  let oracle: WorkflowOracle;

  beforeAll(async () => {
    const { targetPath } = await ensureTestModels();
    engine = await createTargetEngine({ modelPath: targetPath, threads: 1, maxConcurrent: 1 });
    oracle = await startWorkflowOracle({ dataDir: tmp.dir, engine, isGeneratedTestModel: true });
  });
  afterAll(async () => {
    await oracle?.stop();
    await engine?.dispose();
    tmp.remove();
  });

  it('lists the model as a generated test model in /v1/capabilities', async () => {
    const caps = (await getJson(`${oracle.url}/v1/capabilities`)).json;
    const local = caps.capabilities.find((c: any) => c.candidate_id === 'local-oracle');
    expect(local.display_name).toBe('local oracle (generated test model)');
    expect(local.tags).toContain('generated_test_model');
  });

  it('builds the brief extractively by default and says why, in the brief and every ranking', async () => {
    const res = await postJson(
      `${oracle.url}/v1/agents/tasks?wait=true`,
      task({ sources: [...SOURCES, UNRELATED] })
    );
    expect(res.status).toBe(201);
    const receipts = res.json.receipts as Array<Record<string, any>>;
    const result = res.json.execution.result;
    // No step ran on the model.
    const attempts = receipts.filter(
      (r) => ['dispatched', 'completed'].includes(r.event_kind) && r.step_id !== 'result'
    );
    expect(attempts.length).toBeGreaterThan(0);
    for (const r of attempts) expect(r.selected_candidate.candidate_id).toBe('extractive');
    // Every ranking records, in plain words, why the model was not chosen.
    const rankings = receipts.filter((r) => r.event_kind === 'candidate_ranked');
    expect(rankings.length).toBe(2 + result.selected_source_ids.length);
    for (const r of rankings) {
      expect(r.rejected_candidates).toEqual([{ candidate_id: 'local-oracle', reason: REASON }]);
      expect(r.summary).toContain(`excluded local-oracle (${REASON})`);
    }
    // The brief says how it was built and why; the result receipt too.
    expect(result.brief.split('\n')[0]).toBe(
      'Built extractively: this brief is assembled from sentences selected from the sources by BM25 relevance; no language model wrote it. ' +
        `No model was chosen: local-oracle (${REASON}).`
    );
    expect(result.brief).toContain('Answer: ');
    expect(receipts.at(-1)!.summary).toBe(
      'Research brief assembled extractively (no language model wrote it)'
    );
    // Readable sub-questions: the question's own clauses, not generated text.
    expect(result.sub_questions.map((q: any) => q.question)).toEqual([
      'Is coffee good for heart health?',
      'does it affect sleep?'
    ]);
    // The unrelated source is not selected, not summarized, and the plan says so.
    expect(result.selected_source_ids).toEqual(['coffee', 'sleep']);
    expect(result.source_summaries.map((s: any) => s.source_id)).toEqual(['coffee', 'sleep']);
    expect(result.planner_notes).toContain('not selected (off topic): ferry');
    expect(receipts.some((r) => r.step_id === 'summarize-ferry')).toBe(false);
    const id = res.json.execution.execution_id as string;
    expect((await getJson(`${oracle.url}/v1/executions/${id}/receipts/verify`)).json.valid).toBe(
      true
    );
  });

  it('uses the model when the policy opts in', async () => {
    const res = await postJson(
      `${oracle.url}/v1/agents/tasks?wait=true`,
      task({ policy: { allow_generated_test_model: true } })
    );
    expect(res.status).toBe(201);
    const receipts = res.json.receipts as Array<Record<string, any>>;
    expect(receipts[0]!.policy_snapshot.allow_generated_test_model).toBe(true);
    const completed = receipts.filter(
      (r) => r.event_kind === 'completed' && r.step_kind !== 'workflow_result'
    );
    const byStep = Object.fromEntries(
      completed.map((r) => [r.step_kind, r.selected_candidate.candidate_id])
    );
    expect(byStep.planner).toBe('local-oracle');
    expect(byStep.synthesize_brief).toBe('local-oracle');
    expect(completed.find((r) => r.step_kind === 'planner')!.model_metadata).toMatchObject({
      model_id: engine.modelId,
      constrained: 'grammar'
    });
    for (const r of receipts.filter((x) => x.event_kind === 'candidate_ranked'))
      expect(r.rejected_candidates ?? []).toEqual([]);
    expect(res.json.execution.result.brief.startsWith('Built extractively')).toBe(false);
  });
});
