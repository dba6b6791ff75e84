/**
 * One generation on one leased sequence, from options to the `done` event: links the abort
 * signals, renders the prompt, reuses the sequence's cached prompt prefix, runs the speculative or
 * the constrained decoding loop, and reports stats. The loops live in ./speculative-decoding.ts
 * and ./constrained-decoding.ts.
 */
import type { LlamaContextSequence, LlamaModel, Token } from 'node-llama-cpp';
import { createLogger } from '../../src/lib/server/log.js';
import type { GovernorCache, GrammarCache } from './caches.js';
import { decodeConstrained } from './constrained-decoding.js';
import { GeneratedOutput, type DecodeRun, type RoundCounters } from './decode-run.js';
import { GenerationAbortedError, PromptTooLongError } from './errors.js';
import {
  DEFAULT_DRAFT_LENGTH,
  DEFAULT_MAX_TOKENS,
  MAX_DRAFT_LENGTH,
  resolveTokenChoice
} from './generate-options.js';
import type {
  DraftSource,
  FinishReason,
  GenerateOptions,
  GenerationEvent,
  GenerationStats,
  GovernorDecision
} from './index.js';
import type { PromptRenderer } from './prompt-renderer.js';
import { isPlainGreedy } from './sampling.js';
import { sharedPrefix } from './shared-prefix.js';
import type { Lease } from './slot-pool.js';
import type { BranchPool } from './branch-verify.js';
import { decodeSpeculative, type SpeculationPlan } from './speculative-decoding.js';

const log = createLogger('shard:oracle:engine');

/**
 * Prompt tokens passed to the detokenizer as preceding context, so the output's first word gets
 * the right leading space (node-llama-cpp 3.x reads the last 3 of them).
 */
const DETOKENIZER_CONTEXT_TOKENS = 4;
/** Unseeded requests draw a seed in [0, 2^31 - 1). */
const MAX_RANDOM_SEED = 0x7fffffff;

/** The engine's long-lived parts a generation uses. */
export interface EngineParts {
  model: LlamaModel;
  renderer: PromptRenderer;
  governors: GovernorCache;
  grammars: GrammarCache;
  /** Used when GenerateOptions.draftSource is undefined. */
  defaultDraftSource: DraftSource | null;
  vocabularySize: number;
  modelId: string;
  /** Spare sequences for alternative drafts (./branch-verify.ts); null = none. */
  branches?: BranchPool | null;
}

/** The request's abort signal and the engine's (dispose) as one. */
interface AbortLink {
  /** Aborted when either is, and when the generation ends (stops a pending draft call). */
  draftSignal: AbortSignal;
  isAborted(): boolean;
  throwIfAborted(): void;
  reason(): unknown;
  dispose(): void;
}

/**
 * Runs one generation. `renderedPrompt` is the prompt `generate()` already rendered to choose the
 * sequence (null when rendering failed there; it is retried here so its error surfaces). Always
 * releases `lease` when it ends. Throws GenerationAbortedError (abort), PromptTooLongError,
 * InvalidJsonSchemaError, InvalidGenerateOptionsError, EngineInvariantError.
 */
export async function* runGeneration(
  parts: EngineParts,
  lease: Lease<LlamaContextSequence>,
  options: GenerateOptions,
  renderedPrompt: number[] | null
): AsyncGenerator<GenerationEvent> {
  const started = performance.now();
  const abort = linkAbortSignals(lease.signal, options.signal);
  try {
    abort.throwIfAborted();
    const prompt = renderedPrompt ?? parts.renderer.render(options);
    const run = createDecodeRun(parts, lease.sequence, options, prompt, abort);
    const plan = planSpeculation(parts, options, abort.draftSignal);
    const cachedPromptTokens = await reuseCachedPrefix(run);

    let finishReason: FinishReason;
    if (options.jsonSchema) {
      const grammar = await parts.grammars.grammarFor(options.jsonSchema);
      finishReason = yield* decodeConstrained(run, {
        grammar,
        settings: resolveTokenChoice(options, options.seed ?? randomSeed()),
        topLogprobs: options.logprobs ? (options.topLogprobs ?? 0) : null
      });
    } else {
      finishReason = yield* decodeSpeculative(run, plan);
    }

    const final = run.output.finish();
    if (final.tail) yield { type: 'tokens', tokens: [], text: final.tail };
    const stats: GenerationStats = {
      mode: run.counters.speculativeRounds > 0 ? 'speculative' : 'standard',
      draftSource: plan?.source.name ?? null,
      promptTokens: prompt.length,
      completionTokens: run.output.tokens.length,
      rounds: run.counters.rounds,
      drafted: run.counters.drafted,
      accepted: run.counters.accepted,
      acceptanceRate: run.counters.drafted > 0 ? run.counters.accepted / run.counters.drafted : 0,
      governor: governorDecision(options, plan),
      durationMs: performance.now() - started,
      cachedPromptTokens,
      ...(run.counters.branchRounds
        ? { branchRounds: run.counters.branchRounds, branchWins: run.counters.branchWins ?? 0 }
        : {})
    };
    log.debug('generation done', {
      model: parts.modelId,
      promptTokens: prompt.length,
      completionTokens: stats.completionTokens,
      rounds: stats.rounds,
      acceptanceRate: stats.acceptanceRate
    });
    yield { type: 'done', finishReason, text: final.text, stats };
  } catch (err) {
    if (abort.isAborted() && !(err instanceof GenerationAbortedError)) {
      throw new GenerationAbortedError({ cause: abort.reason() });
    }
    throw err;
  } finally {
    abort.dispose();
    lease.release();
  }
}

function linkAbortSignals(engine: AbortSignal, request: AbortSignal | undefined): AbortLink {
  const signals = [engine, ...(request ? [request] : [])];
  const reason = () => signals.find((s) => s.aborted)?.reason;
  const isAborted = () => signals.some((s) => s.aborted);
  const draftAbort = new AbortController();
  const onAbort = () => draftAbort.abort(reason());
  for (const s of signals) s.addEventListener('abort', onAbort, { once: true });
  return {
    draftSignal: draftAbort.signal,
    isAborted,
    reason,
    throwIfAborted: () => {
      if (isAborted()) throw new GenerationAbortedError({ cause: reason() });
    },
    dispose: () => {
      for (const s of signals) s.removeEventListener('abort', onAbort);
      draftAbort.abort();
    }
  };
}

/** Limits and sampling settings of the request. Throws PromptTooLongError. */
function createDecodeRun(
  parts: EngineParts,
  sequence: LlamaContextSequence,
  options: GenerateOptions,
  prompt: number[],
  abort: AbortLink
): DecodeRun {
  const contextSize = sequence.contextSize;
  if (prompt.length >= contextSize) throw new PromptTooLongError(prompt.length, contextSize);
  const settings = resolveTokenChoice(options, options.seed ?? randomSeed());
  // Plain greedy requests keep llama.cpp's own argmax (cheapest, byte-identical to before).
  const choice =
    isPlainGreedy(settings) && !options.logprobs
      ? null
      : {
          settings,
          promptLength: prompt.length,
          topLogprobs: options.logprobs ? (options.topLogprobs ?? 0) : null
        };
  const promptTail = prompt.slice(-DETOKENIZER_CONTEXT_TOKENS) as Token[];
  return {
    sequence,
    model: parts.model,
    // nPast is set by reuseCachedPrefix() before the first round.
    state: { committed: [...prompt], nPast: 0 },
    output: new GeneratedOutput(
      (tokens) => parts.model.detokenize(tokens as Token[], false, promptTail),
      (options.stop ?? []).filter((s) => s.length > 0)
    ),
    counters: { rounds: 0, drafted: 0, accepted: 0, speculativeRounds: 0 } satisfies RoundCounters,
    maxTokens: Math.min(options.maxTokens ?? DEFAULT_MAX_TOKENS, contextSize - prompt.length),
    contextSize,
    choice,
    throwIfAborted: abort.throwIfAborted
  };
}

/** A seed for a request that names none: fresh per request, so not reproducible. */
function randomSeed(): number {
  return Math.floor(Math.random() * MAX_RANDOM_SEED);
}

/** The draft source and its governor, or null when this request does not draft. */
function planSpeculation(
  parts: EngineParts,
  options: GenerateOptions,
  signal: AbortSignal
): SpeculationPlan | null {
  if (options.jsonSchema || options.speculation === 'off') return null;
  const source = options.draftSource === undefined ? parts.defaultDraftSource : options.draftSource;
  if (!source) return null;
  return {
    source,
    governor: parts.governors.governorFor(source),
    draftLength: Math.min(options.draftLength ?? DEFAULT_DRAFT_LENGTH, MAX_DRAFT_LENGTH),
    isForcedOn: options.speculation === 'on',
    signal,
    vocabularySize: parts.vocabularySize,
    branches: parts.branches ?? null
  };
}

/**
 * Keeps the sequence's cached prefix of the prompt (an earlier generation on it) and erases the
 * rest; at least the last prompt token stays pending, since the first round needs an input.
 * Sets `state.nPast`; returns the number of reused prompt tokens.
 */
async function reuseCachedPrefix(run: DecodeRun): Promise<number> {
  const { sequence, state } = run;
  const shared = Math.min(
    sharedPrefix(sequence.contextTokens, state.committed),
    state.committed.length - 1
  );
  if (shared < sequence.nextTokenIndex)
    await sequence.eraseContextTokenRanges([{ start: shared, end: sequence.nextTokenIndex }]);
  state.nPast = sequence.nextTokenIndex;
  return state.nPast;
}

function governorDecision(
  options: GenerateOptions,
  plan: SpeculationPlan | null
): GovernorDecision {
  if (options.jsonSchema)
    return {
      isSpeculating: false,
      predictedSpeedup: 1,
      reason: 'jsonSchema output: speculation off'
    };
  if (!plan) {
    return {
      isSpeculating: false,
      predictedSpeedup: 1,
      reason: options.speculation === 'off' ? 'speculation off' : 'no draft source'
    };
  }
  if (plan.isForcedOn) {
    return {
      isSpeculating: true,
      predictedSpeedup: plan.governor.predict(plan.draftLength) ?? 1,
      reason: `speculation forced on (k=${plan.draftLength})`
    };
  }
  return plan.governor.decision();
}
