/**
 * Wraps a TargetEngine so that every `generate()` first takes a slot from the shared admission
 * queue. The chat route, the workflows and the mesh all generate through this wrapper, so they
 * share one FIFO and none of them meets the engine's EngineBusyError.
 */
import { delegateEngine } from '../engine/delegate.js';
import type { GenerateOptions, GenerationEvent, TargetEngine } from '../engine/index.js';
import type { AdmissionQueue } from './queue.js';

/**
 * Returns an engine with the same contract whose `generate()` waits its turn in `queue`
 * (honouring `options.signal`) and releases the slot when the generation ends, fails or is
 * abandoned. Throws QueueFullError / AdmissionAbortedError from the first `next()`.
 */
export function admitEngine(engine: TargetEngine, queue: AdmissionQueue): TargetEngine {
  return delegateEngine(engine, {
    generate: (options: GenerateOptions) => admittedGenerate(engine, queue, options)
  });
}

async function* admittedGenerate(
  engine: TargetEngine,
  queue: AdmissionQueue,
  options: GenerateOptions
): AsyncGenerator<GenerationEvent> {
  const release = await queue.acquire(options.signal);
  try {
    yield* engine.generate(options);
  } finally {
    release();
  }
}
