/**
 * GGUF writer and model generator, without llama.cpp: the header parses back per the GGUF v3
 * spec, F16 conversion rounds correctly, Q8_0/Q4_0 blocks have ggml's layout and decode back to
 * within one quantization step, generation is deterministic and idempotent, and concurrent
 * generators in one directory leave valid files.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  dequantize,
  float16BitsToFloat32,
  float32ToBfloat16Bits,
  float32ToFloat16Bits,
  quantizeQ4_0,
  quantizeQ8_0,
  writeGguf
} from '../../native-oracle/models/gguf-writer.js';
import {
  DEFAULT_PAIR,
  ensureModelPair,
  estimateAcceptance,
  SLOW_PAIR,
  sha256File,
  type PairConfig
} from '../../native-oracle/models/index.js';
import { buildVocabulary } from '../../native-oracle/models/vocab.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'shard-models-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A minimal GGUF reader for the parts the writer produces. */
function parseGguf(buf: Buffer) {
  let o = 0;
  const u32 = () => ((o += 4), buf.readUInt32LE(o - 4));
  const u64 = () => ((o += 8), Number(buf.readBigUInt64LE(o - 8)));
  const str = () => {
    const n = u64();
    o += n;
    return buf.subarray(o - n, o).toString('utf8');
  };
  const value = (type: number): unknown => {
    switch (type) {
      case 4:
        return u32();
      case 5:
        return ((o += 4), buf.readInt32LE(o - 4));
      case 6:
        return ((o += 4), buf.readFloatLE(o - 4));
      case 7:
        return ((o += 1), buf[o - 1] === 1);
      case 8:
        return str();
      case 9: {
        const itemType = u32();
        const n = u64();
        return Array.from({ length: n }, () => value(itemType));
      }
      default:
        throw new Error(`type ${type}`);
    }
  };
  expect(buf.subarray(0, 4).toString('latin1')).toBe('GGUF');
  o = 4;
  const version = u32();
  const tensorCount = u64();
  const kvCount = u64();
  const metadata: Record<string, unknown> = {};
  for (let i = 0; i < kvCount; i++) {
    const key = str();
    metadata[key] = value(u32());
  }
  const tensors = Array.from({ length: tensorCount }, () => {
    const name = str();
    const dims = Array.from({ length: u32() }, () => u64());
    return { name, dims, type: u32(), offset: u64() };
  });
  const alignment = (metadata['general.alignment'] as number) ?? 32;
  const dataStart = Math.ceil(o / alignment) * alignment;
  return { version, metadata, tensors, dataStart };
}

describe('gguf writer', () => {
  it('writes a GGUF v3 file whose header, metadata and tensor data read back', async () => {
    const path = join(dir, 'tiny.gguf');
    const a = Float32Array.from([1, -2, 3.5, 0.25, 8, -0.125]);
    const { bytes, sha256 } = await writeGguf({
      path,
      metadata: [
        ['general.architecture', { type: 'string', value: 'llama' }],
        ['x.list', { type: 'array', itemType: 'string', value: ['a', '▁b', Uint8Array.of(0xc3)] }],
        ['x.flag', { type: 'bool', value: true }]
      ],
      tensors: [
        { name: 'a', shape: [3, 2], type: 'F32', data: () => a },
        { name: 'b', shape: [3], type: 'F16', data: () => Float32Array.from([1, 0.5, -65504]) }
      ]
    });
    const buf = await readFile(path);
    expect(buf.length).toBe(bytes);
    expect(await sha256File(path)).toBe(sha256);
    const g = parseGguf(buf);
    expect(g.version).toBe(3);
    expect(g.metadata['general.architecture']).toBe('llama');
    expect(g.metadata['general.alignment']).toBe(32);
    expect((g.metadata['x.list'] as string[]).slice(0, 2)).toEqual(['a', '▁b']);
    expect(g.metadata['x.flag']).toBe(true);
    expect(g.tensors.map((t) => [t.name, t.dims, t.type, t.offset])).toEqual([
      ['a', [3, 2], 0, 0],
      ['b', [3], 1, 32]
    ]);
    const readA = new Float32Array(
      buf.buffer.slice(buf.byteOffset + g.dataStart, buf.byteOffset + g.dataStart + 24)
    );
    expect(Array.from(readA)).toEqual(Array.from(a));
    const f16 = [0, 1, 2].map((i) =>
      float16BitsToFloat32(buf.readUInt16LE(g.dataStart + 32 + 2 * i))
    );
    expect(f16).toEqual([1, 0.5, -65504]);
  });

  it('rejects a tensor whose data does not match its shape, leaving no file', async () => {
    const path = join(dir, 'bad.gguf');
    await expect(
      writeGguf({
        path,
        metadata: [],
        tensors: [{ name: 'x', shape: [4], type: 'F32', data: () => new Float32Array(3) }]
      })
    ).rejects.toThrow(/3 values for shape \[4\]/);
    await expect(readFile(path)).rejects.toThrow(/ENOENT/);
  });

  it('converts float32 to float16 within half a unit in the last place', () => {
    fc.assert(
      fc.property(fc.float({ min: -60000, max: 60000, noNaN: true }), (x) => {
        const back = float16BitsToFloat32(float32ToFloat16Bits(x));
        const ulp = Math.max(2 ** -24, 2 ** (Math.floor(Math.log2(Math.abs(x) || 2 ** -24)) - 10));
        expect(Math.abs(back - x)).toBeLessThanOrEqual(ulp / 2 + 1e-12);
      })
    );
    expect(float32ToFloat16Bits(1e6)).toBe(0x7c00);
    expect(float32ToFloat16Bits(-0)).toBe(0x8000);
  });
});

describe('bfloat16', () => {
  it('keeps the upper half of a float32, rounded to nearest even (relative error <= 2^-8)', () => {
    const back = (bits: number) => {
      const b = Buffer.alloc(4);
      b.writeUInt32LE((bits << 16) >>> 0);
      return b.readFloatLE(0);
    };
    fc.assert(
      fc.property(
        fc.float({
          min: Math.fround(-1e30),
          max: Math.fround(1e30),
          noNaN: true,
          noDefaultInfinity: true
        }),
        (x) => {
          const y = back(float32ToBfloat16Bits(x));
          expect(Math.abs(y - x)).toBeLessThanOrEqual(Math.abs(x) * 2 ** -8 + 1e-38);
        }
      )
    );
    expect(float32ToBfloat16Bits(1)).toBe(0x3f80);
    expect(float32ToBfloat16Bits(-2)).toBe(0xc000);
    expect(Number.isNaN(back(float32ToBfloat16Bits(NaN)))).toBe(true);
  });
});

describe('vocabulary', () => {
  it('holds the special, byte and word tokens with the documented ids and no <0x80>+ byte tokens', () => {
    const v = buildVocabulary();
    expect(v.tokens.slice(0, 5)).toEqual(['<unk>', '<s>', '</s>', '<|im_start|>', '<|im_end|>']);
    expect(v.tokens).toContain('<0x0A>');
    expect(v.tokens).not.toContain('<0x80>');
    expect(v.tokens.length).toBeGreaterThan(3000);
    expect(v.tokens).toContain('▁quick');
    expect(buildVocabulary().fingerprint).toBe(v.fingerprint);
  });
});

describe('model generation', () => {
  const small: PairConfig = {
    ...DEFAULT_PAIR,
    name: 'unit',
    nEmbd: 32,
    nHead: 2,
    nHeadKv: 1,
    nFf: 64,
    measureTokens: 4
  };

  it('is deterministic, idempotent and safe with concurrent writers', async () => {
    const [a, b] = await Promise.all([
      ensureModelPair({ dir, config: small }),
      ensureModelPair({ dir, config: small })
    ]);
    expect(a.manifest.target.sha256).toBe(b.manifest.target.sha256);
    expect(await sha256File(a.targetPath)).toBe(a.manifest.target.sha256);
    expect(await sha256File(a.draftPath)).toBe(a.manifest.draft.sha256);
    const again = await ensureModelPair({ dir, config: small });
    expect(again.generated).toBe(false);
    const other = await ensureModelPair({
      dir: join(dir),
      config: { ...small, alpha: 0.5 },
      prefix: 'alt-'
    });
    expect(other.manifest.target.sha256).not.toBe(a.manifest.target.sha256);
    // The draft does not depend on alpha: it is the shared first layer.
    expect(other.manifest.draft.sha256).toBe(a.manifest.draft.sha256);
  });
});

/** A row of 32 values with the listed ones set and the rest `fill`. */
function row(set: Record<number, number>, fill = 0): Float32Array {
  const r = new Float32Array(32).fill(fill);
  for (const [i, v] of Object.entries(set)) r[Number(i)] = v;
  return r;
}

describe('Q8_0 blocks', () => {
  it('lay out an fp16 scale max|x|/127 and 32 int8 values rounded half away from zero', () => {
    const values = new Float32Array(64);
    values.set(row({ 0: 127, 1: -127, 2: 2.5, 3: -2.5, 4: 0.49 }, 10));
    // The second block is all zero: scale 0 and zero quants, no division by zero.
    const bytes = quantizeQ8_0(values);
    expect(bytes.length).toBe(68);
    expect([...bytes.subarray(0, 9)]).toEqual([
      0x00, 0x3c, 0x7f, 0x81, 0x03, 0xfd, 0x00, 0x0a, 0x0a
    ]);
    expect([...bytes.subarray(34)]).toEqual(new Array(34).fill(0));
  });

  it('decode to d * q, within 0.6 of a step of the input (seeded random rows)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.float({ min: -100, max: 100, noNaN: true }), { minLength: 32, maxLength: 32 }),
        (xs) => {
          const values = Float32Array.from(xs);
          const bytes = quantizeQ8_0(values);
          const back = dequantize('Q8_0', bytes);
          const d = float16BitsToFloat32(bytes.readUInt16LE(0));
          for (let j = 0; j < 32; j++) {
            expect(back[j]).toBe(d * bytes.readInt8(2 + j));
            expect(Math.abs(back[j] - values[j])).toBeLessThanOrEqual(0.6 * d + 1e-30);
          }
        }
      ),
      { seed: 20261202, numRuns: 300 }
    );
  });
});

describe('Q4_0 blocks', () => {
  it('lay out an fp16 scale (signed max)/-8 and nibbles: element j low, element j+16 high', () => {
    // Largest magnitude -8 gives d = 1; 7 lands on 15 (8 + 7.5 truncated), 3.5 on 12, -3.6 on 4.
    const bytes = quantizeQ4_0(row({ 0: -8, 16: 7, 1: 3.5, 17: -3.6 }));
    expect(bytes.length).toBe(18);
    expect([...bytes.subarray(0, 5)]).toEqual([0x00, 0x3c, 0xf0, 0x4c, 0x88]);
    // Largest magnitude +8 gives d = -1 (fp16 0xBC00): the extreme still maps to nibble 0.
    const positive = quantizeQ4_0(row({ 0: 8, 16: -8 }));
    expect([...positive.subarray(0, 3)]).toEqual([0x00, 0xbc, 0xf0]);
  });

  it('decode to d * (q - 8), within 1.01 steps of the input (the far side clamps at 15)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.float({ min: -100, max: 100, noNaN: true }), { minLength: 64, maxLength: 64 }),
        (xs) => {
          const values = Float32Array.from(xs);
          const bytes = quantizeQ4_0(values);
          const back = dequantize('Q4_0', bytes);
          for (let b = 0; b < 2; b++) {
            const d = Math.abs(float16BitsToFloat32(bytes.readUInt16LE(b * 18)));
            for (let j = 0; j < 32; j++) {
              const i = b * 32 + j;
              expect(Math.abs(back[i] - values[i])).toBeLessThanOrEqual(1.01 * d + 1e-30);
            }
          }
        }
      ),
      { seed: 20261202, numRuns: 300 }
    );
  });
});

describe('quantized tensors in a GGUF file', () => {
  it('stores the type id and the block bytes at aligned offsets', async () => {
    const path = join(dir, 'quant.gguf');
    const w = Float32Array.from({ length: 64 * 3 }, (_, i) => Math.sin(i) * 3);
    await writeGguf({
      path,
      metadata: [],
      tensors: [
        { name: 'q8', shape: [64, 3], type: 'Q8_0', data: () => w },
        { name: 'q4', shape: [64, 3], type: 'Q4_0', data: () => w },
        { name: 'norm', shape: [3], type: 'F32', data: () => Float32Array.of(1, 1, 1) }
      ]
    });
    const buf = await readFile(path);
    const g = parseGguf(buf);
    // 6 blocks: 6 * 34 = 204 bytes, padded to 224; then 6 * 18 = 108, padded to 128.
    expect(g.tensors.map((t) => [t.name, t.type, t.offset])).toEqual([
      ['q8', 8, 0],
      ['q4', 2, 224],
      ['norm', 0, 352]
    ]);
    const at = (offset: number, n: number) =>
      buf.subarray(g.dataStart + offset, g.dataStart + offset + n);
    expect(at(0, 204).equals(quantizeQ8_0(w))).toBe(true);
    expect(at(224, 108).equals(quantizeQ4_0(w))).toBe(true);
  });

  it('rejects a quantized tensor whose rows are not whole 32-value blocks, naming it', async () => {
    const path = join(dir, 'bad-quant.gguf');
    for (const type of ['Q8_0', 'Q4_0'] as const) {
      await expect(
        writeGguf({
          path,
          metadata: [],
          tensors: [
            {
              name: 'blk.0.ffn_down.weight',
              shape: [48, 2],
              type,
              data: () => new Float32Array(96)
            }
          ]
        })
      ).rejects.toThrow(/tensor blk\.0\.ffn_down\.weight: Q[48]_0 .*multiple of 32, got 48/);
    }
    await expect(readFile(path)).rejects.toThrow(/ENOENT/);
  });
});

describe('quantized model generation', () => {
  const small: PairConfig = {
    ...DEFAULT_PAIR,
    name: 'unit-q',
    nEmbd: 64,
    nHead: 2,
    nHeadKv: 1,
    nFf: 96,
    measureTokens: 0
  };

  it('keeps norms F32 and quantizes every matrix; a Q4_0 pair keeps its output head Q8_0', async () => {
    for (const [type, fileType, outputType] of [
      ['Q8_0', 7, 8],
      ['Q4_0', 2, 8]
    ] as const) {
      const pair = await ensureModelPair({ dir, config: { ...small, tensorType: type } });
      const g = parseGguf(await readFile(pair.targetPath));
      expect(g.metadata['general.file_type']).toBe(fileType);
      const types = new Map(g.tensors.map((t) => [t.name, t.type]));
      expect(types.get('blk.0.attn_norm.weight')).toBe(0);
      expect(types.get('output_norm.weight')).toBe(0);
      expect(types.get('blk.1.ffn_down.weight')).toBe(type === 'Q8_0' ? 8 : 2);
      expect(types.get('token_embd.weight')).toBe(type === 'Q8_0' ? 8 : 2);
      expect(types.get('output.weight')).toBe(outputType);
    }
  });

  it('refuses a quantized config whose dimensions are not whole blocks, naming the tensor', async () => {
    await expect(
      ensureModelPair({ dir, config: { ...small, name: 'unit-bad', nFf: 80, tensorType: 'Q8_0' } })
    ).rejects.toThrow(/blk\.0\.ffn_down\.weight: Q8_0 .*got 80/);
  });

  it('estimates acceptance on the quantized values, not the F32 draws', () => {
    const measured = { ...small, measureTokens: 6 };
    const f32 = estimateAcceptance(measured);
    const q4 = estimateAcceptance({ ...measured, tensorType: 'Q4_0' });
    expect(q4.positions).toBe(f32.positions);
    expect(q4.gaps).not.toEqual(f32.gaps);
  });

  it('describes a 0.5-1B-parameter Q8_0 slow pair whose rows are whole blocks', () => {
    expect(SLOW_PAIR.tensorType).toBe('Q8_0');
    expect(SLOW_PAIR.nEmbd % 32).toBe(0);
    expect(SLOW_PAIR.nFf % 32).toBe(0);
    expect(SLOW_PAIR.measureTokens).toBe(0);
  });
});
