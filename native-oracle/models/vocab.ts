/**
 * The SentencePiece-style (`tokenizer.ggml.model = llama`) vocabulary shared by every generated
 * model: <unk>, <s>, </s>, two chat control tokens, byte-fallback tokens for <0x00>..<0x7F> only
 * (wllama throws on reachable byte tokens >= 0x80; see FIELD-NOTES), printable ASCII characters,
 * and `▁`-prefixed English words with every prefix, so llama.cpp's SPM merge (highest-scoring
 * adjacent pair first) always has a path to the whole word.
 *
 * Non-ASCII text: without a `<0xC3>`-style token, llama.cpp's byte fallback looks the raw byte up
 * as a token text and, when that is missing too, throws std::out_of_range, which aborts the whole
 * process (verified: tokenizing "café" killed Node). So the vocabulary also holds the 128 raw bytes
 * 0x80..0xFF as plain tokens (not <0xNN> byte tokens). They make any UTF-8 text tokenize and
 * round-trip, and like all non-word tokens they get a zero output row, so a model never predicts
 * them (no reachable byte tokens >= 0x80 for wllama).
 */
import { tokenizerFingerprint } from '../../src/lib/protocol/mesh.js';
import { ENGLISH_WORDS } from './words.js';
import { LlamaTokenType } from '../../src/lib/protocol/gguf.js';

/** llama.cpp token types (re-exported under the generator's name). */
export const TokenKind = LlamaTokenType;

export const SPACE_MARK = '\u2581'; // ▁, SentencePiece's space

export const SPECIAL_TOKENS = {
  unk: '<unk>',
  bos: '<s>',
  eos: '</s>',
  imStart: '<|im_start|>',
  imEnd: '<|im_end|>'
} as const;

/** Chat template in the model file; node-llama-cpp renders chats with it (ChatML shape). */
export const CHAT_TEMPLATE =
  "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}" +
  "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

const COMMON_SUFFIXES = [
  's',
  'es',
  'ed',
  'er',
  'ers',
  'ing',
  'ly',
  'est',
  'ion',
  'tion',
  'ment',
  'ness',
  'ful',
  'al'
];

export interface Vocabulary {
  /** Token texts; the raw high bytes are Uint8Array (they are not valid UTF-8 alone). */
  tokens: Array<string | Uint8Array>;
  scores: Float32Array;
  types: Int32Array;
  unkId: number;
  bosId: number;
  eosId: number;
  imStartId: number;
  imEndId: number;
  /** Ids whose output logit is pinned to 0 (control, unknown and byte tokens): never predicted. */
  silentIds: number[];
  /** sha256 of JSON {tokens, types} (hex); equals TargetEngine.tokenizerFingerprint. */
  fingerprint: string;
}

/** Builds the vocabulary deterministically (same list, same ids, on every machine). */
export function buildVocabulary(): Vocabulary {
  const tokens: Array<string | Uint8Array> = [];
  const types: number[] = [];
  const scores: number[] = [];
  const seen = new Set<string>();
  const add = (text: string | Uint8Array, kind: number, score: number) => {
    const key = typeof text === 'string' ? text : `raw:${Buffer.from(text).toString('hex')}`;
    if (seen.has(key)) return;
    seen.add(key);
    tokens.push(text);
    types.push(kind);
    scores.push(score);
  };

  add(SPECIAL_TOKENS.unk, TokenKind.unknown, 0);
  add(SPECIAL_TOKENS.bos, TokenKind.control, 0);
  add(SPECIAL_TOKENS.eos, TokenKind.control, 0);
  add(SPECIAL_TOKENS.imStart, TokenKind.control, 0);
  add(SPECIAL_TOKENS.imEnd, TokenKind.control, 0);
  for (let b = 0; b < 0x80; b++)
    add(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`, TokenKind.byte, 0);
  for (let b = 0x80; b < 0x100; b++) add(Uint8Array.of(b), TokenKind.normal, 0);

  // Scores: longer pieces score higher, so merges grow words left to right.
  add(SPACE_MARK, TokenKind.normal, 1);
  for (let c = 0x21; c < 0x7f; c++) add(String.fromCharCode(c), TokenKind.normal, 1);
  for (let c = 0x21; c < 0x7f; c++) add(SPACE_MARK + String.fromCharCode(c), TokenKind.normal, 2);
  const addWithPrefixes = (piece: string) => {
    for (let n = 2; n <= piece.length; n++) add(piece.slice(0, n), TokenKind.normal, n);
  };
  for (const suffix of COMMON_SUFFIXES) addWithPrefixes(suffix);
  for (const word of ENGLISH_WORDS) {
    addWithPrefixes(SPACE_MARK + word);
    const capital = word[0].toUpperCase() + word.slice(1);
    if (capital !== word && word.length <= 6) addWithPrefixes(SPACE_MARK + capital);
  }

  const id = (t: string) => tokens.indexOf(t);
  const silentIds = types.flatMap((kind, i) =>
    kind === TokenKind.normal && typeof tokens[i] === 'string' ? [] : [i]
  );
  // Same recipe as the engine's tokenizerFingerprint over the GGUF as node-llama-cpp reads it
  // (token texts decoded as UTF-8 with replacement), so manifest and engine agree.
  const decoder = new TextDecoder('utf-8', { fatal: false });
  const decoded = tokens.map((t) => (typeof t === 'string' ? t : decoder.decode(t)));
  const fingerprint = tokenizerFingerprint(decoded, types);
  return {
    tokens,
    scores: Float32Array.from(scores),
    types: Int32Array.from(types),
    unkId: id(SPECIAL_TOKENS.unk),
    bosId: id(SPECIAL_TOKENS.bos),
    eosId: id(SPECIAL_TOKENS.eos),
    imStartId: id(SPECIAL_TOKENS.imStart),
    imEndId: id(SPECIAL_TOKENS.imEnd),
    silentIds,
    fingerprint
  };
}
