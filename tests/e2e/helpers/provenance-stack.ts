/**
 * The oracle CLI (native-oracle/main.ts) as a real child process for the provenance browser
 * tests: no model (`--allow-no-model`, so the extractive engine does the work), 127.0.0.1 on a
 * free port, its own temporary SHARD_DATA_DIR (receipts.sqlite and the signing key live there),
 * serving the built PWA from build/. Also the file-level tamper an attacker with write access to
 * the data dir could do.
 */
import Database from 'better-sqlite3';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { decodeReceipt, encodeReceipt } from '../../../native-oracle/receipts/codec.js';
import type { ExecutionReceipt } from '../../../src/lib/protocol/receipts.js';

const REPO_ROOT = resolve(import.meta.dirname, '../../..');
const READY_TIMEOUT_MS = 60_000;

export interface OracleProcess {
  /** Origin, e.g. http://127.0.0.1:41234 */
  readonly url: string;
  /** The process's SHARD_DATA_DIR. */
  readonly dataDir: string;
  /** `<dataDir>/receipts.sqlite` */
  readonly receiptsPath: string;
  /** SIGTERM, wait for exit, remove the data dir. */
  close(): Promise<void>;
}

/**
 * Spawns the oracle CLI and resolves once it prints "Shard oracle ready: <url>". Rejects with
 * its stderr when it exits first or is not ready within 60 s.
 */
export async function startOracleProcess(): Promise<OracleProcess> {
  if (!existsSync(join(REPO_ROOT, 'build', 'index.html')))
    throw new Error('build/ is missing: run `npx vite build` first');
  const dataDir = mkdtempSync(join(tmpdir(), 'shard-provenance-e2e-'));
  const child: ChildProcess = spawn(
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
      cwd: REPO_ROOT,
      env: {
        ...process.env,
        SHARD_DATA_DIR: dataDir,
        SHARD_RATE_LIMIT_PER_MINUTE: '0',
        SHARD_LOG_LEVEL: 'warn'
      },
      stdio: ['ignore', 'pipe', 'pipe']
    }
  );
  let out = '';
  let err = '';
  child.stderr!.on('data', (d: Buffer) => {
    err = (err + d.toString()).slice(-20_000);
  });
  const exited = new Promise<number | null>((res) => child.once('exit', (code) => res(code)));
  let url: string;
  try {
    url = await new Promise<string>((res, rej) => {
      const timer = setTimeout(
        () => rej(new Error(`oracle not ready in ${READY_TIMEOUT_MS} ms; stderr:\n${err}`)),
        READY_TIMEOUT_MS
      );
      child.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /Shard oracle ready: (http:\/\/\S+)/.exec(out);
        if (m) {
          clearTimeout(timer);
          res(m[1]!);
        }
      });
      void exited.then((code) => {
        clearTimeout(timer);
        rej(new Error(`oracle exited with ${code} before ready; stderr:\n${err}`));
      });
    });
  } catch (e) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
    throw e;
  }
  // Keep draining stdout so the child never blocks on a full pipe.
  child.stdout!.resume();
  return {
    url,
    dataDir,
    receiptsPath: join(dataDir, 'receipts.sqlite'),
    async close() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await exited;
      }
      rmSync(dataDir, { recursive: true, force: true });
    }
  };
}

/**
 * Rewrites one stored receipt in place, as someone with write access to the SQLite file could:
 * drops the append-only UPDATE trigger, decodes the row, applies `edit` to the receipt (keeping
 * its original signature), re-encodes it with the store's own codec and writes it back. Returns
 * the receipt as it is now stored.
 */
export function tamperStoredReceipt(options: {
  receiptsPath: string;
  executionId: string;
  seq: number;
  edit: (receipt: ExecutionReceipt) => ExecutionReceipt;
}): ExecutionReceipt {
  const db = new Database(options.receiptsPath);
  try {
    db.pragma('busy_timeout = 5000');
    const row = db
      .prepare(
        `SELECT r.exec, r.sig, r.body, s.public_key_hex FROM receipts r
         JOIN executions e ON e.id = r.exec JOIN signers s ON s.id = r.signer
         WHERE e.execution_id = ? AND r.seq = ?`
      )
      .get(options.executionId, options.seq) as
      { exec: number; sig: Buffer; body: Buffer; public_key_hex: string } | undefined;
    if (!row) throw new Error(`no stored receipt ${options.executionId} seq ${options.seq}`);
    const tampered = options.edit(decodeReceipt(row.body, row.sig, row.public_key_hex));
    const { body, sig } = encodeReceipt(tampered);
    db.exec('DROP TRIGGER IF EXISTS receipts_no_update');
    const info = db
      .prepare('UPDATE receipts SET body = ?, sig = ? WHERE exec = ? AND seq = ?')
      .run(body, sig, row.exec, options.seq);
    if (info.changes !== 1) throw new Error(`tamper changed ${info.changes} rows, expected 1`);
    return tampered;
  } finally {
    db.close();
  }
}
