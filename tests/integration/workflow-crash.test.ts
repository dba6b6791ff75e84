/**
 * Crash recovery with a real process and a real SQLite file: the oracle CLI (`native-oracle/
 * main.ts`, workflow plugin wired in) is SIGKILLed while a step is in flight, then restarted on
 * the same data dir; the interrupted execution must read `orphaned`, with every receipt intact.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { verifyReceiptChain } from '../../src/lib/protocol/receipt-chain.js';
import {
  events,
  getJson,
  postJson,
  remote,
  startFaultServer,
  task,
  tempDir,
  type FaultServer
} from './workflow-fixtures.js';

const ROOT = resolve(import.meta.dirname, '../..');

/** Starts the oracle CLI and resolves with its URL once it prints "Shard oracle ready: <url>". */
async function startOracleProcess(
  env: Record<string, string>
): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      'native-oracle/main.ts',
      '--allow-no-model',
      '--host',
      '127.0.0.1',
      '--port',
      '0'
    ],
    {
      cwd: ROOT,
      env: { ...process.env, ...env, SHARD_RATE_LIMIT_PER_MINUTE: '0', SHARD_LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe']
    }
  );
  let out = '';
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const url = await new Promise<string>((resolveUrl, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /Shard oracle ready: (http:\/\/\S+)/.exec(out);
      if (m) resolveUrl(m[1]!);
    });
    child.once('exit', (code) => reject(new Error(`oracle exited early with ${code}: ${err}`)));
  });
  return { child, url };
}

describe('crash mid-step (real child process, real SQLite file)', () => {
  const tmp = tempDir('shard-wf-crash-');
  let hanging: FaultServer;
  const children: ChildProcess[] = [];
  afterAll(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await hanging?.close();
    tmp.remove();
  });

  it('marks the interrupted execution orphaned on restart, receipts intact and verifiable', async () => {
    hanging = await startFaultServer('hang');
    const env = {
      SHARD_DATA_DIR: tmp.dir,
      SHARD_WORKFLOW_CONFIG_JSON: JSON.stringify({ remotes: [remote('remote-hang', hanging.url)] })
    };
    const first = await startOracleProcess(env);
    children.push(first.child);
    const arrived = hanging.nextRequest();
    const accepted = await postJson(
      `${first.url}/v1/agents/tasks`,
      task({ policy: { deadline_ms: null } })
    );
    expect(accepted.status).toBe(202);
    const id = accepted.json.execution_id as string;
    await arrived; // the planner step is now in flight on the remote
    const before = (await getJson(`${first.url}/v1/executions/${id}/receipts`)).json.receipts;
    expect(events(before)).toEqual([
      'workflow:planned',
      'planner:candidate_ranked',
      'planner:dispatched'
    ]);

    first.child.kill('SIGKILL');
    await once(first.child, 'exit');

    const second = await startOracleProcess(env);
    children.push(second.child);
    const after = (await getJson(`${second.url}/v1/executions/${id}/receipts`)).json.receipts;
    expect(events(after)).toEqual([
      'workflow:planned',
      'planner:candidate_ranked',
      'planner:dispatched',
      'planner:orphaned'
    ]);
    expect(after.slice(0, 3)).toEqual(before);
    expect(after[3]).toMatchObject({
      parent_receipt_id: before[2].receipt_id,
      attempt_id: before[2].attempt_id,
      failure_reason: 'daemon_restart_before_completion',
      summary: 'Attempt orphaned during daemon restart'
    });
    const summary = (await getJson(`${second.url}/v1/executions/${id}`)).json.execution;
    expect(summary.status).toBe('orphaned');
    const verify = (await getJson(`${second.url}/v1/executions/${id}/receipts/verify`)).json;
    expect(verify).toMatchObject({ valid: true, count: 4 });
    // Same key across restarts: the node key file persisted, and a third party can check it.
    expect(verifyReceiptChain(after, { trustedKeys: [verify.node_public_key] }).ok).toBe(true);
    expect(
      (await getJson(`${second.url}/v1/executions/${id}/provenance`)).json.provenance.incomplete
    ).toBe(true);

    second.child.kill('SIGTERM');
    expect((await once(second.child, 'exit'))[0]).toBe(0);
  });
});
