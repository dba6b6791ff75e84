/**
 * The oracle over HTTPS (`--tls-cert` / `--tls-key`), through the real CLI: a self-signed
 * certificate made here with openssl, the official `openai` client in a child process that trusts
 * it through NODE_EXTRA_CA_CERTS (the way a user points a client at a LAN oracle with its own
 * CA), and the plain-words refusals for half a pair or a missing file.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureTestModels } from '../helpers/models.js';

const ROOT = resolve(import.meta.dirname, '../..');
const NODE_ARGS = ['--import', 'tsx', join(ROOT, 'native-oracle/main.ts')];
/** The repo's `openai` package, imported by file URL from the client script in a temp dir. */
const OPENAI_URL = pathToFileURL(createRequire(join(ROOT, 'package.json')).resolve('openai')).href;
const hasOpenssl = spawnSync('openssl', ['version']).status === 0;

let dir: string;
let cert: string;
let key: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'shard-https-'));
  cert = join(dir, 'cert.pem');
  key = join(dir, 'key.pem');
  if (!hasOpenssl) return;
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-subj',
      '/CN=localhost',
      '-addext',
      'subjectAltName=DNS:localhost,IP:127.0.0.1',
      '-keyout',
      key,
      '-out',
      cert,
      '-days',
      '1'
    ],
    { stdio: 'ignore' }
  );
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function runCli(args: string[]) {
  return spawnSync(process.execPath, [...NODE_ARGS, '--port', '0', ...args], {
    cwd: ROOT,
    env: { ...process.env, SHARD_DATA_DIR: dir, SHARD_TLS_CERT: '', SHARD_TLS_KEY: '' },
    encoding: 'utf8',
    timeout: 60_000
  });
}

describe.skipIf(!hasOpenssl)('oracle over HTTPS (needs openssl to make the certificate)', () => {
  it('serves the API over HTTPS to the official openai client trusting its certificate', async () => {
    const { targetPath } = await ensureTestModels();
    const child = spawn(
      process.execPath,
      [
        ...NODE_ARGS,
        '--port',
        '0',
        '--draft',
        'none',
        '--model',
        targetPath,
        '--tls-cert',
        cert,
        '--tls-key',
        key
      ],
      { cwd: ROOT, env: { ...process.env, SHARD_DATA_DIR: dir }, stdio: ['ignore', 'pipe', 'pipe'] }
    );
    let stderr = '';
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    try {
      const url = await new Promise<string>((resolveUrl, reject) => {
        let stdout = '';
        child.stdout!.setEncoding('utf8').on('data', (d: string) => {
          stdout += d;
          const m = /Shard oracle ready: (\S+)/.exec(stdout);
          if (m) resolveUrl(m[1]!);
        });
        child.once('exit', (code) => reject(new Error(`oracle exited (${code}): ${stderr}`)));
      });
      expect(url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
      const port = new URL(url).port;
      // Plain http on the HTTPS port gets no API.
      await expect(fetch(`http://127.0.0.1:${port}/health`)).rejects.toThrow();
      const client = join(dir, 'client.mjs');
      writeFileSync(
        client,
        `import OpenAI from '${OPENAI_URL}';
const openai = new OpenAI({ baseURL: 'https://localhost:${port}/v1', apiKey: 'unused' });
const models = await openai.models.list();
const reply = await openai.chat.completions.create({
  model: models.data[0].id, max_tokens: 4, messages: [{ role: 'user', content: 'Hello' }]
});
console.log(JSON.stringify({ model: models.data[0].id, finish: reply.choices[0].finish_reason }));`
      );
      const run = (extra: Record<string, string>) =>
        spawnSync(process.execPath, [client], {
          cwd: ROOT,
          env: { ...process.env, ...extra },
          encoding: 'utf8',
          timeout: 60_000
        });
      // Untrusted: the client refuses the self-signed certificate.
      const untrusted = run({});
      expect(untrusted.status).not.toBe(0);
      expect(untrusted.stderr).toMatch(/Connection error|certificate/i);
      const trusted = run({ NODE_EXTRA_CA_CERTS: cert });
      expect(trusted.stderr).toBe('');
      const out = JSON.parse(trusted.stdout.trim()) as { model: string; finish: string };
      expect(out.model).not.toBe('');
      expect(['stop', 'length']).toContain(out.finish);
    } finally {
      child.kill('SIGTERM');
      await exited;
    }
  });

  it('refuses half a pair, naming the missing flag', () => {
    const out = runCli(['--tls-cert', cert]);
    expect(out.status).toBe(2);
    expect(out.stderr).toMatch(/--tls-cert needs --tls-key too/);
  });

  it('refuses a certificate file it cannot read, naming the flag and the path', () => {
    const missing = join(dir, 'nope.pem');
    const out = runCli(['--tls-cert', missing, '--tls-key', key]);
    expect(out.status).toBe(2);
    expect(out.stderr).toContain(`--tls-cert: cannot read ${missing}`);
  });
});
