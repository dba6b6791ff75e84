/**
 * The oracle CLI for the signer-key browser test: started on a data dir and port the test
 * chooses, so it can be stopped, have its receipt key rotated (`--rotate-receipt-key`, as an
 * operator would), and be started again at the same origin with the new key.
 */
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { resolve } from 'node:path';

const REPO_ROOT = resolve(import.meta.dirname, '../../..');
const READY_TIMEOUT_MS = 60_000;

export interface RunningOracle {
  readonly url: string;
  /** SIGTERM and wait for the exit. */
  stop(): Promise<void>;
}

/** A TCP port that was free a moment ago (listen on 0, read it, close). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
  const { port } = server.address() as { port: number };
  await new Promise<void>((res) => server.close(() => res()));
  return port;
}

const oracleEnv = (dataDir: string) => ({
  ...process.env,
  SHARD_DATA_DIR: dataDir,
  SHARD_RATE_LIMIT_PER_MINUTE: '0',
  SHARD_LOG_LEVEL: 'warn'
});

/** Starts the oracle (no model) on `port` with `dataDir`; resolves when it prints ready. */
export async function startOracleAt(dataDir: string, port: number): Promise<RunningOracle> {
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
      String(port)
    ],
    { cwd: REPO_ROOT, env: oracleEnv(dataDir), stdio: ['ignore', 'pipe', 'pipe'] }
  );
  let out = '';
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-20_000)));
  const exited = new Promise<void>((res) => child.once('exit', () => res()));
  const url = await new Promise<string>((res, rej) => {
    const timer = setTimeout(
      () => rej(new Error(`oracle not ready; stderr:\n${err}`)),
      READY_TIMEOUT_MS
    );
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /Shard oracle ready: (http:\/\/\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        res(m[1]!);
      }
    });
    void exited.then(() => {
      clearTimeout(timer);
      rej(new Error(`oracle exited before ready; stderr:\n${err}`));
    });
  });
  child.stdout.resume();
  return {
    url,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await exited;
      }
    }
  };
}

/** Runs `--rotate-receipt-key` on `dataDir`; resolves with the new public key (hex). */
export async function rotateReceiptKey(dataDir: string): Promise<string> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', 'native-oracle/main.ts', '--rotate-receipt-key'],
    {
      cwd: REPO_ROOT,
      env: oracleEnv(dataDir),
      stdio: ['ignore', 'pipe', 'pipe']
    }
  );
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const code = await new Promise<number | null>((res) => child.once('exit', res));
  const m = /current ([0-9a-f]{64})/.exec(out);
  if (code !== 0 || !m) throw new Error(`key rotation failed (${code}):\n${out}`);
  return m[1]!;
}
