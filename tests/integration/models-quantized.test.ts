/**
 * Quantized generated models in the real llama.cpp (node-llama-cpp, 1 thread): the default pair's
 * config written as Q8_0 (and Q4_0) loads, and along the F32 target's greedy paths its greedy
 * choice equals the F32 model's at most positions. Quantization moves logits a little, so exact
 * agreement is not asserted: the measured agreement is printed, with the F32 model's top-2 gap at
 * every position where the two differ (differences should sit at small gaps).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getLlama, type Llama, type LlamaModel, type Token } from 'node-llama-cpp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_PAIR, ensureModelPair } from '../../native-oracle/models/index.js';
import type { TensorTypeName } from '../../native-oracle/models/gguf-writer.js';
import { ensureTestModels, type PairManifest } from '../helpers/models.js';

/** Q8_0 keeps ~7 significant bits per weight: the greedy choice must survive almost everywhere. */
const MIN_Q8_0_AGREEMENT = 0.9;
/** Q4_0 is much coarser; it must still follow the F32 model far more often than chance. */
const MIN_Q4_0_AGREEMENT = 0.5;

let llama: Llama;
let dir: string;
let manifest: PairManifest;
let f32: LlamaModel;

beforeAll(async () => {
  const models = await ensureTestModels();
  manifest = models.manifest;
  dir = await mkdtemp(join(tmpdir(), 'shard-quant-'));
  llama = await getLlama({ gpu: false, maxThreads: 1, logLevel: 'error' as never, build: 'never' });
  f32 = await llama.loadModel({ modelPath: models.targetPath });
});

afterAll(async () => {
  await f32?.dispose();
  await llama?.dispose();
  if (dir) await rm(dir, { recursive: true, force: true });
});

interface Choice {
  token: number;
  /** ln p1 - ln p2 of the model's next-token distribution: the top-2 logit gap. */
  gap: number;
}

/** The model's greedy choice after every prefix of prompt + continuation, in one batch. */
async function choices(model: LlamaModel, prompt: number[], path: number[]): Promise<Choice[]> {
  const context = await model.createContext({ contextSize: 256, threads: 1, sequences: 1 });
  try {
    const tokens = [...prompt, ...path.slice(0, -1)] as unknown as Token[];
    const scored = { generateNext: { token: true, probabilities: true } } as const;
    const results = await context
      .getSequence()
      .controlledEvaluate(tokens.map((t, i) => (i >= prompt.length - 1 ? [t, scored] : t)));
    return results.slice(prompt.length - 1).map((r) => {
      const p = [...r!.next.probabilities!.values()].sort((a, b) => b - a);
      return { token: r!.next.token!, gap: Math.log(p[0]!) - Math.log(Math.max(p[1]!, 1e-30)) };
    });
  } finally {
    await context.dispose();
  }
}

async function agreement(type: TensorTypeName) {
  const pair = await ensureModelPair({
    dir,
    config: { ...DEFAULT_PAIR, name: `default-${type.toLowerCase()}`, tensorType: type }
  });
  const quantized = await llama.loadModel({ modelPath: pair.targetPath });
  let same = 0;
  let positions = 0;
  const differences: Array<{ prompt: number; position: number; f32Gap: number }> = [];
  try {
    for (let p = 0; p < manifest.measurementPrompts.length; p++) {
      const prompt = manifest.measurementPrompts[p]!;
      const path = manifest.expected!.continuations[p]!;
      const reference = await choices(f32, prompt, path);
      const measured = await choices(quantized, prompt, path);
      for (let i = 0; i < reference.length; i++) {
        positions++;
        if (measured[i]!.token === reference[i]!.token) same++;
        else differences.push({ prompt: p, position: i, f32Gap: round(reference[i]!.gap) });
      }
    }
  } finally {
    await quantized.dispose();
  }
  const result = {
    type,
    bytes: pair.manifest.target.bytes,
    agreement: same / positions,
    positions
  };
  const shown = { ...result, differing: differences.length, first: differences.slice(0, 12) };
  console.log(`[models-quantized] ${JSON.stringify(shown)}`);
  return result;
}

const round = (x: number) => Math.round(x * 1e4) / 1e4;

describe('quantized generated models (llama.cpp)', () => {
  it('a Q8_0 model loads and makes the F32 model greedy choice at most positions', async () => {
    const r = await agreement('Q8_0');
    expect(r.positions).toBeGreaterThanOrEqual(6 * 32);
    // A Q8_0 file of 128-dim matrices is about 1/4 the F32 size (34 bytes per 32 weights).
    expect(r.bytes).toBeLessThan(manifest.target.bytes * 0.35);
    expect(r.agreement).toBeGreaterThanOrEqual(MIN_Q8_0_AGREEMENT);
  });

  it('a Q4_0 model loads and follows the F32 model far more often than chance', async () => {
    const r = await agreement('Q4_0');
    expect(r.agreement).toBeGreaterThanOrEqual(MIN_Q4_0_AGREEMENT);
  });
});
