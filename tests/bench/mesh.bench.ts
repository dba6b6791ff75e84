/**
 * `npm run bench:mesh`: measures the mesh. The last stdout line is one JSON object:
 *
 * - verify_rtt_ms: oracle → scout → oracle round trip of one verify-stream exchange (a context
 *   update answered by a draft frame), p50/p99, over direct TCP, WebSockets and a relayed circuit.
 *   The scouts here use an instant toy engine (mock: isolates transport + protocol cost).
 * - coop_speedup_by_rtt: on the generated SLOW pair (a ~1B Q8_0 target decoding at CPU-oracle
 *   speed on one thread, and its 1-layer draft), for each swept round trip between scouts and
 *   the relay (latency proxies, tests/harness/net-layout.ts): tokens/s with 1 and with 4 Node
 *   scout processes, governor on (`auto`: the engine's one governor, governed waits) and off
 *   (`on` + fixed waits), divided by the oracle alone (plain decoding) and by the oracle with its
 *   own local draft model (`local_draft`, governed), all interleaved per prompt.
 * - multi_stream_throughput_ratio: STREAMS concurrent generations each with its own scout vs the
 *   same generations without scouts (total tokens/s; llama.cpp batches across sequences).
 * - browser_scout_speedup: one Chromium scout (wllama, the slow pair's draft) vs the slow oracle
 *   alone, governor on (from `npm run bench:scout` with SCOUT_BENCH_PAIR=slow; forced-on too).
 * - *_output_identical*: every greedy variant's text equals the oracle-alone text.
 * - relay_scouts_held: how many simulated scouts (libp2p peers with a circuit reservation and a
 *   1 msg/s heartbeat on shard-work-result) one relay process holds with ≥ 95 % of heartbeats
 *   delivered to an observer, bounded in time, and the relay's RSS at that count.
 *
 * Every figure is reported as measured, with the load average before and after (a 2-core machine
 * shared with other work gives noisy ratios; all ratios come from interleaved runs in this
 * process).
 *
 * Environment: MESH_BENCH_PARTS=rtt,coop,browser,relay (default all), MESH_BENCH_TOKENS (default
 * 64), MESH_BENCH_RTTS (ms, default 0,10,40,80), MESH_BENCH_SCOUTS (default 1,4),
 * MESH_BENCH_STREAMS (default 4), MESH_BENCH_REPEATS (default 1), MESH_BENCH_SLOW_TYPE (the slow
 * pair's weights: Q8_0 default, Q4_0 or BF16; Q8_0 batches poorly on CPUs, see SLOW_PAIR).
 */
import '../../src/lib/server/node-compat.js';
import { generateKeyPair } from '@libp2p/crypto/keys';
import { multiaddr } from '@multiformats/multiaddr';
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDraftModelSource } from '../../native-oracle/engine/draft-model-source.js';
import {
  createTargetEngine,
  type DraftSource,
  type TargetEngine
} from '../../native-oracle/engine/index.js';
import {
  createMeshNode,
  createOracleMesh,
  type MeshNode,
  type OracleMesh
} from '../../native-oracle/mesh/index.js';
import { ScoutLink } from '../../native-oracle/mesh/scout-link.js';
import { ensureModelPair, slowPair, type SlowPairType } from '../../native-oracle/models/index.js';
import { encode, WORK_RESULT_TOPIC } from '../../src/lib/protocol/mesh.js';
import { modelsDir } from '../../src/lib/server/data-dir.js';
import { setLogLevel } from '../../src/lib/server/log.js';
import type { DraftEngine } from '../../workers/scout/core.js';
import { createScoutPeer, type ScoutPeer } from '../../workers/scout/scout-peer.js';
import { getJson, spawnRelay, spawnTsx, waitFor } from '../integration/mesh-harness.js';
import { startLayout, type Layout } from '../harness/net-layout.js';

setLogLevel('error');
/** Integers from an environment variable (comma-separated), each in [min, max]; named on error. */
function envIntegers(name: string, fallback: string, min: number, max: number): number[] {
  const raw = process.env[name] ?? fallback;
  return raw.split(',').map((part) => {
    const n = Number(part.trim());
    if (!Number.isInteger(n) || n < min || n > max)
      throw new Error(`${name}: '${part}' is not an integer in ${min}..${max} (got '${raw}')`);
    return n;
  });
}
const PART_NAMES = ['rtt', 'coop', 'browser', 'relay'];
const parts = new Set((process.env.MESH_BENCH_PARTS ?? PART_NAMES.join(',')).split(','));
for (const p of parts)
  if (!PART_NAMES.includes(p))
    throw new Error(`MESH_BENCH_PARTS: unknown part '${p}' (parts: ${PART_NAMES.join(', ')})`);
const maxTokens = envIntegers('MESH_BENCH_TOKENS', '64', 1, 4096)[0];
const note = (msg: string) => process.stderr.write(`[bench:mesh] ${msg}\n`);

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}
const round = (x: number, digits = 3) => Math.round(x * 10 ** digits) / 10 ** digits;

/** Instant drafts (mock: isolates the transport and protocol from drafting time). */
const instantEngine = (fingerprint: string): DraftEngine => ({
  name: 'instant',
  tokenizerFingerprint: fingerprint,
  async draft(context, k) {
    return Array.from({ length: k }, (_, i) => (context.length + i) % 97);
  },
  async dispose() {}
});

async function inProcessScout(
  fingerprint: string,
  listen: string[]
): Promise<{ node: MeshNode; peer: ScoutPeer }> {
  const privateKey = await generateKeyPair('Ed25519');
  const node = await createMeshNode({ privateKey, listen });
  const peer = createScoutPeer({
    node,
    privateKey,
    engine: instantEngine(fingerprint),
    software: { name: 'bench-scout', version: '0' },
    isAutoJoin: false,
    heartbeatMs: 0
  });
  await peer.start();
  return { node, peer };
}

async function measureRtt(): Promise<Record<string, { p50: number; p99: number; n: number }>> {
  const relay = await spawnRelay();
  const fingerprint = 'bench-fingerprint';
  // A toy tokenizer: no reference model exists for it, so golden tickets are off (the links
  // below are opened by hand, no leasing); the ledger goes to a temp dir, never .shard/.
  const mesh = await createOracleMesh({
    engine: { modelId: 'bench', tokenizerFingerprint: fingerprint, vocabularySize: 97 },
    relays: [relay.ready.multiaddrs[0]],
    listen: ['/ip4/127.0.0.1/tcp/0', '/ip4/127.0.0.1/tcp/0/ws'],
    draftModelPath: null,
    dataDir: mkdtempSync(join(tmpdir(), 'shard-bench-mesh-'))
  });
  await mesh.start();
  const circuit = await waitFor('oracle circuit address', () =>
    mesh.multiaddrs().find((a) => a.includes('/p2p-circuit'))
  );
  const routes: Record<string, string> = {
    tcp: mesh.multiaddrs().find((a) => !a.includes('/ws') && !a.includes('p2p-circuit'))!,
    websockets: mesh.multiaddrs().find((a) => a.includes('/ws') && !a.includes('p2p-circuit'))!,
    relayed: circuit
  };
  const out: Record<string, { p50: number; p99: number; n: number }> = {};
  for (const [name, addr] of Object.entries(routes)) {
    const scout = await inProcessScout(fingerprint, []);
    if (name === 'relayed') await scout.node.dial(multiaddr(relay.ready.multiaddrs[0]));
    const status = await scout.peer.join(addr);
    if (status.status !== 'welcome') throw new Error(`${name}: join failed: ${status.reason}`);
    const conn = mesh.node.getConnections(scout.node.peerId)[0];
    const link = await ScoutLink.open({
      node: mesh.node,
      peerId: scout.node.peerId,
      sessionId: `rtt-${name}`,
      k: 4,
      lookahead: 8,
      vocabularySize: 97,
      onOffence: () => undefined
    });
    link.request(4, 8);
    const context = [1, 2, 3];
    const samples: number[] = [];
    for (let i = 0; i < 230; i++) {
      // A token the scout did not draft: its chain dies and it must answer for the new end.
      context.push(200 + (i % 50));
      const t0 = performance.now();
      link.sync(context);
      while (link.lookup(context, 4).tokens.length === 0) {
        if (link.isClosed) throw new Error(`${name}: link closed: ${link.closeReason}`);
        await link.waitForChange(2000);
      }
      if (i >= 30) samples.push(performance.now() - t0);
    }
    link.close('done');
    out[name] = {
      p50: round(percentile(samples, 50)),
      p99: round(percentile(samples, 99)),
      n: samples.length
    };
    note(
      `rtt ${name} (${conn?.remoteAddr.toString()}): p50 ${out[name].p50} ms, p99 ${out[name].p99} ms`
    );
    await scout.peer.stop();
    await scout.node.stop();
  }
  await mesh.stop();
  await relay.stop();
  return out;
}

const PROMPTS = ['The quick brown fox said that the river', 'Once upon a time the old man'];
/** Repetitions of each interleaved set of variants per prompt. */
const REPEATS = envIntegers('MESH_BENCH_REPEATS', '1', 1, 100)[0];
/** Round trips swept between scouts and the relay (the one-way proxy delay is half). */
const RTTS_MS = envIntegers('MESH_BENCH_RTTS', '0,10,40,80', 0, 2000);
const SCOUT_COUNTS = envIntegers('MESH_BENCH_SCOUTS', '1,4', 1, 8);
const STREAMS = envIntegers('MESH_BENCH_STREAMS', '4', 0, 16)[0];
/** Only these variants (names as in the report, e.g. scouts_1_governor_on); default all. */
const VARIANTS = process.env.MESH_BENCH_VARIANTS
  ? new Set(process.env.MESH_BENCH_VARIANTS.split(','))
  : null;
/** Weight type of the slow pair: Q8_0 (default), Q4_0 or BF16 (see native-oracle/models). */
const SLOW_TYPE = (process.env.MESH_BENCH_SLOW_TYPE ?? 'Q8_0').toUpperCase() as SlowPairType;
if (!['Q8_0', 'Q4_0', 'BF16'].includes(SLOW_TYPE))
  throw new Error(`MESH_BENCH_SLOW_TYPE must be Q8_0, Q4_0 or BF16, not ${SLOW_TYPE}`);

type Source = DraftSource & { end?: () => void };

async function generateOnce(
  engine: TargetEngine,
  prompt: string,
  speculation: 'auto' | 'on' | 'off',
  source: Source | null,
  options: { logprobs?: boolean } = {}
) {
  const tokens: number[] = [];
  const gaps: number[] = [];
  try {
    for await (const event of engine.generate({
      prompt,
      maxTokens,
      speculation,
      ...(options.logprobs ? { logprobs: true, topLogprobs: 2 } : {}),
      ...(source ? { draftSource: source } : {})
    })) {
      if (event.type === 'tokens') {
        tokens.push(...event.tokens);
        for (const lp of event.logprobs ?? [])
          gaps.push(lp.top.length > 1 ? lp.top[0].logprob - lp.top[1].logprob : Infinity);
      }
      if (event.type === 'done') return { ...event, tokens, gaps };
    }
  } finally {
    source?.end?.();
  }
  throw new Error('generation ended without done');
}

/** Greedy divergences from oracle alone: where, and the target's top-2 log-prob gap there. */
const divergences: Array<{ variant: string; position: number; top2_gap: number }> = [];

/**
 * Records where `tokens` first leaves the oracle-alone tokens, with the alone run's top-2
 * log-probability gap at that position (regenerated with log-probabilities): batched and
 * single-token evaluations differ slightly in llama.cpp, so greedy output may legitimately
 * differ at near-ties (FIELD-NOTES); a large gap would mean a bug.
 */
async function recordDivergence(
  engine: TargetEngine,
  prompt: string,
  variant: string,
  alone: readonly number[],
  tokens: readonly number[]
) {
  let i = 0;
  while (i < alone.length && alone[i] === tokens[i]) i++;
  const reference = await generateOnce(engine, prompt, 'off', null, { logprobs: true });
  const gap = reference.gaps[i] ?? NaN;
  divergences.push({ variant, position: i, top2_gap: round(gap, 4) });
  note(
    `  ${variant}: output differs from oracle alone at token ${i} (top-2 gap ${gap.toFixed(4)})`
  );
}

interface Variant {
  name: string;
  makeSource: () => Source | null;
  speculation: 'auto' | 'on';
}

interface Tally {
  tokens: number;
  ms: number;
  drafted: number;
  accepted: number;
}
const tally = (): Tally => ({ tokens: 0, ms: 0, drafted: 0, accepted: 0 });

/**
 * Tokens/s of each variant over oracle-alone tokens/s, from interleaved runs: per prompt, oracle
 * alone, then every variant back to back (the order reversed on every other prompt), so that
 * load from other processes on the machine hits all sides alike. Also checks that every
 * variant's output equals the oracle-alone output (greedy).
 */
async function speedups(engine: TargetEngine, variants: Variant[]) {
  const alone = tally();
  const totals = variants.map(tally);
  let isIdentical = true;
  let turn = 0;
  for (let r = 0; r < REPEATS; r++) {
    for (const prompt of PROMPTS) {
      const a = await generateOnce(engine, prompt, 'off', null);
      alone.tokens += a.stats.completionTokens;
      alone.ms += a.stats.durationMs;
      const order = variants.map((_, i) => i);
      if (turn++ % 2 === 1) order.reverse();
      for (const i of order) {
        const v = variants[i];
        const source = v.makeSource();
        if (!source) throw new Error(`${v.name}: no draft source (no scout leased?)`);
        const coop = await generateOnce(engine, prompt, v.speculation, source);
        const t = totals[i];
        t.tokens += coop.stats.completionTokens;
        t.ms += coop.stats.durationMs;
        t.drafted += coop.stats.drafted;
        t.accepted += coop.stats.accepted;
        if (coop.text !== a.text) {
          isIdentical = false;
          await recordDivergence(engine, prompt, v.name, a.tokens, coop.tokens);
        }
        note(
          `  ${v.name}: ${coop.stats.completionTokens} tokens in ${coop.stats.durationMs.toFixed(0)} ms ` +
            `(alone ${a.stats.durationMs.toFixed(0)} ms), ${coop.stats.rounds} rounds, ` +
            `${coop.stats.accepted}/${coop.stats.drafted} accepted` +
            (coop.stats.branchRounds ? `, ${coop.stats.branchRounds} branch rounds` : '') +
            `; ${coop.stats.governor.reason}`
        );
      }
    }
  }
  const aloneTps = (alone.tokens * 1000) / alone.ms;
  const out: Record<string, { tps: number; ratio: number; acceptance: number }> = {};
  variants.forEach((v, i) => {
    const t = totals[i];
    const tps = (t.tokens * 1000) / t.ms;
    out[v.name] = {
      tps,
      ratio: tps / aloneTps,
      acceptance: t.drafted ? t.accepted / t.drafted : 0
    };
  });
  return { aloneTps, isIdentical, variants: out };
}

const loadAverage = () => loadavg().map((x) => round(x, 2));

/**
 * The slow oracle (SLOW_PAIR: ~1B Q8_0 target on one thread) in this process, joined to a relay
 * process of the latency layout; Node scouts (1-layer draft, one thread each) reach the relay only
 * through latency proxies (in their own network namespaces when possible), so every oracle <->
 * scout message pays the dialled round trip.
 */
async function measureCoopByRtt() {
  const pair = await ensureModelPair({ dir: modelsDir(), config: slowPair(SLOW_TYPE) });
  const maxScouts = Math.max(...SCOUT_COUNTS);
  const layout = await startLayout({
    relays: 1,
    oracles: 0,
    scouts: maxScouts,
    oneWayDelayMs: 0,
    useNetns: true,
    waitForScouts: false,
    draftModelPath: pair.draftPath
  });
  for (const line of layout.notes) note(`layout: ${line}`);
  const engine = await createTargetEngine({
    modelPath: pair.targetPath,
    threads: 1,
    maxConcurrent: Math.max(2, STREAMS)
  });
  const local = await createDraftModelSource({
    modelPath: pair.draftPath,
    threads: 1,
    name: 'local-draft'
  });
  // The scouts pass probation against the pair's draft (the one they run); the ledger goes to a
  // temp dir, never .shard/scout-trust.sqlite.
  const mesh = await createOracleMesh({
    engine,
    relays: [layout.relays[0].multiaddr],
    announceSeconds: 1,
    draftModelPath: pair.draftPath,
    dataDir: mkdtempSync(join(tmpdir(), 'shard-bench-mesh-'))
  });
  await mesh.start();
  const result: Record<string, unknown> = {
    slow_pair: `${SLOW_TYPE} (${pair.targetPath.split('/').pop()})`,
    isolation: layout.isolation
  };
  try {
    await mesh.waitForScouts(maxScouts, AbortSignal.timeout(180_000));
    await generateOnce(engine, PROMPTS[0], 'off', null);
    const byRtt: Record<string, Record<string, number>> = {};
    const acceptance: Record<string, number> = {};
    const aloneTps: number[] = [];
    let isIdentical = true;
    for (const rtt of RTTS_MS) {
      layout.setDelay({ oneWayDelayMs: rtt / 2 });
      const variants: Variant[] = [
        { name: 'local_draft', makeSource: () => local, speculation: 'auto' }
      ];
      for (const n of SCOUT_COUNTS) {
        variants.push(
          {
            name: `scouts_${n}_governor_on`,
            makeSource: () => mesh.scoutDraftSource({ isGoverned: true, scouts: n }),
            speculation: 'auto'
          },
          {
            name: `scouts_${n}_governor_off`,
            makeSource: () => mesh.scoutDraftSource({ isGoverned: false, scouts: n }),
            speculation: 'on'
          }
        );
      }
      note(`rtt ${rtt} ms (load ${loadAverage().join(' ')})`);
      const measured = await speedups(
        engine,
        variants.filter((v) => !VARIANTS || VARIANTS.has(v.name) || v.name === 'local_draft')
      );
      aloneTps.push(measured.aloneTps);
      isIdentical &&= measured.isIdentical;
      const localRatio = measured.variants.local_draft.ratio;
      const row: Record<string, number> = { local_draft: round(localRatio) };
      for (const [name, v] of Object.entries(measured.variants) as Array<
        [string, { ratio: number; acceptance: number }]
      >) {
        if (name === 'local_draft') continue;
        row[name] = round(v.ratio);
        row[`${name}_vs_local_draft`] = round(v.ratio / localRatio);
        acceptance[name] = round(Math.max(acceptance[name] ?? 0, v.acceptance));
      }
      byRtt[`rtt_${rtt}ms`] = row;
      note(`rtt ${rtt} ms: ${JSON.stringify(row)}`);
    }
    result.oracle_alone_tokens_per_s = round(
      aloneTps.reduce((x, y) => x + y, 0) / aloneTps.length,
      2
    );
    result.coop_speedup_by_rtt = byRtt;
    result.coop_acceptance = acceptance;
    result.coop_output_identical_to_alone = isIdentical;
    result.coop_divergences = divergences;
    result.proxy_bytes = layout.proxyTotals();
    if (STREAMS > 0) Object.assign(result, await measureMultiStream(engine, mesh, layout));
  } finally {
    await mesh.stop();
    await layout.stop();
    await local.dispose();
    await engine.dispose();
  }
  result.load_average_after = loadAverage();
  return result;
}

/**
 * Capacity: STREAMS concurrent generations (different prompts) on the one oracle, each with its
 * own scout, against the same STREAMS generations without scouts; llama.cpp batches the
 * sequences' evaluations (plain steps and verify passes) into shared passes. Total tokens over
 * wall time, interleaved, at the layout's lowest swept RTT.
 */
async function measureMultiStream(engine: TargetEngine, mesh: OracleMesh, layout: Layout) {
  layout.setDelay({ oneWayDelayMs: Math.min(...RTTS_MS) / 2 });
  const prompts = Array.from({ length: STREAMS }, (_, i) => `${PROMPTS[i % PROMPTS.length]} ${i}`);
  const run = async (withScouts: boolean) => {
    const t0 = performance.now();
    const done = await Promise.all(
      prompts.map((p) =>
        withScouts
          ? generateOnce(engine, p, 'auto', mesh.scoutDraftSource({ isGoverned: true, scouts: 1 }))
          : generateOnce(engine, p, 'off', null)
      )
    );
    const ms = performance.now() - t0;
    const tokens = done.reduce((s, d) => s + d.stats.completionTokens, 0);
    return { tokens, ms, texts: done.map((d) => d.text) };
  };
  const plain = tally();
  const coop = tally();
  let isIdentical = true;
  for (let r = 0; r < Math.max(2, REPEATS); r++) {
    const order = r % 2 === 0 ? [false, true] : [true, false];
    const results: Record<string, Awaited<ReturnType<typeof run>>> = {};
    for (const withScouts of order) {
      const x = await run(withScouts);
      results[String(withScouts)] = x;
      const t = withScouts ? coop : plain;
      t.tokens += x.tokens;
      t.ms += x.ms;
    }
    isIdentical &&= results.true.texts.every((t, i) => t === results.false.texts[i]);
  }
  const plainTps = (plain.tokens * 1000) / plain.ms;
  const coopTps = (coop.tokens * 1000) / coop.ms;
  note(
    `${STREAMS} streams: ${plainTps.toFixed(1)} tok/s without scouts, ${coopTps.toFixed(1)} with (load ${loadAverage().join(' ')})`
  );
  return {
    multi_stream: {
      streams: STREAMS,
      tokens_per_s_without_scouts: round(plainTps, 2),
      tokens_per_s_with_scouts: round(coopTps, 2),
      output_identical: isIdentical
    },
    multi_stream_throughput_ratio: round(coopTps / plainTps)
  };
}

/**
 * One Chromium scout against the slow oracle: runs `npm run bench:scout` with the slow pair
 * (SCOUT_BENCH_PAIR=slow) and takes its figures.
 */
async function measureBrowserScout(): Promise<Record<string, unknown>> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'tests/bench/scout.bench.ts'], {
    // A BF16 oracle's browser scout downloads the Q8_0 draft: the same model, faster in WASM.
    env: {
      ...process.env,
      SCOUT_BENCH_PAIR: 'slow',
      SCOUT_BENCH_SLOW_TYPE: SLOW_TYPE,
      SCOUT_BENCH_SLOW_DRAFT_TYPE: SLOW_TYPE === 'BF16' ? 'Q8_0' : SLOW_TYPE
    },
    stdio: ['ignore', 'pipe', 'inherit']
  });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  const last = out.trim().split('\n').pop() ?? '';
  if (code !== 0 || !last.startsWith('{'))
    return { browser_scout_error: `bench:scout exited with ${code}` };
  const r = JSON.parse(last) as Record<string, unknown>;
  return {
    browser_scout_speedup: r.speedup_governed,
    browser_scout_speedup_forced_on: r.speedup,
    browser_scout: r
  };
}

async function measureRelayHold(deadlineMs: number) {
  const relay = await spawnRelay(
    ['--max-reservations', '4096'],
    process.env.MESH_BENCH_DEBUG ? { DEBUG: process.env.MESH_BENCH_DEBUG } : undefined
  );
  const relayAddr = relay.ready.multiaddrs[0];
  // The observer runs in its own process: the simulated scouts below load this one.
  const observer = await spawnTsx<{ peerId: string }>(
    'tests/bench/mesh-observer.ts',
    [relayAddr],
    'observer:ready'
  );
  const seen = new Set<string>();
  const drain = () => {
    for (const e of observer.events.splice(0)) if (e.event === 'msg') seen.add(String(e.data));
  };
  const nodes: MeshNode[] = [];
  let held = 0;
  let rssAtHeld = 0;
  let cpuAtHeld = 0;
  const started = Date.now();
  try {
    for (const target of [25, 50, 100, 150, 200, 300]) {
      if (Date.now() - started > deadlineMs) break;
      while (nodes.length < target) {
        const batch = Array.from({ length: Math.min(10, target - nodes.length) }, async () => {
          const node = await createMeshNode({ listen: [] });
          await node.dial(multiaddr(relayAddr));
          node.services.pubsub.subscribe(WORK_RESULT_TOPIC);
          return node;
        });
        nodes.push(...(await Promise.all(batch)));
      }
      const isReserved = await waitFor(
        `${target} reservations`,
        async () =>
          (await getJson<{ reservations: number }>(relay.ready.httpPort, '/health')).reservations >=
          target,
        30_000
      ).catch(() => false);
      if (!isReserved) break;
      // A scout publishes only once it knows the relay subscribed (the relay announces its
      // topics when the gossip stream opens).
      const isSubscribed = await waitFor(
        'every simulated scout to see the relay subscribed',
        () => nodes.every((n) => n.services.pubsub.getSubscribers(WORK_RESULT_TOPIC).length > 0),
        30_000
      ).catch(() => false);
      if (!isSubscribed) break;
      // Heartbeats: every simulated scout publishes 1 msg/s; one warm-up second (the gossip
      // mesh grafts new peers at its heartbeat), then 5 measured seconds.
      const seconds = 5;
      let cpuBefore = 0;
      let unsent = 0;
      let windowStart = Date.now();
      for (let s = -1; s < seconds; s++) {
        if (s === 0) {
          drain();
          seen.clear();
          cpuBefore = (await getJson<{ cpuMs: number }>(relay.ready.httpPort, '/health')).cpuMs;
          windowStart = Date.now();
        }
        const tick = Date.now();
        await Promise.all(
          nodes.map((n, i) =>
            n.services.pubsub
              .publish(
                WORK_RESULT_TOPIC,
                encode({
                  type: 'scout-heartbeat',
                  peerId: `sim-${i}`,
                  draftTokensPerSecond: null,
                  sessions: 0,
                  drafted: s,
                  accepted: 0,
                  sentAtMs: tick
                })
              )
              .then((r) => {
                if (r.recipients.length === 0) unsent += 1;
              })
              .catch(() => {
                unsent += 1;
              })
          )
        );
        await new Promise((r) => setTimeout(r, Math.max(0, 1000 - (Date.now() - tick))));
      }
      // Late messages count: the simulated side shares one busy process.
      await new Promise((r) => setTimeout(r, 4000));
      drain();
      const perSecond = Array.from(
        { length: seconds },
        (_, s) => [...seen].filter((m) => m.includes(`"drafted":${s},`)).length
      );
      const delivery = perSecond.reduce((x, y) => x + y, 0) / (target * seconds);
      note(
        `  delivered per second: ${perSecond.join(', ')} of ${target}; scouts still connected ` +
          `${nodes.filter((n) => n.getConnections().length > 0).length}, seeing the relay subscribed ` +
          `${nodes.filter((n) => n.services.pubsub.getSubscribers(WORK_RESULT_TOPIC).length > 0).length}, ` +
          `publishes with no recipient: ${unsent}`
      );
      const health = await getJson<{ rssBytes: number; cpuMs: number }>(
        relay.ready.httpPort,
        '/health'
      );
      const cpuPercent = ((health.cpuMs - cpuBefore) / (Date.now() - windowStart)) * 100;
      note(
        `relay: ${target} simulated scouts, delivery ${(delivery * 100).toFixed(1)} %, relay rss ${(health.rssBytes / 2 ** 20).toFixed(0)} MiB, relay cpu ${cpuPercent.toFixed(1)} % of one core`
      );
      if (delivery < 0.95) {
        if (process.env.MESH_BENCH_DEBUG) note(relay.stderr().slice(-6000));
        break;
      }
      held = target;
      rssAtHeld = health.rssBytes;
      cpuAtHeld = cpuPercent;
    }
  } catch (err) {
    note(
      `relay step failed: ${(err as Error).message}; relay exit ${relay.proc.exitCode}; relay stderr tail:\n${relay.stderr().slice(-3000)}`
    );
  } finally {
    await Promise.all(nodes.map(async (n) => n.stop()));
    await observer.stop();
    await relay.stop();
  }
  return {
    relay_scouts_held: held,
    relay_rss_mib_at_held: round(rssAtHeld / 2 ** 20, 1),
    relay_cpu_percent_at_held: round(cpuAtHeld, 1)
  };
}

const report: Record<string, unknown> = {
  bench: 'mesh',
  cores: (await import('node:os')).cpus().length
};
if (parts.has('rtt')) report.verify_rtt_ms = await measureRtt();
report.load_average_before = loadAverage();
if (parts.has('coop')) Object.assign(report, await measureCoopByRtt());
if (parts.has('browser')) Object.assign(report, await measureBrowserScout());
if (parts.has('relay')) Object.assign(report, await measureRelayHold(150_000));
report.goals = {
  coop_speedup_rtt_up_to_10ms_governor_on: 1.5,
  coop_speedup_rtt_40ms_governor_on: 1.2,
  governor_on_floor_any_rtt: 0.97,
  multi_stream_throughput_ratio: 1.3,
  browser_scout_speedup: 1.2
};
report.load_average_after = loadAverage();
process.stdout.write(JSON.stringify(report) + '\n');
process.exit(0);
