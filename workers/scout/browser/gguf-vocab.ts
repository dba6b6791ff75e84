/**
 * Reads the tokenizer of a GGUF model in the browser (or Node) without llama.cpp: the token
 * pieces, their types and the special ids, from the metadata at the start of the file. The
 * browser scout needs it because wllama takes text prompts and reports token ids only for its
 * output: the committed context (token ids from the oracle) is turned back into text here.
 *
 * Framework-free: no DOM, no Node types. Hashing uses @noble/hashes so it also runs in workers.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { GgufValueType, LlamaTokenType } from '../../../src/lib/protocol/gguf.js';
import {
  anchoredText,
  sketchTokenizer,
  type TokenizerSketch,
  type TokenTextFn
} from '../../../src/lib/protocol/tokenizer-sketch.js';

/** The bytes did not hold a whole GGUF header; read more of the file and call again. */
export class GgufTruncatedError extends Error {
  override name = 'GgufTruncatedError';
}

/** The file is not a GGUF model this reader understands. */
export class GgufFormatError extends Error {
  override name = 'GgufFormatError';
}

export interface GgufVocab {
  /** tokenizer.ggml.model, e.g. `llama` (SentencePiece) or `gpt2` (byte-level BPE). */
  model: string;
  /** Raw piece bytes per token id (not always valid UTF-8 on their own). */
  pieces: Uint8Array[];
  /** Byte offset of each piece in the file (diagnostics and test fixtures). */
  pieceOffsets: number[];
  types: Int32Array;
  bosId: number | null;
  eosId: number | null;
  addBos: boolean;
  /**
   * sha256 (hex) of JSON {tokens, types} with every piece read as UTF-8 (invalid bytes become
   * U+FFFD): the rule of the oracle's target engine (`tokenizerFingerprint` in
   * native-oracle/engine/target-engine.ts), so the handshake's comparison matches.
   */
  fingerprint: string;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Sequential little-endian reader that throws GgufTruncatedError at the end of the bytes. */
class Reader {
  offset = 0;
  private readonly view: DataView;
  constructor(private readonly bytes: Uint8Array) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  private need(n: number): void {
    if (this.offset + n > this.bytes.byteLength) {
      throw new GgufTruncatedError(`GGUF header continues past byte ${this.bytes.byteLength}`);
    }
  }
  u32(): number {
    this.need(4);
    const v = this.view.getUint32(this.offset, true);
    this.offset += 4;
    return v;
  }
  u64(): number {
    this.need(8);
    const v = this.view.getBigUint64(this.offset, true);
    this.offset += 8;
    if (v > BigInt(Number.MAX_SAFE_INTEGER))
      throw new GgufFormatError('GGUF length field too large');
    return Number(v);
  }
  skip(n: number): void {
    this.need(n);
    this.offset += n;
  }
  bytesOf(n: number): Uint8Array {
    this.need(n);
    const out = this.bytes.subarray(this.offset, this.offset + n);
    this.offset += n;
    return out;
  }
  string(): Uint8Array {
    return this.bytesOf(this.u64());
  }
  scalar(type: number): number | boolean | bigint {
    switch (type) {
      case GgufValueType.uint8:
        this.need(1);
        return this.view.getUint8(this.offset++);
      case GgufValueType.int8:
        this.need(1);
        return this.view.getInt8(this.offset++);
      case GgufValueType.bool:
        this.need(1);
        return this.view.getUint8(this.offset++) !== 0;
      case GgufValueType.uint16:
      case GgufValueType.int16: {
        this.need(2);
        const v =
          type === GgufValueType.uint16
            ? this.view.getUint16(this.offset, true)
            : this.view.getInt16(this.offset, true);
        this.offset += 2;
        return v;
      }
      case GgufValueType.uint32:
        return this.u32();
      case GgufValueType.int32:
      case GgufValueType.float32: {
        this.need(4);
        const v =
          type === GgufValueType.int32
            ? this.view.getInt32(this.offset, true)
            : this.view.getFloat32(this.offset, true);
        this.offset += 4;
        return v;
      }
      case GgufValueType.uint64:
      case GgufValueType.int64:
      case GgufValueType.float64: {
        this.need(8);
        const v =
          type === GgufValueType.uint64
            ? this.view.getBigUint64(this.offset, true)
            : type === GgufValueType.int64
              ? this.view.getBigInt64(this.offset, true)
              : this.view.getFloat64(this.offset, true);
        this.offset += 8;
        return v;
      }
      default:
        throw new GgufFormatError(`unknown GGUF value type ${type}`);
    }
  }
}

const SCALAR_SIZE: Record<number, number> = {
  0: 1,
  1: 1,
  7: 1,
  2: 2,
  3: 2,
  4: 4,
  5: 4,
  6: 4,
  10: 8,
  11: 8,
  12: 8
};

/**
 * Parses the tokenizer from the first bytes of a GGUF file. Throws GgufTruncatedError when the
 * metadata continues past `bytes` (read a larger prefix and retry) and GgufFormatError for files
 * that are not GGUF v2/v3 or have no tokenizer.
 */
export function readGgufVocab(bytes: Uint8Array): GgufVocab {
  const r = new Reader(bytes);
  const magic = r.bytesOf(4);
  if (String.fromCharCode(...magic) !== 'GGUF')
    throw new GgufFormatError('not a GGUF file (bad magic)');
  const version = r.u32();
  if (version < 2 || version > 3)
    throw new GgufFormatError(`GGUF version ${version} is not supported`);
  r.u64(); // tensor count
  const kvCount = r.u64();

  let model: string | null = null;
  let pieces: Uint8Array[] | null = null;
  let pieceOffsets: number[] = [];
  let types: Int32Array | null = null;
  let bosId: number | null = null;
  let eosId: number | null = null;
  let addBos = true;

  for (let i = 0; i < kvCount; i++) {
    const key = utf8.decode(r.string());
    const type = r.u32();
    if (type === GgufValueType.string) {
      const value = r.string();
      if (key === 'tokenizer.ggml.model') model = utf8.decode(value);
      continue;
    }
    if (type === GgufValueType.array) {
      const itemType = r.u32();
      const count = r.u64();
      if (key === 'tokenizer.ggml.tokens' && itemType === GgufValueType.string) {
        pieces = new Array<Uint8Array>(count);
        pieceOffsets = new Array<number>(count);
        for (let j = 0; j < count; j++) {
          const length = r.u64();
          pieceOffsets[j] = r.offset;
          // Copy: the caller's buffer may be a transient download chunk.
          pieces[j] = r.bytesOf(length).slice();
        }
      } else if (key === 'tokenizer.ggml.token_type' && itemType === GgufValueType.int32) {
        types = new Int32Array(count);
        for (let j = 0; j < count; j++) types[j] = r.scalar(GgufValueType.int32) as number;
      } else if (itemType === GgufValueType.string) {
        for (let j = 0; j < count; j++) r.string();
      } else {
        const size = SCALAR_SIZE[itemType];
        if (size === undefined)
          throw new GgufFormatError(`unsupported GGUF array item type ${itemType}`);
        r.skip(size * count);
      }
      continue;
    }
    const value = r.scalar(type);
    if (key === 'tokenizer.ggml.bos_token_id') bosId = Number(value);
    else if (key === 'tokenizer.ggml.eos_token_id') eosId = Number(value);
    else if (key === 'tokenizer.ggml.add_bos_token') addBos = value === true;
  }

  if (!model || !pieces)
    throw new GgufFormatError('the GGUF file has no tokenizer (tokenizer.ggml.tokens)');
  const tokenTypes = types ?? new Int32Array(pieces.length).fill(LlamaTokenType.normal);
  if (tokenTypes.length !== pieces.length)
    throw new GgufFormatError('token_type and tokens differ in length');
  return {
    model,
    pieces,
    pieceOffsets,
    types: tokenTypes,
    bosId,
    eosId,
    addBos,
    fingerprint: fingerprintOf(pieces, tokenTypes)
  };
}

function fingerprintOf(pieces: Uint8Array[], types: Int32Array): string {
  // Pieces that are not valid UTF-8 on their own (raw high bytes) read as U+FFFD, as they do in
  // the oracle's GGUF reader.
  const loose = new TextDecoder('utf-8');
  const tokens = pieces.map((p) => loose.decode(p));
  const json = JSON.stringify({ tokens, types: Array.from(types) });
  return bytesToHex(sha256(new TextEncoder().encode(json)));
}

const SPACE_MARK = '\u2581'; // ▁
const encoder = new TextEncoder();
const BYTE_TOKEN = /^<0x([0-9A-Fa-f]{2})>$/;

/**
 * Turns token ids back into the text a llama.cpp tokenizer reads as (nearly) the same ids:
 * SentencePiece pieces with `▁` become spaces, `<0xNN>` byte tokens become their byte, control
 * tokens (chat markers) stay as their literal text so the prompt parser maps them back, and a
 * leading BOS is dropped (the engine adds its own). Throws RangeError for an id outside the
 * vocabulary. Round trips are exact for canonical tokenizations; a model's output may split a
 * word in a way the tokenizer would not, and then comes back as the canonical split.
 */
export function detokenize(vocab: GgufVocab, ids: readonly number[]): string {
  const chunks: Uint8Array[] = [];
  let start = 0;
  if (vocab.addBos && vocab.bosId !== null && ids[0] === vocab.bosId) start = 1;
  const isSpm = vocab.model === 'llama';
  // llama.cpp's SentencePiece tokenizer adds a space before the text at the start and after
  // every special token, so the first piece of each such fragment loses one leading space here.
  let isFragmentStart = true;
  for (let i = start; i < ids.length; i++) {
    const id = ids[i];
    const piece = vocab.pieces[id];
    if (piece === undefined) {
      throw new RangeError(`token id ${id} is outside the vocabulary of ${vocab.pieces.length}`);
    }
    const type = vocab.types[id];
    if (type === LlamaTokenType.byte) {
      const m = BYTE_TOKEN.exec(String.fromCharCode(...piece));
      if (m) {
        chunks.push(Uint8Array.of(Number.parseInt(m[1], 16)));
        isFragmentStart = false;
        continue;
      }
    }
    if (type === LlamaTokenType.control || type === LlamaTokenType.userDefined || !isSpm) {
      chunks.push(piece);
      isFragmentStart = type === LlamaTokenType.control || type === LlamaTokenType.userDefined;
      continue;
    }
    let text = decodeLoose(piece).replaceAll(SPACE_MARK, ' ');
    if (isFragmentStart && text.startsWith(' ')) text = text.slice(1);
    isFragmentStart = false;
    chunks.push(encoder.encode(text));
  }
  let total = 0;
  for (const c of chunks) total += c.byteLength;
  const all = new Uint8Array(total);
  let o = 0;
  for (const c of chunks) {
    all.set(c, o);
    o += c.byteLength;
  }
  return new TextDecoder('utf-8').decode(all);
}

function decodeLoose(piece: Uint8Array): string {
  return new TextDecoder('utf-8').decode(piece);
}

/**
 * The vocabulary's id → text table as the handshake's tokenizer sketch reads it
 * (src/lib/protocol/tokenizer-sketch.ts): each token's text after the anchor letter, special
 * tokens (control, unknown, unused) as nothing, the way llama.cpp's detokenizer renders them on
 * the oracle.
 */
export function ggufTokenText(vocab: GgufVocab): TokenTextFn {
  const isSpecial = (id: number) => {
    const type = vocab.types[id];
    return (
      type === LlamaTokenType.control ||
      type === LlamaTokenType.unknown ||
      type === LlamaTokenType.unused
    );
  };
  return anchoredText(vocab.pieces.length, (ids) => detokenize(vocab, ids), isSpecial);
}

/** The sketch of a GGUF vocabulary (what a wllama scout sends in its hello). */
export function ggufTokenizerSketch(vocab: GgufVocab): TokenizerSketch {
  return sketchTokenizer(vocab.pieces.length, ggufTokenText(vocab));
}
