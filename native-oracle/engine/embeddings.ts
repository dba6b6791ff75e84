/**
 * Embeddings of the loaded target model (OpenAI `/v1/embeddings`): a node-llama-cpp embedding
 * context, created on the first `embed()` call (most oracles never embed, and it holds its own
 * KV cache), with the engine's explicit thread count, and disposed with the engine.
 */
import type { LlamaEmbeddingContext, LlamaModel } from 'node-llama-cpp';
import {
  EngineDisposedError,
  GenerationAbortedError,
  InvalidEmbeddingInputError,
  PromptTooLongError
} from './errors.js';
import type { EmbedOptions, EmbedResult } from './index.js';

/** Inputs per call at most: OpenAI's documented limit for one embeddings request (2048). */
export const MAX_EMBED_INPUTS = 2048;

/** The engine's embedding context, created lazily; owned by one engine. */
export class EmbeddingRunner {
  private context: Promise<LlamaEmbeddingContext> | null = null;
  private isDisposed = false;

  constructor(
    private readonly model: LlamaModel,
    private readonly threads: number,
    private readonly contextSize: number
  ) {}

  /**
   * Embeds every input in order. Throws InvalidEmbeddingInputError (not a non-empty array of
   * non-empty strings, or more than MAX_EMBED_INPUTS), PromptTooLongError (an input longer than
   * the context), GenerationAbortedError (signal), EngineDisposedError.
   */
  async embed(options: EmbedOptions): Promise<EmbedResult> {
    validateEmbedInput(options?.input);
    const context = await this.getContext();
    const vectors: number[][] = [];
    const tokenCounts: number[] = [];
    for (const text of options.input) {
      if (options.signal?.aborted)
        throw new GenerationAbortedError({ cause: options.signal.reason });
      if (this.isDisposed) throw new EngineDisposedError();
      const length = context.calculateInputLength(text);
      if (length >= this.contextSize) throw new PromptTooLongError(length, this.contextSize);
      const embedding = await context.getEmbeddingFor(text);
      vectors.push([...embedding.vector]);
      tokenCounts.push(length);
    }
    return { vectors, tokenCounts, totalTokens: tokenCounts.reduce((a, b) => a + b, 0) };
  }

  /** Called by the engine's dispose(), before the model is freed. */
  async dispose(): Promise<void> {
    this.isDisposed = true;
    const context = this.context;
    this.context = null;
    if (context) await (await context.catch(() => null))?.dispose();
  }

  private getContext(): Promise<LlamaEmbeddingContext> {
    if (this.isDisposed) throw new EngineDisposedError();
    this.context ??= this.model
      .createEmbeddingContext({ threads: this.threads, contextSize: this.contextSize })
      .catch((err: unknown) => {
        this.context = null; // a failed creation is retried by the next call
        throw err;
      });
    return this.context;
  }
}

function validateEmbedInput(input: unknown): asserts input is string[] {
  if (!Array.isArray(input) || input.length === 0)
    throw new InvalidEmbeddingInputError('input must be a non-empty array of strings');
  if (input.length > MAX_EMBED_INPUTS)
    throw new InvalidEmbeddingInputError(
      `input has ${input.length} entries; at most ${MAX_EMBED_INPUTS}`
    );
  input.forEach((text, i) => {
    if (typeof text !== 'string' || text.length === 0)
      throw new InvalidEmbeddingInputError(`input[${i}] must be a non-empty string`);
  });
}
