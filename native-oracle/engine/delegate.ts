/**
 * One way to wrap a TargetEngine: every member delegates to the inner engine except the ones the
 * wrapper overrides. The admission queue, metrics and test wrappers use it, so a member added to
 * the TargetEngine contract reaches them all instead of being forgotten in a hand-written copy.
 */
import type { TargetEngine } from './index.js';

/** The members a wrapper may replace; the rest always come from the inner engine. */
export type EngineOverrides = Partial<Pick<TargetEngine, 'generate' | 'embed' | 'dispose'>>;

/**
 * Returns an engine that reads every property of `engine` live (getters, so values such as
 * `backend` stay current) and calls its methods, except those in `overrides`.
 */
export function delegateEngine(
  engine: TargetEngine,
  overrides: EngineOverrides = {}
): TargetEngine {
  return {
    get modelId() {
      return engine.modelId;
    },
    get tokenizerFingerprint() {
      return engine.tokenizerFingerprint;
    },
    get vocabularySize() {
      return engine.vocabularySize;
    },
    get maxConcurrent() {
      return engine.maxConcurrent;
    },
    get backend() {
      return engine.backend;
    },
    get embeddingLength() {
      return engine.embeddingLength;
    },
    tokenize: (text) => engine.tokenize(text),
    detokenize: (tokens) => engine.detokenize(tokens),
    countChatTokens: (messages, tools) => engine.countChatTokens(messages, tools),
    generate: overrides.generate ?? ((options) => engine.generate(options)),
    embed: overrides.embed ?? ((options) => engine.embed(options)),
    dispose: overrides.dispose ?? (() => engine.dispose())
  };
}
