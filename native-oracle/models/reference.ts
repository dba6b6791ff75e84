/**
 * A plain TypeScript forward pass of the generated llama models (F32, one token at a time, with a
 * KV cache). It lets the generator predict the target/draft greedy acceptance rate without
 * llama.cpp, and gives tests an independent reference for what llama.cpp computes from the
 * written GGUF. Because the draft is the target's first layers, one target pass also yields the
 * draft's logits (read out after `draftLayers`).
 *
 * Math as llama.cpp's LLM_ARCH_LLAMA graph: RMSNorm, Q/K with RoPE (NORM mode: adjacent pairs),
 * causal softmax attention (scale 1/sqrt(head_dim), grouped KV heads), SwiGLU FFN, residuals.
 */

export interface ReferenceDims {
  nVocab: number;
  nEmbd: number;
  nHead: number;
  nHeadKv: number;
  nFf: number;
  nLayers: number;
  ropeFreqBase: number;
  rmsEps: number;
}

/** Tensor lookup by GGUF name (`token_embd.weight`, `blk.0.attn_q.weight`, ...). */
export type WeightLookup = (name: string) => Float32Array;

/** out[j] = sum_i W[j*nIn + i] * x[i]  (ggml_mul_mat with W of shape [nIn, nOut]). */
function matVec(
  w: Float32Array,
  x: Float32Array,
  nIn: number,
  nOut: number,
  out = new Float32Array(nOut)
): Float32Array {
  for (let j = 0; j < nOut; j++) {
    let s = 0;
    const base = j * nIn;
    for (let i = 0; i < nIn; i++) s += w[base + i] * x[i];
    out[j] = s;
  }
  return out;
}

function rmsNorm(x: Float32Array, weight: Float32Array, eps: number): Float32Array {
  let ss = 0;
  for (let i = 0; i < x.length; i++) ss += x[i] * x[i];
  const scale = 1 / Math.sqrt(ss / x.length + eps);
  const out = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = x[i] * scale * weight[i];
  return out;
}

function rope(v: Float32Array, nHeads: number, headDim: number, pos: number, base: number): void {
  for (let h = 0; h < nHeads; h++) {
    for (let i = 0; i < headDim / 2; i++) {
      const theta = pos * Math.pow(base, (-2 * i) / headDim);
      const c = Math.cos(theta);
      const s = Math.sin(theta);
      const a = h * headDim + 2 * i;
      const x0 = v[a];
      const x1 = v[a + 1];
      v[a] = x0 * c - x1 * s;
      v[a + 1] = x0 * s + x1 * c;
    }
  }
}

/** A running sequence: feed tokens one by one, get logits of the full model and of the first layers. */
export class ReferenceModel {
  private readonly keys: Float32Array[][] = [];
  private readonly values: Float32Array[][] = [];
  private position = 0;

  constructor(
    private readonly dims: ReferenceDims,
    private readonly weights: WeightLookup,
    /** Also read logits out after this many layers (the draft); 0 = don't. */
    private readonly earlyExitLayers = 0
  ) {
    for (let l = 0; l < dims.nLayers; l++) {
      this.keys.push([]);
      this.values.push([]);
    }
  }

  /** Evaluates one token at the next position; returns the target's and the early-exit logits. */
  step(token: number): { logits: Float32Array; earlyLogits: Float32Array | null } {
    const d = this.dims;
    const headDim = d.nEmbd / d.nHead;
    const nKv = d.nHeadKv * headDim;
    const group = d.nHead / d.nHeadKv;
    const embd = this.weights('token_embd.weight');
    const x = embd.slice(token * d.nEmbd, (token + 1) * d.nEmbd);
    let earlyLogits: Float32Array | null = null;

    for (let l = 0; l < d.nLayers; l++) {
      const w = (n: string) => this.weights(`blk.${l}.${n}.weight`);
      // Attention block.
      const h = rmsNorm(x, w('attn_norm'), d.rmsEps);
      const q = matVec(w('attn_q'), h, d.nEmbd, d.nEmbd);
      const k = matVec(w('attn_k'), h, d.nEmbd, nKv);
      const v = matVec(w('attn_v'), h, d.nEmbd, nKv);
      rope(q, d.nHead, headDim, this.position, d.ropeFreqBase);
      rope(k, d.nHeadKv, headDim, this.position, d.ropeFreqBase);
      this.keys[l].push(k);
      this.values[l].push(v);
      const attn = new Float32Array(d.nEmbd);
      const n = this.keys[l].length;
      const scores = new Float64Array(n);
      for (let hd = 0; hd < d.nHead; hd++) {
        const kvh = Math.floor(hd / group);
        let max = -Infinity;
        for (let t = 0; t < n; t++) {
          const kt = this.keys[l][t];
          let s = 0;
          for (let i = 0; i < headDim; i++) s += q[hd * headDim + i] * kt[kvh * headDim + i];
          scores[t] = s / Math.sqrt(headDim);
          if (scores[t] > max) max = scores[t];
        }
        let sum = 0;
        for (let t = 0; t < n; t++) {
          scores[t] = Math.exp(scores[t] - max);
          sum += scores[t];
        }
        for (let t = 0; t < n; t++) {
          const p = scores[t] / sum;
          const vt = this.values[l][t];
          for (let i = 0; i < headDim; i++) attn[hd * headDim + i] += p * vt[kvh * headDim + i];
        }
      }
      const o = matVec(w('attn_output'), attn, d.nEmbd, d.nEmbd);
      for (let i = 0; i < d.nEmbd; i++) x[i] += o[i];
      // FFN block (SwiGLU).
      const f = rmsNorm(x, w('ffn_norm'), d.rmsEps);
      const gate = matVec(w('ffn_gate'), f, d.nEmbd, d.nFf);
      const up = matVec(w('ffn_up'), f, d.nEmbd, d.nFf);
      for (let i = 0; i < d.nFf; i++) gate[i] = (gate[i] / (1 + Math.exp(-gate[i]))) * up[i];
      const down = matVec(w('ffn_down'), gate, d.nFf, d.nEmbd);
      for (let i = 0; i < d.nEmbd; i++) x[i] += down[i];

      if (l + 1 === this.earlyExitLayers) earlyLogits = this.readout(x);
    }
    this.position++;
    return { logits: this.readout(x), earlyLogits };
  }

  private readout(x: Float32Array): Float32Array {
    const d = this.dims;
    const n = rmsNorm(x, this.weights('output_norm.weight'), d.rmsEps);
    return matVec(this.weights('output.weight'), n, d.nEmbd, d.nVocab);
  }
}

/** Index of the largest value and the gap to the runner-up. */
export function top2(logits: ArrayLike<number>): { best: number; gap: number } {
  let best = 0;
  let second = -1;
  for (let i = 1; i < logits.length; i++) {
    if (logits[i] > logits[best]) {
      second = best;
      best = i;
    } else if (second < 0 || logits[i] > logits[second]) {
      second = i;
    }
  }
  return { best, gap: second < 0 ? Infinity : logits[best] - logits[second] };
}
