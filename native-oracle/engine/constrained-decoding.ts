/**
 * The constrained decoding loop (requests with `jsonSchema`): node-llama-cpp samples one token at
 * a time under a grammar compiled from the schema. No drafts: a draft source knows nothing of
 * the grammar, so speculation is off for these requests.
 */
import { LlamaGrammarEvaluationState, type LlamaGrammar, type Token } from 'node-llama-cpp';
import type { DecodeRun } from './decode-run.js';
import type { FinishReason, GenerationEvent } from './index.js';

interface ConstrainedSettings {
  grammar: LlamaGrammar;
  /** 0 = greedy. */
  temperature: number;
  topP: number;
  /** The request's seed; undefined lets node-llama-cpp pick one. */
  seed: number | undefined;
}

/**
 * Decodes from the pending prompt tail until the grammar completes (end of generation), a stop
 * string, or `run.maxTokens`. Yields a `tokens` event for each token that adds text (or reaches
 * a stop string); returns the finish reason. node-llama-cpp keeps the KV cache itself here.
 */
export async function* decodeConstrained(
  run: DecodeRun,
  settings: ConstrainedSettings
): AsyncGenerator<Extract<GenerationEvent, { type: 'tokens' }>, FinishReason> {
  const { state, output } = run;
  const grammarEvaluationState = new LlamaGrammarEvaluationState({
    model: run.model,
    grammar: settings.grammar
  });
  const iterator = run.sequence.evaluate(state.committed.slice(state.nPast) as Token[], {
    temperature: settings.temperature,
    topP: settings.topP,
    // topK 0 = whole vocabulary (node-llama-cpp's default is 40), minP 0 = no floor: the same
    // distribution as the speculative path samples from.
    topK: 0,
    minP: 0,
    seed: settings.seed,
    grammarEvaluationState
  });
  let isStopped = false;
  try {
    for await (const token of iterator) {
      run.throwIfAborted();
      run.counters.rounds++;
      output.tokens.push(token);
      const delta = output.update();
      if (delta.text || delta.isStopped)
        yield { type: 'tokens', tokens: [token], text: delta.text };
      if (delta.isStopped) {
        isStopped = true;
        break;
      }
      if (output.tokens.length >= run.maxTokens) break;
    }
  } finally {
    await iterator.return();
  }
  // The iterator ends by itself only at an end-of-generation token, which it does not yield.
  return isStopped || output.tokens.length < run.maxTokens ? 'stop' : 'length';
}
