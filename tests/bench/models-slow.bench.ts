/**
 * `npm run bench:models`: measures the generated SLOW pair (a ~0.6B-parameter Q8_0 target and its
 * first layer as the draft; generated on demand into the models dir, ~30 s the first time) the
 * way a self-hoster's CPU oracle would run it. Prints progress to stderr and ONE JSON object as
 * the last stdout line. It measures; it asserts nothing about speed.
 *
 * 1. Plain greedy decoding of BENCH_TOKENS tokens, target and draft, one llama.cpp thread each
 *    (median tok/s over BENCH_RUNS runs per prompt, the KV cache cleared between runs).
 * 2. Batched verify: one controlledEvaluate of [last, d1..dK] (K = 4, 8) as a multiple of one
 *    single-token step and as a fraction of K+1 single steps, ratios taken within a trial so
 *    that CPU contention from other processes affects both sides alike.
 * 3. Greedy acceptance: along the target's greedy path from each prompt, how often the draft's
 *    argmax equals the target's; also output variety (distinct tokens / positions) and the
 *    smallest top-2 logit gap of the target (ln p1 - ln p2) with the count of near-ties < 0.01.
 *    With SLOW_ALPHAS=0.03,0.05 the acceptance is also measured for those alphas (each target
 *    regenerated into a temporary directory, which is removed afterwards).
 *
 * Env: BENCH_THREADS (default 1), BENCH_TOKENS (default 64), BENCH_RUNS (default 3),
 * BENCH_TRIALS verify trials (default 7), ACCEPT_TOKENS per prompt (default 64), SLOW_ALPHAS,
 * SLOW_TYPE Q8_0 (default) or Q4_0 (the same model in Q4_0 with a Q8_0 output head), VERIFY_KS
 * draft lengths to time (default 4,8).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  getLlama,
  LlamaLogLevel,
  type Llama,
  type LlamaContextSequence,
  type LlamaModel,
  type Token
} from 'node-llama-cpp';
import { modelsDir } from '../../src/lib/server/data-dir.js';
import { ensureModelPair, slowPair, type PairConfig } from '../../native-oracle/models/index.js';

const THREADS = positiveInt('BENCH_THREADS', 1);
const TOKENS = positiveInt('BENCH_TOKENS', 64);
const RUNS = positiveInt('BENCH_RUNS', 3);
const TRIALS = positiveInt('BENCH_TRIALS', 7);
const ACCEPT_TOKENS = positiveInt('ACCEPT_TOKENS', 64);
const ALPHAS = (process.env.SLOW_ALPHAS ?? '')
  .split(',')
  .filter((s) => s.trim() !== '')
  .map((s) => {
    const a = Number(s);
    if (!(a >= 0 && a <= 4)) throw new Error(`SLOW_ALPHAS: ${s} is not a number in 0..4`);
    return a;
  });
const SLOW_TYPE = (process.env.SLOW_TYPE ?? 'Q8_0').toUpperCase();
if (SLOW_TYPE !== 'Q8_0' && SLOW_TYPE !== 'Q4_0' && SLOW_TYPE !== 'BF16')
  throw new Error('SLOW_TYPE must be Q8_0, Q4_0 or BF16');
const PAIR = slowPair(SLOW_TYPE);
const VERIFY_KS = (process.env.VERIFY_KS ?? '4,8').split(',').map((s) => {
  const k = Number(s);
  if (!Number.isSafeInteger(k) || k < 1 || k > 32)
    throw new Error(`VERIFY_KS: ${s} is not in 1..32`);
  return k;
});
const PROMPTS = [
  'the quick brown fox began to run across the field',
  'we want to build a network where every answer has a receipt',
  'in the morning the children walk to school with their friend',
  'one day the king found a gold ring near the river'
];
/** A top-2 logit gap below this can flip between batched and single evaluation (FIELD-NOTES). */
const NEAR_TIE_GAP = 0.01;

function positiveInt(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 1) throw new Error(`${name} must be a positive integer`);
  return n;
}

const progress = (line: string) => process.stderr.write(`[bench:models] ${line}\n`);
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const round = (x: number, digits = 3) => Math.round(x * 10 ** digits) / 10 ** digits;
const load = () => loadavg().map((x) => round(x, 2));
const greedy = { generateNext: { token: true, options: { temperature: 0 } } } as const;

async function clear(sequence: LlamaContextSequence): Promise<void> {
  await sequence.eraseContextTokenRanges([{ start: 0, end: sequence.nextTokenIndex }]);
}

/** Evaluates the prompt, then `count` greedy single steps; returns the tokens and decode time. */
async function decode(sequence: LlamaContextSequence, prompt: Token[], count: number) {
  const results = await sequence.controlledEvaluate(
    prompt.map((t, i) => (i === prompt.length - 1 ? [t, greedy] : t))
  );
  let last = results[prompt.length - 1]!.next.token!;
  const tokens: Token[] = [];
  const t0 = performance.now();
  for (let i = 0; i < count; i++) {
    tokens.push(last);
    const [step] = await sequence.controlledEvaluate([[last, greedy]]);
    last = step!.next.token!;
  }
  return { tokens, ms: performance.now() - t0 };
}

async function decodeSpeed(model: LlamaModel, sequence: LlamaContextSequence) {
  const rates: number[] = [];
  await decode(sequence, model.tokenize(PROMPTS[0]!), 8); // pages the weights in
  await clear(sequence);
  for (let run = 0; run < RUNS; run++) {
    for (const text of PROMPTS) {
      const { ms } = await decode(sequence, model.tokenize(text), TOKENS);
      rates.push((TOKENS * 1000) / ms);
      await clear(sequence);
    }
  }
  return { tokensPerSecond: round(median(rates), 2), runs: rates.length };
}

/** Batch of K+1 tokens ÷ one single-token step, and ÷ K+1 single steps; medians over trials. */
async function verifyCost(model: LlamaModel, sequence: LlamaContextSequence) {
  const { tokens: path } = await decode(
    sequence,
    model.tokenize(PROMPTS[1]!),
    Math.max(16, ...VERIFY_KS)
  );
  const last = path[path.length - 1]!;
  const base = sequence.nextTokenIndex;
  const rollback = () =>
    sequence.eraseContextTokenRanges([{ start: base, end: sequence.nextTokenIndex }]);
  const ratios: Record<number, number[]> = Object.fromEntries(VERIFY_KS.map((k) => [k, []]));
  const overSequential: Record<number, number[]> = Object.fromEntries(
    VERIFY_KS.map((k) => [k, []])
  );
  const steps: number[] = [];
  for (let trial = 0; trial < TRIALS; trial++) {
    for (const k of VERIFY_KS) {
      let t0 = performance.now();
      await sequence.controlledEvaluate([[last, greedy]]);
      const step = performance.now() - t0;
      await rollback();
      const batch = [last, ...path.slice(0, k)];
      t0 = performance.now();
      await sequence.controlledEvaluate(batch.map((t) => [t, greedy]));
      const batchMs = performance.now() - t0;
      ratios[k]!.push(batchMs / step);
      await rollback();
      t0 = performance.now();
      for (const t of batch) await sequence.controlledEvaluate([[t, greedy]]);
      overSequential[k]!.push(batchMs / (performance.now() - t0));
      await rollback();
      steps.push(step);
    }
  }
  await clear(sequence);
  return {
    stepMs: round(median(steps), 2),
    batchOverStep: Object.fromEntries(VERIFY_KS.map((k) => [k, round(median(ratios[k]!), 2)])),
    batchOverSequential: Object.fromEntries(
      VERIFY_KS.map((k) => [k, round(median(overSequential[k]!), 2)])
    )
  };
}

/** Greedy acceptance of the draft along the target's greedy paths, with variety and near-ties. */
async function acceptance(
  target: { model: LlamaModel; sequence: LlamaContextSequence },
  draft: { model: LlamaModel; sequence: LlamaContextSequence }
) {
  let agree = 0;
  let positions = 0;
  let distinct = 0;
  let nearTies = 0;
  let minGap = Infinity;
  const withProbabilities = {
    generateNext: { token: true, probabilities: true, options: { temperature: 0 } }
  } as const;
  for (const text of PROMPTS) {
    const prompt = target.model.tokenize(text);
    const { tokens } = await decode(target.sequence, prompt, ACCEPT_TOKENS);
    await clear(target.sequence);
    // The target's gaps along its own path, in one batch (gap = ln p1 - ln p2 = logit gap).
    const full = [...prompt, ...tokens.slice(0, -1)];
    const scored = await target.sequence.controlledEvaluate(
      full.map((t, i) => (i >= prompt.length - 1 ? [t, withProbabilities] : t))
    );
    await clear(target.sequence);
    const drafted = await draft.sequence.controlledEvaluate(
      full.map((t, i) => (i >= prompt.length - 1 ? [t, greedy] : t))
    );
    await clear(draft.sequence);
    for (let i = 0; i < tokens.length; i++) {
      const at = prompt.length - 1 + i;
      if (drafted[at]!.next.token === tokens[i]) agree++;
      const probs = [...scored[at]!.next.probabilities!.values()].sort((a, b) => b - a);
      const gap = Math.log(probs[0]!) - Math.log(Math.max(probs[1] ?? 0, 1e-30));
      minGap = Math.min(minGap, gap);
      if (gap < NEAR_TIE_GAP) nearTies++;
      positions++;
    }
    distinct += new Set(tokens).size;
  }
  return {
    acceptance: round(agree / positions),
    positions,
    distinctRatio: round(distinct / positions),
    minTop2Gap: round(minGap, 4),
    nearTies
  };
}

async function open(llama: Llama, path: string) {
  const model = await llama.loadModel({ modelPath: path });
  const context = await model.createContext({ contextSize: 512, threads: THREADS, sequences: 1 });
  return { model, context, sequence: context.getSequence() };
}

async function alphaSweep(llama: Llama, draftPath: string) {
  const results: Array<{ alpha: number } & Awaited<ReturnType<typeof acceptance>>> = [];
  if (ALPHAS.length === 0) return results;
  const dir = await mkdtemp(join(tmpdir(), 'shard-slow-alpha-'));
  const draft = await open(llama, draftPath);
  try {
    for (const alpha of ALPHAS) {
      const config: PairConfig = { ...PAIR, alpha, name: `sweep-${PAIR.name}` };
      const pair = await ensureModelPair({ dir, config, prefix: 'sweep-', onProgress: progress });
      const target = await open(llama, pair.targetPath);
      const measured = await acceptance(target, draft);
      progress(`alpha ${alpha}: ${JSON.stringify(measured)}`);
      results.push({ alpha, ...measured });
      await target.context.dispose();
      await target.model.dispose();
    }
  } finally {
    await draft.context.dispose();
    await draft.model.dispose();
    await rm(dir, { recursive: true, force: true });
  }
  return results;
}

async function main(): Promise<void> {
  const loadBefore = load();
  const t0 = performance.now();
  const pair = await ensureModelPair({ dir: modelsDir(), config: PAIR, onProgress: progress });
  const ensureSeconds = round((performance.now() - t0) / 1000, 1);
  const llama = await getLlama({
    gpu: false,
    build: 'never',
    maxThreads: THREADS,
    logLevel: LlamaLogLevel.error
  });
  try {
    const target = await open(llama, pair.targetPath);
    const draft = await open(llama, pair.draftPath);
    progress('decode speed (target)');
    const targetSpeed = await decodeSpeed(target.model, target.sequence);
    progress(`target ${targetSpeed.tokensPerSecond} tok/s`);
    const draftSpeed = await decodeSpeed(draft.model, draft.sequence);
    progress(`draft ${draftSpeed.tokensPerSecond} tok/s`);
    const verify = await verifyCost(target.model, target.sequence);
    progress(`verify ${JSON.stringify(verify)}`);
    const accepted = await acceptance(target, draft);
    progress(`acceptance at alpha ${PAIR.alpha}: ${JSON.stringify(accepted)}`);
    for (const m of [target, draft]) {
      await m.context.dispose();
      await m.model.dispose();
    }
    const sweep = await alphaSweep(llama, pair.draftPath);
    const summary = {
      bench: 'models-slow',
      type: PAIR.tensorType,
      threads: THREADS,
      tokens: TOKENS,
      generated: pair.generated,
      ensureSeconds,
      target: { parameters: pair.manifest.target.parameters, bytes: pair.manifest.target.bytes },
      draft: { parameters: pair.manifest.draft.parameters, bytes: pair.manifest.draft.bytes },
      targetTokensPerSecond: targetSpeed.tokensPerSecond,
      draftTokensPerSecond: draftSpeed.tokensPerSecond,
      draftOverTarget: round(draftSpeed.tokensPerSecond / targetSpeed.tokensPerSecond, 2),
      verify,
      acceptance: { alpha: PAIR.alpha, ...accepted },
      sweep,
      loadAverage: { before: loadBefore, after: load() }
    };
    process.stdout.write(JSON.stringify(summary) + '\n');
  } finally {
    await llama.dispose();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(
    `[bench:models] error: ${err instanceof Error ? err.message : String(err)}\n`
  );
  process.exitCode = 1;
});
