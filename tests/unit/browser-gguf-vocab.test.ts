/**
 * The browser scout's GGUF tokenizer reader, checked against the generated draft model: its
 * fingerprint equals the generator's, and detokenize() produces text that llama.cpp (the same
 * tokenizer wllama runs) tokenizes back into the original ids.
 */
import { readFile } from 'node:fs/promises';
import { getLlama, type LlamaModel } from 'node-llama-cpp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  detokenize,
  GgufFormatError,
  GgufTruncatedError,
  readGgufVocab,
  type GgufVocab
} from '../../workers/scout/browser/gguf-vocab.js';
import { tokenizerFingerprint } from '../../native-oracle/engine/target-engine.js';
import { ensureTestModels, type PairManifest } from '../helpers/models.js';

let vocab: GgufVocab;
let bytes: Uint8Array;
let manifest: PairManifest;
let model: LlamaModel;

beforeAll(async () => {
  const models = await ensureTestModels();
  manifest = models.manifest;
  bytes = new Uint8Array(await readFile(models.draftPath));
  vocab = readGgufVocab(bytes);
  const llama = await getLlama({ gpu: false, maxThreads: 1, logLevel: 'error' as never });
  model = await llama.loadModel({ modelPath: models.draftPath });
}, 120_000);

afterAll(async () => {
  await model?.dispose();
});

describe('readGgufVocab', () => {
  it('reads the vocabulary and the same tokenizer fingerprint as the oracle target engine', () => {
    expect(vocab.model).toBe('llama');
    expect(vocab.pieces.length).toBe(manifest.vocabSize);
    expect(vocab.bosId).toBe(model.tokens.bos);
    expect(vocab.eosId).toBe(model.tokens.eos);
    const ggml = model.fileInfo.metadata.tokenizer.ggml;
    expect(vocab.fingerprint).toBe(tokenizerFingerprint(ggml.tokens, ggml.token_type ?? []));
  });

  it('asks for more bytes when the header is cut short, and rejects non-GGUF bytes', () => {
    expect(() => readGgufVocab(bytes.subarray(0, 4096))).toThrow(GgufTruncatedError);
    expect(() => readGgufVocab(new TextEncoder().encode('not a model at all'))).toThrow(
      GgufFormatError
    );
  });
});

describe('detokenize', () => {
  function roundTrip(ids: number[]): number[] {
    const text = detokenize(vocab, ids);
    return model.tokenize(text, true) as number[];
  }

  it('round-trips the generated continuations through llama.cpp tokenization', () => {
    const continuations = manifest.expected?.continuations ?? [];
    expect(continuations.length).toBeGreaterThan(0);
    let exact = 0;
    for (const ids of continuations) {
      const back = roundTrip(ids);
      if (back.join(',') === ids.join(',')) exact += 1;
    }
    console.log(`detokenize round trip: ${exact}/${continuations.length} continuations exact`);
    expect(exact).toBe(continuations.length);
  });

  it('round-trips plain text and a chat prompt with control tokens', () => {
    for (const text of [
      'the quick brown fox',
      '<|im_start|>user\nhello there<|im_end|>\n<|im_start|>assistant\n'
    ]) {
      const ids = model.tokenize(text, true) as number[];
      expect(roundTrip(ids)).toEqual(ids);
    }
  });

  it('drops a leading BOS and rejects ids outside the vocabulary', () => {
    const ids = model.tokenize('hello world', true) as number[];
    expect(detokenize(vocab, [vocab.bosId!, ...ids])).toBe(detokenize(vocab, ids));
    expect(() => detokenize(vocab, [vocab.pieces.length])).toThrow(RangeError);
  });
});
