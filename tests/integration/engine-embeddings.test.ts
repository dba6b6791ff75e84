/**
 * Embeddings of the generated target model through `TargetEngine.embed()` on the real
 * llama.cpp: one vector per input of the model's embedding length, identical inputs give
 * identical vectors, different inputs differ, token counts are reported, bad input is refused,
 * and generation still works beside the embedding context.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createTargetEngine,
  EngineDisposedError,
  GenerationAbortedError,
  InvalidEmbeddingInputError,
  PromptTooLongError,
  type TargetEngine
} from '../../native-oracle/engine/index.js';
import { ensureTestModels, type PairManifest } from '../helpers/models.js';

const CONTEXT_SIZE = 256;

let engine: TargetEngine;
let manifest: PairManifest;

beforeAll(async () => {
  const models = await ensureTestModels();
  manifest = models.manifest;
  engine = await createTargetEngine({
    modelPath: models.targetPath,
    threads: 1,
    contextSize: CONTEXT_SIZE,
    maxConcurrent: 1
  });
});

afterAll(async () => {
  await engine?.dispose();
});

describe('target engine: embeddings', () => {
  it('returns one vector per input of the model embedding length; same text, same vector', async () => {
    const input = [
      'the king found a gold ring',
      'children walk to school',
      'the king found a gold ring'
    ];
    const result = await engine.embed({ input });
    expect(engine.embeddingLength).toBe(manifest.config.nEmbd);
    expect(result.vectors).toHaveLength(3);
    for (const v of result.vectors) {
      expect(v).toHaveLength(engine.embeddingLength);
      expect(v.every(Number.isFinite)).toBe(true);
    }
    expect(result.vectors[2]).toEqual(result.vectors[0]);
    expect(result.vectors[1]).not.toEqual(result.vectors[0]);
    const again = await engine.embed({ input: [input[1]] });
    expect(again.vectors[0]).toEqual(result.vectors[1]);
    expect(result.tokenCounts[0]).toBeGreaterThanOrEqual(engine.tokenize(input[0]).length);
    expect(result.totalTokens).toBe(result.tokenCounts.reduce((a, b) => a + b, 0));
    // Generation is unaffected by the embedding context beside it.
    const events = [];
    for await (const e of engine.generate({ prompt: 'the river', maxTokens: 4 })) events.push(e);
    expect(events.at(-1)?.type).toBe('done');
  });

  it('refuses bad input and honours abort', async () => {
    await expect(engine.embed({ input: [] })).rejects.toThrow(InvalidEmbeddingInputError);
    await expect(engine.embed({ input: [''] })).rejects.toThrow(
      /input\[0\] must be a non-empty string/
    );
    const long = Array.from({ length: CONTEXT_SIZE + 10 }, () => 'word').join(' ');
    await expect(engine.embed({ input: [long] })).rejects.toThrow(PromptTooLongError);
    const controller = new AbortController();
    controller.abort(new Error('client went away'));
    await expect(engine.embed({ input: ['x'], signal: controller.signal })).rejects.toThrow(
      GenerationAbortedError
    );
  });

  it('is refused after dispose', async () => {
    const models = await ensureTestModels();
    const other = await createTargetEngine({
      modelPath: models.targetPath,
      threads: 1,
      contextSize: 128
    });
    await other.embed({ input: ['hello'] });
    await other.dispose();
    await expect(other.embed({ input: ['hello'] })).rejects.toThrow(EngineDisposedError);
  });
});
