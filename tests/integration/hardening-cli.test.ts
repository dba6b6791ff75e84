/**
 * Issue #10 settings through the real oracle CLI (`native-oracle/main.ts` as a process): a
 * non-loopback --host without an API key refuses to start unless --allow-open, and health and
 * /v1/models say whether the served model is a generated test model.
 */
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureTestModels } from '../helpers/models.js';

const ROOT = resolve(import.meta.dirname, '../..');
const NODE_ARGS = ['--import', 'tsx', join(ROOT, 'native-oracle/main.ts')];

let dataDir: string;
beforeAll(() => {
  dataDir = mkdtempSync(join(tmpdir(), 'shard-hardening-cli-'));
});
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

/** Runs the oracle until it is ready, reads /health and /v1/models, then stops it. */
async function describeModel(args: string[]) {
  const child = spawn(process.execPath, [...NODE_ARGS, '--port', '0', '--draft', 'none', ...args], {
    cwd: ROOT,
    env: { ...process.env, SHARD_DATA_DIR: dataDir },
    stdio: ['ignore', 'pipe', 'pipe']
  });
  let stdout = '';
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const url = await new Promise<string>((resolveUrl, reject) => {
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
      const m = /Shard oracle ready: (http:\/\/\S+)/.exec(stdout);
      if (m) resolveUrl(m[1]!);
    });
    child.once('exit', (code) => reject(new Error(`oracle exited early (${code}): ${stderr}`)));
  });
  try {
    const health = await (await fetch(`${url}/health`)).json();
    const models = await (await fetch(`${url}/v1/models`)).json();
    return { health, models };
  } finally {
    child.kill('SIGTERM');
    await exited;
  }
}

describe('oracle CLI access settings', () => {
  it('refuses a non-loopback --host without an API key, naming --allow-open', () => {
    const out = spawnSync(process.execPath, [...NODE_ARGS, '--host', '0.0.0.0', '--port', '0'], {
      cwd: ROOT,
      env: { ...process.env, SHARD_DATA_DIR: dataDir, SHARD_API_KEYS: '' },
      encoding: 'utf8',
      timeout: 60_000
    });
    expect(out.status).toBe(2);
    expect(out.stderr).toMatch(/refusing to listen on 0\.0\.0\.0 without an API key/);
    expect(out.stderr).toMatch(/--allow-open/);
  });

  it('says the generated target is a test model, and a --model user file is not', async () => {
    const { targetPath } = await ensureTestModels();
    const generated = await describeModel(['--model', targetPath]);
    expect(generated.health.model_is_generated_test_model).toBe(true);
    expect(generated.models.data[0].shard.model_is_generated_test_model).toBe(true);
    // The same bytes outside a generated-models folder are a user's own model.
    const userDir = join(dataDir, 'mine');
    mkdirSync(userDir);
    copyFileSync(targetPath, join(userDir, 'model.gguf'));
    const user = await describeModel(['--model', join(userDir, 'model.gguf')]);
    expect(user.health.model_is_generated_test_model).toBe(false);
    expect(user.models.data[0].shard.model_is_generated_test_model).toBe(false);
  });
});
