/**
 * The constrained decoding loop (requests with `jsonSchema`): node-llama-cpp samples one token at
 * a time under a grammar compiled from the schema. No drafts: a draft source knows nothing of
 * the grammar, so speculation is off for these requests.
 */
import {
  LlamaGrammarEvaluationState,
  TokenBias,
  type LlamaGrammar,
  type LlamaModel,
  type Token
} from 'node-llama-cpp';
import type { DecodeRun } from './decode-run.js';
import type { FinishReason, GenerationEvent } from './index.js';
import { BAN_LOGIT_BIAS, type TokenChoiceSettings, type TokenLogprobs } from './sampling.js';

interface ConstrainedSettings {
  grammar: LlamaGrammar;
  /**
   * The request's token choice, applied by llama.cpp's sampler chain in the same order as
   * ./sampling.ts (bias and penalties, top-k, top-p, min-p, temperature), the grammar first.
   * The seed seeds node-llama-cpp's sampler (no drafts here, so one stream is reproducible).
   */
  settings: TokenChoiceSettings;
  /** Alternatives per token in the log-probability report; null = no report. */
  topLogprobs: number | null;
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
  const isReporting = settings.topLogprobs !== null;
  const iterator = run.sequence.evaluateWithMetadata(
    state.committed.slice(state.nPast) as Token[],
    { probabilities: isReporting },
    { ...samplerOptions(run.model, settings.settings, output.tokens), grammarEvaluationState }
  );
  let isStopped = false;
  // Tokens (and reports) not yet streamed: a token that adds no text waits for the next one.
  let pending: number[] = [];
  let pendingLogprobs: TokenLogprobs[] = [];
  try {
    for await (const next of iterator) {
      const { token } = next;
      const { probabilities } = next as { probabilities?: Map<Token, number> };
      run.throwIfAborted();
      run.counters.rounds++;
      output.tokens.push(token);
      pending.push(token);
      if (isReporting)
        pendingLogprobs.push(reportFrom(probabilities, token, settings.topLogprobs!));
      const delta = output.update();
      if (delta.text || delta.isStopped) {
        yield {
          type: 'tokens',
          tokens: pending,
          text: delta.text,
          ...(isReporting ? { logprobs: pendingLogprobs } : {})
        };
        pending = [];
        pendingLogprobs = [];
      }
      if (delta.isStopped) {
        isStopped = true;
        break;
      }
      if (output.tokens.length >= run.maxTokens) break;
    }
  } finally {
    await iterator.return();
  }
  if (pending.length > 0)
    yield {
      type: 'tokens',
      tokens: pending,
      text: '',
      ...(isReporting ? { logprobs: pendingLogprobs } : {})
    };
  // The iterator ends by itself only at an end-of-generation token, which it does not yield.
  return isStopped || output.tokens.length < run.maxTokens ? 'stop' : 'length';
}

/** node-llama-cpp sampler options for the request's token choice. */
function samplerOptions(model: LlamaModel, s: TokenChoiceSettings, outputTokens: number[]) {
  const hasPenalties = s.presencePenalty !== 0 || s.frequencyPenalty !== 0;
  let tokenBias: TokenBias | undefined;
  if (s.logitBias.size > 0) {
    tokenBias = new TokenBias(model.tokenizer);
    for (const [token, bias] of s.logitBias)
      tokenBias.set(token as Token, bias <= BAN_LOGIT_BIAS ? 'never' : { logit: bias });
  }
  return {
    temperature: s.temperature,
    topP: s.topP,
    // topK 0 = whole vocabulary (node-llama-cpp's default is 40), minP 0 = no floor: the same
    // distribution as the speculative path samples from when the request names neither.
    topK: s.topK,
    minP: s.minP,
    seed: s.seed,
    tokenBias,
    // OpenAI's penalties count the output only: punish exactly the output so far (read each
    // step), with llama.cpp's multiplicative repeat penalty off (1).
    repeatPenalty: hasPenalties
      ? {
          punishTokens: () => outputTokens as Token[],
          penalty: 1,
          presencePenalty: s.presencePenalty,
          frequencyPenalty: s.frequencyPenalty
        }
      : undefined
  };
}

/** A token's report from node-llama-cpp's probabilities (sorted, most likely first). */
function reportFrom(
  probabilities: Map<Token, number> | undefined,
  token: number,
  topN: number
): TokenLogprobs {
  const p = probabilities?.get(token as Token) ?? 0;
  const top: TokenLogprobs['top'] = [];
  for (const [t, q] of probabilities ?? []) {
    if (top.length >= topN || q <= 0) break;
    top.push({ token: t, logprob: Math.log(q) });
  }
  return { token, logprob: Math.log(p), top };
}
