/**
 * A GGUF v3 writer: metadata key/values and F32/F16/BF16/Q8_0/Q4_0 tensors, streamed to disk one
 * tensor at a time so that a 600 MB model never has to sit in memory at once. Layout per the GGUF spec
 * (ggml/docs/gguf.md): header, metadata, tensor infos, padding to `general.alignment`, then
 * tensor data, each tensor starting on an aligned offset relative to the data section.
 */
import { createHash } from 'node:crypto';
import { open, rename, rm } from 'node:fs/promises';
import { GgufValueType } from '../../src/lib/protocol/gguf.js';

const GGUF_MAGIC = 0x46554747; // "GGUF" little-endian
const GGUF_VERSION = 3;
export const GGUF_DEFAULT_ALIGNMENT = 32;
const WRITE_CHUNK_BYTES = 4 * 1024 * 1024;

/** ggml tensor types this writer supports (ggml_type). */
export const TensorType = { F32: 0, F16: 1, Q4_0: 2, Q8_0: 8, BF16: 30 } as const;
export type TensorTypeName = keyof typeof TensorType;

/** Values per quantization block of Q8_0 and Q4_0 (ggml's QK8_0 = QK4_0 = 32). */
export const QUANT_BLOCK_VALUES = 32;
/** Bytes per block: an fp16 scale, then 32 int8 (Q8_0) or 16 bytes of nibbles (Q4_0). */
export const Q8_0_BLOCK_BYTES = 34;
export const Q4_0_BLOCK_BYTES = 18;

/** True for the block-quantized types, whose rows must be a whole number of blocks. */
export function isQuantized(type: TensorTypeName): type is 'Q8_0' | 'Q4_0' {
  return type === 'Q8_0' || type === 'Q4_0';
}

export type GgufScalar =
  | { type: 'uint32'; value: number }
  | { type: 'int32'; value: number }
  | { type: 'uint64'; value: bigint | number }
  | { type: 'float32'; value: number }
  | { type: 'bool'; value: boolean }
  | { type: 'string'; value: string };

export type GgufValue =
  | GgufScalar
  /** Items may be raw bytes (a token that is not valid UTF-8 on its own, e.g. a lone 0xC3). */
  | { type: 'array'; itemType: 'string'; value: ReadonlyArray<string | Uint8Array> }
  | { type: 'array'; itemType: 'float32'; value: ArrayLike<number> }
  | { type: 'array'; itemType: 'int32'; value: ArrayLike<number> };

export interface GgufTensor {
  name: string;
  /** Dimensions in ggml order: `shape[0]` is the contiguous one (a matrix is [inputs, outputs]). */
  shape: readonly number[];
  type: TensorTypeName;
  /** Produces the tensor's values (row-major in ggml order); called once, while writing. */
  data: () => Float32Array;
}

export interface WriteGgufOptions {
  path: string;
  metadata: ReadonlyArray<readonly [string, GgufValue]>;
  tensors: readonly GgufTensor[];
  /** Default 32 (also written as `general.alignment` unless the metadata has it). */
  alignment?: number;
  /** Called after each tensor is written. */
  onTensor?: (info: { name: string; index: number; count: number }) => void;
}

/** Thrown when a tensor's data does not match its declared shape, or metadata is malformed. */
export class GgufWriteError extends Error {
  override name = 'GgufWriteError';
}

/** Little-endian byte builder for the header part of the file. */
class ByteSink {
  private chunks: Buffer[] = [];
  size = 0;
  push(buf: Buffer): void {
    this.chunks.push(buf);
    this.size += buf.length;
  }
  u32(v: number): void {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(v >>> 0);
    this.push(b);
  }
  i32(v: number): void {
    const b = Buffer.alloc(4);
    b.writeInt32LE(v | 0);
    this.push(b);
  }
  u64(v: bigint | number): void {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt(v));
    this.push(b);
  }
  f32(v: number): void {
    const b = Buffer.alloc(4);
    b.writeFloatLE(v);
    this.push(b);
  }
  str(s: string | Uint8Array): void {
    const bytes = typeof s === 'string' ? Buffer.from(s, 'utf8') : Buffer.from(s);
    this.u64(bytes.length);
    this.push(bytes);
  }
  concat(): Buffer {
    return Buffer.concat(this.chunks, this.size);
  }
}

function writeValue(sink: ByteSink, key: string, v: GgufValue): void {
  sink.u32(GgufValueType[v.type]);
  switch (v.type) {
    case 'uint32':
      return sink.u32(v.value);
    case 'int32':
      return sink.i32(v.value);
    case 'uint64':
      return sink.u64(v.value);
    case 'float32':
      return sink.f32(v.value);
    case 'bool':
      return sink.push(Buffer.from([v.value ? 1 : 0]));
    case 'string':
      return sink.str(v.value);
    case 'array': {
      sink.u32(GgufValueType[v.itemType]);
      sink.u64(v.value.length);
      for (let i = 0; i < v.value.length; i++) {
        const item = v.value[i];
        if (v.itemType === 'string') sink.str(item as string | Uint8Array);
        else if (v.itemType === 'float32') sink.f32(item as number);
        else sink.i32(item as number);
      }
      return;
    }
    default:
      throw new GgufWriteError(`metadata ${key}: unsupported value type`);
  }
}

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/** IEEE 754 binary32 → binary16 bits, round to nearest even (as ggml_fp32_to_fp16 does). */
export function float32ToFloat16Bits(value: number): number {
  f32Scratch[0] = value;
  const x = u32Scratch[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0); // inf / nan
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00; // overflow → inf
  if (e <= 0) {
    if (e < -10) return sign; // underflow → ±0
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rem > mid || (rem === mid && half & 1)) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  // A carry out of the mantissa bumps the exponent (up to inf), which is the correct rounding.
  if (rem > 0x1000 || (rem === 0x1000 && half & 1)) half++;
  return sign | half;
}

/** IEEE 754 binary32 → bfloat16 bits (the upper half), round to nearest even; NaN stays NaN. */
export function float32ToBfloat16Bits(value: number): number {
  f32Scratch[0] = value;
  const x = u32Scratch[0];
  if ((x & 0x7fffffff) > 0x7f800000) return ((x >>> 16) | 0x40) & 0xffff;
  return ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
}

/** binary16 bits → number (used by readers/tests of F16 files). */
export function float16BitsToFloat32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

/**
 * Quantizes `values` (length a multiple of 32) to Q8_0 blocks as ggml's quantize_row_q8_0_ref
 * does: d = max|x| / 127 stored as fp16, q = round-half-away(x / d) as int8. The scale and the
 * reciprocal are float32 arithmetic (Math.fround) so the bytes match ggml's for the same input.
 */
export function quantizeQ8_0(values: Float32Array, out?: Buffer): Buffer {
  const blocks = values.length / QUANT_BLOCK_VALUES;
  const buf = out ?? Buffer.alloc(blocks * Q8_0_BLOCK_BYTES);
  for (let b = 0; b < blocks; b++) {
    const base = b * QUANT_BLOCK_VALUES;
    let amax = 0;
    for (let j = 0; j < QUANT_BLOCK_VALUES; j++) amax = Math.max(amax, Math.abs(values[base + j]));
    const d = Math.fround(amax / 127);
    const id = d ? Math.fround(1 / d) : 0;
    const o = b * Q8_0_BLOCK_BYTES;
    buf.writeUInt16LE(float32ToFloat16Bits(d), o);
    for (let j = 0; j < QUANT_BLOCK_VALUES; j++) {
      const x = Math.fround(values[base + j] * id);
      // C's roundf: halves go away from zero (Math.round sends -0.5 to -0).
      buf[o + 2 + j] = (Math.sign(x) * Math.round(Math.abs(x))) & 0xff;
    }
  }
  return buf;
}

/**
 * Quantizes `values` (length a multiple of 32) to Q4_0 blocks as ggml's quantize_row_q4_0_ref
 * does: d = (the value of largest magnitude, sign kept) / -8 as fp16, q = min(15, trunc(x/d +
 * 8.5)); byte j holds element j in its low nibble and element j + 16 in its high nibble.
 */
export function quantizeQ4_0(values: Float32Array, out?: Buffer): Buffer {
  const blocks = values.length / QUANT_BLOCK_VALUES;
  const half = QUANT_BLOCK_VALUES / 2;
  const buf = out ?? Buffer.alloc(blocks * Q4_0_BLOCK_BYTES);
  const nibble = (x: number) => Math.min(15, Math.trunc(Math.fround(x + 8.5)));
  for (let b = 0; b < blocks; b++) {
    const base = b * QUANT_BLOCK_VALUES;
    let amax = 0;
    let max = 0;
    for (let j = 0; j < QUANT_BLOCK_VALUES; j++) {
      const v = values[base + j];
      if (amax < Math.abs(v)) {
        amax = Math.abs(v);
        max = v;
      }
    }
    const d = Math.fround(max / -8);
    const id = d ? Math.fround(1 / d) : 0;
    const o = b * Q4_0_BLOCK_BYTES;
    buf.writeUInt16LE(float32ToFloat16Bits(d), o);
    for (let j = 0; j < half; j++) {
      const lo = nibble(Math.fround(values[base + j] * id));
      const hi = nibble(Math.fround(values[base + half + j] * id));
      buf[o + 2 + j] = lo | (hi << 4);
    }
  }
  return buf;
}

/** Q8_0 or Q4_0 blocks → values (d * q), as llama.cpp reads them; for tests and checks. */
export function dequantize(type: 'Q8_0' | 'Q4_0', bytes: Uint8Array): Float32Array {
  const blockBytes = type === 'Q8_0' ? Q8_0_BLOCK_BYTES : Q4_0_BLOCK_BYTES;
  const blocks = bytes.length / blockBytes;
  const out = new Float32Array(blocks * QUANT_BLOCK_VALUES);
  const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let b = 0; b < blocks; b++) {
    const o = b * blockBytes;
    const d = float16BitsToFloat32(view.readUInt16LE(o));
    const base = b * QUANT_BLOCK_VALUES;
    for (let j = 0; j < QUANT_BLOCK_VALUES; j++) {
      if (type === 'Q8_0') out[base + j] = d * view.readInt8(o + 2 + j);
      else {
        const byte = view[o + 2 + (j % 16)];
        out[base + j] = d * ((j < 16 ? byte & 0x0f : byte >> 4) - 8);
      }
    }
  }
  return out;
}

/** Bytes of a tensor's data (before alignment padding). */
export function tensorBytes(t: Pick<GgufTensor, 'shape' | 'type'>): number {
  const n = t.shape.reduce((a, b) => a * b, 1);
  switch (t.type) {
    case 'F32':
      return n * 4;
    case 'Q8_0':
      return (n / QUANT_BLOCK_VALUES) * Q8_0_BLOCK_BYTES;
    case 'Q4_0':
      return (n / QUANT_BLOCK_VALUES) * Q4_0_BLOCK_BYTES;
    default:
      return n * 2;
  }
}

/** Throws unless a quantized tensor's rows (shape[0]) are whole 32-value blocks. */
function checkShape(t: GgufTensor): void {
  if (!Object.hasOwn(TensorType, t.type)) {
    throw new GgufWriteError(`tensor ${t.name}: unsupported type ${String(t.type)}`);
  }
  if (isQuantized(t.type) && (t.shape[0] ?? 0) % QUANT_BLOCK_VALUES !== 0) {
    throw new GgufWriteError(
      `tensor ${t.name}: ${t.type} needs a row length (shape[0]) that is a multiple of ${QUANT_BLOCK_VALUES}, got ${t.shape[0]}`
    );
  }
}

function alignUp(n: number, alignment: number): number {
  return Math.ceil(n / alignment) * alignment;
}

function encodeTensor(t: GgufTensor, values: Float32Array): Buffer {
  const n = t.shape.reduce((a, b) => a * b, 1);
  if (values.length !== n) {
    throw new GgufWriteError(
      `tensor ${t.name}: ${values.length} values for shape [${t.shape.join(', ')}]`
    );
  }
  if (t.type === 'F32') return Buffer.from(values.buffer, values.byteOffset, values.byteLength);
  if (t.type === 'Q8_0') return quantizeQ8_0(values);
  if (t.type === 'Q4_0') return quantizeQ4_0(values);
  const out = Buffer.alloc(n * 2);
  const convert = t.type === 'BF16' ? float32ToBfloat16Bits : float32ToFloat16Bits;
  for (let i = 0; i < n; i++) out.writeUInt16LE(convert(values[i]), i * 2);
  return out;
}

/**
 * Writes a GGUF v3 file to `path` (via `path.tmp-<pid>-<random>` and an atomic rename, so readers
 * never see a half-written file). Returns the file size and its sha256 (hex).
 * Throws GgufWriteError on malformed tensors; the temp file is removed on failure.
 */
export async function writeGguf(
  options: WriteGgufOptions
): Promise<{ bytes: number; sha256: string }> {
  const alignment = options.alignment ?? GGUF_DEFAULT_ALIGNMENT;
  const metadata = [...options.metadata];
  if (!metadata.some(([k]) => k === 'general.alignment')) {
    metadata.push(['general.alignment', { type: 'uint32', value: alignment }]);
  }
  const names = new Set<string>();
  for (const t of options.tensors) {
    if (names.has(t.name)) throw new GgufWriteError(`duplicate tensor ${t.name}`);
    names.add(t.name);
    checkShape(t);
  }

  // 1. Header, metadata and tensor infos (offsets relative to the aligned data section).
  const head = new ByteSink();
  head.u32(GGUF_MAGIC);
  head.u32(GGUF_VERSION);
  head.u64(options.tensors.length);
  head.u64(metadata.length);
  for (const [key, value] of metadata) {
    head.str(key);
    writeValue(head, key, value);
  }
  let offset = 0;
  const offsets: number[] = [];
  for (const t of options.tensors) {
    offsets.push(offset);
    head.str(t.name);
    head.u32(t.shape.length);
    for (const d of t.shape) head.u64(d);
    head.u32(TensorType[t.type]);
    head.u64(offset);
    offset = alignUp(offset + tensorBytes(t), alignment);
  }
  const headBuf = head.concat();
  const dataStart = alignUp(headBuf.length, alignment);

  // 2. Stream: header, padding, then each tensor at dataStart + its offset.
  const tmp = `${options.path}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
  const hash = createHash('sha256');
  const fh = await open(tmp, 'w');
  let position = 0;
  const put = async (buf: Buffer) => {
    for (let i = 0; i < buf.length; i += WRITE_CHUNK_BYTES) {
      const part = buf.subarray(i, Math.min(buf.length, i + WRITE_CHUNK_BYTES));
      await fh.write(part, 0, part.length, position);
      hash.update(part);
      position += part.length;
    }
  };
  try {
    await put(headBuf);
    await put(Buffer.alloc(dataStart - headBuf.length));
    for (let i = 0; i < options.tensors.length; i++) {
      const t = options.tensors[i];
      // Invariant: the file position equals the tensor's declared offset.
      if (position !== dataStart + offsets[i])
        throw new GgufWriteError(`tensor ${t.name}: offset drift`);
      const buf = encodeTensor(t, t.data());
      await put(buf);
      const padded = alignUp(buf.length, alignment);
      if (i < options.tensors.length - 1 && padded > buf.length)
        await put(Buffer.alloc(padded - buf.length));
      options.onTensor?.({ name: t.name, index: i, count: options.tensors.length });
    }
    await fh.sync();
    await fh.close();
    await rename(tmp, options.path);
  } catch (err) {
    await fh.close().catch(() => undefined);
    await rm(tmp, { force: true });
    throw err;
  }
  return { bytes: position, sha256: hash.digest('hex') };
}
