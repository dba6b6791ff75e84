/**
 * Test harness for the mesh: spawns real relay / scout processes (tsx) on random loopback ports,
 * reads their one-line JSON ready events, and waits on conditions with a bound.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { createTargetEngine, type TargetEngine } from '../../native-oracle/engine/index.js';
import { createOracleMesh, type OracleMesh } from '../../native-oracle/mesh/index.js';
import { meshPlugin } from '../../native-oracle/mesh/plugin.js';
import type { ScoutFloor } from '../../native-oracle/mesh/trust/index.js';
import { createOracleServer, type OracleServer } from '../../native-oracle/server.js';
import { ensureTestModels } from '../helpers/models.js';

export const REPO_ROOT = resolve(import.meta.dirname, '../..');

export interface SpawnedProcess<T> {
  proc: ChildProcess;
  ready: T;
  /** Lines of stdout after the ready event (JSON events). */
  events: Array<Record<string, unknown>>;
  stderr: () => string;
  /** Sends SIGTERM and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  /** Resolves when the process exits (for kill tests). */
  exited: Promise<number | null>;
}

/** Spawns `tsx <script> args` and resolves at its first stdout line whose `event` is `readyEvent`. */
export async function spawnTsx<T extends Record<string, unknown>>(
  script: string,
  args: string[],
  readyEvent: string,
  opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}
): Promise<SpawnedProcess<T>> {
  const proc = spawn(process.execPath, ['--import', 'tsx', join(REPO_ROOT, script), ...args], {
    cwd: REPO_ROOT,
    env: {
      ...process.env,
      SHARD_DATA_DIR: mkdtempSync(join(tmpdir(), 'shard-mesh-')),
      ...opts.env
    },
    stdio: ['ignore', 'pipe', 'pipe']
  });
  let stderr = '';
  proc.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString();
    if (stderr.length > 200_000) stderr = stderr.slice(-100_000);
  });
  const exited = new Promise<number | null>((res) => proc.once('exit', (code) => res(code)));
  const events: Array<Record<string, unknown>> = [];
  const lines = createInterface({ input: proc.stdout! });
  const ready = await new Promise<T>((res, rej) => {
    const timer = setTimeout(
      () => rej(new Error(`${script} not ready in time; stderr:\n${stderr.slice(-4000)}`)),
      opts.timeoutMs ?? 60_000
    );
    let isReady = false;
    lines.on('line', (line) => {
      let parsed: Record<string, unknown>;
      try {
        parsed = JSON.parse(line) as Record<string, unknown>;
      } catch {
        return;
      }
      if (!isReady && parsed.event === readyEvent) {
        isReady = true;
        clearTimeout(timer);
        res(parsed as T);
      } else events.push(parsed);
    });
    void exited.then((code) => {
      clearTimeout(timer);
      if (!isReady)
        rej(
          new Error(`${script} exited with ${code} before ready; stderr:\n${stderr.slice(-4000)}`)
        );
    });
  });
  return {
    proc,
    ready,
    events,
    stderr: () => stderr,
    exited,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (proc.exitCode !== null || proc.signalCode !== null) return proc.exitCode;
      proc.kill(signal);
      return exited;
    }
  };
}

export interface RelayReady extends Record<string, unknown> {
  peerId: string;
  multiaddrs: string[];
  httpPort: number;
}

/** Starts the relay CLI on loopback with random ports and a temp key file. */
export function spawnRelay(
  extraArgs: string[] = [],
  env?: NodeJS.ProcessEnv
): Promise<SpawnedProcess<RelayReady>> {
  const dir = mkdtempSync(join(tmpdir(), 'shard-relay-'));
  return spawnTsx<RelayReady>(
    'relay/main.ts',
    [
      '--host',
      '127.0.0.1',
      '--tcp-port',
      '0',
      '--ws-port',
      '0',
      '--http-port',
      '0',
      '--key-file',
      join(dir, 'relay.key'),
      ...extraArgs
    ],
    'relay:ready',
    { env }
  );
}

/** Polls `check` every 50 ms until it returns a truthy value or `timeoutMs` passes (then throws). */
export async function waitFor<T>(
  what: string,
  check: () => T | Promise<T>,
  timeoutMs = 30_000
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function getJson<T = Record<string, unknown>>(port: number, path: string): Promise<T> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`);
  if (!res.ok) throw new Error(`GET ${path} -> ${res.status}`);
  return (await res.json()) as T;
}

/** An oracle HTTP server with the mesh plugin, a relay process and one Node scout process. */
export interface MeshHttpStack {
  relay: SpawnedProcess<RelayReady>;
  scout: SpawnedProcess<{ peerId: string }>;
  engine: TargetEngine;
  mesh: OracleMesh;
  server: OracleServer;
  stop(): Promise<void>;
}

/**
 * Starts the stack and waits until the scout passed probation (its golden tickets are scored
 * against the served draft model) at `floor` (default the mesh's own), so tests can lease it.
 */
export async function startMeshHttpStack(options: {
  dataDirPrefix: string;
  floor?: ScoutFloor;
}): Promise<MeshHttpStack> {
  const models = await ensureTestModels();
  const engine = await createTargetEngine({ modelPath: models.targetPath, threads: 1 });
  const relay = await spawnRelay();
  const relayAddr = relay.ready.multiaddrs.find((a) => !a.includes('/ws/'))!;
  const mesh = await createOracleMesh({
    engine,
    relays: [relayAddr],
    announceSeconds: 1,
    draftModelPath: models.draftPath,
    dataDir: mkdtempSync(join(tmpdir(), options.dataDirPrefix))
  });
  const server = createOracleServer({
    engine,
    host: '127.0.0.1',
    port: 0,
    plugins: [meshPlugin(mesh)],
    rateLimitPerMinute: 0
  });
  await server.start();
  const scout = await spawnTsx<{ peerId: string }>(
    'workers/scout/node-scout.ts',
    ['--relay', relayAddr, '--model', models.draftPath, '--threads', '1'],
    'scout:ready'
  );
  await mesh.waitForScouts(1, AbortSignal.timeout(60_000), options.floor);
  return {
    relay,
    scout,
    engine,
    mesh,
    server,
    async stop() {
      await scout.stop('SIGKILL');
      await server.stop();
      await relay.stop();
      await engine.dispose();
    }
  };
}
