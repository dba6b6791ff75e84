/**
 * `npm run bench:verify`: what batched verification and speculative decoding buy on this machine,
 * measured on the generated BENCH pair (~106M-param F16 target, its first layer as the draft;
 * generated on demand). Prints progress to stderr and ONE JSON object as the last stdout line.
 *
 * Part A (raw llama.cpp): one batched evaluation of [last, d1..dK] with the target's choice at
 * every position, against one single-token decode step and against K+1 sequential steps
 * (medians of repeated trials; the KV cache is rolled back after each trial).
 * Part B (the engine): tokens/s of greedy generation with the generated draft model run locally
 * and with prompt lookup, against plain decoding, same prompts, same run, interleaved per prompt.
 *
 * Env: BENCH_THREADS (default 1: on a shared 2-core machine two spinning llama.cpp threads
 * collapse when another process takes a core), BENCH_TOKENS per prompt (default 64), BENCH_TRIALS (default 9),
 * BENCH_REPS passes over the prompts (default 2), BENCH_TYPE weights BF16 (default), F16 or F32.
 */
import { getLlama, LlamaLogLevel, type Token } from 'node-llama-cpp';
import { modelsDir } from '../../src/lib/server/data-dir.js';
import { benchPair, ensureModelPair } from '../../native-oracle/models/index.js';
import {
  createDraftModelSource,
  createPromptLookupSource,
  createTargetEngine,
  type DraftSource,
  type GenerateOptions,
  type TargetEngine
} from '../../native-oracle/engine/index.js';

const THREADS = Number(process.env.BENCH_THREADS ?? 1);
const TOKENS = Number(process.env.BENCH_TOKENS ?? 64);
const TRIALS = Number(process.env.BENCH_TRIALS ?? 9);
const REPS = Number(process.env.BENCH_REPS ?? 2);
const BENCH_TYPE = (process.env.BENCH_TYPE ?? 'BF16').toUpperCase();
if (BENCH_TYPE !== 'BF16' && BENCH_TYPE !== 'F16' && BENCH_TYPE !== 'F32') {
  throw new Error('BENCH_TYPE must be BF16, F16 or F32');
}
const PAIR = benchPair(BENCH_TYPE);
const KS = [1, 2, 4, 8, 16];
const PROMPTS = [
  'the quick brown fox began to run across the field',
  'we want to build a network where every answer has a receipt',
  'in the morning the children walk to school with their friend',
  'one day the king found a gold ring near the river'
];

const progress = (line: string) => process.stderr.write(`[bench:verify] ${line}\n`);
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const round = (x: number, digits = 3) => Math.round(x * 10 ** digits) / 10 ** digits;

async function partA(targetPath: string) {
  const llama = await getLlama({
    gpu: false,
    build: 'never',
    maxThreads: THREADS,
    logLevel: LlamaLogLevel.error
  });
  const model = await llama.loadModel({ modelPath: targetPath });
  const context = await model.createContext({ contextSize: 2048, threads: THREADS, sequences: 1 });
  const sequence = context.getSequence();
  const next = { generateNext: { token: true, options: { temperature: 0 } } } as const;
  try {
    const prompt = model.tokenize(PROMPTS[0]);
    let results = await sequence.controlledEvaluate(
      prompt.map((t, i) => (i === prompt.length - 1 ? [t, next] : t))
    );
    let last = results[prompt.length - 1]!.next.token!;
    // Warm up (page in the weights), collecting realistic tokens to use as drafts.
    const path: Token[] = [];
    for (let i = 0; i < 24; i++) {
      path.push(last);
      results = await sequence.controlledEvaluate([[last, next]]);
      last = results[0]!.next.token!;
    }
    // Trials interleave a step, a batch and the sequential steps for every K, and the ratios are
    // taken within a trial: other processes sharing the CPU slow all three alike.
    const stepTimes: number[] = [];
    const batchTimes: Record<number, number[]> = {};
    const sequentialTimes: Record<number, number[]> = {};
    const overStep: Record<number, number[]> = {};
    const overSequential: Record<number, number[]> = {};
    for (const k of KS) {
      batchTimes[k] = [];
      sequentialTimes[k] = [];
      overStep[k] = [];
      overSequential[k] = [];
    }
    const base = sequence.nextTokenIndex;
    const rollback = () =>
      sequence.eraseContextTokenRanges([{ start: base, end: sequence.nextTokenIndex }]);
    for (let trial = 0; trial < TRIALS; trial++) {
      for (const k of KS) {
        const tokens = [last, ...Array.from({ length: k }, (_, i) => path[i % path.length])];
        const steps: number[] = [];
        for (let i = 0; i < 3; i++) {
          const t0 = performance.now();
          await sequence.controlledEvaluate([[last, next]]);
          steps.push(performance.now() - t0);
          await rollback();
        }
        const step = median(steps);
        let t0 = performance.now();
        await sequence.controlledEvaluate(tokens.map((t) => [t, next]));
        const batch = performance.now() - t0;
        await rollback();
        t0 = performance.now();
        for (const t of tokens) await sequence.controlledEvaluate([[t, next]]);
        const sequential = performance.now() - t0;
        await rollback();
        stepTimes.push(step);
        batchTimes[k].push(batch);
        sequentialTimes[k].push(sequential);
        overStep[k].push(batch / step);
        overSequential[k].push(batch / sequential);
      }
    }
    const stepMs = median(stepTimes);
    const batchMs: Record<number, number> = {};
    const sequentialMs: Record<number, number> = {};
    const batchOverStep: Record<number, number> = {};
    const batchOverSequential: Record<number, number> = {};
    for (const k of KS) {
      batchMs[k] = median(batchTimes[k]);
      sequentialMs[k] = median(sequentialTimes[k]);
      batchOverStep[k] = median(overStep[k]);
      batchOverSequential[k] = median(overSequential[k]);
      progress(
        `K=${k}: batch ${batchMs[k].toFixed(2)} ms = ${batchOverStep[k].toFixed(2)} steps; ` +
          `${k + 1} sequential steps ${sequentialMs[k].toFixed(2)} ms (batch/sequential ${batchOverSequential[k].toFixed(2)})`
      );
    }
    progress(`single-token step: ${stepMs.toFixed(2)} ms (median of ${stepTimes.length})`);
    return { stepMs, batchMs, sequentialMs, batchOverStep, batchOverSequential };
  } finally {
    await context.dispose();
    await model.dispose();
    await llama.dispose();
  }
}

interface ModeTotals {
  tokens: number;
  ms: number;
  rounds: number;
  drafted: number;
  accepted: number;
  speculativeRounds: number;
  identical: number;
  runs: number;
  /** tokens/s of this mode ÷ plain, per (prompt, repetition), measured back to back. */
  pairedRatios: number[];
}

async function generate(engine: TargetEngine, options: GenerateOptions) {
  const tokens: number[] = [];
  const t0 = performance.now();
  for await (const event of engine.generate(options)) {
    if (event.type === 'tokens') tokens.push(...event.tokens);
    else return { tokens, ms: performance.now() - t0, stats: event.stats };
  }
  throw new Error('no done event');
}

async function partB(targetPath: string, draftPath: string) {
  const engine = await createTargetEngine({
    modelPath: targetPath,
    threads: THREADS,
    contextSize: 2048,
    maxConcurrent: 1
  });
  const draft = await createDraftModelSource({
    modelPath: draftPath,
    threads: THREADS,
    contextSize: 2048,
    sequences: 1
  });
  const lookup = createPromptLookupSource();
  const modes: Record<
    string,
    { source: DraftSource | null; speculation: 'auto' | 'on' | 'off'; draftLength?: number }
  > = {
    plain: { source: null, speculation: 'off' },
    draft_auto: { source: draft, speculation: 'auto' },
    draft_k4: { source: draft, speculation: 'on', draftLength: 4 },
    lookup_auto: { source: lookup, speculation: 'auto' }
  };
  const totals: Record<string, ModeTotals> = {};
  const divergences: Array<{
    mode: string;
    prompt: string;
    position: number;
    plainTokens: number[];
  }> = [];
  for (const name of Object.keys(modes))
    totals[name] = {
      tokens: 0,
      ms: 0,
      rounds: 0,
      drafted: 0,
      accepted: 0,
      speculativeRounds: 0,
      identical: 0,
      runs: 0,
      pairedRatios: []
    };
  try {
    await generate(engine, { prompt: PROMPTS[0], maxTokens: 16, speculation: 'off' }); // warm-up
    await generate(engine, {
      prompt: PROMPTS[0],
      maxTokens: 16,
      draftSource: draft,
      speculation: 'on'
    });
    for (let rep = 0; rep < REPS; rep++) {
      for (const prompt of PROMPTS) {
        let plainTokens: number[] = [];
        let plainTps = 0;
        for (const [name, mode] of Object.entries(modes)) {
          const r = await generate(engine, {
            prompt,
            maxTokens: TOKENS,
            draftSource: mode.source,
            speculation: mode.speculation,
            draftLength: mode.draftLength
          });
          const tokensPerS = (r.tokens.length / r.ms) * 1000;
          if (name === 'plain') {
            plainTokens = r.tokens;
            plainTps = tokensPerS;
          }
          const t = totals[name];
          t.tokens += r.tokens.length;
          t.ms += r.ms;
          t.rounds += r.stats.rounds;
          t.drafted += r.stats.drafted;
          t.accepted += r.stats.accepted;
          t.runs++;
          t.pairedRatios.push(tokensPerS / plainTps);
          const differsAt = plainTokens.findIndex((x, i) => r.tokens[i] !== x);
          if (differsAt < 0 && r.tokens.length === plainTokens.length) t.identical++;
          else if (differsAt >= 0)
            divergences.push({ mode: name, prompt, position: differsAt, plainTokens });
          progress(
            `${name}: ${r.tokens.length} tokens in ${r.ms.toFixed(0)} ms (${tokensPerS.toFixed(1)} tok/s), ` +
              `accepted ${r.stats.accepted}/${r.stats.drafted}, governor: ${r.stats.governor.reason}`
          );
        }
      }
    }
  } finally {
    await draft.dispose();
    await engine.dispose();
  }
  const tps = (t: ModeTotals) => (t.tokens / t.ms) * 1000;
  const summary = (name: string) => {
    const t = totals[name];
    return {
      tokens_per_s: round(tps(t), 2),
      speedup_vs_plain: round(tps(t) / tps(totals.plain)),
      speedup_vs_plain_paired_median: round(median(t.pairedRatios)),
      acceptance_rate: t.drafted > 0 ? round(t.accepted / t.drafted) : 0,
      committed_tokens_per_round: round(t.tokens / t.rounds),
      drafted: t.drafted,
      accepted: t.accepted,
      outputs_identical_to_plain: `${t.identical}/${t.runs}`
    };
  };
  return {
    plain: summary('plain'),
    draft_model_auto: summary('draft_auto'),
    draft_model_k4: summary('draft_k4'),
    prompt_lookup_auto: summary('lookup_auto'),
    greedy_divergences: await divergenceGaps(targetPath, divergences)
  };
}

/**
 * Where a speculative greedy run differs from the plain one, the target's top-2 logit gap at the
 * first differing position, decoding plainly one token at a time (FIELD-NOTES: batched and
 * single-token CPU logits differ slightly, so only near-ties may flip).
 */
async function divergenceGaps(
  targetPath: string,
  divergences: Array<{ mode: string; prompt: string; position: number; plainTokens: number[] }>
) {
  if (divergences.length === 0) return [];
  const llama = await getLlama({
    gpu: false,
    build: 'never',
    maxThreads: THREADS,
    logLevel: LlamaLogLevel.error
  });
  const model = await llama.loadModel({ modelPath: targetPath });
  const context = await model.createContext({ contextSize: 2048, threads: THREADS, sequences: 1 });
  const sequence = context.getSequence();
  const top2 = { generateNext: { logits: { filter: { tokens: [], includeTop: 2 } } } } as const;
  try {
    const out = [];
    for (const d of divergences) {
      await sequence.clearHistory();
      const prompt = [model.tokens.bos!, ...model.tokenize(d.prompt)];
      const path = [...prompt, ...d.plainTokens.slice(0, d.position)] as Token[];
      await sequence.controlledEvaluate(prompt.slice(0, -1) as Token[]);
      let gap = NaN;
      for (let i = prompt.length - 1; i < path.length; i++) {
        const results = await sequence.controlledEvaluate([
          i === path.length - 1 ? [path[i], top2] : path[i]
        ]);
        if (i === path.length - 1) {
          const top = [...(results[0]?.next.logits ?? new Map()).values()];
          gap = top[0] - top[1];
        }
      }
      out.push({
        mode: d.mode,
        prompt: PROMPTS.indexOf(d.prompt),
        position: d.position,
        top2_gap: round(gap, 4)
      });
    }
    return out;
  } finally {
    await context.dispose();
    await model.dispose();
    await llama.dispose();
  }
}

async function main(): Promise<void> {
  const pair = await ensureModelPair({
    dir: modelsDir(),
    config: PAIR,
    onProgress: progress
  });
  progress(
    `threads ${THREADS}, ${TOKENS} tokens x ${PROMPTS.length} prompts, ${TRIALS} trials per verify size`
  );
  const a = await partA(pair.targetPath);
  const b = await partB(pair.targetPath, pair.draftPath);
  const result = {
    bench: 'verify',
    model: {
      target_params: pair.manifest.target.parameters,
      draft_params: pair.manifest.draft.parameters,
      type: PAIR.tensorType,
      alpha: PAIR.alpha
    },
    threads: THREADS,
    step_ms: round(a.stepMs),
    verify_batch_over_step_k8: round(a.batchOverStep[8]),
    verify_batch_over_step: Object.fromEntries(KS.map((k) => [`k${k}`, round(a.batchOverStep[k])])),
    verify_batch_over_sequential: Object.fromEntries(
      KS.map((k) => [`k${k}`, round(a.batchOverSequential[k])])
    ),
    verify_batch_ms: Object.fromEntries(KS.map((k) => [`k${k}`, round(a.batchMs[k], 2)])),
    speculative_speedup: b.draft_model_auto.speedup_vs_plain,
    speculative_speedup_k4: b.draft_model_k4.speedup_vs_plain,
    prompt_lookup_speedup: b.prompt_lookup_auto.speedup_vs_plain,
    modes: b,
    goals: { verify_batch_over_step_k8: '<= 1.5', speculative_speedup: '>= 1.5' },
    note: 'wall-clock on a shared 2-core machine; other processes may have used the CPU during the run',
    load_average: (await import('node:os')).loadavg().map((x) => round(x, 2))
  };
  process.stdout.write(JSON.stringify(result) + '\n');
}

main().catch((err: unknown) => {
  process.stderr.write(`[bench:verify] error: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exitCode = 1;
});
