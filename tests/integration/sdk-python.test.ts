/**
 * The Python SDK (sdk/python) end to end: its pytest suite runs with /usr/bin/python3 against a
 * live oracle process (generated model) whose URL it reads from SHARD_TEST_ORACLE_URL. The
 * package is installed with pip into a temporary target first when pip is there (so its
 * pyproject is exercised), else imported from the source folder. Skips, saying so, only when
 * /usr/bin/python3 lacks httpx, nacl or pytest (npm test installs them: python3-httpx,
 * python3-nacl, python3-pytest).
 */
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startSdkOracle, type SdkOracle } from './sdk-oracle.js';

const ROOT = resolve(import.meta.dirname, '../..');
const PYTHON = '/usr/bin/python3';
const SDK = join(ROOT, 'sdk/python');

const deps = spawnSync(PYTHON, ['-c', 'import httpx, nacl, pytest'], { encoding: 'utf8' });
const missing =
  deps.error || deps.status !== 0
    ? `${PYTHON} lacks httpx, nacl or pytest (apt-get install python3-httpx python3-nacl python3-pytest): ${
        deps.error?.message ?? deps.stderr.trim().split('\n').pop()
      }`
    : null;
if (missing) console.warn(`[sdk-python] SKIPPED: ${missing}`);

/** Runs a command to its end, collecting its output. */
function run(cmd: string, args: string[], env: Record<string, string> = {}) {
  return new Promise<{ code: number | null; output: string }>((done) => {
    const child = spawn(cmd, args, {
      cwd: ROOT,
      env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1', ...env },
      stdio: ['ignore', 'pipe', 'pipe']
    });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (output += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (output += d));
    child.once('close', (code) => done({ code, output }));
  });
}

describe('Python SDK against a live oracle', () => {
  let oracle: SdkOracle | undefined;
  const tmp = mkdtempSync(join(tmpdir(), 'shard-sdk-python-'));
  afterAll(async () => {
    await oracle?.stop();
    rmSync(tmp, { recursive: true, force: true });
  });

  it.skipIf(missing !== null)(
    'passes its pytest suite (chat, workflows, contributor flow, refusals)',
    async () => {
      // pip builds in the source tree: build from a copy, install into a private target.
      let importPath = SDK;
      const hasPip = spawnSync(PYTHON, ['-m', 'pip', '--version']).status === 0;
      if (hasPip) {
        cpSync(SDK, join(tmp, 'src'), { recursive: true });
        const pip = await run(PYTHON, [
          ...['-m', 'pip', 'install', '--quiet', '--no-build-isolation', '--no-deps'],
          ...['--no-index', '--target', join(tmp, 'site'), join(tmp, 'src')]
        ]);
        expect(pip.code, pip.output).toBe(0);
        importPath = join(tmp, 'site');
      }
      oracle = await startSdkOracle();
      const pytest = await run(
        PYTHON,
        ['-m', 'pytest', join(SDK, 'tests'), '-q', '-rs', '-p', 'no:cacheprovider'],
        { SHARD_TEST_ORACLE_URL: oracle.url, PYTHONPATH: importPath }
      );
      expect(pytest.code, pytest.output).toBe(0);
      // Every live test ran: a missing URL would have skipped them instead.
      expect(pytest.output).toMatch(/\b13 passed\b/);
      expect(pytest.output).not.toMatch(/skipped/);
    }
  );
});
