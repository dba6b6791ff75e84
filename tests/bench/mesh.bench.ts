/**
 * `npm run bench:mesh`: measures the mesh. The last stdout line is one JSON object:
 *
 * - verify_rtt_ms: oracle → scout → oracle round trip of one verify-stream exchange (a context
 *   update answered by a draft frame), p50/p99, over direct TCP, WebSockets and a relayed circuit.
 *   The scouts here use an instant toy engine (mock: isolates transport + protocol cost).
 * - coop_speedup_governor_on / _off: tokens/s of oracle + Node scouts ÷ oracle alone (plain
 *   decoding), with 1 and with 4 scout processes, on the generated bench pair (slow F16 target,
 *   1-layer draft), governor on (`auto` + governed waits) and off (`on` + fixed waits), measured
 *   interleaved (alone, on, off per prompt; on/off order alternating) against the same alone runs.
 * - relay_scouts_held: how many simulated scouts (libp2p peers with a circuit reservation and a
 *   1 msg/s heartbeat on shard-work-result) one relay process holds with ≥ 95 % of heartbeats
 *   delivered to an observer, bounded in time, and the relay's RSS at that count.
 *
 * Environment: MESH_BENCH_PARTS=rtt,coop,relay (default all), MESH_BENCH_TOKENS (default 96).
 */
import '../../src/lib/server/node-compat.js';
import { generateKeyPair } from '@libp2p/crypto/keys';
import { multiaddr } from '@multiformats/multiaddr';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTargetEngine, type TargetEngine } from '../../native-oracle/engine/index.js';
import {
  createMeshNode,
  createOracleMesh,
  type MeshNode,
  type OracleMesh
} from '../../native-oracle/mesh/index.js';
import { ScoutLink } from '../../native-oracle/mesh/scout-link.js';
import { BENCH_PAIR, ensureModelPair } from '../../native-oracle/models/index.js';
import { encode, WORK_RESULT_TOPIC } from '../../src/lib/protocol/mesh.js';
import { modelsDir } from '../../src/lib/server/data-dir.js';
import { setLogLevel } from '../../src/lib/server/log.js';
import type { DraftEngine } from '../../workers/scout/core.js';
import { createScoutPeer, type ScoutPeer } from '../../workers/scout/scout-peer.js';
import {
  getJson,
  spawnRelay,
  spawnTsx,
  waitFor,
  type SpawnedProcess
} from '../integration/mesh-harness.js';

setLogLevel('error');
const parts = new Set((process.env.MESH_BENCH_PARTS ?? 'rtt,coop,relay').split(','));
const maxTokens = Number(process.env.MESH_BENCH_TOKENS ?? 96);
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
/** Repetitions of each (alone, governor on, governor off) triple, run back to back. */
const REPEATS = Number(process.env.MESH_BENCH_REPEATS ?? 2);

type SourceFactory = () => ReturnType<OracleMesh['scoutDraftSource']>;

async function generateOnce(
  engine: TargetEngine,
  prompt: string,
  speculation: 'auto' | 'on' | 'off',
  source: ReturnType<OracleMesh['scoutDraftSource']> | null
) {
  for await (const event of engine.generate({
    prompt,
    maxTokens,
    speculation,
    ...(source ? { draftSource: source } : {})
  })) {
    if (event.type === 'done') {
      source?.end();
      return event;
    }
  }
  throw new Error('generation ended without done');
}

interface Variant {
  makeSource: SourceFactory;
  speculation: 'auto' | 'on';
}

/**
 * Cooperative tokens/s over oracle-alone tokens/s for each variant, from interleaved runs: per
 * prompt, oracle alone, then every variant (governor on and off) back to back, the variant order
 * reversed on every other repeat, so that load from other processes on the machine hits all
 * sides alike. Also checks that every cooperative output equals the oracle-alone output.
 */
async function speedups(engine: TargetEngine, variants: Variant[]) {
  let aloneTokens = 0;
  let aloneMs = 0;
  const totals = variants.map(() => ({ tokens: 0, ms: 0, drafted: 0, accepted: 0 }));
  let isIdentical = true;
  for (let r = 0; r < REPEATS; r++) {
    for (const prompt of PROMPTS) {
      const alone = await generateOnce(engine, prompt, 'off', null);
      aloneTokens += alone.stats.completionTokens;
      aloneMs += alone.stats.durationMs;
      const order = variants.map((_, i) => i);
      if (r % 2 === 1) order.reverse();
      for (const i of order) {
        const source = variants[i].makeSource();
        const coop = await generateOnce(engine, prompt, variants[i].speculation, source);
        if (source)
          note(`  session ${JSON.stringify(source.stats)} engine ${coop.stats.governor.reason}`);
        totals[i].tokens += coop.stats.completionTokens;
        totals[i].ms += coop.stats.durationMs;
        totals[i].drafted += coop.stats.drafted;
        totals[i].accepted += coop.stats.accepted;
        isIdentical &&= coop.text === alone.text;
      }
    }
  }
  const aloneTps = (aloneTokens * 1000) / aloneMs;
  return {
    aloneTps,
    isIdentical,
    variants: totals.map((t) => ({
      ratio: (t.tokens * 1000) / t.ms / aloneTps,
      acceptance: t.drafted > 0 ? t.accepted / t.drafted : 0
    }))
  };
}

async function measureCoop() {
  const pair = await ensureModelPair({ dir: modelsDir(), config: BENCH_PAIR });
  const engine = await createTargetEngine({ modelPath: pair.targetPath, threads: 1 });
  const relay = await spawnRelay();
  const lookahead = process.env.MESH_BENCH_LOOKAHEAD
    ? Number(process.env.MESH_BENCH_LOOKAHEAD)
    : undefined;
  // The scouts pass probation against the pair's draft (the one they run); the ledger goes to a
  // temp dir, never .shard/scout-trust.sqlite.
  const mesh = await createOracleMesh({
    engine,
    relays: [relay.ready.multiaddrs[0]],
    announceSeconds: 1,
    draftModelPath: pair.draftPath,
    dataDir: mkdtempSync(join(tmpdir(), 'shard-bench-mesh-')),
    ...(lookahead ? { lookahead } : {})
  });
  await mesh.start();
  const scouts: Array<SpawnedProcess<Record<string, unknown>>> = [];
  const result: Record<string, unknown> = {};
  try {
    await generateOnce(engine, PROMPTS[0], 'off', null);
    const on: Record<string, number> = {};
    const off: Record<string, number> = {};
    const aloneTps: number[] = [];
    let isIdentical = true;
    for (const count of (process.env.MESH_BENCH_SCOUTS ?? '1,4').split(',').map(Number)) {
      while (scouts.length < count) {
        scouts.push(
          await spawnTsx(
            'workers/scout/node-scout.ts',
            ['--relay', relay.ready.multiaddrs[0], '--model', pair.draftPath, '--threads', '1'],
            'scout:ready',
            { env: { SHARD_DATA_DIR: mkdtempSync(join(tmpdir(), 'shard-bench-')) } }
          )
        );
      }
      await mesh.waitForScouts(count, AbortSignal.timeout(60_000));
      const measured = await speedups(engine, [
        { makeSource: () => mesh.scoutDraftSource({ isGoverned: true }), speculation: 'auto' },
        { makeSource: () => mesh.scoutDraftSource({ isGoverned: false }), speculation: 'on' }
      ]);
      const [governed, ungoverned] = measured.variants;
      on[`scouts_${count}`] = round(governed.ratio);
      off[`scouts_${count}`] = round(ungoverned.ratio);
      aloneTps.push(measured.aloneTps);
      result[`acceptance_scouts_${count}`] = round(ungoverned.acceptance);
      isIdentical &&= measured.isIdentical;
      note(
        `${count} scout(s): governor on ${on[`scouts_${count}`]}x, off ${off[`scouts_${count}`]}x ` +
          `(alone ${measured.aloneTps.toFixed(1)} tok/s), acceptance ${ungoverned.acceptance.toFixed(2)}`
      );
    }
    result.oracle_alone_tokens_per_s = round(
      aloneTps.reduce((x, y) => x + y, 0) / aloneTps.length,
      2
    );
    result.coop_speedup_governor_on = on;
    result.coop_speedup_governor_off = off;
    result.coop_output_identical_to_alone = isIdentical;
  } finally {
    await Promise.all(scouts.map((s) => s.stop('SIGKILL')));
    await mesh.stop();
    await relay.stop();
    await engine.dispose();
  }
  return result;
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
if (parts.has('coop')) Object.assign(report, await measureCoop());
if (parts.has('relay')) Object.assign(report, await measureRelayHold(150_000));
report.goals = {
  coop_speedup_min: 1.3,
  governor_on_floor: 0.97
};
process.stdout.write(JSON.stringify(report) + '\n');
process.exit(0);
