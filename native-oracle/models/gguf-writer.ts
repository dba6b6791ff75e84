/**
 * A GGUF v3 writer: metadata key/values and F32/F16 tensors, streamed to disk so that a
 * 100M-parameter model never has to sit in memory at once. Layout per the GGUF spec
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
export const TensorType = { F32: 0, F16: 1, BF16: 30 } as const;
export type TensorTypeName = keyof typeof TensorType;

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

function tensorBytes(t: GgufTensor): number {
  const n = t.shape.reduce((a, b) => a * b, 1);
  return n * (t.type === 'F32' ? 4 : 2);
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
