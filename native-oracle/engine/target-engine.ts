/**
 * The oracle's target engine (contract: ./index.ts): llama.cpp via node-llama-cpp, generating
 * plainly or speculatively. This file holds the engine object; its parts sit beside it:
 * - ./slot-pool.ts: the llama.cpp sequences, one per concurrent generation, KV cache kept;
 * - ./branch-verify.ts: one more, spare sequence on which a greedy round verifies an alternative
 *   draft beside the main one in the same batch (so the context holds maxConcurrent + 1);
 * - ./prompt-renderer.ts and ./caches.ts: prompts, per-source governors, compiled grammars;
 * - ./generation.ts: one generation, running ./speculative-decoding.ts (verify rounds from
 *   ./speculative-round.ts) or ./constrained-decoding.ts (JSON schema);
 * - ./generate-options.ts and ./draft-validation.ts: checks of untrusted options and drafts;
 * - ./text-streamer.ts: streamed text and stop strings.
 */
import { basename } from 'node:path';
import {
  resolveChatWrapper,
  type Llama,
  type LlamaContext,
  type LlamaContextSequence,
  type LlamaModel,
  type Token
} from 'node-llama-cpp';
import { tokenizerFingerprint } from '../../src/lib/protocol/mesh.js';
import { createLogger } from '../../src/lib/server/log.js';
import { BranchPool, canCopySequenceState, copyLlamaSequenceState } from './branch-verify.js';
import { GovernorCache, GrammarCache } from './caches.js';
import { assertTokensInVocabulary } from './draft-validation.js';
import { EngineDisposedError, EngineBusyError, InvalidGenerateOptionsError } from './errors.js';
import { validateGenerateOptions } from './generate-options.js';
import { EmbeddingRunner } from './embeddings.js';
import { runGeneration, type EngineParts } from './generation.js';
import type {
  ChatMessage,
  ComputeBackend,
  EmbedOptions,
  EmbedResult,
  GenerateOptions,
  GenerationEvent,
  TargetEngine,
  TargetEngineOptions,
  ToolDefinition
} from './index.js';
import { loadModel } from './load-model.js';
import { PromptRenderer } from './prompt-renderer.js';
import { SlotPool } from './slot-pool.js';

const log = createLogger('shard:oracle:engine');

/** Tokens per sequence when the options name none (then capped at the model's trained size). */
const DEFAULT_CONTEXT_SIZE = 4096;
/** Concurrent generations when the options name none: two fit small machines' memory. */
const DEFAULT_MAX_CONCURRENT = 2;
/**
 * Spare sequences for verifying alternative drafts (./branch-verify.ts), beside the
 * `maxConcurrent` generation sequences and never handed to a generation. One: each costs a
 * sequence's KV cache, and one alternative per round already covers two disagreeing scouts.
 */
const BRANCH_SEQUENCES = 1;
/** How long dispose() waits for running generations to notice the abort. */
const DISPOSE_WAIT_MS = 5000;

/**
 * Loads the model and creates the engine. Throws InvalidGenerateOptionsError for a bad thread
 * or concurrency count and ModelLoadError when the file cannot be loaded. Call `dispose()` to
 * free the model; it aborts running generations first.
 */
export async function createTargetEngine(options: TargetEngineOptions): Promise<TargetEngine> {
  if (!Number.isInteger(options.threads) || options.threads < 1) {
    throw new InvalidGenerateOptionsError('threads must be a positive integer');
  }
  const maxConcurrent = options.maxConcurrent ?? DEFAULT_MAX_CONCURRENT;
  if (!Number.isInteger(maxConcurrent) || maxConcurrent < 1) {
    throw new InvalidGenerateOptionsError('maxConcurrent must be a positive integer');
  }
  const { llama, model, context, backend } = await loadModel({
    modelPath: options.modelPath,
    threads: options.threads,
    contextSize: options.contextSize ?? DEFAULT_CONTEXT_SIZE,
    isCappedAtTrainedContext: true,
    sequences: maxConcurrent + BRANCH_SEQUENCES,
    batchSize: options.batchSize,
    gpu: options.gpu
  });
  return new LlamaTargetEngine(options, llama, model, context, maxConcurrent, backend);
}

class LlamaTargetEngine implements TargetEngine {
  readonly modelId: string;
  readonly tokenizerFingerprint: string;
  readonly maxConcurrent: number;
  readonly vocabularySize: number;
  readonly embeddingLength: number;
  private readonly pool: SlotPool<LlamaContextSequence>;
  private readonly parts: EngineParts;
  private readonly embeddings: EmbeddingRunner;
  private isDisposed = false;

  constructor(
    options: TargetEngineOptions,
    private readonly llama: Llama,
    private readonly model: LlamaModel,
    private readonly context: LlamaContext,
    maxConcurrent: number,
    readonly backend: ComputeBackend
  ) {
    this.maxConcurrent = maxConcurrent;
    this.modelId = options.modelId ?? basename(options.modelPath).replace(/\.gguf$/i, '');
    const tokenizer = model.fileInfo.metadata.tokenizer.ggml;
    this.vocabularySize = tokenizer.tokens.length;
    this.tokenizerFingerprint = tokenizerFingerprint(tokenizer.tokens, tokenizer.token_type ?? []);
    this.embeddingLength = model.embeddingVectorSize;
    this.embeddings = new EmbeddingRunner(model, options.threads, context.contextSize);
    this.pool = new SlotPool(Array.from({ length: maxConcurrent }, () => context.getSequence()));
    const spares = Array.from({ length: BRANCH_SEQUENCES }, () => context.getSequence());
    const canBranch = spares.every(canCopySequenceState);
    if (!canBranch)
      log.warn(
        'this node-llama-cpp cannot copy a sequence state; alternative drafts are not verified, ' +
          'each round verifies its main draft only'
      );
    this.parts = {
      model,
      renderer: new PromptRenderer(model, resolveChatWrapper(model)),
      governors: new GovernorCache(options.governor),
      grammars: new GrammarCache(llama),
      defaultDraftSource: options.defaultDraftSource ?? null,
      vocabularySize: this.vocabularySize,
      modelId: this.modelId,
      branches: canBranch ? new BranchPool(spares, copyLlamaSequenceState) : null
    };
  }

  tokenize(text: string): number[] {
    this.assertAlive();
    return this.model.tokenize(text, false);
  }

  detokenize(tokens: readonly number[]): string {
    this.assertAlive();
    assertTokensInVocabulary(tokens, this.vocabularySize, 'detokenize');
    return this.model.detokenize(tokens as Token[]);
  }

  countChatTokens(messages: ChatMessage[], tools?: ToolDefinition[]): number {
    this.assertAlive();
    return this.parts.renderer.renderChat(messages, tools).length;
  }

  generate(options: GenerateOptions): AsyncGenerator<GenerationEvent> {
    this.assertAlive();
    validateGenerateOptions(options, this.vocabularySize);
    if (!this.pool.hasFree) throw new EngineBusyError(this.maxConcurrent);
    // The prompt picks the sequence with the longest cached prefix; a rendering error surfaces
    // from the generator instead (rendered again there), like every other request error.
    let prompt: number[] | null;
    try {
      prompt = this.parts.renderer.render(options);
    } catch {
      prompt = null;
    }
    const lease = this.pool.acquire(prompt);
    return guardGenerator(runGeneration(this.parts, lease, options, prompt), lease.release);
  }

  embed(options: EmbedOptions): Promise<EmbedResult> {
    if (this.isDisposed) return Promise.reject(new EngineDisposedError());
    return this.embeddings.embed(options);
  }

  async dispose(): Promise<void> {
    if (this.isDisposed) return;
    this.isDisposed = true;
    this.pool.abortAll(new EngineDisposedError());
    await this.pool.waitIdle(DISPOSE_WAIT_MS);
    await this.embeddings.dispose();
    await this.context.dispose();
    await this.model.dispose();
    await this.llama.dispose();
  }

  private assertAlive(): void {
    if (this.isDisposed) throw new EngineDisposedError();
  }
}

/** The shared fingerprint rule (src/lib/protocol/mesh.ts), re-exported for Node callers. */
export { tokenizerFingerprint };

/**
 * Wraps a generator so that the sequence is released even when the caller calls `return()`
 * before the first `next()` (a never-started async generator body has no `finally` to run).
 */
function guardGenerator<T>(inner: AsyncGenerator<T>, release: () => void): AsyncGenerator<T> {
  let isStarted = false;
  const wrapper: AsyncGenerator<T> = {
    next: (...args: [] | [unknown]) => {
      isStarted = true;
      return inner.next(...(args as []));
    },
    return: async (value: unknown) => {
      if (!isStarted) release();
      isStarted = true;
      return inner.return(value as never);
    },
    throw: async (err: unknown) => {
      if (!isStarted) release();
      isStarted = true;
      return inner.throw(err);
    },
    [Symbol.asyncIterator]() {
      return wrapper;
    }
  } as AsyncGenerator<T>;
  return wrapper;
}
