/**
 * `npm run bench:scout`: measures the browser scout in Debian's Chromium against a real relay +
 * oracle stack on loopback (the built PWA in build/, the generated test pair). The last stdout
 * line is one JSON object:
 *
 * - draft_tokens_per_s: wllama greedy drafting in the scout's own worker (the built
 *   scout.worker, driven over its comlink interface), with 1 and with 2 threads; `wall` is
 *   tokens ÷ wall-clock time of a `draft(context, n)` call as the page sees it (median of a few),
 *   `engine` is wllama's own decode timing from the on-device benchmark.
 * - first_accept_ms: /scout page opened → first completion whose drafts from this browser the
 *   oracle accepted (completions are sent back to back once the scout has joined);
 *   scout_joined_ms: page opened → the oracle lists the scout as eligible.
 * - acceptance_rate: accepted ÷ drafted over a few completions with the browser's drafts.
 * - tokens_per_s_alone / tokens_per_s_with_scout / speedup: the same completions with
 *   speculation off and on (ungoverned, like the e2e stack), and their ratio.
 *
 * - tokens_per_s_governed / speedup_governed: the same completions with `speculation: auto`
 *   (the oracle's governor decides per round whether the browser's drafts pay).
 *
 * SCOUT_BENCH_PAIR=slow runs the whole bench against the slow pair (SLOW_PAIR: a ~1B Q8_0
 * target at CPU-oracle speed and its 1-layer draft, which the browser downloads and runs);
 * `npm run bench:mesh` uses this for its `browser_scout_speedup`. Default: the test pair.
 * SCOUT_BENCH_SLOW_TYPE picks the slow pair's weights (Q8_0 default, Q4_0, BF16) and
 * SCOUT_BENCH_SLOW_DRAFT_TYPE those of the draft the browser downloads (default the same: a
 * BF16 target with a Q8_0 draft is the same model with a draft WASM runs faster).
 *
 * It measures, it asserts nothing about timings. Bounded: every wait has a deadline and the
 * whole run is aborted after BENCH_DEADLINE_MS.
 */
import '../../src/lib/server/node-compat.js';
import { copyFileSync, mkdtempSync, readdirSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { ensureModelPair, slowPair, type SlowPairType } from '../../native-oracle/models/index.js';
import { modelsDir } from '../../src/lib/server/data-dir.js';
import { setLogLevel } from '../../src/lib/server/log.js';
import { startMeshStack, type MeshStack } from '../e2e/helpers/stack.js';
import { CHROMIUM_ARGS, CHROMIUM_PATH } from '../helpers/chromium.js';

setLogLevel('error');
const note = (msg: string) => process.stderr.write(`[bench:scout] ${msg}\n`);
const PAIR = process.env.SCOUT_BENCH_PAIR ?? 'test';
if (PAIR !== 'test' && PAIR !== 'slow')
  throw new Error(`SCOUT_BENCH_PAIR must be 'test' or 'slow', not '${PAIR}'`);
const isSlow = PAIR === 'slow';
const BENCH_DEADLINE_MS = isSlow ? 600_000 : 170_000;
/** Tokens per timed draft call and timed calls per thread count (a noisy 2-core machine). */
const DRAFT_TOKENS = 64;
const DRAFT_REPEATS = isSlow ? 4 : 8;
const COMPLETION_TOKENS = 64;
const PROMPTS = [
  'Once upon a time the old lighthouse keeper wrote in his log that',
  'The quick brown fox said that the river',
  'In the morning the baker opened the shop and',
  'The scientist looked at the results and decided'
];

const round = (x: number, digits = 1) => Math.round(x * 10 ** digits) / 10 ** digits;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

/** Path of the built scout worker under build/ (its name carries a content hash). */
function scoutWorkerPath(): string {
  const dir = 'build/_app/immutable/workers';
  const file = readdirSync(dir).find((f) => /^scout\.worker-.*\.js$/.test(f));
  if (!file) throw new Error(`no scout.worker-*.js in ${dir}: run \`npx vite build\` first`);
  return `/_app/immutable/workers/${file}`;
}

/**
 * Loads wllama in one fresh scout worker per entry of `threads` (all in `page`) and times
 * drafting, alternating between the workers call by call so that load from other processes on
 * the machine hits every thread count alike. The workers are driven with comlink's wire protocol
 * directly (the page exposes no comlink), so this measures exactly the engine the scout uses.
 */
async function timeDrafting(
  page: Page,
  options: { workerUrl: string; threads: number[]; context: number[]; fingerprint: string }
) {
  return page.evaluate(
    async ({ workerUrl, threads, context, fingerprint, tokens, repeats }) => {
      let seq = 0;
      const call = (worker: Worker, method: string, args: unknown[]) =>
        new Promise<unknown>((resolve, reject) => {
          const id = `bench-${++seq}`;
          const onMessage = (ev: MessageEvent) => {
            const data = ev.data as { id?: string; type: string; name?: string; value: unknown };
            if (data?.id !== id) return;
            worker.removeEventListener('message', onMessage);
            if (data.type === 'HANDLER' && data.name === 'throw') {
              const thrown = data.value as { value: { message?: string } };
              reject(new Error(`${method}: ${thrown.value?.message ?? String(thrown.value)}`));
            } else resolve(data.value);
          };
          worker.addEventListener('message', onMessage);
          worker.postMessage({
            id,
            type: 'APPLY',
            path: [method],
            argumentList: args.map((value) => ({ type: 'RAW', value }))
          });
        });
      const runs = threads.map((n) => ({
        threads: n,
        worker: new Worker(workerUrl, { type: 'module', name: `bench-${n}` }),
        rates: [] as number[],
        counts: [] as number[],
        engineRate: null as number | null,
        detail: null as string | null,
        isCrossOriginIsolated: false
      }));
      try {
        for (const run of runs) {
          const prepared = (await call(run.worker, 'prepare', [
            {
              modelUrl: '/models/draft.gguf',
              preferredEngine: 'wllama',
              targetTokenizerFingerprint: fingerprint,
              threads: run.threads
            }
          ])) as {
            engine: string;
            candidates: {
              kind: string;
              tokensPerSecond: number | null;
              detail: string | null;
              reason?: string | null;
            }[];
            isCrossOriginIsolated: boolean;
          };
          if (prepared.engine !== 'wllama')
            throw new Error(
              `picked ${prepared.engine}: ${JSON.stringify(prepared.candidates.map((c) => [c.kind, c.reason ?? c.detail]))}`
            );
          const wllama = prepared.candidates.find((c) => c.kind === 'wllama');
          run.engineRate = wllama?.tokensPerSecond ?? null;
          run.detail = wllama?.detail ?? null;
          run.isCrossOriginIsolated = prepared.isCrossOriginIsolated;
          // Warm-up: the context's prompt is evaluated once; later calls reuse its KV cache.
          await call(run.worker, 'draft', [context, tokens]);
        }
        for (let i = 0; i < repeats; i++) {
          for (const run of runs) {
            const t0 = performance.now();
            const out = (await call(run.worker, 'draft', [context, tokens])) as number[];
            run.rates.push((out.length / (performance.now() - t0)) * 1000);
            run.counts.push(out.length);
          }
        }
        return runs.map(({ worker: _worker, ...result }) => result);
      } finally {
        for (const run of runs) {
          await call(run.worker, 'dispose', []).catch(() => undefined);
          run.worker.terminate();
        }
      }
    },
    { ...options, tokens: DRAFT_TOKENS, repeats: DRAFT_REPEATS }
  );
}

async function chat(
  stack: MeshStack,
  prompt: string,
  speculation: 'on' | 'off' | 'auto',
  maxTokens: number
): Promise<{
  tokens: number;
  ms: number;
  drafted: number;
  accepted: number;
  source: string;
  text: string;
}> {
  const t0 = performance.now();
  const res = await fetch(`${stack.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-shard-speculation': speculation },
    body: JSON.stringify({
      model: stack.engine.modelId,
      messages: [{ role: 'user', content: prompt }],
      max_tokens: maxTokens,
      temperature: 0
    }),
    signal: AbortSignal.timeout(isSlow ? 120_000 : 30_000)
  });
  if (!res.ok) throw new Error(`completion failed: ${res.status} ${await res.text()}`);
  const body = (await res.json()) as {
    usage: { completion_tokens: number };
    choices: Array<{ message: { content: string | null } }>;
    shard: { drafted: number; accepted: number; draft_source: string | null };
  };
  return {
    text: body.choices[0]?.message.content ?? '',
    tokens: body.usage.completion_tokens,
    ms: performance.now() - t0,
    drafted: body.shard.drafted,
    accepted: body.shard.accepted,
    source: body.shard.draft_source ?? 'none'
  };
}

/**
 * The slow pair, laid out as the scout page expects it: the draft served as /models/draft.gguf
 * (from a temp folder, so the test pair's files are left alone).
 */
function slowType(name: string, fallback: string): SlowPairType {
  const type = (process.env[name] ?? fallback).toUpperCase();
  if (type !== 'Q8_0' && type !== 'Q4_0' && type !== 'BF16')
    throw new Error(`${name} must be Q8_0, Q4_0 or BF16, not ${type}`);
  return type;
}

/** The slow pair's weights for the oracle, and for the draft the browser runs (default same). */
const SLOW_TARGET_TYPE = slowType('SCOUT_BENCH_SLOW_TYPE', 'Q8_0');
const SLOW_DRAFT_TYPE = slowType('SCOUT_BENCH_SLOW_DRAFT_TYPE', SLOW_TARGET_TYPE);

async function slowModels(): Promise<{ targetPath: string; draftPath: string }> {
  const target = await ensureModelPair({ dir: modelsDir(), config: slowPair(SLOW_TARGET_TYPE) });
  const draft =
    SLOW_DRAFT_TYPE === SLOW_TARGET_TYPE
      ? target
      : await ensureModelPair({ dir: modelsDir(), config: slowPair(SLOW_DRAFT_TYPE) });
  const dir = mkdtempSync(join(tmpdir(), 'shard-bench-scout-slow-'));
  symlinkSync(target.targetPath, join(dir, 'target.gguf'));
  // A copy: the oracle serves no symlinks out of its models folder.
  copyFileSync(draft.draftPath, join(dir, 'draft.gguf'));
  return { targetPath: join(dir, 'target.gguf'), draftPath: join(dir, 'draft.gguf') };
}

async function main(): Promise<Record<string, unknown>> {
  const workerUrl = scoutWorkerPath();
  // Governed mesh: `auto` completions go through the oracle's one governor (the e2e default
  // turns it off); `on` still forces drafting every round.
  const stack = await startMeshStack({
    ...(isSlow ? { models: await slowModels() } : {}),
    mesh: { isGoverned: true }
  });
  let browser: Browser | null = null;
  try {
    browser = await chromium.launch({
      executablePath: CHROMIUM_PATH,
      args: [...CHROMIUM_ARGS]
    });
    const context = stack.engine.tokenize(PROMPTS[0]);

    // 1. Drafting speed of wllama in the scout's worker, 1 and 2 threads.
    const drafting: Record<string, unknown> = {};
    {
      const ctx = await browser.newContext();
      // tsx compiles named functions with esbuild's `__name` helper, which the page lacks.
      await ctx.addInitScript({ content: 'globalThis.__name = (fn) => fn;' });
      const page = await ctx.newPage();
      await page.goto(`${stack.url}/`);
      const runs = await timeDrafting(page, {
        workerUrl,
        threads: [1, 2],
        context,
        fingerprint: stack.engine.tokenizerFingerprint
      });
      for (const r of runs) {
        note(
          `wllama ${r.threads} thread(s): ${r.rates.map((x) => x.toFixed(0)).join(', ')} tok/s (${r.counts.join(', ')} tokens)`
        );
        drafting[`threads_${r.threads}`] = {
          wall: round(median(r.rates)),
          wall_min: round(Math.min(...r.rates)),
          wall_max: round(Math.max(...r.rates)),
          tokens_per_call: median(r.counts),
          engine: r.engineRate === null ? null : round(r.engineRate),
          detail: r.detail,
          is_cross_origin_isolated: r.isCrossOriginIsolated
        };
      }
      await ctx.close();
    }

    // 2. A /scout tab joins the mesh: time to the first accepted draft.
    const ctx = await browser.newContext();
    await ctx.addInitScript(() => localStorage.setItem('shard.scout.ignore-local-oracle', '1'));
    const page = await ctx.newPage();
    const opened = performance.now();
    await page.goto(`${stack.url}/scout`);
    await page.getByTestId('scout-role').filter({ hasText: 'This tab is the scout' }).waitFor();
    const toggle = page.getByTestId('scout-toggle');
    await toggle.click({ timeout: 30_000 });
    await stack.mesh.waitForScouts(1, AbortSignal.timeout(90_000));
    const scoutJoinedMs = performance.now() - opened;
    let firstAcceptMs: number | null = null;
    for (let i = 0; i < 20 && firstAcceptMs === null; i++) {
      const r = await chat(stack, PROMPTS[i % PROMPTS.length], 'on', 16);
      if (r.source.startsWith('scout:') && r.accepted > 0)
        firstAcceptMs = performance.now() - opened;
    }
    note(`scout joined after ${scoutJoinedMs.toFixed(0)} ms, first accept ${firstAcceptMs} ms`);

    // 3. Acceptance and throughput: the same completions alone, with the browser's drafts on
    // every round, and with the governor deciding; the order alternates per prompt so load from
    // other processes hits every variant alike.
    const alone = { tokens: 0, ms: 0 };
    const withScout = { tokens: 0, ms: 0, drafted: 0, accepted: 0 };
    const governed = { tokens: 0, ms: 0, drafted: 0, accepted: 0 };
    let isIdentical = true;
    for (const [i, prompt] of PROMPTS.entries()) {
      const a = await chat(stack, prompt, 'off', COMPLETION_TOKENS);
      const variants = [
        { total: withScout, speculation: 'on' as const },
        { total: governed, speculation: 'auto' as const }
      ];
      if (i % 2 === 1) variants.reverse();
      for (const { total, speculation } of variants) {
        const s = await chat(stack, prompt, speculation, COMPLETION_TOKENS);
        if (!s.source.startsWith('scout:'))
          note(`${speculation} completion drafted by ${s.source}, not the scout`);
        isIdentical &&= s.text === a.text;
        total.tokens += s.tokens;
        total.ms += s.ms;
        total.drafted += s.drafted;
        total.accepted += s.accepted;
      }
      alone.tokens += a.tokens;
      alone.ms += a.ms;
    }
    await ctx.close();
    const aloneTps = (alone.tokens / alone.ms) * 1000;
    const scoutTps = (withScout.tokens / withScout.ms) * 1000;
    const governedTps = (governed.tokens / governed.ms) * 1000;
    return {
      bench: 'scout',
      browser: browser.version(),
      draft_model: isSlow
        ? `the slow pair's 1-layer draft in ${SLOW_DRAFT_TYPE}, target in ${SLOW_TARGET_TYPE} (~1B, generated)`
        : 'draft.gguf (generated test pair)',
      draft_tokens: DRAFT_TOKENS,
      draft_tokens_per_s: drafting,
      scout_joined_ms: Math.round(scoutJoinedMs),
      first_accept_ms: firstAcceptMs === null ? null : Math.round(firstAcceptMs),
      completions: PROMPTS.length,
      completion_tokens: COMPLETION_TOKENS,
      drafted: withScout.drafted,
      accepted: withScout.accepted,
      acceptance_rate:
        withScout.drafted > 0 ? round(withScout.accepted / withScout.drafted, 3) : null,
      tokens_per_s_alone: round(aloneTps),
      tokens_per_s_with_scout: round(scoutTps),
      speedup: round(scoutTps / aloneTps, 3),
      tokens_per_s_governed: round(governedTps),
      speedup_governed: round(governedTps / aloneTps, 3),
      drafted_governed: governed.drafted,
      accepted_governed: governed.accepted,
      output_identical_to_alone: isIdentical,
      load_average: (await import('node:os')).loadavg().map((x) => round(x, 2))
    };
  } finally {
    await browser?.close().catch(() => undefined);
    await stack.close();
  }
}

const deadline = setTimeout(() => {
  note(`did not finish within ${BENCH_DEADLINE_MS} ms`);
  process.exit(1);
}, BENCH_DEADLINE_MS);
deadline.unref();
main().then(
  (result) => {
    process.stdout.write(`${JSON.stringify(result)}\n`);
    process.exit(0);
  },
  (err: unknown) => {
    note(`failed: ${(err as Error)?.stack ?? String(err)}`);
    process.exit(1);
  }
);
