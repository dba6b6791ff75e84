/**
 * The handshake's tokenizer compatibility check (src/lib/protocol/tokenizer-sketch.ts) on both
 * sides: the oracle reads its table through llama.cpp's detokenizer on the generated target, the
 * wllama scout through its GGUF reader, and web-llm scouts through a `tokenizer.json` tokenizer.
 * web-llm itself cannot run here (its MLC model builds cannot be downloaded), so a stand-in
 * with web-llm's tokenizer interface plays it: the target's vocabulary in tokenizer.json form,
 * decoded the way tokenizer.json decoders do (special tokens as text, first space stripped).
 */
import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTargetEngine, type TargetEngine } from '../../native-oracle/engine/index.js';
import {
  engineTokenizer,
  type EngineTokenizer
} from '../../native-oracle/mesh/handshake/oracle-tokenizer.js';
import {
  checkScoutHello,
  MESH_PROTOCOL_VERSION,
  type HelloPayload
} from '../../src/lib/protocol/mesh.js';
import {
  compareTokenizerSketch,
  sketchTokenizer,
  TokenizerSketchSchema
} from '../../src/lib/protocol/tokenizer-sketch.js';
import { LlamaTokenType } from '../../src/lib/protocol/gguf.js';
import {
  ggufTokenizerSketch,
  readGgufVocab,
  type GgufVocab
} from '../../workers/scout/browser/gguf-vocab.js';
import {
  checkWebLlmTokenizer,
  webLlmTokenizerSketch,
  type WebLlmTokenizerLike
} from '../../workers/scout/browser/webgpu.js';
import { ensureTestModels } from '../helpers/models.js';

let engine: TargetEngine;
let oracle: EngineTokenizer;
let vocab: GgufVocab;

beforeAll(async () => {
  const models = await ensureTestModels();
  engine = await createTargetEngine({ modelPath: models.targetPath, threads: 1 });
  oracle = engineTokenizer(engine)!;
  await oracle.ready();
  vocab = readGgufVocab(new Uint8Array(await readFile(models.draftPath)));
}, 120_000);

afterAll(async () => {
  await engine?.dispose();
});

const utf8 = new TextDecoder('utf-8');

/**
 * The stand-in for web-llm's tokenizer: the vocabulary as tokenizer.json pieces (strings), and
 * a decoder like tokenizer.json's SentencePiece one: `▁` → space, `<0xNN>` → byte, special
 * tokens as their text, one leading space stripped. `edits` replaces pieces by id.
 */
function standInTokenizer(
  source: GgufVocab,
  edits: Record<number, string> = {}
): WebLlmTokenizerLike {
  const pieces = source.pieces.map((p, id) => edits[id] ?? utf8.decode(p));
  const special = (id: number) =>
    source.types[id] === LlamaTokenType.control || source.types[id] === LlamaTokenType.unknown;
  return {
    getVocabSize: () => pieces.length,
    idToToken: (id) => pieces[id]!,
    decode(ids) {
      const bytes: number[] = [];
      for (const id of ids) {
        const piece = pieces[id]!;
        const byte = /^<0x([0-9A-F]{2})>$/i.exec(piece);
        if (byte && !special(id)) bytes.push(Number.parseInt(byte[1]!, 16));
        else bytes.push(...new TextEncoder().encode(piece.replaceAll('\u2581', ' ')));
      }
      const text = utf8.decode(Uint8Array.from(bytes));
      return text.startsWith(' ') ? text.slice(1) : text;
    }
  };
}

function scoutHello(sketch: HelloPayload['tokenizerSketch'], fingerprint: string): HelloPayload {
  return {
    role: 'scout',
    peerId: '12D3KooWtest',
    software: { name: 'test', version: '0' },
    protocolVersion: MESH_PROTOCOL_VERSION,
    models: ['Stand-in-q4f16_1-MLC'],
    tokenizerFingerprint: fingerprint,
    ...(sketch ? { tokenizerSketch: sketch } : {}),
    draftTokensPerSecond: null,
    sentAtMs: Date.now(),
    nonce: 'n'.repeat(16)
  };
}

const oracleSide = () => ({ tokenizerFingerprint: engine.tokenizerFingerprint, tokenizer: oracle });

describe('tokenizer sketch: the same table read by three different tokenizers', () => {
  it('llama.cpp on the oracle and the GGUF reader of the wllama scout agree on every token', () => {
    const own = oracle.sketch();
    expect(TokenizerSketchSchema.parse(own)).toEqual(own);
    expect(own.size).toBe(engine.vocabularySize);
    expect(ggufTokenizerSketch(vocab)).toEqual(own);
  });

  it('web-llm stand-in (web-llm cannot run here): same vocabulary in tokenizer.json form → accepted', () => {
    const tokenizer = standInTokenizer(vocab);
    // Not the same file: the fingerprint a GGUF scout would send cannot match.
    const hello = scoutHello(webLlmTokenizerSketch(tokenizer), 'mlc:Stand-in-q4f16_1-MLC');
    expect(checkScoutHello(hello, oracleSide())).toBeNull();
    // Without the sketch the same scout is refused: the fingerprint alone cannot tell.
    const old = checkScoutHello(scoutHello(undefined, 'mlc:Stand-in-q4f16_1-MLC'), oracleSide());
    expect(old?.reason).toBe('tokenizer-mismatch');
    expect(old?.message).toMatch(/sent no tokenizer sketch/);
  });

  it('web-llm stand-in (web-llm cannot run here): one token changed → refused naming that token', () => {
    const changed = 1000;
    const before = utf8.decode(vocab.pieces[changed]);
    const tokenizer = standInTokenizer(vocab, { [changed]: `${before}x` });
    const refusal = checkScoutHello(
      scoutHello(webLlmTokenizerSketch(tokenizer), 'mlc:Stand-in-q4f16_1-MLC'),
      oracleSide()
    );
    expect(refusal?.reason).toBe('tokenizer-mismatch');
    expect(refusal?.message).toContain(`token id ${changed} maps to different text`);
    expect(refusal?.message).toContain(JSON.stringify(before.replace('\u2581', ' ')));
    // The scout's own check, before it drafts, names the same token.
    const local = checkWebLlmTokenizer(tokenizer, {
      sketch: ggufTokenizerSketch(vocab),
      textOf: oracle.textOf
    });
    expect(local.difference?.tokenId).toBe(changed);
  });

  it('names token 0 and the last token, and says when several tokens or the sizes differ', () => {
    const size = 300;
    const base = (id: number) => `t${id}`;
    const own = sketchTokenizer(size, base);
    for (const id of [0, 1, 255, 299]) {
      const other = sketchTokenizer(size, (i) => (i === id ? 'changed' : base(i)));
      expect(compareTokenizerSketch(other, own, base)?.tokenId).toBe(id);
    }
    const two = sketchTokenizer(size, (i) => (i === 7 || i === 200 ? 'changed' : base(i)));
    expect(compareTokenizerSketch(two, own, base)).toMatchObject({
      tokenId: null,
      message: expect.stringMatching(/more than one token/)
    });
    const bigger = sketchTokenizer(size + 1, base);
    expect(compareTokenizerSketch(bigger, own, base)?.message).toBe(
      "the draft tokenizer has 301 tokens, the target's 300"
    );
    expect(compareTokenizerSketch(sketchTokenizer(size, base), own, base)).toBeNull();
  });
});
