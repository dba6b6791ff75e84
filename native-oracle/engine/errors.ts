/**
 * Engine errors: one class per failure mode, `name` equal to the class name (code that sees an
 * error after it crossed a boundary branches on `name`), the cause kept.
 */

/** All `maxConcurrent` sequences are generating; the HTTP layer queues or answers 503. */
export class EngineBusyError extends Error {
  override name = 'EngineBusyError';
  constructor(readonly maxConcurrent: number) {
    super(`all ${maxConcurrent} generation slots are in use; retry later`);
  }
}

/** The model file could not be loaded (missing, not GGUF, unsupported, out of memory). */
export class ModelLoadError extends Error {
  override name = 'ModelLoadError';
  constructor(
    readonly modelPath: string,
    options?: { cause?: unknown }
  ) {
    super(`cannot load model ${modelPath}: ${causeText(options?.cause)}`, options);
  }
}

/** generate() options are malformed (both or neither of messages/prompt, bad numbers, ...). */
export class InvalidGenerateOptionsError extends Error {
  override name = 'InvalidGenerateOptionsError';
}

/** embed() input is malformed (not a non-empty array of non-empty strings, too many entries). */
export class InvalidEmbeddingInputError extends Error {
  override name = 'InvalidEmbeddingInputError';
}

/** Output generated for a forced tool call is not a complete call (e.g. cut by maxTokens). */
export class InvalidToolCallOutputError extends Error {
  override name = 'InvalidToolCallOutputError';
}

/** The prompt (after templating) does not fit in the context window. */
export class PromptTooLongError extends Error {
  override name = 'PromptTooLongError';
  constructor(
    readonly promptTokens: number,
    readonly contextSize: number
  ) {
    super(
      `prompt has ${promptTokens} tokens; the context holds ${contextSize} (including at least 1 to generate)`
    );
  }
}

/** A token id outside the vocabulary (from a caller or a draft source). */
export class InvalidTokenError extends Error {
  override name = 'InvalidTokenError';
}

/**
 * The caller's AbortSignal fired, or the engine was disposed mid-generation (cause
 * EngineDisposedError); the sequence has been freed. Also thrown by a draft-model call aborted
 * while it waited for a sequence.
 */
export class GenerationAbortedError extends Error {
  override name = 'GenerationAbortedError';
  constructor(options?: { cause?: unknown }) {
    super('generation aborted', options);
  }
}

/** The engine (or draft source) was disposed. */
export class EngineDisposedError extends Error {
  override name = 'EngineDisposedError';
  constructor(what = 'engine') {
    super(`${what} is disposed`);
  }
}

/** A JSON schema could not be turned into a grammar. */
export class InvalidJsonSchemaError extends Error {
  override name = 'InvalidJsonSchemaError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/**
 * An internal invariant of the engine broke (a bug, never bad input), e.g. the KV cache no longer
 * holds exactly the committed tokens. The generation stops rather than emit unverified text.
 */
export class EngineInvariantError extends Error {
  override name = 'EngineInvariantError';
}

/** Throws EngineInvariantError with `message` unless `condition` holds. */
export function invariant(condition: boolean, message: string): asserts condition {
  if (!condition) throw new EngineInvariantError(message);
}

function causeText(cause: unknown): string {
  return cause instanceof Error ? cause.message : String(cause ?? 'unknown error');
}
