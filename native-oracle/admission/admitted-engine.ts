/**
 * Wraps a TargetEngine so that every `generate()` first takes a slot from the shared admission
 * queue, as the client of the current request (client-context.ts), after checking `maxTokens`
 * against the configured limit. The chat and completion routes, the workflows and the mesh all
 * generate through this wrapper, so they share one queue and none of them meets the engine's
 * EngineBusyError. A request's contributor priority (client-context.ts) decides its place
 * (queue.ts, earned priority), and how it was admitted is written back to its client context.
 */
import { delegateEngine } from '../engine/delegate.js';
import { InvalidGenerateOptionsError } from '../engine/errors.js';
import type { GenerateOptions, GenerationEvent, TargetEngine } from '../engine/index.js';
import { currentClient } from './client-context.js';
import type { AdmissionQueue } from './queue.js';

/**
 * Default largest `max_tokens` one request may ask for (`--max-tokens-limit`). A generation
 * holds its slot until it ends, so this bounds how long one request keeps others waiting: 4096
 * tokens is a long answer (about 3000 words).
 */
export const DEFAULT_MAX_TOKENS_LIMIT = 4096;

/**
 * Returns an engine with the same contract whose `generate()` waits its turn in `queue`
 * (honouring `options.signal`) and releases the slot when the generation ends, fails or is
 * abandoned. Throws from the first `next()`: InvalidGenerateOptionsError (400) when `maxTokens`
 * is over `limits.maxTokensLimit` (default DEFAULT_MAX_TOKENS_LIMIT), QueueFullError /
 * AdmissionAbortedError from the queue.
 */
export function admitEngine(
  engine: TargetEngine,
  queue: AdmissionQueue,
  limits: { maxTokensLimit?: number } = {}
): TargetEngine {
  const maxTokensLimit = limits.maxTokensLimit ?? DEFAULT_MAX_TOKENS_LIMIT;
  return delegateEngine(engine, {
    generate: (options: GenerateOptions) => admittedGenerate(engine, queue, options, maxTokensLimit)
  });
}

async function* admittedGenerate(
  engine: TargetEngine,
  queue: AdmissionQueue,
  options: GenerateOptions,
  maxTokensLimit: number
): AsyncGenerator<GenerationEvent> {
  if (options.maxTokens !== undefined && options.maxTokens > maxTokensLimit) {
    throw new InvalidGenerateOptionsError(
      `max_tokens: ${options.maxTokens} is over this oracle's limit of ${maxTokensLimit} tokens per request (--max-tokens-limit); ask for at most ${maxTokensLimit}`
    );
  }
  const client = currentClient();
  const priority = client?.priority;
  const { release, info } = await queue.admit({
    ...(options.signal ? { signal: options.signal } : {}),
    ...(client ? { client: client.id } : {}),
    class: priority?.class ?? 'consumer',
    credit: priority?.credit ?? 0
  });
  if (client) client.admission = info;
  try {
    yield* engine.generate(options);
  } finally {
    release();
  }
}
