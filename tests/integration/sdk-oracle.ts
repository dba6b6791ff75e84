/**
 * Test helper of the SDK integration tests: the oracle CLI (native-oracle/main.ts) as a real
 * process on a free loopback port, serving the generated target model (one thread, prompt-lookup
 * drafts) from a temporary data dir, with the workflow and contribution plugins the CLI wires.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ensureTestModels } from '../helpers/models.js';

const ROOT = resolve(import.meta.dirname, '../..');

export interface SdkOracle {
  url: string;
  dataDir: string;
  /** SIGTERM, wait for the exit, remove the data dir. */
  stop(): Promise<void>;
}

/** Starts the oracle; resolves once it prints its ready line (rejects if it exits first). */
export async function startSdkOracle(env: Record<string, string> = {}): Promise<SdkOracle> {
  const { targetPath } = await ensureTestModels();
  const dataDir = mkdtempSync(join(tmpdir(), 'shard-sdk-'));
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      join(ROOT, 'native-oracle/main.ts'),
      ...['--port', '0', '--model', targetPath, '--threads', '1', '--draft', 'prompt-lookup']
    ],
    {
      cwd: ROOT,
      env: { ...process.env, SHARD_DATA_DIR: dataDir, ...env },
      stdio: ['ignore', 'pipe', 'pipe']
    }
  );
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
    void exited.then((code) => reject(new Error(`oracle exited early (${code}): ${stderr}`)));
  });
  return {
    url,
    dataDir,
    async stop() {
      child.kill('SIGTERM');
      await exited;
      rmSync(dataDir, { recursive: true, force: true });
    }
  };
}
