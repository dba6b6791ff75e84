/* eslint-disable @typescript-eslint/no-explicit-any -- HTTP JSON bodies are asserted field by field; typing each response adds nothing here */
/**
 * Issue 9, the privacy envelope on workflows, through the real HTTP surface, SQLite store and
 * signed receipts: a request that needs a TEE never runs on capacity that does not declare one
 * (it fails naming the requirement instead), a declared TEE remote gets the envelope with each
 * step, and the receipts carry the envelope and what it excluded.
 */
import { afterAll, describe, expect, it } from 'vitest';
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

const NO_TEE_SGX =
  'privacy_requires_tee: the request needs a TEE (sgx); this candidate declares no TEE';
const SGX_ENVELOPE = {
  requires_tee: true,
  encrypted: false,
  encryption_scheme: 'none',
  tee_mode: 'sgx',
  scout_floor: 'none'
};

describe('research_brief under a privacy envelope', () => {
  const tmp = tempDir('shard-wf-privacy-');
  const oracles: WorkflowOracle[] = [];
  const upstreams: FaultServer[] = [];
  afterAll(async () => {
    await Promise.all(oracles.map((o) => o.stop()));
    await Promise.all(upstreams.map((u) => u.close()));
    tmp.remove();
  });
  const start = async (name: string, config: Record<string, unknown> = {}) => {
    const o = await startWorkflowOracle({ dataDir: `${tmp.dir}/${name}`, config });
    oracles.push(o);
    return o;
  };
  const upstream = async (mode: 'canned' | 'status500') => {
    const u = await startFaultServer(mode);
    upstreams.push(u);
    return u;
  };

  it('fails naming the requirement when no capacity declares a TEE; nothing runs', async () => {
    const o = await start('none');
    const res = await postJson(
      `${o.url}/v1/agents/tasks?wait=true`,
      task({ policy: { privacy: { tee_mode: 'sgx', scout_floor: 'none' } } })
    );
    expect(res.status).toBe(200);
    expect(res.json.ok).toBe(false);
    expect(res.json.detail).toBe(
      `no candidate can honour the privacy envelope for step planner: it requires a TEE (sgx), and no candidate the policy allows declares it; excluded extractive (${NO_TEE_SGX})`
    );
    const receipts = res.json.receipts as Array<Record<string, any>>;
    expect(events(receipts)).toEqual([
      'workflow:planned',
      'planner:candidate_ranked',
      'planner:failed',
      'result:failed'
    ]);
    // The envelope is in the signed policy snapshot, its exclusions in the ranking.
    expect(receipts[0]!.policy_snapshot.privacy).toEqual(SGX_ENVELOPE);
    expect(receipts[1]!.rejected_candidates).toEqual([
      { candidate_id: 'extractive', reason: NO_TEE_SGX }
    ]);
    expect(receipts[1]!.summary).toContain(
      'privacy envelope: requires_tee=true tee_mode=sgx encrypted=false encryption_scheme=none scout_floor=none'
    );
    expect(receipts[2]!.summary).toBe(
      'No candidate can honour the privacy envelope (it requires a TEE (sgx))'
    );
    expect(receipts.at(-1)!.failure_reason).toBe(res.json.detail);
    const id = res.json.execution.execution_id as string;
    expect((await getJson(`${o.url}/v1/executions/${id}/receipts/verify`)).json.valid).toBe(true);
  });

  it('runs every step on the declared TEE remote and sends it the envelope', async () => {
    const enclave = await upstream('canned');
    const o = await start('tee', {
      remotes: [remote('enclave', enclave.url, { supports_tee: 'sgx', quality: 0.2 })]
    });
    const caps = (await getJson(`${o.url}/v1/capabilities`)).json;
    expect(caps.capabilities.find((c: any) => c.candidate_id === 'enclave').tags).toContain(
      'tee:sgx'
    );
    const res = await postJson(
      `${o.url}/v1/agents/tasks?wait=true`,
      task({ policy: { privacy: { tee_mode: 'sgx', scout_floor: 'none' } } })
    );
    expect(res.status).toBe(201);
    const receipts = res.json.receipts as Array<Record<string, any>>;
    const attempts = receipts.filter((r) => r.event_kind === 'dispatched');
    expect(attempts.length).toBe(2 + res.json.execution.result.selected_source_ids.length);
    for (const r of attempts) expect(r.selected_candidate.candidate_id).toBe('enclave');
    for (const r of receipts.filter((x) => x.event_kind === 'candidate_ranked'))
      expect(r.rejected_candidates).toEqual([{ candidate_id: 'extractive', reason: NO_TEE_SGX }]);
    // Each step's request carried the envelope; scout floor none also as x-shard-allow-scouts.
    expect(enclave.requestHeaders).toHaveLength(attempts.length);
    for (const h of enclave.requestHeaders) {
      expect(JSON.parse(String(h['x-shard-privacy']))).toEqual(SGX_ENVELOPE);
      expect(h['x-shard-allow-scouts']).toBe('false');
    }
  });

  it('a failing TEE remote is not replaced by plain capacity, even with allow_fallbacks', async () => {
    const enclave = await upstream('status500');
    const o = await start('tee-fails', {
      remotes: [remote('enclave', enclave.url, { supports_tee: 'sgx' })]
    });
    const res = await postJson(
      `${o.url}/v1/agents/tasks?wait=true`,
      task({ policy: { privacy: { requires_tee: true }, allow_fallbacks: true } })
    );
    expect(res.json.ok).toBe(false);
    expect(res.json.detail).toBe('all candidates failed for step planner');
    const receipts = res.json.receipts as Array<Record<string, any>>;
    expect(events(receipts)).toEqual([
      'workflow:planned',
      'planner:candidate_ranked',
      'planner:dispatched',
      'planner:failed',
      'result:failed'
    ]);
    expect(receipts[2]!.selected_candidate.candidate_id).toBe('enclave');
    expect(enclave.requests).toBe(1);
  });

  it('sends no allow-scouts refusal for the default scout floor', async () => {
    const plain = await upstream('canned');
    const o = await start('plain', {
      extractive: { enabled: false },
      remotes: [remote('plain', plain.url)]
    });
    const res = await postJson(`${o.url}/v1/agents/tasks?wait=true`, task());
    expect(res.status).toBe(201);
    expect(plain.requestHeaders.length).toBeGreaterThan(0);
    for (const h of plain.requestHeaders) {
      expect(h['x-shard-allow-scouts']).toBeUndefined();
      expect(JSON.parse(String(h['x-shard-privacy'])).scout_floor).toBe('reputable');
    }
  });

  it('refuses a contradictory envelope with a 400 naming the field', async () => {
    const o = oracles[0]!;
    const res = await postJson(
      `${o.url}/v1/agents/tasks`,
      task({ policy: { privacy: { tee_mode: 'sgx', requires_tee: false } } })
    );
    expect(res.status).toBe(400);
    expect(res.json.detail).toBe(
      'policy.privacy.requires_tee: false contradicts tee_mode sgx (omit it or send true)'
    );
  });
});
