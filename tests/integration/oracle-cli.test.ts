/**
 * `native-oracle/main.ts` as a real process: --help, flag errors, the missing-model message,
 * serving the official openai client with env-configured security, and graceful SIGTERM.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { generateKeyPair } from '@libp2p/crypto/keys';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTrustLedger } from '../../native-oracle/mesh/trust/index.js';
import { loadOrCreateKey } from '../../relay/key-file.js';
import { ensureTestModels } from '../helpers/models.js';
import { spawnRelay, waitFor } from './mesh-harness.js';

const ROOT = resolve(import.meta.dirname, '../..');
const MAIN = join(ROOT, 'native-oracle/main.ts');
const NODE_ARGS = ['--import', 'tsx', MAIN];

let dataDir: string;

beforeAll(() => {
  dataDir = mkdtempSync(join(tmpdir(), 'shard-oracle-cli-'));
});
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

function runSync(args: string[], env: Record<string, string> = {}) {
  const out = spawnSync(process.execPath, [...NODE_ARGS, ...args], {
    cwd: ROOT,
    env: { ...process.env, SHARD_DATA_DIR: dataDir, ...env },
    encoding: 'utf8',
    timeout: 60_000
  });
  return { code: out.status, stdout: out.stdout, stderr: out.stderr };
}

/** Starts the oracle and resolves with its URL once it prints the ready line. */
function startOracle(args: string[], env: Record<string, string>) {
  const child = spawn(process.execPath, [...NODE_ARGS, ...args], {
    cwd: ROOT,
    env: { ...process.env, SHARD_DATA_DIR: dataDir, ...env },
    stdio: ['ignore', 'pipe', 'pipe']
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const ready = new Promise<string>((resolveUrl, reject) => {
    const onData = () => {
      const m = /Shard oracle ready: (http:\/\/\S+)/.exec(stdout);
      if (m) {
        child.stdout!.off('data', onData);
        resolveUrl(m[1]!);
      }
    };
    child.stdout!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`oracle exited early (${code}): ${stderr}`)));
  });
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return { child, ready, exited, output: () => ({ stdout, stderr }) };
}

describe('oracle CLI', () => {
  it('--help lists every flag and environment variable with defaults and exits 0', () => {
    const { code, stdout } = runSync(['--help']);
    expect(code).toBe(0);
    for (const needle of [
      '--host <addr>',
      'SHARD_HOST',
      '(default: 127.0.0.1)',
      '--port <n>',
      'SHARD_PORT',
      '(default: 9091)',
      '--model <path>',
      `(default: ${join(dataDir, 'models', 'target.gguf')})`,
      '--threads <n>',
      'SHARD_THREADS',
      '(default: 2)',
      '--log-level <level>',
      '--allow-no-model',
      '--draft <source>',
      '--draft-model <path>',
      '--help',
      'SHARD_API_KEYS',
      'SHARD_RATE_LIMIT_PER_MINUTE',
      'SHARD_MAX_PROMPT_CHARS',
      'SHARD_MAX_BODY_BYTES',
      'SHARD_QUEUE_MAX',
      '--scout-floor <none|trusted|reputable|any>',
      '--golden-ticket-rate <r>',
      '--trusted-scouts <peer ids>',
      '--gpu <auto|cpu|cuda|vulkan|metal>',
      'npm run models'
    ]) {
      expect(stdout).toContain(needle);
    }
  });

  it('exits 2 with a clear message on an unknown flag or a bad value', () => {
    const unknown = runSync(['--prot', '1']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("Unknown option '--prot'");
    expect(unknown.stderr).toContain('--help');
    const bad = runSync([], { SHARD_PORT: 'eighty' });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('SHARD_PORT must be an integer, got "eighty"');
    const floor = runSync(['--scout-floor', 'friends']);
    expect(floor.code).toBe(2);
    expect(floor.stderr).toContain('--scout-floor must be one of none, trusted, reputable, any');
  });

  it('exits 1 telling the user to run `npm run models` when the model is missing', () => {
    const { code, stderr } = runSync(['--port', '0']);
    expect(code).toBe(1);
    expect(stderr).toContain(`model file not found: ${join(dataDir, 'models', 'target.gguf')}`);
    expect(stderr).toContain('npm run models');
    expect(stderr).toContain('--allow-no-model');
  });

  it('starts degraded with --allow-no-model and shuts down on SIGTERM', async () => {
    const o = startOracle(['--port', '0', '--allow-no-model'], {});
    const url = await o.ready;
    const health = await (await fetch(`${url}/health`)).json();
    expect(health).toMatchObject({ status: 'degraded', model: null });
    o.child.kill('SIGTERM');
    expect(await o.exited).toBe(0);
    expect(o.output().stdout).toContain('SIGTERM received, shutting down');
  });

  describe('with the generated target model', () => {
    let oracle: ReturnType<typeof startOracle> & { child: ChildProcess };
    let url: string;

    beforeAll(async () => {
      const { targetPath, draftPath } = await ensureTestModels();
      oracle = startOracle(
        ['--port', '0', '--model', targetPath, '--draft-model', draftPath, '--threads', '1'],
        {
          SHARD_API_KEYS: 'sk-cli-a,sk-cli-b',
          SHARD_RATE_LIMIT_PER_MINUTE: '1000',
          SHARD_MAX_PROMPT_CHARS: '500',
          SHARD_LOG_LEVEL: 'warn'
        }
      );
      url = await oracle.ready;
    });

    afterAll(async () => {
      if (oracle && oracle.child.exitCode === null) {
        oracle.child.kill('SIGKILL');
        await oracle.exited;
      }
    });

    it('serves the openai client with a key from SHARD_API_KEYS, streaming and not', async () => {
      const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'sk-cli-b', maxRetries: 0 });
      const messages = [{ role: 'user' as const, content: 'Where does the road lead?' }];
      const whole = await client.chat.completions.create({
        model: 'target',
        messages,
        max_tokens: 10
      });
      expect(whole.choices[0]!.finish_reason).toBe('length');
      let streamed = '';
      for await (const chunk of await client.chat.completions.create({
        model: 'target',
        messages,
        max_tokens: 10,
        stream: true
      })) {
        streamed += chunk.choices[0]?.delta.content ?? '';
      }
      expect(streamed).toBe(whole.choices[0]!.message.content);
      const anonymous = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'sk-nope', maxRetries: 0 });
      await expect(
        anonymous.chat.completions.create({ model: 'target', messages })
      ).rejects.toBeInstanceOf(OpenAI.AuthenticationError);
      const tooLong = await client.chat.completions
        .create({ model: 'target', messages: [{ role: 'user', content: 'z'.repeat(501) }] })
        .catch((e: unknown) => e as InstanceType<typeof OpenAI.APIError>);
      expect(tooLong).toBeInstanceOf(OpenAI.APIError);
      // Over SHARD_MAX_PROMPT_CHARS: OpenAI's context_length_exceeded, naming the limit (README).
      const refusal = tooLong as InstanceType<typeof OpenAI.APIError>;
      expect(refusal.status).toBe(400);
      expect(refusal.code).toBe('context_length_exceeded');
      expect(refusal.message).toContain('500');
      expect((await (await fetch(`${url}/health`)).json()).status).toBe('ok');
    });

    it('drafts with the draft model it loaded (--draft auto) when speculation is on', async () => {
      expect(oracle.output().stdout).toContain('draft draft-model');
      const res = await fetch(`${url}/v1/chat/completions`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'x-api-key': 'sk-cli-a',
          'x-shard-speculation': 'on'
        },
        body: JSON.stringify({
          messages: [{ role: 'user', content: 'Tell a story.' }],
          max_tokens: 16
        })
      });
      expect(res.status).toBe(200);
      expect(res.headers.get('x-shard-inference-mode')).toBe('speculative');
      expect(res.headers.get('x-shard-draft-source')).toBe('draft-model');
      expect(Number(res.headers.get('x-shard-drafted'))).toBeGreaterThan(0);
    });

    it('finishes a running stream on SIGTERM and exits 0', async () => {
      const res = await fetch(`${url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: 'Bearer sk-cli-a' },
        body: JSON.stringify({
          messages: [{ role: 'user', content: 'Go on.' }],
          max_tokens: 64,
          stream: true
        })
      });
      expect(res.status).toBe(200);
      oracle.child.kill('SIGTERM');
      const text = await res.text();
      expect(text.endsWith('data: [DONE]\n\n')).toBe(true);
      expect(await oracle.exited).toBe(0);
    });
  });

  it('joins the scout mesh through --relay: persistent identity, trust ledger and reference in the data dir, reputation and bans behind the key', async () => {
    const { targetPath, draftPath } = await ensureTestModels();
    // Its own data dir: the oracle serves <data>/models/draft.gguf, and golden tickets are
    // scored against exactly that file; its ledger already holds a scout and a ban.
    const meshData = mkdtempSync(join(tmpdir(), 'shard-oracle-mesh-'));
    mkdirSync(join(meshData, 'models'));
    copyFileSync(draftPath, join(meshData, 'models', 'draft.gguf'));
    const scoutId = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString();
    const ledger = createTrustLedger({
      path: join(meshData, 'scout-trust.sqlite'),
      reputationThreshold: 0.7,
      minAttemptsBeforeBan: 3,
      banDurationHours: 24
    });
    ledger.noteSeen(scoutId);
    for (const isPassed of [false, false, false]) ledger.recordTicket(scoutId, isPassed);
    ledger.close();
    const relay = await spawnRelay();
    try {
      const relayAddr = relay.ready.multiaddrs.find((a) => a.includes('/ws'))!;
      expect(relayAddr).toContain('/p2p/');
      const o = startOracle(
        [
          '--port',
          '0',
          '--model',
          targetPath,
          '--threads',
          '1',
          '--draft',
          'none',
          '--relay',
          relayAddr,
          '--ban-duration-hours',
          '0'
        ],
        { SHARD_LOG_LEVEL: 'warn', SHARD_DATA_DIR: meshData, SHARD_API_KEYS: 'sk-mesh' }
      );
      const url = await o.ready;
      const auth = { authorization: 'Bearer sk-mesh' };
      try {
        const topology = await waitFor('a relay reservation', async () => {
          const t = await (await fetch(`${url}/v1/system/topology`, { headers: auth })).json();
          return t.relay_reservation_active ? t : null;
        });
        expect(topology).toMatchObject({
          source: 'native-oracle',
          role: 'oracle',
          relays: [relayAddr]
        });
        expect(topology.circuit_addrs.length).toBeGreaterThan(0);
        // The mesh identity is <data>/mesh.key: the peer id others trust survives restarts.
        const { key, isCreated } = await loadOrCreateKey(join(meshData, 'mesh.key'));
        expect(isCreated).toBe(false);
        expect(topology.shard_peer_id).toBe(peerIdFromPrivateKey(key).toString());
        const peers = await (await fetch(`${url}/v1/system/peers`, { headers: auth })).json();
        expect(peers.count).toBe(peers.peers.length);
        // The ledger in the data dir, as the API shows it.
        const reputation = await (
          await fetch(`${url}/v1/system/reputation`, { headers: auth })
        ).json();
        expect(reputation.count).toBe(1);
        expect(reputation.scouts[0]).toMatchObject({
          peer_id: scoutId,
          golden_attempts: 3,
          golden_correct: 0,
          accuracy: 0,
          is_banned: true
        });
        const bans = await (await fetch(`${url}/v1/system/bans`, { headers: auth })).json();
        expect(bans).toMatchObject({ count: 1 });
        expect(bans.bans[0]).toMatchObject({
          peer_id: scoutId,
          failed_attempts: 3,
          source: 'local'
        });
        for (const path of ['/v1/system/reputation', '/v1/system/bans'])
          expect((await fetch(`${url}${path}`)).status).toBe(401);
        // The generated target runs on the CPU unless --gpu says otherwise.
        expect((await (await fetch(`${url}/health`)).json()).backend).toBe('cpu');
      } finally {
        o.child.kill('SIGTERM');
        expect(await o.exited).toBe(0);
      }
      // The reference draft model (the served one) loaded: golden tickets are on.
      expect(o.output().stderr).not.toContain('golden tickets are off');
    } finally {
      await relay.stop();
      rmSync(meshData, { recursive: true, force: true });
    }
  });
});
