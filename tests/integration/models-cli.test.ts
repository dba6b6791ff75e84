/**
 * `npm run models` as a real process: --help, generation into a fresh data dir with a manifest
 * whose hashes match the files, an idempotent second run, and a clear error for bad options.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256File, type PairManifest } from '../../native-oracle/models/index.js';

const run = promisify(execFile);
const CLI = ['node_modules/.bin/tsx', 'native-oracle/models/cli.ts'];

let dataDir: string;
beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'shard-models-cli-'));
});
afterAll(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

function cli(args: string[]) {
  return run(CLI[0], [CLI[1], ...args], {
    env: { ...process.env, SHARD_DATA_DIR: dataDir },
    timeout: 120_000
  });
}

describe('npm run models', () => {
  it('prints usage with --help', async () => {
    const { stdout } = await cli(['--help']);
    expect(stdout).toMatch(/Usage: npm run models/);
    expect(stdout).toMatch(/--bench/);
    expect(stdout).toMatch(/--slow .*Q8_0/);
  });

  it('writes target, draft and manifest into $SHARD_DATA_DIR/models, then skips when up to date', async () => {
    const first = await cli([]);
    expect(first.stdout).toMatch(/writing target\.gguf/);
    expect(first.stdout).toMatch(/expected acceptance 0\.\d+/);
    const dir = join(dataDir, 'models');
    const manifest = JSON.parse(await readFile(join(dir, 'models.json'), 'utf8')) as PairManifest;
    expect(await sha256File(join(dir, 'target.gguf'))).toBe(manifest.target.sha256);
    expect(await sha256File(join(dir, 'draft.gguf'))).toBe(manifest.draft.sha256);
    expect(manifest.config.alpha).toBeGreaterThan(0);
    expect(manifest.expected!.acceptance).toBeGreaterThan(0.6);
    const second = await cli([]);
    expect(second.stdout).toMatch(/up to date/);
    expect(second.stdout).not.toMatch(/writing/);
  });

  it('fails with a specific message on a bad option', async () => {
    await expect(cli(['--alpha', 'lots'])).rejects.toMatchObject({
      code: 1,
      stderr: expect.stringMatching(/--alpha must be a number/)
    });
    await expect(cli(['--frobnicate'])).rejects.toMatchObject({
      code: 1,
      stderr: expect.stringMatching(/unknown option --frobnicate/)
    });
    await expect(cli(['--slow-only', '--slow-type', 'q2_k'])).rejects.toMatchObject({
      code: 1,
      stderr: expect.stringMatching(/--slow-type must be Q8_0, Q4_0 or BF16/)
    });
  });
});
