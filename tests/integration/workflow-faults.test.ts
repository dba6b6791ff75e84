/* eslint-disable @typescript-eslint/no-explicit-any -- HTTP JSON bodies are asserted field by field; typing each response adds nothing here */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  events,
  getJson,
  postJson,
  remote,
  startFaultServer,
  startWorkflowOracle,
  task,
  tempDir,
  type FaultServer,
  type WorkflowOracle
} from './workflow-fixtures.js';

/** A public candidate with real (small) prices; served by the canned completion server. */
const publicRemote = (url: string) =>
  remote('remote-public', url, {
    supply_tier: 'public',
    trust_tier: 'public_specialist',
    price_per_1k_input_usd: 0.01,
    price_per_1k_output_usd: 0.03,
    quality: 0.9
  });

describe('graceful degradation and policy edge cases (real HTTP upstreams that fail on purpose)', () => {
  const tmp = tempDir();
  let failing: FaultServer;
  let hanging: FaultServer;
  let canned: FaultServer;
  const oracles: WorkflowOracle[] = [];
  const start = async (config: object) => {
    const o = await startWorkflowOracle({ dataDir: tempDirIn(), config });
    oracles.push(o);
    return o;
  };
  let n = 0;
  const tempDirIn = () => `${tmp.dir}/o${++n}`;

  beforeAll(async () => {
    [failing, hanging, canned] = await Promise.all([
      startFaultServer('status500'),
      startFaultServer('hang'),
      startFaultServer('canned')
    ]);
  });
  afterEach(async () => {
    await Promise.all(oracles.splice(0).map((o) => o.stop()));
  });
  afterAll(async () => {
    await Promise.all([failing.close(), hanging.close(), canned.close()]);
    tmp.remove();
  });

  it('a candidate that errors gets failed + fallback_applied receipts and the next candidate finishes', async () => {
    const o = await start({ remotes: [remote('remote-a', failing.url)] });
    const res = await postJson(`${o.url}/v1/agents/tasks?wait=true`, task());
    expect(res.status).toBe(201);
    const receipts = res.json.receipts;
    expect(events(receipts)).toEqual([
      'workflow:planned',
      'planner:candidate_ranked',
      'planner:dispatched',
      'planner:failed',
      'planner:fallback_applied',
      'planner:dispatched',
      'planner:completed',
      'summarize-sleep:candidate_ranked',
      'summarize-sleep:dispatched',
      'summarize-sleep:completed',
      'summarize-coffee:candidate_ranked',
      'summarize-coffee:dispatched',
      'summarize-coffee:completed',
      'synthesize-brief:candidate_ranked',
      'synthesize-brief:dispatched',
      'synthesize-brief:failed',
      'synthesize-brief:fallback_applied',
      'synthesize-brief:dispatched',
      'synthesize-brief:completed',
      'result:completed'
    ]);
    const id = res.json.execution.execution_id;
    expect(receipts[2]).toMatchObject({
      attempt_id: `${id}:planner:attempt:1`,
      selected_candidate: { candidate_id: 'remote-a' }
    });
    expect(receipts[3]).toMatchObject({
      attempt_id: `${id}:planner:attempt:1`,
      failure_reason: 'upstream_status:500',
      parent_receipt_id: receipts[2].receipt_id
    });
    expect(receipts[4]).toMatchObject({
      attempt_id: `${id}:planner:fallback:1`,
      fallback_reason: 'upstream_status:500',
      selected_candidate: { candidate_id: 'extractive' }
    });
    expect(receipts[5]).toMatchObject({
      attempt_id: `${id}:planner:attempt:2`,
      parent_receipt_id: receipts[4].receipt_id
    });
    expect(res.json.provenance.fallback_paths).toHaveLength(2);
    expect(res.json.provenance.incomplete).toBe(false);
    expect((await getJson(`${o.url}/v1/executions/${id}/receipts/verify`)).json.valid).toBe(true);
  });

  it('an in-process candidate whose executor throws is recorded as failed and falls back', async () => {
    let calls = 0;
    const thrower = {
      descriptor: {
        candidate_id: 'thrower',
        display_name: 'throwing executor',
        kind: 'local_engine' as const,
        supply_tier: 'personal' as const,
        trust_tier: 'local' as const,
        tags: ['planning', 'summarization', 'synthesis', 'reasoning', 'low_cost'],
        price_per_1k_input_usd: 0,
        price_per_1k_output_usd: 0,
        latency_ms: 1,
        healthy: true
      },
      quality: 1,
      timeout_ms: 5_000,
      executor: {
        run: async () => {
          calls += 1;
          throw new TypeError('executor exploded');
        }
      }
    };
    const o = await startWorkflowOracle({ dataDir: tempDirIn(), extraCandidates: [thrower] });
    oracles.push(o);
    const res = await postJson(`${o.url}/v1/agents/tasks?wait=true`, task());
    expect(res.status).toBe(201);
    const failed = res.json.receipts.filter(
      (r: { event_kind: string }) => r.event_kind === 'failed'
    );
    expect(failed.length).toBe(calls);
    expect(
      failed.every(
        (r: { failure_reason: string; selected_candidate: { candidate_id: string } }) =>
          r.failure_reason === 'executor_error:executor exploded' &&
          r.selected_candidate.candidate_id === 'thrower'
      )
    ).toBe(true);
    expect(events(res.json.receipts).slice(0, 7)).toEqual([
      'workflow:planned',
      'planner:candidate_ranked',
      'planner:dispatched',
      'planner:failed',
      'planner:fallback_applied',
      'planner:dispatched',
      'planner:completed'
    ]);
    // After three consecutive failures the registry reports it unhealthy.
    const caps = (await getJson(`${o.url}/v1/capabilities`)).json.capabilities;
    expect(caps.find((c: { candidate_id: string }) => c.candidate_id === 'thrower').healthy).toBe(
      calls < 3
    );
  });

  it('a candidate hanging past the deadline ends the execution failed with a partial artifact', async () => {
    const o = await start({ remotes: [remote('remote-hang', hanging.url)] });
    const res = await postJson(
      `${o.url}/v1/agents/tasks?wait=true`,
      task({ policy: { deadline_ms: 1500 } })
    );
    expect(res.status).toBe(200);
    expect(res.json.ok).toBe(false);
    expect(res.json.detail).toBe('deadline exceeded during step planner');
    expect(events(res.json.receipts)).toEqual([
      'workflow:planned',
      'planner:candidate_ranked',
      'planner:dispatched',
      'planner:failed',
      'result:failed'
    ]);
    expect(res.json.receipts[3].failure_reason).toBe('deadline_exceeded');
    expect(res.json.execution).toMatchObject({
      status: 'failed',
      result: { partial: true, brief: null, source_summaries: [] }
    });
    expect(res.json.provenance.incomplete).toBe(true);
    expect(res.json.provenance.nodes.at(-1).branch).toBe('failed');
  });

  it('a candidate past its own timeout falls back while the deadline still allows', async () => {
    const o = await start({ remotes: [remote('remote-slow', hanging.url, { timeout_ms: 300 })] });
    const res = await postJson(`${o.url}/v1/agents/tasks?wait=true`, task());
    expect(res.status).toBe(201);
    expect(events(res.json.receipts).slice(0, 7)).toEqual([
      'workflow:planned',
      'planner:candidate_ranked',
      'planner:dispatched',
      'planner:failed',
      'planner:fallback_applied',
      'planner:dispatched',
      'planner:completed'
    ]);
    expect(res.json.receipts[3].failure_reason).toBe('timeout');
  });

  it('never falls back to a less trusted candidate unless allow_fallbacks', async () => {
    const config = {
      extractive: { enabled: false },
      remotes: [remote('remote-a', failing.url), publicRemote(canned.url)]
    };
    const o = await start(config);
    const policy = { trust_tier: 'public_specialist' };
    const blocked = await postJson(`${o.url}/v1/agents/tasks?wait=true`, task({ policy }));
    expect(blocked.status).toBe(200);
    expect(events(blocked.json.receipts)).toEqual([
      'workflow:planned',
      'planner:candidate_ranked',
      'planner:dispatched',
      'planner:failed',
      'result:failed'
    ]);
    expect(blocked.json.detail).toBe(
      'all candidates failed for step planner; fallback_blocked:lower_trust(remote-public:public_specialist<verified_mesh)'
    );

    const allowed = await postJson(
      `${o.url}/v1/agents/tasks?wait=true`,
      task({ policy: { ...policy, allow_fallbacks: true } })
    );
    expect(allowed.status).toBe(201);
    expect(events(allowed.json.receipts).slice(0, 7)).toEqual([
      'workflow:planned',
      'planner:candidate_ranked',
      'planner:dispatched',
      'planner:failed',
      'planner:fallback_applied',
      'planner:dispatched',
      'planner:completed'
    ]);
    const completed = allowed.json.receipts[6];
    // Cost = the remote's reported usage (100 in, 20 out) × its prices per 1k tokens.
    expect(completed).toMatchObject({
      input_tokens: 100,
      output_tokens: 20,
      actual_cost_usd: 0.0016,
      model_metadata: { served_by: 'canned-node' }
    });
    expect(allowed.json.execution.observed_cost_usd).toBeGreaterThan(0);
  });

  it.each([
    [
      'trust floor unmet',
      { allowed_supply_tiers: ['public'], trust_tier: 'verified_mesh' },
      'remote-public (trust_floor_unmet), extractive (tier_not_allowed)'
    ],
    [
      'budget exhausted',
      { allowed_supply_tiers: ['public'], trust_tier: 'public_specialist', budget_limit: 0.001 },
      'remote-public (budget_exceeded), extractive (tier_not_allowed)'
    ],
    [
      'public spend capped',
      { allowed_supply_tiers: ['public'], trust_tier: 'public_specialist', max_public_spend: 0 },
      'remote-public (public_spend_exceeded), extractive (tier_not_allowed)'
    ],
    [
      'deadline too short for any candidate',
      { allowed_supply_tiers: ['public'], trust_tier: 'public_specialist', deadline_ms: 50 },
      'remote-public (deadline_exceeded), extractive (tier_not_allowed)'
    ]
  ])('%s: a clear failure, no silent fallback', async (_name, policy, why) => {
    const o = await start({ remotes: [publicRemote(canned.url)] });
    const before = canned.requests;
    const res = await postJson(`${o.url}/v1/agents/tasks?wait=true`, task({ policy }));
    expect(res.status).toBe(200);
    expect(res.json.detail).toBe(`no candidate satisfied policy for step planner: ${why}`);
    expect(events(res.json.receipts)).toEqual([
      'workflow:planned',
      'planner:candidate_ranked',
      'planner:failed',
      'result:failed'
    ]);
    expect(res.json.receipts[2]).toMatchObject({
      failure_reason: 'no_candidate_satisfied_policy',
      attempt_id: `${res.json.execution.execution_id}:planner:none`
    });
    expect(
      res.json.receipts[1].rejected_candidates.map((r: { reason: string }) => r.reason)
    ).toHaveLength(2);
    expect(canned.requests).toBe(before);
  });

  it('cancel stops a running execution with a final failed receipt; cancelling again is 409', async () => {
    const o = await start({ remotes: [remote('remote-hang', hanging.url)] });
    const arrived = hanging.nextRequest();
    const accepted = await postJson(
      `${o.url}/v1/agents/tasks`,
      task({ policy: { deadline_ms: null } })
    );
    expect(accepted.status).toBe(202);
    const id = accepted.json.execution_id;
    await arrived;
    const cancel = await postJson(`${o.url}/v1/executions/${id}/cancel`, {});
    expect(cancel.status).toBe(202);
    expect(cancel.json.execution.status).toBe('failed');
    const receipts = (await getJson(`${o.url}/v1/executions/${id}/receipts`)).json.receipts;
    expect(events(receipts)).toEqual([
      'workflow:planned',
      'planner:candidate_ranked',
      'planner:dispatched',
      'planner:failed',
      'result:failed'
    ]);
    expect(receipts[3].failure_reason).toBe('cancelled');
    expect(receipts[4].failure_reason).toBe('execution cancelled');
    const again = await postJson(`${o.url}/v1/executions/${id}/cancel`, {});
    expect(again).toMatchObject({
      status: 409,
      json: { ok: false, detail: 'execution is not running (status failed)' }
    });
  });

  it('streams receipts over SSE: past ones, then live ones, then one end event', async () => {
    const o = await start({ remotes: [remote('remote-hang', hanging.url)] });
    const accepted = await postJson(
      `${o.url}/v1/agents/tasks`,
      task({ policy: { deadline_ms: null } })
    );
    const id = accepted.json.execution_id as string;
    const res = await fetch(`${o.url}/v1/executions/${id}/events`);
    expect(res.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    const seen: Array<{ event: string; data: any }> = [];
    let buffer = '';
    let isCancelSent = false;
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let cut: number;
      while ((cut = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        const event = /^event: (.*)$/m.exec(block)![1]!;
        const data = JSON.parse(/^data: (.*)$/m.exec(block)![1]!);
        seen.push({ event, data });
        if (event === 'receipt' && data.event_kind === 'dispatched' && !isCancelSent) {
          isCancelSent = true;
          void postJson(`${o.url}/v1/executions/${id}/cancel`, {});
        }
      }
    }
    expect(
      seen.map((e) => (e.event === 'receipt' ? `${e.data.step_id}:${e.data.event_kind}` : e.event))
    ).toEqual([
      'workflow:planned',
      'planner:candidate_ranked',
      'planner:dispatched',
      'planner:failed',
      'result:failed',
      'end'
    ]);
    expect(seen.at(-1)!.data.status).toBe('failed');
    // A finished execution: every receipt, then end, at once.
    const again = await (await fetch(`${o.url}/v1/executions/${id}/events`)).text();
    expect(again.match(/^event: receipt$/gm)).toHaveLength(5);
    expect(again.trimEnd().split('\n\n').at(-1)).toMatch(
      /^event: end\ndata: \{.*"status":"failed"/
    );
    expect(
      (await fetch(`${o.url}/v1/executions/exec-00000000-0000-4000-8000-000000000000/events`))
        .status
    ).toBe(404);
  });
});
