/**
 * The tokenizer compatibility check of the handshake: a scout whose tokenizer is not the target's
 * GGUF file (a web-llm/MLC build ships a `tokenizer.json`) may still draft for an oracle when it
 * maps every token id to the same text. Both sides compute a small sketch of their id → text
 * table with their own tokenizer; the oracle compares the scout's sketch with its own.
 *
 * Why a sketch and not probe ids: probes (the oracle sends ids, the scout answers their text)
 * check a sample, need a second round trip, and still cannot name a token outside the sample.
 * The sketch covers the whole vocabulary in one hello (about 500 characters) and, when exactly
 * one token differs, names it:
 *
 *  1. Each token's text is the UTF-8 text it adds after a plain one-letter anchor token (so
 *     decoders that strip a leading space from the first token agree with those that do not);
 *     special tokens (control, unknown, unused) add nothing, as a decoder that skips them renders
 *     them. Incomplete UTF-8 bytes read as U+FFFD on both sides.
 *  2. `digest` = sha256 over every token in id order (u32 length, then the bytes): equal digests
 *     and sizes mean the same table.
 *  3. `h(id)` = the first 8 bytes of sha256(u32 id, bytes); `total` = XOR of h over all ids and
 *     `slices[b]` = XOR of h over the ids with bit b set. With one differing id, every slice
 *     difference is either zero or the total difference, and the set bits spell the id; any
 *     other pattern means more than one token differs.
 *
 * Limits: special tokens are compared by position only (all add empty text), and a scout may
 * lie about its sketch; the probation tickets (native-oracle/mesh/trust) judge its drafts.
 * Framework-free (browser, workers, oracle).
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { z } from 'zod';

/** Version of the sketch recipe; a different recipe is a different `v`. */
export const TOKENIZER_SKETCH_VERSION = 1;
/** Largest vocabulary a sketch describes (2^24 ids: the mesh's token id bound). */
export const MAX_SKETCH_VOCAB = 1 << 24;

const hexOf = (chars: number) =>
  z.string().regex(new RegExp(`^[0-9a-f]{${chars}}$`), `${chars} lower-case hex characters`);

/** A tokenizer's sketch as it travels in a scout's hello (`tokenizerSketch`). */
export const TokenizerSketchSchema = z.strictObject({
  v: z.literal(TOKENIZER_SKETCH_VERSION),
  /** Number of token ids the table covers. */
  size: z.number().int().min(1).max(MAX_SKETCH_VOCAB),
  digest: hexOf(64),
  total: hexOf(16),
  /** One per id bit: ceil(log2(size)) entries (at least one). */
  slices: z.array(hexOf(16)).min(1).max(24)
});
export type TokenizerSketch = z.infer<typeof TokenizerSketchSchema>;

/** Reads one token's text; `id` is below the table's size. */
export type TokenTextFn = (id: number) => string;

const encoder = new TextEncoder();

/** Number of id bits a sketch of `size` tokens carries. */
export function sliceCount(size: number): number {
  return Math.max(1, Math.ceil(Math.log2(size)));
}

function u32(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n, true);
  return b;
}

function tokenHash(id: number, bytes: Uint8Array): bigint {
  const input = new Uint8Array(4 + bytes.byteLength);
  input.set(u32(id));
  input.set(bytes, 4);
  const h = sha256(input);
  return new DataView(h.buffer, h.byteOffset, 8).getBigUint64(0, false);
}

const hex64 = (v: bigint) => v.toString(16).padStart(16, '0');

/** Builds a sketch token by token, in id order (so a long vocabulary can be read in chunks). */
export interface SketchBuilder {
  /** Adds the next token; ids must come in order 0, 1, 2, … */
  add(text: string): void;
  /** The sketch; throws RangeError unless exactly `size` tokens were added. */
  finish(): TokenizerSketch;
}

/** Starts a sketch of a `size`-token table. Throws RangeError for a size outside 1..2^24. */
export function createSketchBuilder(size: number): SketchBuilder {
  if (!Number.isInteger(size) || size < 1 || size > MAX_SKETCH_VOCAB) {
    throw new RangeError(`tokenizer size ${size} is outside 1..${MAX_SKETCH_VOCAB}`);
  }
  const digest = sha256.create();
  const slices = new Array<bigint>(sliceCount(size)).fill(0n);
  let total = 0n;
  let id = 0;
  return {
    add(text) {
      const bytes = encoder.encode(text);
      digest.update(u32(bytes.byteLength)).update(bytes);
      const h = tokenHash(id, bytes);
      total ^= h;
      for (let b = 0; b < slices.length; b++) if ((id >>> b) & 1) slices[b] ^= h;
      id++;
    },
    finish() {
      if (id !== size) throw new RangeError(`sketch of ${size} tokens got ${id}`);
      return {
        v: TOKENIZER_SKETCH_VERSION,
        size,
        digest: bytesToHex(digest.digest()),
        total: hex64(total),
        slices: slices.map(hex64)
      };
    }
  };
}

/**
 * Computes the sketch of a `size`-token table whose text is `textOf(id)` (step 1's text: the
 * caller applies the anchor and special-token rules, see `anchoredText`). Throws RangeError for
 * a size outside 1..MAX_SKETCH_VOCAB.
 */
export function sketchTokenizer(size: number, textOf: TokenTextFn): TokenizerSketch {
  const builder = createSketchBuilder(size);
  for (let id = 0; id < size; id++) builder.add(textOf(id));
  return builder.finish();
}

/**
 * Step 1 for any tokenizer that decodes id lists to text: the text `id` adds after the anchor
 * (the lowest id whose own text is one ASCII letter), or its own text when there is no anchor.
 * `isSpecial(id)` tokens add nothing. Returns a TokenTextFn for `sketchTokenizer`.
 */
export function anchoredText(
  size: number,
  decode: (ids: readonly number[]) => string,
  isSpecial: (id: number) => boolean
): TokenTextFn {
  let anchor = -1;
  for (let id = 0; id < size && anchor < 0; id++) {
    if (!isSpecial(id) && /^[A-Za-z]$/.test(decode([id]))) anchor = id;
  }
  if (anchor < 0) return (id) => (isSpecial(id) ? '' : decode([id]));
  const prefix = decode([anchor]);
  return (id) => {
    if (isSpecial(id)) return '';
    const both = decode([anchor, id]);
    return both.startsWith(prefix) ? both.slice(prefix.length) : decode([id]);
  };
}

/** Why two tokenizers differ, in plain words; `tokenId` is set when exactly one token does. */
export interface TokenizerDifference {
  tokenId: number | null;
  message: string;
}

/**
 * Compares a scout's sketch with the oracle's own. Null when the tables are the same; else what
 * differed: the sizes, the one token that differs (with the oracle's text for it, from
 * `ownText`), or that more than one token does.
 */
export function compareTokenizerSketch(
  scout: TokenizerSketch,
  own: TokenizerSketch,
  ownText: TokenTextFn
): TokenizerDifference | null {
  if (scout.size !== own.size) {
    return {
      tokenId: null,
      message: `the draft tokenizer has ${scout.size} tokens, the target's ${own.size}`
    };
  }
  if (scout.digest === own.digest) return null;
  const diff = BigInt(`0x${scout.total}`) ^ BigInt(`0x${own.total}`);
  let id = 0;
  let isSingle = diff !== 0n && scout.slices.length === own.slices.length;
  for (let b = 0; isSingle && b < own.slices.length; b++) {
    const d = BigInt(`0x${scout.slices[b]}`) ^ BigInt(`0x${own.slices[b]}`);
    if (d === diff) id |= 1 << b;
    else if (d !== 0n) isSingle = false;
  }
  if (!isSingle || id >= own.size) {
    return {
      tokenId: null,
      message: 'more than one token id maps to different text (a different vocabulary)'
    };
  }
  return {
    tokenId: id,
    message: `token id ${id} maps to different text (the target's is ${JSON.stringify(ownText(id)).slice(0, 80)})`
  };
}
