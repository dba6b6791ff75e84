/**
 * A multi-process mesh layout with network latency you can dial: R relays, O oracles and S Node
 * scouts as separate processes, where every path a scout has to the rest of the mesh goes through
 * a latency proxy (tests/harness/latency-proxy.ts) with the given one-way delay and jitter.
 *
 *   const layout = await startLayout({ relays: 2, oracles: 2, scouts: 3, oneWayDelayMs: 15,
 *                                      useNetns: true });
 *   layout.oracles[0].url            // oracle HTTP (OpenAI API, /v1/system/peers ...)
 *   layout.relays[0].multiaddr       // relay TCP multiaddr (/ip4/127.0.0.1/tcp/P/p2p/ID)
 *   layout.relays[0].httpUrl         // relay /health, /topology, /peers
 *   layout.setDelay({ oneWayDelayMs: 40 })   // every scout path, from the next chunk on
 *   layout.proxyTotals()             // bytes carried by all proxies { bytesUp, bytesDown, ... }
 *   layout.isolation                 // 'netns' | 'loopback'; layout.notes say what that means
 *   await layout.stop()              // processes, proxies, namespaces, temp dirs
 *
 * Topology and why traffic cannot bypass the proxies:
 * - Relays listen on 127.0.0.1 (relay i > 0 bootstraps from relay 0, so the relays form one
 *   gossip mesh). Oracle i joins relay i mod R directly (oracle <-> relay paths are not delayed:
 *   the delay models the scouts' access networks).
 * - Each scout gets, per relay, its own delaying proxy (in this process, so setDelay is direct)
 *   forwarding to that relay's TCP port. The scout joins the relays ONLY through those proxies
 *   (`--relay /ip4/127.0.0.1/tcp/<port>/p2p/<relay>`) and holds a circuit reservation on each
 *   relay over them (one `/p2p-circuit` listen address per relay).
 * - Oracles announce their own TCP address (127.0.0.1) and circuit addresses through their relay.
 *   Scouts try the announced addresses in turn; the circuit dial reuses the scout's existing
 *   (proxied) connection to that relay, and oracles reach scouts over the same circuit (verify
 *   streams are opened on the scout's connection by peer id). The oracle's /v1/system/peers then
 *   shows each scout with `relayed` connections only.
 * - With `useNetns` (root, `ip netns add` works), each scout runs in its own network namespace
 *   that has only a loopback interface: no veth and no route, so the oracle's direct TCP address
 *   and any direct WebRTC/UDP path are unreachable by construction. Inside it a small bridge
 *   process (latency-proxy-cli.ts, no delay) listens on the namespace's 127.0.0.1 and forwards to
 *   the delaying proxies, which listen on Unix sockets in the layout's temp dir (a socket file
 *   is reachable across network namespaces): the proxies are the scout's only way out. (Why not
 *   a veth pair: without nftables/iptables, not installed here, it would route the scout to every
 *   host socket bound to 0.0.0.0, e.g. WebRTC's UDP sockets. Why the bridge: a scout dialling the
 *   Unix socket itself crashes in libp2p 3 when its relay reservation is confirmed on a /unix/
 *   address.)
 * - Without netns (not root, or `ip netns` missing) the layout runs on loopback (proxies on
 *   127.0.0.1 TCP) and says so in `notes`: scouts then dial an oracle's announced 127.0.0.1
 *   address directly (seen here: the scout's link at the oracle is `tcp`, not `relayed`), so
 *   scout <-> oracle traffic bypasses the proxies; scout <-> relay traffic still does not.
 * - Clean-up: stop() ends everything; on process exit children are killed and namespaces
 *   deleted; namespaces left by a run killed by a signal are swept at the next netns start
 *   (names carry the creating pid: `shard-lat-<pid>-<run>-<scout>`).
 *
 * Processes run with 1 llama.cpp thread each on the generated default test models
 * (tests/helpers/models.ts), random ports and temp data dirs. Start-up waits until every oracle
 * sees every scout admitted at its default floor (past probation), unless `waitForScouts: false`.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { ensureTestModels } from '../helpers/models.js';
import {
  REPO_ROOT,
  spawnRelay,
  type RelayReady,
  type SpawnedProcess
} from '../integration/mesh-harness.js';
import {
  MAX_DELAY_MS,
  startLatencyProxy,
  type LatencyProxy,
  type LatencyProxyStats
} from './latency-proxy.js';

export interface LayoutOptions {
  /** Relay processes; default 1 (1..4). */
  relays?: number;
  /**
   * Oracle processes (native-oracle/main.ts) on the generated default pair; default 1 (0..4).
   * 0 = relays and scouts only (e.g. a benchmark runs its own in-process oracle on a relay).
   */
  oracles?: number;
  /** Node scout processes (workers/scout/node-scout.ts); default 1 (0..8). */
  scouts?: number;
  /** Delay added to each direction of every scout path, ms; default 0. */
  oneWayDelayMs?: number;
  /** Jitter around the delay, ms (uniform, seeded); default 0. */
  jitterMs?: number;
  /** Seed of the proxies' jitter (proxy k uses seed + k); default 1. */
  seed?: number;
  /** Run each scout in its own network namespace when possible; default false. */
  useNetns?: boolean;
  /** Wait until every oracle admits every scout (past probation); default true. */
  waitForScouts?: boolean;
  /** Bound on the whole start-up, ms; default 120 000. */
  timeoutMs?: number;
  /**
   * Draft model GGUF the scouts run; default the generated default pair's draft. The layout's
   * oracles always serve the default pair, so a scout on another draft fails their golden
   * tickets: pass this with `oracles: 0` and an oracle of your own that knows this draft.
   */
  draftModelPath?: string;
  /** Extra oracle CLI flags, e.g. ['--golden-ticket-rate', '0']; default none. */
  oracleArgs?: string[];
  /** Extra environment of every process (e.g. SHARD_LOG_LEVEL); default none. */
  env?: NodeJS.ProcessEnv;
}

export interface LayoutRelay {
  peerId: string;
  /** TCP multiaddr with /p2p/<id> (what oracles dial). */
  multiaddr: string;
  tcpPort: number;
  httpUrl: string;
  process: SpawnedProcess<RelayReady>;
}

export interface LayoutOracle {
  /** HTTP base URL, e.g. http://127.0.0.1:40123. */
  url: string;
  /** The relay (index into `relays`) this oracle joined. */
  relayIndex: number;
  process: ChildProcess;
  stderr(): string;
}

export interface LayoutScout {
  peerId: string;
  /** Network namespace the scout runs in; null on loopback. */
  netns: string | null;
  /** One proxy per relay, in relay order: the scout's only ways out (with netns). */
  proxies: LatencyProxy[];
  process: ChildProcess;
  stderr(): string;
}

export interface Layout {
  isolation: 'netns' | 'loopback';
  /** Plain-words caveats of this run (e.g. why netns was not used and what that means). */
  notes: string[];
  relays: LayoutRelay[];
  oracles: LayoutOracle[];
  scouts: LayoutScout[];
  /** Every proxy (scout i's proxy to relay j is proxies[i * relays + j]). */
  proxies: LatencyProxy[];
  /** Sets delay (and jitter when given) on every proxy, for chunks arriving from now on. */
  setDelay(delay: { oneWayDelayMs: number; jitterMs?: number }): void;
  /** Sum of the proxies' counters. */
  proxyTotals(): Omit<LatencyProxyStats, 'perConnection'>;
  /** Stops scouts, oracles, relays and proxies, deletes namespaces and temp dirs; idempotent. */
  stop(): Promise<void>;
}

export class LayoutOptionsError extends Error {
  override name = 'LayoutOptionsError';
}

/** Scout and oracle readiness (model load, relay joins, probation) on a busy 2-core machine. */
const DEFAULT_START_TIMEOUT_MS = 120_000;
/** A process that ignores SIGTERM this long is killed. */
const STOP_GRACE_MS = 5_000;
const NETNS_PREFIX = 'shard-lat-';

function countOption(field: string, value: unknown, fallback: number, min: number, max: number) {
  const n = value ?? fallback;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max)
    throw new LayoutOptionsError(`${field} must be an integer ${min}..${max}; got ${String(n)}`);
  return n;
}

function delayOption(field: string, value: unknown): number {
  const n = value ?? 0;
  if (typeof n !== 'number' || !Number.isFinite(n) || n < 0 || n > MAX_DELAY_MS)
    throw new LayoutOptionsError(`${field} must be 0..${MAX_DELAY_MS} ms; got ${String(n)}`);
  return n;
}

// ---- network namespaces ------------------------------------------------------------------

/**
 * Namespaces and child processes this process started and has not cleaned up yet: on exit (a
 * failed test, a crash that still runs exit handlers) the children are killed and the namespaces
 * deleted, so a run leaves nothing behind.
 */
const liveNamespaces = new Set<string>();
const liveChildren = new Set<ChildProcess>();
let isExitHookSet = false;

function setExitHook(): void {
  if (isExitHookSet) return;
  isExitHookSet = true;
  process.on('exit', () => {
    for (const child of liveChildren) child.kill('SIGKILL');
    for (const name of liveNamespaces) deleteNetns(name);
  });
}

function deleteNetns(name: string): void {
  try {
    execFileSync('ip', ['netns', 'del', name], { stdio: 'ignore' });
  } catch {
    // Already gone (or `ip` vanished): nothing left to clean.
    liveNamespaces.delete(name);
    return;
  }
  liveNamespaces.delete(name);
}

/**
 * Deletes namespaces of earlier runs whose process is gone (one killed by a signal runs no exit
 * handler). Names carry the creating pid, so a live run's namespaces are never touched.
 */
function sweepStaleNamespaces(): void {
  let listing = '';
  try {
    listing = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  } catch {
    return;
  }
  for (const line of listing.split('\n')) {
    const m = new RegExp(`^(${NETNS_PREFIX}(\\d+)-\\S+)`).exec(line);
    if (!m) continue;
    try {
      process.kill(Number(m[2]), 0);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ESRCH') deleteNetns(m[1]!);
    }
  }
}

/**
 * Creates a namespace with only `lo` (up), or returns why it cannot. Names are unique per run:
 * prefix, this pid, random hex, index.
 */
function createNetns(index: number, runId: string): { name: string } | { problem: string } {
  if (process.getuid?.() !== 0) return { problem: 'not running as root' };
  const name = `${NETNS_PREFIX}${process.pid}-${runId}-${index}`;
  try {
    execFileSync('ip', ['netns', 'add', name], { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    return { problem: `ip netns add failed: ${(err as Error).message.split('\n')[0]}` };
  }
  liveNamespaces.add(name);
  setExitHook();
  try {
    execFileSync('ip', ['-n', name, 'link', 'set', 'lo', 'up'], { stdio: 'ignore' });
  } catch (err) {
    deleteNetns(name);
    return { problem: `could not bring lo up in ${name}: ${(err as Error).message}` };
  }
  return { name };
}

// ---- processes ---------------------------------------------------------------------------

interface Started<T> {
  process: ChildProcess;
  ready: T;
  stderr(): string;
}

/**
 * Spawns `command args` and resolves with `match(line)` for the first stdout line it accepts.
 * Rejects when the process exits first or `timeoutMs` passes (the process is then killed).
 */
function spawnUntil<T>(
  what: string,
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  match: (line: string) => T | null,
  timeoutMs: number
): Promise<Started<T>> {
  const child = spawn(command, args, { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  setExitHook();
  liveChildren.add(child);
  child.once('exit', () => liveChildren.delete(child));
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString();
    if (stderr.length > 200_000) stderr = stderr.slice(-100_000);
  });
  return new Promise((resolve, reject) => {
    const fail = (why: string) => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(new Error(`${what} ${why}; stderr:\n${stderr.slice(-4000)}`));
    };
    const timer = setTimeout(() => fail(`not ready in ${timeoutMs} ms`), timeoutMs);
    child.once('exit', (code) => fail(`exited with ${code} before ready`));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const ready = match(line);
      if (ready === null) return;
      clearTimeout(timer);
      child.removeAllListeners('exit');
      resolve({ process: child, ready, stderr: () => stderr });
    });
  });
}

async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
  await exited;
  clearTimeout(timer);
}

function jsonEvent(event: string) {
  return (line: string): Record<string, unknown> | null => {
    try {
      const parsed = JSON.parse(line) as Record<string, unknown>;
      return parsed.event === event ? parsed : null;
    } catch {
      return null;
    }
  };
}

function proxySocket(proxy: LatencyProxy): string {
  if (!('path' in proxy.address)) throw new Error('scout proxies listen on Unix sockets');
  return proxy.address.path;
}

// ---- layout ------------------------------------------------------------------------------

interface Settings {
  relays: number;
  oracles: number;
  scouts: number;
  oneWayDelayMs: number;
  jitterMs: number;
  seed: number;
  useNetns: boolean;
  waitForScouts: boolean;
  timeoutMs: number;
  oracleArgs: string[];
  draftModelPath: string | null;
  env: NodeJS.ProcessEnv;
}

function checkPath(field: string, value: unknown): string | null {
  if (value === undefined) return null;
  if (typeof value !== 'string' || !existsSync(value))
    throw new LayoutOptionsError(`${field} must be an existing file; got ${String(value)}`);
  return value;
}

function checkOptions(options: LayoutOptions): Settings {
  if (typeof options !== 'object' || options === null)
    throw new LayoutOptionsError('options must be an object');
  const seed = options.seed ?? 1;
  if (!Number.isInteger(seed)) throw new LayoutOptionsError('seed must be an integer');
  const oracleArgs = options.oracleArgs ?? [];
  if (!Array.isArray(oracleArgs) || oracleArgs.some((a) => typeof a !== 'string'))
    throw new LayoutOptionsError('oracleArgs must be an array of strings');
  return {
    relays: countOption('relays', options.relays, 1, 1, 4),
    oracles: countOption('oracles', options.oracles, 1, 0, 4),
    scouts: countOption('scouts', options.scouts, 1, 0, 8),
    oneWayDelayMs: delayOption('oneWayDelayMs', options.oneWayDelayMs),
    jitterMs: delayOption('jitterMs', options.jitterMs),
    seed,
    useNetns: options.useNetns === true,
    waitForScouts: options.waitForScouts !== false,
    timeoutMs: countOption('timeoutMs', options.timeoutMs, DEFAULT_START_TIMEOUT_MS, 1, 3_600_000),
    oracleArgs,
    draftModelPath: checkPath('draftModelPath', options.draftModelPath),
    env: { ...process.env, ...options.env }
  };
}

/** What is started so far; stop() tears down whatever exists, in reverse dependency order. */
interface Parts {
  dir: string;
  relays: LayoutRelay[];
  oracles: LayoutOracle[];
  scouts: LayoutScout[];
  scoutProcesses: ChildProcess[];
  bridgeProcesses: ChildProcess[];
  proxies: LatencyProxy[];
  namespaces: string[];
}

async function stopParts(parts: Parts): Promise<void> {
  const settle = (ps: Array<Promise<unknown>>) => Promise.allSettled(ps);
  await settle(parts.scoutProcesses.map(stopProcess));
  await settle(parts.bridgeProcesses.map(stopProcess));
  await settle(parts.oracles.map((o) => stopProcess(o.process)));
  await settle(parts.relays.map((r) => r.process.stop()));
  await settle(parts.proxies.map((p) => p.close()));
  for (const name of parts.namespaces.splice(0)) deleteNetns(name);
  rmSync(parts.dir, { recursive: true, force: true });
}

async function startRelays(settings: Settings, parts: Parts): Promise<void> {
  for (let i = 0; i < settings.relays; i++) {
    const extra = i === 0 ? [] : ['--bootstrap', parts.relays[0]!.multiaddr];
    const proc = await spawnRelay(extra, settings.env);
    setExitHook();
    liveChildren.add(proc.proc);
    void proc.exited.then(() => liveChildren.delete(proc.proc));
    const multiaddr = proc.ready.multiaddrs.find((a) => !a.includes('/ws'));
    const tcpPort = Number(/\/tcp\/(\d+)\//.exec(multiaddr ?? '')?.[1]);
    if (!multiaddr || !Number.isInteger(tcpPort)) {
      await proc.stop('SIGKILL');
      throw new Error(`relay ${i} announced no TCP address: ${proc.ready.multiaddrs.join(' ')}`);
    }
    parts.relays.push({
      peerId: proc.ready.peerId,
      multiaddr,
      tcpPort,
      httpUrl: `http://127.0.0.1:${proc.ready.httpPort}`,
      process: proc
    });
  }
}

async function startOracles(settings: Settings, parts: Parts, modelsDir: string): Promise<void> {
  const started = await Promise.allSettled(
    Array.from({ length: settings.oracles }, async (_, i) => {
      const relayIndex = i % settings.relays;
      const data = mkdtempSync(join(parts.dir, `oracle-${i}-`));
      // The oracle serves <data>/models: the generated pair (with its manifest, so the oracle
      // knows it is a generated test model and scores golden tickets on the served draft).
      symlinkSync(modelsDir, join(data, 'models'));
      const args = ['--host', '127.0.0.1', '--port', '0', '--threads', '1'];
      args.push('--relay', parts.relays[relayIndex]!.multiaddr, ...settings.oracleArgs);
      const s = await spawnUntil(
        `oracle ${i}`,
        process.execPath,
        ['--import', 'tsx', join(REPO_ROOT, 'native-oracle/main.ts'), ...args],
        // Rate limit off (unless env says otherwise): tests and benchmarks poll and ask often.
        { SHARD_RATE_LIMIT_PER_MINUTE: '0', ...settings.env, SHARD_DATA_DIR: data },
        (line) => /Shard oracle ready: (http:\/\/\S+)/.exec(line)?.[1] ?? null,
        settings.timeoutMs
      );
      const oracle = { url: s.ready, relayIndex, process: s.process, stderr: s.stderr };
      parts.oracles.push(oracle);
      return oracle;
    })
  );
  const failed = started.find((r) => r.status === 'rejected');
  if (failed) throw (failed as PromiseRejectedResult).reason;
  parts.oracles.sort((a, b) => a.relayIndex - b.relayIndex || a.url.localeCompare(b.url));
}

/**
 * One delaying proxy per relay for scout `i`: on a Unix socket when the scout has a namespace
 * (its in-namespace bridge connects there), else on 127.0.0.1 TCP.
 */
async function startScoutProxies(settings: Settings, parts: Parts, i: number, isUnix: boolean) {
  const proxies: LatencyProxy[] = [];
  for (const [j, relay] of parts.relays.entries()) {
    const proxy = await startLatencyProxy({
      ...(isUnix ? { listen: { path: join(parts.dir, `s${i}-r${j}.sock`) } } : {}),
      target: { host: '127.0.0.1', port: relay.tcpPort },
      oneWayDelayMs: settings.oneWayDelayMs,
      jitterMs: settings.jitterMs,
      seed: settings.seed + i * settings.relays + j
    });
    parts.proxies.push(proxy);
    proxies.push(proxy);
  }
  return proxies;
}

/**
 * The bridge inside namespace `netns`: TCP listeners on the namespace's own 127.0.0.1 that
 * forward (no delay) to the delaying proxies' Unix sockets; resolves with their ports in order.
 * (The scout cannot dial the Unix sockets itself: libp2p 3 crashes on a relay reservation made
 * over a /unix/ address, in its address manager's DNS mapping check.)
 */
async function startBridge(
  settings: Settings,
  parts: Parts,
  netns: string,
  proxies: LatencyProxy[]
): Promise<number[]> {
  const args = [join(REPO_ROOT, 'tests/harness/latency-proxy-cli.ts')];
  for (const p of proxies) args.push('--listen', '127.0.0.1:0', '--to', `unix:${proxySocket(p)}`);
  const bridge = await spawnUntil(
    `bridge in ${netns}`,
    'ip',
    ['netns', 'exec', netns, process.execPath, '--import', 'tsx', ...args],
    settings.env,
    jsonEvent('proxy:ready'),
    settings.timeoutMs
  );
  parts.bridgeProcesses.push(bridge.process);
  return (bridge.ready.addresses as Array<{ port: number }>).map((a) => a.port);
}

async function startScout(
  settings: Settings,
  parts: Parts,
  i: number,
  context: { draftPath: string; runId: string; notes: string[] }
): Promise<LayoutScout> {
  let netns: string | null = null;
  if (settings.useNetns) {
    const made = createNetns(i, context.runId);
    if ('name' in made) parts.namespaces.push((netns = made.name));
    else
      context.notes.push(`scout ${i}: no network namespace (${made.problem}); it runs on loopback`);
  }
  const proxies = await startScoutProxies(settings, parts, i, netns !== null);
  const ports = netns
    ? await startBridge(settings, parts, netns, proxies)
    : proxies.map((p) => (p.address as { port: number }).port);
  const args = ['--model', context.draftPath, '--threads', '1', '--listen', '/ip4/127.0.0.1/tcp/0'];
  for (const [j, port] of ports.entries())
    args.push('--relay', `/ip4/127.0.0.1/tcp/${port}/p2p/${parts.relays[j]!.peerId}`);
  // One circuit reservation per relay: the node listens on one `/p2p-circuit` itself, and each
  // further one reserves on another relay.
  for (let j = 1; j < parts.relays.length; j++) args.push('--listen', '/p2p-circuit');
  const node = [
    process.execPath,
    '--import',
    'tsx',
    join(REPO_ROOT, 'workers/scout/node-scout.ts')
  ];
  const [command, ...prefix] = netns ? ['ip', 'netns', 'exec', netns, ...node] : node;
  const data = mkdtempSync(join(parts.dir, `scout-${i}-`));
  const s = await spawnUntil(
    `scout ${i}`,
    command!,
    [...prefix, ...args],
    { ...settings.env, SHARD_DATA_DIR: data },
    jsonEvent('scout:ready'),
    settings.timeoutMs
  );
  parts.scoutProcesses.push(s.process);
  return { peerId: String(s.ready.peerId), netns, proxies, process: s.process, stderr: s.stderr };
}

async function startScouts(settings: Settings, parts: Parts, draftPath: string, notes: string[]) {
  const context = { draftPath, notes, runId: randomBytes(3).toString('hex') };
  if (settings.useNetns && process.getuid?.() === 0) sweepStaleNamespaces();
  const started = await Promise.allSettled(
    Array.from({ length: settings.scouts }, (_, i) => startScout(settings, parts, i, context))
  );
  const failed = started.find((r) => r.status === 'rejected');
  if (failed) throw (failed as PromiseRejectedResult).reason;
  parts.scouts.push(...started.map((r) => (r as PromiseFulfilledResult<LayoutScout>).value));
}

interface PeerRow {
  peer_id: string;
  role: string | null;
  verified: boolean;
  trust: string;
}

/** Resolves when every oracle lists every scout as verified and past probation. */
async function waitForAdmission(parts: Parts, deadline: number): Promise<void> {
  const want = new Set(parts.scouts.map((s) => s.peerId));
  for (const oracle of parts.oracles) {
    for (;;) {
      const res = await fetch(`${oracle.url}/v1/system/peers`);
      if (!res.ok) throw new Error(`${oracle.url}/v1/system/peers answered ${res.status}`);
      const { peers } = (await res.json()) as { peers: PeerRow[] };
      const admitted = peers.filter(
        (p) =>
          want.has(p.peer_id) && p.verified && (p.trust === 'reputable' || p.trust === 'trusted')
      );
      if (admitted.length === want.size) break;
      if (Date.now() > deadline) {
        const seen = peers.map((p) => `${p.peer_id.slice(-6)}:${p.role}:${p.trust}`).join(' ');
        throw new Error(
          `oracle ${oracle.url} admitted ${admitted.length}/${want.size} scouts; peers: ${seen}`
        );
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

/**
 * Starts the layout; resolves when every process is ready (and, by default, every scout is
 * admitted by every oracle). On any failure everything started so far is stopped, namespaces
 * deleted, and the error rethrown. Throws LayoutOptionsError for bad options.
 */
export async function startLayout(options: LayoutOptions = {}): Promise<Layout> {
  const settings = checkOptions(options);
  const deadline = Date.now() + settings.timeoutMs;
  const models = await ensureTestModels();
  const parts: Parts = {
    // Short: Unix socket paths must stay under ~107 bytes.
    dir: mkdtempSync(join(tmpdir(), 'shard-lat-')),
    relays: [],
    oracles: [],
    scouts: [],
    scoutProcesses: [],
    bridgeProcesses: [],
    proxies: [],
    namespaces: []
  };
  const notes: string[] = [];
  try {
    await startRelays(settings, parts);
    await startOracles(settings, parts, dirname(models.targetPath));
    await startScouts(settings, parts, settings.draftModelPath ?? models.draftPath, notes);
    if (settings.waitForScouts) await waitForAdmission(parts, deadline);
  } catch (err) {
    await stopParts(parts);
    throw err;
  }
  const isolation =
    settings.useNetns && parts.namespaces.length === settings.scouts ? 'netns' : 'loopback';
  if (isolation === 'loopback')
    notes.push(
      "scouts share the host network: they may dial an oracle's announced 127.0.0.1 address " +
        'directly, so scout <-> oracle traffic can bypass the proxies (scout <-> relay cannot)'
    );
  let stopping: Promise<void> | null = null;
  return {
    isolation,
    notes,
    relays: parts.relays,
    oracles: parts.oracles,
    scouts: parts.scouts,
    proxies: parts.proxies,
    setDelay(delay) {
      for (const p of parts.proxies) p.setDelay(delay);
    },
    proxyTotals() {
      const totals = { connections: 0, open: 0, bytesUp: 0, bytesDown: 0 };
      for (const p of parts.proxies) {
        const s = p.stats();
        totals.connections += s.connections;
        totals.open += s.open;
        totals.bytesUp += s.bytesUp;
        totals.bytesDown += s.bytesDown;
      }
      return totals;
    },
    stop() {
      stopping ??= stopParts(parts);
      return stopping;
    }
  };
}
