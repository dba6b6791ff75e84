/**
 * The oracle's engine contract: the target model (llama.cpp via node-llama-cpp) that generates
 * plainly or speculatively, verifying drafts in one batched pass per round. The HTTP layer, the
 * mesh (remote scouts as draft sources) and the workflows all use this interface only.
 *
 * Invariant: every committed token is the target's own choice at its position: its argmax in
 * the verify pass (greedy) or its draw with the uniform keyed by (seed, output position)
 * (sampling; ./sampling.ts, ./acceptance.ts). A draft is accepted iff it equals that choice, so
 * drafts only decide how many tokens one round commits, never which tokens.
 *
 * Use (Node only; every llama.cpp user passes explicit threads):
 *
 *   const engine = await createTargetEngine({ modelPath, threads: 2, maxConcurrent: 2 });
 *   const draft = await createDraftModelSource({ modelPath: draftPath, threads: 1 });
 *   for await (const event of engine.generate({ messages, maxTokens: 64, draftSource: draft })) {
 *     if (event.type === 'tokens') process.stdout.write(event.text);
 *     else console.log(event.finishReason, event.stats);
 *   }
 *   await draft.dispose();
 *   await engine.dispose();
 *
 * Implementation beside this file (./target-engine.ts and the units it names).
 *
 * `generate()` throws EngineBusyError synchronously when all sequences are in use; abort with
 * `signal` (the generator then throws GenerationAbortedError). Errors: ./errors.ts.
 */

import type { GovernorOptions } from './governor.js';
import type { TokenLogprob, TokenLogprobs } from './sampling.js';

/**
 * One chat message, OpenAI-style. Tool traffic: an assistant message may carry `tool_calls`
 * (its `content` may then be ''; the HTTP layer maps OpenAI's null content to ''), and each call
 * must be answered by a later `role: 'tool'` message with the call's id in `tool_call_id`
 * (rendering: ./tool-calls.ts). Malformed messages throw InvalidGenerateOptionsError.
 */
export interface ChatMessage {
  role: 'system' | 'user' | 'assistant' | 'tool';
  content: string;
  /** Assistant messages only: the calls it made. OpenAI `tool_calls`. */
  tool_calls?: ToolCall[];
  /** Tool messages only (required there): the id of the call this result answers. */
  tool_call_id?: string;
}

/** A call the assistant made, as OpenAI sends it. */
export interface ToolCall {
  id: string;
  type: 'function';
  /** `arguments` is JSON text (rendered as a value when it parses, else as the text). */
  function: { name: string; arguments: string };
}

/** A tool the model may call, as OpenAI sends it (`tools[]`). */
export interface ToolDefinition {
  type: 'function';
  function: {
    /** Letters, digits, `_` and `-`, at most 64 characters; unique within `tools`. */
    name: string;
    description?: string;
    /** JSON schema of the arguments (node-llama-cpp's grammar subset); default an empty object. */
    parameters?: object;
  };
}

/** OpenAI `tool_choice`: `none` / `auto` generate text; `required` or a named tool force a call. */
export type ToolChoice =
  'none' | 'auto' | 'required' | { type: 'function'; function: { name: string } };

/**
 * Sampling settings; `temperature` 0 (the default) means greedy. Every setting applies
 * identically in plain decoding and in the verify pass of speculative decoding (a draft is
 * accepted only where the transformed target distribution chooses it), so output never depends
 * on whether or what was drafted. Order of the transforms (./sampling.ts): logitBias and the
 * penalties on the raw logits, then topK, topP, minP (sampling only), then the temperature.
 * Out-of-range values throw InvalidGenerateOptionsError from `generate()`, naming the field.
 */
export interface SamplingOptions {
  /** Default 0 (greedy). 0..100. OpenAI `temperature`. */
  temperature?: number;
  /** Default 1 (no nucleus truncation). In (0, 1]. OpenAI `top_p`. */
  topP?: number;
  /**
   * Seed of the sampler; default a fresh random seed per request (not reproducible). The
   * uniform used at output position i derives from (seed, i) only, so the same seed gives the
   * same text with speculation off, with a draft model or with prompt lookup (up to llama.cpp's
   * CPU batch drift at a near-boundary draw, as for greedy near-ties). Any integer. OpenAI `seed`.
   */
  seed?: number;
  /**
   * Keep only the k most likely tokens before sampling; default 0 (off). Integer >= 0. Ignored
   * when greedy. No OpenAI field (llama.cpp servers accept `top_k`).
   */
  topK?: number;
  /**
   * Drop tokens whose probability is below minP times the top token's; default 0 (off). 0..1.
   * Ignored when greedy. No OpenAI field (llama.cpp servers accept `min_p`).
   */
  minP?: number;
  /**
   * Subtracted once from the logit of every token already present in the OUTPUT (not the
   * prompt); default 0. -2..2. OpenAI `presence_penalty`.
   */
  presencePenalty?: number;
  /**
   * Subtracted from the logit of every token once per time it already appears in the OUTPUT;
   * default 0. -2..2. OpenAI `frequency_penalty`.
   */
  frequencyPenalty?: number;
  /**
   * Token id (decimal string or number key) -> bias added to that token's logit; default none.
   * Biases in -100..100; -100 bans the token outright, +100 makes it all but certain. At most
   * 1024 entries; every id must be inside the vocabulary. OpenAI `logit_bias`.
   */
  logitBias?: Readonly<Record<string, number>>;
  /**
   * Report each committed token's log-probability in `tokens` events (`logprobs`); default
   * false. The distribution is the one the token was chosen from: the final (transformed,
   * truncated, tempered) one when sampling, the softmax of the biased and penalised logits when
   * greedy. Taken from the verify pass, so free when drafts are verified. OpenAI `logprobs`.
   */
  logprobs?: boolean;
  /**
   * Alternatives reported per token (most likely first), 0..20; default 0. Requires
   * `logprobs: true`. OpenAI `top_logprobs`.
   */
  topLogprobs?: number;
}

/** A token's log-probability report (`tokens` events, when `logprobs` was requested). */
export type { TokenLogprobs, TokenLogprob };

/** A proposal of draft tokens for the positions right after `context`. */
export interface DraftProposal {
  tokens: number[];
  /**
   * The draft's probability distribution at each drafted position, as sparse [tokenId, p] pairs.
   * Optional and informational: the engine accepts a draft iff it equals the target's own
   * (position-keyed) choice, which is exact whatever the draft's distribution, so it does not
   * read them. Validated and kept for sources and tools that report them.
   */
  probs?: Array<Array<[number, number]>>;
  /**
   * Other drafts for the same first position (e.g. from other scouts), verified beside `tokens`
   * in the same batched pass on spare sequences; the round commits the path the target accepts
   * furthest (ties go to `tokens`). Greedy rounds only: a sampling round ignores them. Validated
   * like `tokens` (in-vocabulary, at most k long); duplicates and prefixes of `tokens` are
   * dropped and at most MAX_ALTERNATIVES (./draft-validation.ts) kept.
   */
  alternatives?: number[][];
}

/**
 * What the engine's speculation governor tells a draft source about one round (see
 * ./governor.ts). The governor alone decides whether a round drafts and how many tokens; a
 * source that waits for drafts (a remote scout) uses this to decide how long.
 */
export interface DraftBudget {
  /**
   * Milliseconds the draft call may spend waiting for drafts it does not hold yet: past this,
   * answer with what has arrived (or null). Drafts already held cost nothing and are always
   * returned. A measuring or probe round gets a long budget so that a live source answers once.
   */
  waitMs: number;
  /** The governor's per-token acceptance estimate for this source, in (0, 1). */
  acceptance: number;
  /** The target's plain decode step in ms as the governor measured it; null before any. */
  targetStepMs: number | null;
}

/** One draft call: the argument of `DraftSource.draft()`. */
export interface DraftRequest {
  context: readonly number[];
  k: number;
  signal: AbortSignal;
  /**
   * Present when the target samples (temperature > 0): a source that can should sample its
   * drafts from its own distribution at these settings and return `probs`. Absent = greedy.
   * `seed` (fresh each round, derived from the request's seed) makes seeded requests
   * reproducible when the source samples with it.
   */
  sampling?: {
    temperature: number;
    topP: number;
    seed?: number;
    /**
     * The uniform in [0, 1) the target will draw each drafted position with (inverse CDF over
     * ascending token ids: ./sampling.ts). A source that samples its draft j by inverse CDF of
     * its own distribution with `uniforms[j]` proposes what the target will draw whenever the
     * two distributions agree there; acceptance is exact either way.
     */
    uniforms?: number[];
  };
  /**
   * The governor's budget for this round. Absent when speculation is forced on (`'on'`): the
   * round drafts the full length and a source may wait up to its own cap for k drafts.
   */
  budget?: DraftBudget;
}

/**
 * Anything that can propose draft tokens: prompt lookup on the oracle, a local draft model,
 * or a remote scout over the mesh. Returning null means "no draft this round" (plain decode).
 */
export interface DraftSource {
  /** Stable label that appears in stats, e.g. `prompt-lookup`, `draft-model`, `scout:<peerId>`. */
  readonly name: string;
  /**
   * Called once per drafting round with the full committed token sequence (prompt + output so
   * far). The engine waits for the answer, so it should come quickly: the governor measures each
   * call and stops drafting from a source that does not pay. A source never decides on its own
   * to skip drafting: asked, it drafts what it can within `budget`. `signal` aborts when the
   * generation ends; a throwing or invalid answer counts as no draft for that round.
   */
  draft(req: DraftRequest): Promise<DraftProposal | null>;
  /**
   * Called after each round with the verify outcome, so sources can keep their own state.
   * `branch` says whose path was committed: 0 (or absent) the proposal's `tokens`, i its
   * `alternatives[i - 1]`; `drafted` and `accepted` are that path's.
   */
  onVerified?(result: { accepted: number; drafted: number; branch?: number }): void;
}

/** How the speculation governor decided for this request. */
export interface GovernorDecision {
  isSpeculating: boolean;
  /** Predicted tokens/s of speculative decoding divided by plain decoding. */
  predictedSpeedup: number;
  /**
   * Measured tokens/ms of this source's recent speculative rounds (draft call + verify)
   * divided by the plain decode rate; null until enough rounds were measured, absent where no
   * governor decided (speculation off or forced on).
   */
  realizedSpeedup?: number | null;
  /** Plain words, one of the forms listed in ./governor.ts (`GOVERNOR_REASON_FORMS`). */
  reason: string;
}

export interface GenerationStats {
  mode: 'standard' | 'speculative';
  draftSource: string | null;
  promptTokens: number;
  completionTokens: number;
  rounds: number;
  drafted: number;
  accepted: number;
  /** accepted / drafted; 0 when nothing was drafted. */
  acceptanceRate: number;
  governor: GovernorDecision;
  durationMs: number;
  /** Prompt tokens whose KV cache was reused from an earlier generation on the same sequence. */
  cachedPromptTokens?: number;
  /**
   * Rounds that verified alternative drafts beside the main draft in the same batched pass
   * (DraftProposal.alternatives); absent when none did.
   */
  branchRounds?: number;
  /** Of `branchRounds`, the rounds that committed an alternative's path instead of the main one. */
  branchWins?: number;
}

export type FinishReason = 'stop' | 'length';

/** Events yielded by a generation, in order: zero or more `tokens`, then one `done`. */
export type GenerationEvent =
  | {
      type: 'tokens';
      tokens: number[];
      text: string;
      /**
       * Present when `logprobs` was requested: one report per entry of `tokens` (same order),
       * each with the token's log-probability and `topLogprobs` alternatives. OpenAI
       * `choices[].logprobs.content[]` (`token`/`bytes` from detokenizing the ids).
       */
      logprobs?: TokenLogprobs[];
    }
  | { type: 'done'; finishReason: FinishReason; text: string; stats: GenerationStats };

export interface GenerateOptions extends SamplingOptions {
  /** Chat messages, rendered with the model's chat template. Exactly one of messages/prompt. */
  messages?: ChatMessage[];
  /** Raw text prompt (no template). */
  prompt?: string;
  /**
   * Tools documented in the prompt (with `messages` only) through the chat wrapper; default
   * none. At most 128, each a valid ToolDefinition, else InvalidGenerateOptionsError. Listing
   * tools forces nothing: to force a call pass `jsonSchema: toolCallSchema(tools, toolChoice)`
   * (./tool-calls.ts) and read the output with `parseToolCallOutput()`. OpenAI `tools`.
   */
  tools?: ToolDefinition[];
  /** Default 256; capped by the context's room after the prompt. */
  maxTokens?: number;
  /**
   * Stop strings; the output ends right before the stop string that completes first (as a
   * character-by-character stream would see it). Empty strings are ignored.
   */
  stop?: string[];
  /** Where drafts come from; default none (or the engine's configured default source). */
  draftSource?: DraftSource | null;
  /** `auto` (default) lets the governor decide; `off` never drafts; `on` always drafts. */
  speculation?: 'auto' | 'off' | 'on';
  /** Draft length per round; default 8, at most 64 (the governor may shorten it). */
  draftLength?: number;
  /** Aborting stops generation at the next token boundary and frees the sequence. */
  signal?: AbortSignal;
  /**
   * Constrain the output to JSON matching this schema (node-llama-cpp's JSON-schema grammar
   * subset: type, properties, required, items, enum, const, oneOf, minLength/maxLength, ...).
   * Speculation is off for such requests.
   */
  jsonSchema?: object;
}

/** Options of `TargetEngine.embed()` (OpenAI `/v1/embeddings`). */
export interface EmbedOptions {
  /**
   * Texts to embed, in order (OpenAI `input`; a single string is the HTTP layer's to wrap).
   * 1..2048 non-empty strings, each shorter than the engine's context; otherwise embed()
   * rejects with InvalidEmbeddingInputError or PromptTooLongError.
   */
  input: string[];
  /** Aborting stops before the next input (embed() rejects with GenerationAbortedError). */
  signal?: AbortSignal;
}

/** What `embed()` returns: one vector per input, in input order. */
export interface EmbedResult {
  /** Each of length `TargetEngine.embeddingLength`. OpenAI `data[i].embedding`. */
  vectors: number[][];
  /** Tokens each input was evaluated as. */
  tokenCounts: number[];
  /** Sum of tokenCounts. OpenAI `usage.prompt_tokens` and `usage.total_tokens`. */
  totalTokens: number;
}

/** Options of createTargetEngine(). */
export interface TargetEngineOptions {
  modelPath: string;
  /** llama.cpp threads. Required: default thread counts collapse decoding on small machines. */
  threads: number;
  /** Tokens per sequence (prompt + output + drafts). Default 4096, capped at the model's. */
  contextSize?: number;
  /**
   * Generations that may run at once, one llama.cpp sequence each. Default 2. The context holds
   * one more sequence (with its own KV cache), used by one round at a time to verify another
   * scout's diverging draft beside the main one (./branch-verify.ts).
   */
  maxConcurrent?: number;
  /** Reported model id. Default the file name without `.gguf`. */
  modelId?: string;
  /** Used when GenerateOptions.draftSource is undefined. Default none. */
  defaultDraftSource?: DraftSource | null;
  /** Settings of the per-source speculation governors (defaults in ./governor.ts). */
  governor?: GovernorOptions;
  /** Evaluation batch size. Default node-llama-cpp's: 512, or the context size when smaller. */
  batchSize?: number;
  /**
   * llama.cpp compute backend. Default `cpu` (deterministic; what the generated test models use).
   * `auto` offloads to a GPU when node-llama-cpp finds a usable one and falls back to the CPU;
   * `cuda`, `vulkan` and `metal` insist on that backend and fail with ModelLoadError without it.
   */
  gpu?: GpuChoice;
}

/** The `--gpu` choices: `cpu`, `auto` (a GPU when usable), or one named GPU backend. */
export type GpuChoice = 'cpu' | 'auto' | 'cuda' | 'vulkan' | 'metal';

/** The backend llama.cpp actually runs on, as `/health` reports it. */
export type ComputeBackend = 'cpu' | 'cuda' | 'vulkan' | 'metal';

/** The target engine; created by createTargetEngine(), freed by dispose(). */
export interface TargetEngine {
  /** Model id reported by /v1/models and responses. */
  readonly modelId: string;
  /** Hash of the vocabulary (tokens + types); scouts must match it to draft for this target. */
  readonly tokenizerFingerprint: string;
  /** Number of tokens in the target's vocabulary; draft token ids must be below it. */
  readonly vocabularySize: number;
  /** Number of generations that may run at once (llama.cpp sequences). */
  readonly maxConcurrent: number;
  /** The compute backend llama.cpp runs this model on (after `gpu: 'auto'` chose). */
  readonly backend: ComputeBackend;
  /** Tokens of plain text (no BOS, special tokens as text). Throws EngineDisposedError. */
  tokenize(text: string): number[];
  /** Text of tokens. Throws InvalidTokenError for an id outside the vocabulary. */
  detokenize(tokens: readonly number[]): string;
  /**
   * Token count of a chat after templating, with `tools` documented as generate() would (for
   * prompt limits and usage). Throws InvalidGenerateOptionsError for unanswered tool calls.
   */
  countChatTokens(messages: ChatMessage[], tools?: ToolDefinition[]): number;
  /**
   * Streams a generation on a free sequence. Throws synchronously InvalidGenerateOptionsError
   * (malformed options) or EngineBusyError (all sequences in use); the generator throws
   * PromptTooLongError, InvalidJsonSchemaError, GenerationAbortedError or EngineInvariantError.
   * The sequence is freed when the generator ends, throws or is return()ed.
   */
  generate(options: GenerateOptions): AsyncGenerator<GenerationEvent>;
  /** Length of the vectors `embed()` returns (the model's embedding size). */
  readonly embeddingLength: number;
  /**
   * Embeds texts with the loaded model (its own embedding context, created on the first call
   * with the engine's threads, freed by dispose()). Runs beside generations; calls are served
   * one input at a time. Rejects with InvalidEmbeddingInputError, PromptTooLongError,
   * GenerationAbortedError (signal) or EngineDisposedError.
   */
  embed(options: EmbedOptions): Promise<EmbedResult>;
  /** Aborts running generations (waiting up to 5 s for them), then frees the model. */
  dispose(): Promise<void>;
}

export { createTargetEngine } from './target-engine.js';
export { createPromptLookupSource, type PromptLookupOptions } from './prompt-lookup.js';
export {
  createDraftModelSource,
  type DraftModelSource,
  type DraftModelSourceOptions
} from './draft-model-source.js';
export { MAX_TOOLS, parseToolCallOutput, toolCallSchema, validateTools } from './tool-calls.js';
export {
  createSpeculationGovernor,
  SpeculationGovernor,
  type GovernorOptions
} from './governor.js';
export {
  EngineBusyError,
  EngineDisposedError,
  EngineInvariantError,
  GenerationAbortedError,
  InvalidEmbeddingInputError,
  InvalidGenerateOptionsError,
  InvalidJsonSchemaError,
  InvalidTokenError,
  InvalidToolCallOutputError,
  ModelLoadError,
  PromptTooLongError
} from './errors.js';
