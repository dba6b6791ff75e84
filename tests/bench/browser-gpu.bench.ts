/**
 * `npm run bench:browser-gpu`: the browser scout's wllama draft speed on the CPU (WASM) against
 * its WebGPU path, in one headless Chromium run with `--enable-unsafe-webgpu` (this machine's
 * only adapter is SwiftShader, a CPU emulation of a GPU). The built scout worker (build/, run
 * `npx vite build` first) is driven over its comlink interface, one worker per backend choice
 * (`wllamaBackend: 'cpu'` and `'auto'`), on the default draft model and the bench draft.
 *
 * Each timed call drafts DRAFT_TOKENS greedy tokens continuing a context that grows by what was
 * drafted (as a scout's context grows along its chain; the KV cache is reused), alternating
 * between the two workers call by call so load from other processes hits both alike.
 * `wall_tokens_per_s` is the median of tokens ÷ wall-clock time per call as the page sees it.
 *
 * The backend each worker actually used is printed with it: where the WebGPU path cannot run
 * (SwiftShader lacks shader-f16), the `auto` worker drafts on the CPU too and says why, and the
 * `ratio_webgpu_over_cpu` is null (the `auto` run drafted on the CPU; `ratio_auto_over_cpu`
 * then compares two CPU runs, i.e. the noise). `webgpu_ran` says which. The last stdout line is
 * one JSON object with the per-model figures and the ratios. It measures, it asserts nothing.
 */
import { createReadStream, existsSync, readdirSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { extname, join, normalize, resolve } from 'node:path';
import { chromium, type Page } from 'playwright-core';
import { modelsDir } from '../../src/lib/server/data-dir.js';
import { CHROMIUM_ARGS, CHROMIUM_PATH } from '../helpers/chromium.js';

const note = (msg: string) => process.stderr.write(`[bench:browser-gpu] ${msg}\n`);
/** Whole-run bound: SwiftShader or a slow machine must not hang the bench. */
const BENCH_DEADLINE_MS = 300_000;
/** Tokens per timed draft call, and timed calls per backend and model. */
const DRAFT_TOKENS = 16;
const DRAFT_REPEATS = 12;
const MODELS = ['draft.gguf', 'bench-draft.gguf'];
const CHOICES = ['cpu', 'auto'] as const;

const round = (x: number, digits = 1) => Math.round(x * 10 ** digits) / 10 ** digits;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

const MIME: Record<string, string> = {
  '.html': 'text/html',
  '.js': 'text/javascript',
  '.css': 'text/css',
  '.wasm': 'application/wasm',
  '.json': 'application/json'
};

/** Serves build/ and the generated models under /models/ on loopback (no API needed here). */
async function serve(): Promise<{ server: Server; url: string }> {
  const buildDir = resolve('build');
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    const file = path.startsWith('/models/')
      ? join(modelsDir(), normalize(path.slice('/models/'.length)).replace(/^(\.\.[/\\])+/, ''))
      : join(buildDir, normalize(path).replace(/^(\.\.[/\\])+/, ''));
    const target =
      existsSync(file) && statSync(file).isFile() ? file : join(buildDir, 'index.html');
    res.writeHead(200, {
      'content-type': MIME[extname(target)] ?? 'application/octet-stream',
      'content-length': statSync(target).size
    });
    createReadStream(target).pipe(res);
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const address = server.address();
  if (!address || typeof address === 'string') throw new Error('no server address');
  return { server, url: `http://127.0.0.1:${address.port}` };
}

function scoutWorkerUrl(): string {
  const dir = 'build/_app/immutable/workers';
  const file = existsSync(dir) && readdirSync(dir).find((f) => /^scout\.worker-.*\.js$/.test(f));
  if (!file) throw new Error(`no scout.worker-*.js in ${dir}: run \`npx vite build\` first`);
  return `/_app/immutable/workers/${file}`;
}

interface ChoiceResult {
  choice: string;
  backend: { kind: string; device: string | null; reason: string | null } | null;
  rates: number[];
  tokens: number;
  error: string | null;
}

/** Prepares one worker per backend choice on `modelUrl`, then times drafts alternately. */
function timeBackends(page: Page, workerUrl: string, modelUrl: string): Promise<ChoiceResult[]> {
  return page.evaluate(
    async ({ workerUrl, modelUrl, choices, tokens, repeats }) => {
      let seq = 0;
      // comlink's wire protocol, spoken directly: the page exposes no comlink of its own.
      const call = (worker: Worker, method: string, args: unknown[]) =>
        new Promise<unknown>((resolve, reject) => {
          const id = `gpu-bench-${++seq}`;
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
      const runs = choices.map((choice) => ({
        choice,
        worker: new Worker(workerUrl, { type: 'module', name: `gpu-bench-${choice}` }),
        backend: null as ChoiceResult['backend'],
        rates: [] as number[],
        tokens: 0,
        context: [] as number[],
        error: null as string | null
      }));
      try {
        for (const run of runs) {
          try {
            const prepared = (await call(run.worker, 'prepare', [
              { modelUrl, preferredEngine: 'wllama', wllamaBackend: run.choice, threads: 1 }
            ])) as { engine: string; wllamaBackend: ChoiceResult['backend'] };
            if (prepared.engine !== 'wllama') throw new Error(`picked ${prepared.engine}`);
            run.backend = prepared.wllamaBackend;
            // BOS, then ids spread over the vocabulary past its special tokens.
            run.context = [1, ...Array.from({ length: 12 }, (_, i) => 300 + ((i * 797) % 4000))];
            await call(run.worker, 'draft', [run.context, tokens]);
          } catch (err) {
            run.error = (err as Error).message;
          }
        }
        for (let i = 0; i < repeats; i++) {
          for (const run of runs.filter((r) => !r.error)) {
            const t0 = performance.now();
            const out = (await call(run.worker, 'draft', [run.context, tokens])) as number[];
            const ms = performance.now() - t0;
            if (out.length > 0) run.rates.push((out.length / ms) * 1000);
            run.tokens += out.length;
            // The chain grows; a finished one (end of text) starts again from the prompt.
            run.context = out.length > 0 ? [...run.context, ...out] : run.context.slice(0, 13);
          }
        }
        return runs.map(({ choice, backend, rates, tokens: n, error }) => ({
          choice,
          backend,
          rates,
          tokens: n,
          error
        }));
      } finally {
        for (const run of runs) {
          await call(run.worker, 'dispose', []).catch(() => undefined);
          run.worker.terminate();
        }
      }
    },
    { workerUrl, modelUrl, choices: [...CHOICES], tokens: DRAFT_TOKENS, repeats: DRAFT_REPEATS }
  );
}

async function main(): Promise<void> {
  const workerUrl = scoutWorkerUrl();
  const { server, url } = await serve();
  const browser = await chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: [...CHROMIUM_ARGS, '--enable-unsafe-webgpu']
  });
  try {
    const page = await browser.newPage();
    // A page of the app's origin (secure context: navigator.gpu and Cache Storage exist).
    await page.goto(`${url}/`);
    // tsx keeps function names with an `__name` helper that the page does not have.
    await page.evaluate('globalThis.__name = (fn) => fn');
    const adapter = await page.evaluate(async () => {
      type Adapter = { features: Set<string>; info?: { vendor?: string; architecture?: string } };
      const gpu = (navigator as { gpu?: { requestAdapter(): Promise<Adapter | null> } }).gpu;
      const a = await gpu?.requestAdapter();
      return a
        ? {
            name: [a.info?.vendor, a.info?.architecture].filter(Boolean).join(' '),
            features: [...a.features].sort()
          }
        : null;
    });
    note(`adapter: ${JSON.stringify(adapter)}`);
    const models: Record<string, unknown> = {};
    for (const model of MODELS) {
      if (!existsSync(join(modelsDir(), model))) {
        models[model] = { skipped: `${model} is not in ${modelsDir()} (npm run models)` };
        continue;
      }
      note(`timing ${model} …`);
      const runs = await timeBackends(page, workerUrl, `/models/${model}`);
      const byChoice = Object.fromEntries(
        runs.map((r) => [
          r.choice,
          {
            backend: r.backend?.kind ?? null,
            device: r.backend?.device ?? null,
            reason: r.backend?.reason ?? null,
            wall_tokens_per_s: r.rates.length ? round(median(r.rates)) : null,
            timed_calls: r.rates.length,
            tokens: r.tokens,
            error: r.error
          }
        ])
      ) as Record<string, { backend: string | null; wall_tokens_per_s: number | null }>;
      const cpu = byChoice.cpu?.wall_tokens_per_s;
      const gpu = byChoice.auto?.wall_tokens_per_s;
      const isOnGpu = byChoice.auto?.backend === 'webgpu';
      const ratio = cpu && gpu ? round(gpu / cpu, 3) : null;
      models[model] = {
        ...byChoice,
        webgpu_ran: isOnGpu,
        // Only a WebGPU run makes a WebGPU ratio; otherwise both ran on the CPU (a noise figure).
        ratio_webgpu_over_cpu: isOnGpu ? ratio : null,
        ratio_auto_over_cpu: ratio
      };
      note(`${model}: ${JSON.stringify(models[model])}`);
    }
    console.log(
      JSON.stringify({
        bench: 'browser-gpu',
        chromium_flags: ['--enable-unsafe-webgpu'],
        adapter,
        draft_tokens_per_call: DRAFT_TOKENS,
        threads: 1,
        models
      })
    );
  } finally {
    await browser.close();
    server.close();
  }
}

const deadline = setTimeout(() => {
  note(`aborted after ${BENCH_DEADLINE_MS / 1000} s`);
  process.exit(2);
}, BENCH_DEADLINE_MS);
deadline.unref();
main().then(
  () => process.exit(0),
  (err: unknown) => {
    note(`failed: ${(err as Error).stack ?? String(err)}`);
    process.exit(1);
  }
);
