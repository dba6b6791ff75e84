/**
 * Deterministic, seeded generator of a llama-architecture TARGET model and a cheaper DRAFT model
 * with the same tokenizer. The draft is the target's first `draftLayers` layers (same embeddings,
 * same output head); the target's extra layers have their residual contribution (attn_output and
 * ffn_down) scaled by `alpha`. With alpha = 0 the pair is identical (acceptance 1); raising alpha
 * moves the target away from the draft, so greedy acceptance is tunable.
 *
 * Every tensor is drawn from its own PRNG stream keyed by (seed, tensor name), so the draft's
 * tensors are bit-identical to the target's corresponding ones and regeneration is reproducible.
 */
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import {
  dequantize,
  isQuantized,
  quantizeQ4_0,
  quantizeQ8_0,
  writeGguf,
  type GgufTensor,
  type GgufValue,
  type TensorTypeName
} from './gguf-writer.js';
import { ReferenceModel, top2, type ReferenceDims } from './reference.js';
import { CHAT_TEMPLATE, SPACE_MARK, buildVocabulary, type Vocabulary } from './vocab.js';

/** llama_ftype of a file whose matrices are (mostly) of one type: LLAMA_FTYPE_MOSTLY_*. */
const FILE_TYPE = { F32: 0, F16: 1, Q4_0: 2, Q8_0: 7, BF16: 32 } as const;

/** Bumped whenever the output of the generator changes for the same config. */
export const GENERATOR_VERSION = 4;

export interface PairConfig {
  /** `default` (tests, oracle) or `bench` (benchmark only). */
  name: string;
  seed: number;
  nEmbd: number;
  nHead: number;
  nHeadKv: number;
  nFf: number;
  targetLayers: number;
  draftLayers: number;
  contextLength: number;
  /** Residual scale of the target's layers beyond the draft's. */
  alpha: number;
  tensorType: TensorTypeName;
  /** Std of token embeddings. */
  embedStd: number;
  /** Weight std = gain / sqrt(fan_in) for attention / FFN / output matrices. */
  attnGain: number;
  ffnGain: number;
  outputGain: number;
  ropeFreqBase: number;
  rmsEps: number;
  /** Greedy tokens per measurement prompt when estimating acceptance (0 = skip). */
  measureTokens: number;
}

/**
 * The default pair: 128 dims, 4-layer target, 1-layer draft, F32, a few MB each.
 * alpha was chosen from a sweep with the TypeScript reference (`npm run models -- --sweep`, 6
 * prompts x 48 tokens): alpha 0 → 1.00, 0.04 → 0.91, 0.06 → 0.88, 0.08 → 0.85, 0.10 → 0.80,
 * 0.15 → 0.73, 0.20 → 0.64, 0.30 → 0.50. The default pair measures 0.82 over 6 x 64 tokens.
 */
export const DEFAULT_PAIR: PairConfig = {
  name: 'default',
  seed: 20261121,
  nEmbd: 128,
  nHead: 4,
  nHeadKv: 2,
  nFf: 384,
  targetLayers: 4,
  draftLayers: 1,
  contextLength: 4096,
  alpha: 0.1,
  tensorType: 'F32',
  embedStd: 1,
  attnGain: 1,
  ffnGain: 1,
  // Logit std ~8: top-2 gaps are mostly > 0.1, so batched-vs-single numeric noise rarely flips them.
  outputGain: 8,
  ropeFreqBase: 10000,
  rmsEps: 1e-5,
  measureTokens: 64
};

/**
 * The benchmark pair: ~141M-parameter target (11 layers, 1024 dims; a decode step reads ~280 MB)
 * and a 1-layer draft (~1/8 of those bytes). Only `npm run bench:verify` (and the mesh bench) use
 * it; generated on demand with `npm run models -- --bench`. Greedy acceptance measured with
 * llama.cpp over 4 prompts x 32 tokens: alpha 0.06 → 0.70, 0.04 → 0.88 (the default).
 *
 * Weights are BF16: as many bytes as F16 (decoding stays memory-bound), but a BF16 weight becomes
 * an F32 by a 16-bit shift and CPUs with AVX512-BF16 multiply it natively, while F16 needs a
 * conversion per use. Measured here (1 thread, median of 15 interleaved trials), a batch of 9
 * tokens cost 2.0-3.0 single steps with BF16 against 3.5-4.2 with F16. `benchPair('F16')` and
 * `benchPair('F32')` give the same model in the other types for comparison.
 */
export const BENCH_PAIR: PairConfig = {
  ...DEFAULT_PAIR,
  name: 'bench',
  seed: 20261122,
  nEmbd: 1024,
  nHead: 16,
  nHeadKv: 8,
  nFf: 2816,
  targetLayers: 11,
  draftLayers: 1,
  alpha: 0.04,
  tensorType: 'BF16',
  measureTokens: 0
};

/** The benchmark pair in another weight type; files are prefixed `bench-<type>-` (BF16: `bench-`). */
export function benchPair(type: TensorTypeName): PairConfig {
  return type === BENCH_PAIR.tensorType
    ? BENCH_PAIR
    : { ...BENCH_PAIR, name: `bench-${type.toLowerCase()}`, tensorType: type };
}

/**
 * The slow pair: a realistic self-hoster's CPU oracle, for benchmarks only (`npm run
 * bench:models`; generated on demand with `npm run models -- --slow`, never by `npm test`).
 * Target: 966.5M parameters (20 layers, 2048 dims, GQA 16/8 heads, FFN 5632), Q8_0 with F32
 * norms, 1027.3 MB. Draft: its first layer with the same embeddings and head, 69.9M parameters,
 * 74.4 MB. `slowPair('Q4_0')` is the same model in Q4_0 (549.8 MB + 45.2 MB; Q8_0 output head).
 *
 * Measured on the 2-core dev machine (AMD EPYC, AVX-512), shared with other jobs, so the load
 * average is given with each figure (tests/bench/models-slow.bench.ts, 1 llama.cpp thread,
 * plain greedy decoding of 64 tokens, median over 4 prompts x 2-3 runs):
 * - Generation (both files, sha256 included): 47 s at load ~1-3, 74-86 s at load ~6-11; peak
 *   RSS 216 MB (one tensor at a time: the largest F32 tensor is 46 MB). A valid cache costs one
 *   sha256 pass over 1.1 GB (1-4 s).
 * - Decoding at load ~0.5-1: target 21.9-23.9 tok/s (4 runs), draft 306-346 tok/s, 14-15x the
 *   target. At load 6-11 (other jobs' tests, this bench at nice 10) the target fell to 7.7 tok/s.
 *   A 12-layer (589M) first try ran at 39 tok/s, hence 20 layers. Q4_0: target 36-38 tok/s,
 *   draft 460-494 tok/s.
 * - Batched verify at load ~0.5-1 (one controlledEvaluate of [last, d1..dK], medians of 7
 *   trials): K=4 costs 6.2-6.6 single steps, 1.06-1.21x FIVE sequential steps; K=8 costs
 *   6.9-7.1 steps, 0.67-0.69x nine sequential steps. So with Q8_0 on this CPU a small batch is
 *   no cheaper per token than decoding one by one (BF16's 9-token batch costs ~2.5 steps here):
 *   speculation on this pair at 1 thread gains much less than the acceptance rate suggests, or
 *   loses at K=4. Judge it end to end. Q4_0 batches better: K=4 3.0-3.2 steps (0.61x
 *   sequential), K=8 4.7-4.8 steps (0.52x). Sweep at load ~1.1 (VERIFY_KS=1,2,3,4,6,8,12,16, 5
 *   trials), batch / (K+1) sequential steps: Q8_0 1.16, 1.14, 1.00, 1.13, 0.97, 0.67, 0.56,
 *   0.48; Q4_0 0.96, 0.83, 0.49, 0.61, 0.65, 0.49, 0.48, 0.33. Q8_0 batching pays only from K=8.
 * - Greedy acceptance (llama.cpp, draft argmax vs target argmax along the target's greedy path,
 *   4 prompts x 64 tokens): alpha 0.02 → 0.90, 0.04 → 0.85, 0.05 → 0.81 (the default), 0.06 →
 *   0.73, 0.08 → 0.61 (over 4 x 48: 0.03 → 0.83, 0.04 → 0.83, 0.05 → 0.81). At 0.05 the target's
 *   output is varied (every prompt's 64 tokens distinct) with one top-2 logit gap below 0.01
 *   (0.0058) in 256 positions; in Q4_0 the same alpha measures 0.78 with none below 0.01.
 * Gains are the default pair's (embedStd 1, attn/ffn 1, output 8), as for the bench pair.
 */
export const SLOW_PAIR: PairConfig = {
  ...DEFAULT_PAIR,
  name: 'slow',
  seed: 20261202,
  nEmbd: 2048,
  nHead: 16,
  nHeadKv: 8,
  nFf: 5632,
  targetLayers: 20,
  draftLayers: 1,
  alpha: 0.05,
  tensorType: 'Q8_0',
  measureTokens: 0
};

/** Weight types the slow pair can be written in. */
export type SlowPairType = 'Q8_0' | 'Q4_0' | 'BF16';

/**
 * The slow pair in another weight type: Q4_0 (output head Q8_0) or BF16 (1.9 GB: about 11 tok/s
 * on one thread here, but a batched verify costs far fewer single steps than with Q8_0, see
 * above); files are prefixed `slow-q4_0-` / `slow-bf16-` (Q8_0: `slow-`).
 */
export function slowPair(type: SlowPairType): PairConfig {
  return type === SLOW_PAIR.tensorType
    ? SLOW_PAIR
    : { ...SLOW_PAIR, name: `slow-${type.toLowerCase()}`, tensorType: type };
}

/** Prompts whose greedy continuations define the manifest's expected acceptance. */
export const MEASUREMENT_PROMPTS: readonly string[] = [
  'the quick brown fox began to run across the field',
  'we want to build a network where every answer has a receipt',
  'my mother told me a story about the sea and the old ship',
  'in the morning the children walk to school with their friend',
  'this model will write some word and then stop',
  'one day the king found a gold ring near the river'
];

export interface AcceptanceEstimate {
  /** Per-position greedy agreement: P(draft argmax == target argmax) along target greedy paths. */
  acceptance: number;
  positions: number;
  /** Distinct tokens in the target's greedy continuations / positions (output variety). */
  distinctRatio: number;
  /** Smallest top-2 logit gap of the target seen (near-ties make batched vs single eval differ). */
  minTop2Gap: number;
  /** Positions whose target top-2 gap is below 0.01. */
  nearTies: number;
  /** The target's greedy continuation of each measurement prompt (reference computation). */
  continuations: number[][];
  /** The target's top-2 logit gap at each continuation position (4 decimals). */
  gaps: number[][];
}

export interface ModelFileInfo {
  file: string;
  bytes: number;
  sha256: string;
  layers: number;
  parameters: number;
}

export interface PairManifest {
  generatorVersion: number;
  config: PairConfig;
  configHash: string;
  vocabSize: number;
  tokenizerFingerprint: string;
  target: ModelFileInfo;
  draft: ModelFileInfo;
  /** Measured with the TypeScript reference (null when measureTokens is 0). */
  expected: AcceptanceEstimate | null;
  /** Token ids (with BOS) of MEASUREMENT_PROMPTS, as the vocabulary spells them. */
  measurementPrompts: number[][];
  createdAt: string;
}

/** Stable hash of what determines the files' bytes. */
export function configHash(config: PairConfig): string {
  const { measureTokens: _ignored, ...rest } = config;
  return createHash('sha256')
    .update(JSON.stringify({ v: GENERATOR_VERSION, ...rest }))
    .digest('hex')
    .slice(0, 16);
}

/** xoshiro128** seeded from sha256(seed, stream): one independent stream per tensor. */
export function createRng(seed: number, stream: string): () => number {
  const h = createHash('sha256').update(`${seed}:${stream}`).digest();
  let a = h.readUInt32LE(0) | 1;
  let b = h.readUInt32LE(4);
  let c = h.readUInt32LE(8);
  let d = h.readUInt32LE(12);
  return () => {
    const result = Math.imul(rotl(Math.imul(b, 5), 7), 9) >>> 0;
    const t = b << 9;
    c ^= a;
    d ^= b;
    b ^= c;
    a ^= d;
    c ^= t;
    d = rotl(d, 11);
    return result / 4294967296;
  };
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

function gaussian(count: number, std: number, rng: () => number): Float32Array {
  const out = new Float32Array(count);
  for (let i = 0; i < count; i += 2) {
    const u = 1 - rng();
    const v = rng();
    const r = Math.sqrt(-2 * Math.log(u)) * std;
    out[i] = r * Math.cos(2 * Math.PI * v);
    if (i + 1 < count) out[i + 1] = r * Math.sin(2 * Math.PI * v);
  }
  return out;
}

interface TensorPlan {
  name: string;
  shape: [number] | [number, number];
  make: () => Float32Array;
  /** Norm weights stay F32 (llama.cpp expects it); matrices take the config's type. */
  isNorm: boolean;
}

/**
 * The stored type of one tensor. Norm vectors stay F32, as llama.cpp's quantizer leaves 1-D
 * tensors. Matrices, token_embd included, take the pair's type, as in llama.cpp's own Q8_0 files.
 * In a Q4_0 pair the output head is Q8_0: llama.cpp keeps that head at higher precision (Q6_K,
 * which this writer does not produce), since 4-bit logits would flip many greedy choices.
 */
export function storedType(
  config: Pick<PairConfig, 'tensorType'>,
  plan: TensorPlanLike
): TensorTypeName {
  if (plan.isNorm) return 'F32';
  if (config.tensorType === 'Q4_0' && plan.name === 'output.weight') return 'Q8_0';
  return config.tensorType;
}

/** What storedType needs to know about a tensor. */
export interface TensorPlanLike {
  name: string;
  isNorm: boolean;
}

/** Every tensor of the target (layers 0..targetLayers-1), in GGUF order. */
function planTensors(config: PairConfig, vocab: Vocabulary): TensorPlan[] {
  const nVocab = vocab.tokens.length;
  const headDim = config.nEmbd / config.nHead;
  const nKv = config.nHeadKv * headDim;
  const ones = (n: number) => () => new Float32Array(n).fill(1);
  const matrix = (name: string, nIn: number, nOut: number, gain: number, scale = 1) => ({
    name,
    shape: [nIn, nOut] as [number, number],
    isNorm: false,
    make: () => {
      const w = gaussian(nIn * nOut, (gain * scale) / Math.sqrt(nIn), createRng(config.seed, name));
      return w;
    }
  });
  const plans: TensorPlan[] = [
    {
      name: 'token_embd.weight',
      shape: [config.nEmbd, nVocab],
      isNorm: false,
      make: () =>
        gaussian(
          config.nEmbd * nVocab,
          config.embedStd,
          createRng(config.seed, 'token_embd.weight')
        )
    }
  ];
  for (let l = 0; l < config.targetLayers; l++) {
    const scale = l < config.draftLayers ? 1 : config.alpha;
    const p = `blk.${l}.`;
    plans.push(
      {
        name: p + 'attn_norm.weight',
        shape: [config.nEmbd],
        isNorm: true,
        make: ones(config.nEmbd)
      },
      matrix(p + 'attn_q.weight', config.nEmbd, config.nEmbd, config.attnGain),
      matrix(p + 'attn_k.weight', config.nEmbd, nKv, config.attnGain),
      matrix(p + 'attn_v.weight', config.nEmbd, nKv, config.attnGain),
      matrix(p + 'attn_output.weight', config.nEmbd, config.nEmbd, config.attnGain, scale),
      {
        name: p + 'ffn_norm.weight',
        shape: [config.nEmbd],
        isNorm: true,
        make: ones(config.nEmbd)
      },
      matrix(p + 'ffn_gate.weight', config.nEmbd, config.nFf, config.ffnGain),
      matrix(p + 'ffn_up.weight', config.nEmbd, config.nFf, config.ffnGain),
      matrix(p + 'ffn_down.weight', config.nFf, config.nEmbd, config.ffnGain, scale)
    );
  }
  plans.push(
    { name: 'output_norm.weight', shape: [config.nEmbd], isNorm: true, make: ones(config.nEmbd) },
    {
      name: 'output.weight',
      shape: [config.nEmbd, nVocab],
      isNorm: false,
      make: () => {
        const w = gaussian(
          config.nEmbd * nVocab,
          config.outputGain / Math.sqrt(config.nEmbd),
          createRng(config.seed, 'output.weight')
        );
        // Control, unknown and byte tokens get a zero output row: logit 0 against typical maxima
        // of ~10+, so they are never predicted (wllama cannot emit byte tokens >= 0x80 anyway).
        for (const id of vocab.silentIds) w.fill(0, id * config.nEmbd, (id + 1) * config.nEmbd);
        return w;
      }
    }
  );
  return plans;
}

function metadataFor(
  config: PairConfig,
  vocab: Vocabulary,
  layers: number,
  role: 'target' | 'draft'
): Array<[string, GgufValue]> {
  const headDim = config.nEmbd / config.nHead;
  return [
    ['general.architecture', { type: 'string', value: 'llama' }],
    ['general.name', { type: 'string', value: `shard-${config.name}-${role}` }],
    ['general.file_type', { type: 'uint32', value: FILE_TYPE[config.tensorType] }],
    ['llama.vocab_size', { type: 'uint32', value: vocab.tokens.length }],
    ['llama.context_length', { type: 'uint32', value: config.contextLength }],
    ['llama.embedding_length', { type: 'uint32', value: config.nEmbd }],
    ['llama.block_count', { type: 'uint32', value: layers }],
    ['llama.feed_forward_length', { type: 'uint32', value: config.nFf }],
    ['llama.attention.head_count', { type: 'uint32', value: config.nHead }],
    ['llama.attention.head_count_kv', { type: 'uint32', value: config.nHeadKv }],
    ['llama.rope.dimension_count', { type: 'uint32', value: headDim }],
    ['llama.rope.freq_base', { type: 'float32', value: config.ropeFreqBase }],
    ['llama.attention.layer_norm_rms_epsilon', { type: 'float32', value: config.rmsEps }],
    ['tokenizer.ggml.model', { type: 'string', value: 'llama' }],
    ['tokenizer.ggml.tokens', { type: 'array', itemType: 'string', value: vocab.tokens }],
    ['tokenizer.ggml.scores', { type: 'array', itemType: 'float32', value: vocab.scores }],
    ['tokenizer.ggml.token_type', { type: 'array', itemType: 'int32', value: vocab.types }],
    ['tokenizer.ggml.unknown_token_id', { type: 'uint32', value: vocab.unkId }],
    ['tokenizer.ggml.bos_token_id', { type: 'uint32', value: vocab.bosId }],
    ['tokenizer.ggml.eos_token_id', { type: 'uint32', value: vocab.eosId }],
    ['tokenizer.ggml.eot_token_id', { type: 'uint32', value: vocab.imEndId }],
    ['tokenizer.ggml.add_bos_token', { type: 'bool', value: true }],
    ['tokenizer.ggml.add_eos_token', { type: 'bool', value: false }],
    ['tokenizer.chat_template', { type: 'string', value: CHAT_TEMPLATE }]
  ];
}

/** Token ids of a lowercase word sentence (BOS + `▁word` tokens); throws on out-of-vocab words. */
export function wordTokens(vocab: Vocabulary, sentence: string): number[] {
  const index = new Map(vocab.tokens.map((t, i) => [typeof t === 'string' ? t : '', i]));
  return [
    vocab.bosId,
    ...sentence.split(' ').map((w) => {
      const id = index.get(SPACE_MARK + w);
      if (id === undefined) throw new Error(`measurement word not in vocabulary: ${w}`);
      return id;
    })
  ];
}

function parameterCount(plans: TensorPlan[]): number {
  return plans.reduce((sum, p) => sum + p.shape.reduce((a, b) => a * b, 1), 0);
}

/**
 * Predicts greedy acceptance with the TypeScript reference: along the target's greedy path from
 * each measurement prompt, how often the draft's argmax equals the target's.
 */
export function estimateAcceptance(
  config: PairConfig,
  vocab = buildVocabulary()
): AcceptanceEstimate {
  const cache = new Map<string, Float32Array>();
  const plans = new Map(planTensors(config, vocab).map((p) => [p.name, p]));
  const lookup = (name: string) => {
    let w = cache.get(name);
    if (!w) {
      const plan = plans.get(name);
      if (!plan) throw new Error(`no tensor ${name}`);
      w = plan.make();
      // A quantized pair is measured on the values llama.cpp will read, not the F32 draws.
      const type = storedType(config, plan);
      if (isQuantized(type))
        w = dequantize(type, type === 'Q8_0' ? quantizeQ8_0(w) : quantizeQ4_0(w));
      cache.set(name, w);
    }
    return w;
  };
  const dims: ReferenceDims = {
    nVocab: vocab.tokens.length,
    nEmbd: config.nEmbd,
    nHead: config.nHead,
    nHeadKv: config.nHeadKv,
    nFf: config.nFf,
    nLayers: config.targetLayers,
    ropeFreqBase: config.ropeFreqBase,
    rmsEps: config.rmsEps
  };
  let agree = 0;
  let positions = 0;
  let nearTies = 0;
  let minGap = Infinity;
  let distinct = 0;
  const continuations: number[][] = [];
  const gaps: number[][] = [];
  for (const sentence of MEASUREMENT_PROMPTS) {
    const tokens: number[] = [];
    const tokenGaps: number[] = [];
    const model = new ReferenceModel(dims, lookup, config.draftLayers);
    const prompt = wordTokens(vocab, sentence);
    let out: ReturnType<ReferenceModel['step']> | null = null;
    for (const t of prompt) out = model.step(t);
    const seen = new Set<number>();
    for (let i = 0; i < config.measureTokens && out; i++) {
      const target = top2(out.logits);
      const draft = top2(out.earlyLogits!);
      if (draft.best === target.best) agree++;
      positions++;
      minGap = Math.min(minGap, target.gap);
      if (target.gap < 0.01) nearTies++;
      seen.add(target.best);
      tokens.push(target.best);
      tokenGaps.push(Math.round(target.gap * 1e4) / 1e4);
      out = model.step(target.best);
    }
    distinct += seen.size;
    continuations.push(tokens);
    gaps.push(tokenGaps);
  }
  return {
    acceptance: positions ? agree / positions : 0,
    positions,
    distinctRatio: positions ? distinct / positions : 0,
    minTop2Gap: minGap,
    nearTies,
    continuations,
    gaps
  };
}

export interface GeneratePairOptions {
  config: PairConfig;
  dir: string;
  /** Files are `<prefix>target.gguf`, `<prefix>draft.gguf`, `<prefix>models.json`. Default ''. */
  prefix?: string;
  onProgress?: (line: string) => void;
}

/** Writes target + draft GGUF files into `dir` and returns the manifest (not written here). */
export async function generatePair(options: GeneratePairOptions): Promise<PairManifest> {
  const { config, dir } = options;
  const prefix = options.prefix ?? '';
  const progress = options.onProgress ?? (() => undefined);
  if (config.nEmbd % config.nHead !== 0 || config.nHead % config.nHeadKv !== 0) {
    throw new Error('nEmbd must divide by nHead, and nHead by nHeadKv');
  }
  if (config.draftLayers < 1 || config.draftLayers >= config.targetLayers) {
    throw new Error('draftLayers must be in 1..targetLayers-1');
  }
  const vocab = buildVocabulary();
  const plans = planTensors(config, vocab);
  const toGguf = (p: TensorPlan): GgufTensor => ({
    name: p.name,
    shape: p.shape,
    type: storedType(config, p),
    data: p.make
  });
  const draftPlans = plans.filter((p) => {
    const m = /^blk\.(\d+)\./.exec(p.name);
    return !m || Number(m[1]) < config.draftLayers;
  });

  const files: Record<'target' | 'draft', ModelFileInfo> = {} as never;
  for (const [role, list, layers] of [
    ['target', plans, config.targetLayers],
    ['draft', draftPlans, config.draftLayers]
  ] as const) {
    const file = `${prefix}${role}.gguf`;
    progress(
      `writing ${file} (${layers} layers, ${(parameterCount(list) / 1e6).toFixed(1)}M params, ${config.tensorType})`
    );
    const { bytes, sha256 } = await writeGguf({
      path: join(dir, file),
      metadata: metadataFor(config, vocab, layers, role),
      tensors: list.map(toGguf),
      onTensor: ({ index, count }) => {
        if (count > 20 && (index + 1) % Math.ceil(count / 4) === 0)
          progress(`  ${file}: ${index + 1}/${count} tensors`);
      }
    });
    files[role] = { file, bytes, sha256, layers, parameters: parameterCount(list) };
    progress(`wrote ${file}: ${(bytes / 1e6).toFixed(1)} MB sha256 ${sha256.slice(0, 12)}…`);
  }

  let expected: AcceptanceEstimate | null = null;
  if (config.measureTokens > 0) {
    progress(
      `estimating greedy acceptance over ${MEASUREMENT_PROMPTS.length} prompts x ${config.measureTokens} tokens`
    );
    expected = estimateAcceptance(config, vocab);
    progress(
      `expected acceptance ${expected.acceptance.toFixed(3)} (distinct ${expected.distinctRatio.toFixed(2)}, min top-2 gap ${expected.minTop2Gap.toFixed(4)})`
    );
  }
  return {
    generatorVersion: GENERATOR_VERSION,
    config,
    configHash: configHash(config),
    vocabSize: vocab.tokens.length,
    tokenizerFingerprint: vocab.fingerprint,
    target: files.target,
    draft: files.draft,
    expected,
    measurementPrompts: MEASUREMENT_PROMPTS.map((s) => wordTokens(vocab, s)),
    createdAt: new Date().toISOString()
  };
}
