/**
 * The oracle's target engine: llama.cpp (node-llama-cpp) generating plainly or speculatively.
 * Speculative rounds verify K draft tokens in ONE batched evaluation (`controlledEvaluate`), keep
 * the longest prefix the target agrees with (greedy) or accepts by rejection sampling
 * (temperature > 0), commit the correction, erase the rejected positions from the KV cache, and
 * keep the cache across rounds. A governor per draft source decides when drafting pays.
 */
import assert from 'node:assert/strict';
import { basename } from 'node:path';
import {
  LlamaGrammarEvaluationState,
  resolveChatWrapper,
  type ChatHistoryItem,
  type ChatWrapper,
  type Llama,
  type LlamaContext,
  type LlamaContextSequence,
  type LlamaGrammar,
  type LlamaModel,
  type Token
} from 'node-llama-cpp';
import { tokenizerFingerprint } from '../../src/lib/protocol/mesh.js';
import { createLogger } from '../../src/lib/server/log.js';
import {
  acceptGreedy,
  acceptSampled,
  createSeededRng,
  sampleFrom,
  type RoundOutcome,
  type SparseDistribution
} from './acceptance.js';
import {
  EngineBusyError,
  EngineDisposedError,
  GenerationAbortedError,
  InvalidGenerateOptionsError,
  InvalidJsonSchemaError,
  InvalidTokenError,
  PromptTooLongError
} from './errors.js';
import { SpeculationGovernor, type GovernorOptions } from './governor.js';
import { loadModel } from './load-model.js';
import type {
  ChatMessage,
  DraftProposal,
  DraftSource,
  FinishReason,
  GenerateOptions,
  GenerationEvent,
  GenerationStats,
  GovernorDecision,
  TargetEngine
} from './index.js';

const log = createLogger('shard:oracle:engine');

const DEFAULT_CONTEXT_SIZE = 4096;
const DEFAULT_MAX_CONCURRENT = 2;
const DEFAULT_MAX_TOKENS = 256;
const DEFAULT_DRAFT_LENGTH = 8;
const MAX_DRAFT_LENGTH = 64;
/** How long dispose() waits for running generations to notice the abort. */
const DISPOSE_WAIT_MS = 5000;
/** Governors kept (one per draft source name); the least recently used is dropped beyond this. */
const MAX_GOVERNORS = 64;

export interface TargetEngineOptions {
  modelPath: string;
  /** llama.cpp threads. Required: default thread counts collapse decoding on small machines. */
  threads: number;
  /** Tokens per sequence (prompt + output + drafts). Default 4096, capped at the model's. */
  contextSize?: number;
  /** Generations that may run at once, one llama.cpp sequence each. Default 2. */
  maxConcurrent?: number;
  /** Reported model id. Default the file name without `.gguf`. */
  modelId?: string;
  /** Used when GenerateOptions.draftSource is undefined. Default none. */
  defaultDraftSource?: DraftSource | null;
  /** Settings of the per-source speculation governors. */
  governor?: GovernorOptions;
  /** Evaluation batch size. Default 512. */
  batchSize?: number;
  /** llama.cpp backend: false (CPU, the default; deterministic tests) or 'auto' (a GPU if any). */
  gpu?: false | 'auto';
}

interface Slot {
  sequence: LlamaContextSequence;
  controller: AbortController | null;
}

/**
 * Loads the model and creates the engine. Throws ModelLoadError when the file cannot be loaded.
 * Call `dispose()` to free the model; it aborts running generations first.
 */
export async function createTargetEngine(options: TargetEngineOptions): Promise<TargetEngine> {
  if (!Number.isInteger(options.threads) || options.threads < 1) {
    throw new InvalidGenerateOptionsError('threads must be a positive integer');
  }
  const maxConcurrent = options.maxConcurrent ?? DEFAULT_MAX_CONCURRENT;
  if (!Number.isInteger(maxConcurrent) || maxConcurrent < 1) {
    throw new InvalidGenerateOptionsError('maxConcurrent must be a positive integer');
  }
  const { llama, model, context } = await loadModel({
    modelPath: options.modelPath,
    threads: options.threads,
    contextSize: options.contextSize ?? DEFAULT_CONTEXT_SIZE,
    isCappedAtTrainedContext: true,
    sequences: maxConcurrent,
    batchSize: options.batchSize,
    gpu: options.gpu
  });
  return new LlamaTargetEngine(options, llama, model, context, maxConcurrent);
}

class LlamaTargetEngine implements TargetEngine {
  readonly modelId: string;
  readonly tokenizerFingerprint: string;
  readonly maxConcurrent: number;
  readonly vocabularySize: number;
  private readonly chatWrapper: ChatWrapper;
  private readonly free: Slot[];
  private readonly active = new Set<Slot>();
  private readonly governors = new Map<string, SpeculationGovernor>();
  private readonly grammars = new Map<string, Promise<LlamaGrammar>>();
  private readonly idle: Array<() => void> = [];
  private isDisposed = false;

  constructor(
    private readonly options: TargetEngineOptions,
    private readonly llama: Llama,
    private readonly model: LlamaModel,
    private readonly context: LlamaContext,
    maxConcurrent: number
  ) {
    this.maxConcurrent = maxConcurrent;
    this.modelId = options.modelId ?? basename(options.modelPath).replace(/\.gguf$/i, '');
    const tokenizer = model.fileInfo.metadata.tokenizer.ggml;
    this.vocabularySize = tokenizer.tokens.length;
    this.tokenizerFingerprint = tokenizerFingerprint(tokenizer.tokens, tokenizer.token_type ?? []);
    this.chatWrapper = resolveChatWrapper(model);
    this.free = Array.from({ length: maxConcurrent }, () => ({
      sequence: context.getSequence(),
      controller: null
    }));
  }

  tokenize(text: string): number[] {
    this.assertAlive();
    return this.model.tokenize(text, false);
  }

  detokenize(tokens: readonly number[]): string {
    this.assertAlive();
    this.assertTokens(tokens, 'detokenize');
    return this.model.detokenize(tokens as Token[]);
  }

  countChatTokens(messages: ChatMessage[]): number {
    this.assertAlive();
    return this.renderChat(messages).length;
  }

  generate(options: GenerateOptions): AsyncGenerator<GenerationEvent> {
    this.assertAlive();
    validateOptions(options);
    if (this.free.length === 0) throw new EngineBusyError(this.maxConcurrent);
    // Prefer the free sequence whose KV cache shares the longest prefix with this prompt (a
    // follow-up chat turn reuses its cache). Rendering errors surface from run() instead.
    let prompt: number[] | null = null;
    try {
      prompt = this.renderPrompt(options);
    } catch {
      prompt = null;
    }
    let best = 0;
    if (prompt) {
      let bestShared = -1;
      this.free.forEach((candidate, i) => {
        const shared = sharedPrefix(candidate.sequence.contextTokens, prompt!);
        if (shared > bestShared) {
          bestShared = shared;
          best = i;
        }
      });
    }
    const [slot] = this.free.splice(best, 1);
    slot.controller = new AbortController();
    this.active.add(slot);
    const release = () => {
      if (!this.active.delete(slot)) return;
      slot.controller = null;
      this.free.push(slot);
      if (this.active.size === 0) for (const wake of this.idle.splice(0)) wake();
    };
    return guardGenerator(
      this.run(slot, options, prompt, slot.controller.signal, release),
      release
    );
  }

  async dispose(): Promise<void> {
    if (this.isDisposed) return;
    this.isDisposed = true;
    for (const slot of this.active) slot.controller?.abort(new EngineDisposedError());
    // A consumer that stopped iterating without return() never reaches an abort check; do not
    // wait for it forever.
    if (this.active.size > 0) {
      await Promise.race([
        new Promise<void>((resolve) => this.idle.push(resolve)),
        new Promise<void>((resolve) => setTimeout(resolve, DISPOSE_WAIT_MS).unref())
      ]);
    }
    await this.context.dispose();
    await this.model.dispose();
    await this.llama.dispose();
  }

  private assertAlive(): void {
    if (this.isDisposed) throw new EngineDisposedError();
  }

  private assertTokens(tokens: readonly number[], where: string): void {
    for (const t of tokens) {
      if (!Number.isInteger(t) || t < 0 || t >= this.vocabularySize) {
        throw new InvalidTokenError(
          `${where}: token ${t} is outside the vocabulary (0..${this.vocabularySize - 1})`
        );
      }
    }
  }

  private renderChat(messages: ChatMessage[]): number[] {
    const history: ChatHistoryItem[] = messages.map((m) =>
      m.role === 'assistant'
        ? { type: 'model', response: [m.content] }
        : { type: m.role, text: m.content }
    );
    history.push({ type: 'model', response: [] }); // the open assistant turn to generate into
    const { contextText } = this.chatWrapper.generateContextState({ chatHistory: history });
    return contextText.tokenize(this.model.tokenizer);
  }

  private renderPrompt(options: GenerateOptions): number[] {
    if (options.messages) return this.renderChat(options.messages);
    const tokens = this.model.tokenize(options.prompt ?? '', false);
    const bos = this.model.tokens.bos;
    if (this.model.tokens.shouldPrependBosToken && bos !== null && tokens[0] !== bos)
      tokens.unshift(bos);
    if (tokens.length === 0)
      throw new InvalidGenerateOptionsError('prompt is empty and the model has no BOS token');
    return tokens;
  }

  private governorFor(source: DraftSource): SpeculationGovernor {
    let g = this.governors.get(source.name);
    if (g) {
      this.governors.delete(source.name); // re-insert: most recently used last
    } else {
      g = new SpeculationGovernor(this.options.governor);
      if (this.governors.size >= MAX_GOVERNORS)
        this.governors.delete(this.governors.keys().next().value!);
    }
    this.governors.set(source.name, g);
    return g;
  }

  private grammarFor(schema: object): Promise<LlamaGrammar> {
    const key = JSON.stringify(schema);
    let g = this.grammars.get(key);
    if (!g) {
      g = this.llama.createGrammarForJsonSchema(schema as never).catch((err: unknown) => {
        this.grammars.delete(key);
        throw new InvalidJsonSchemaError(
          `jsonSchema is not supported: ${err instanceof Error ? err.message : String(err)}`,
          { cause: err }
        );
      });
      this.grammars.set(key, g);
    }
    return g;
  }

  /**
   * One generation on one sequence. KV invariant between rounds: the cache holds exactly
   * `committed[0..committed.length-1)`; the last committed token is `pending` input of the next
   * evaluation (at the start, `pending` is the uncached tail of the prompt).
   */
  private async *run(
    slot: Slot,
    options: GenerateOptions,
    renderedPrompt: number[] | null,
    engineSignal: AbortSignal,
    release: () => void
  ): AsyncGenerator<GenerationEvent> {
    const started = performance.now();
    const sequence = slot.sequence;
    const signals = [engineSignal, ...(options.signal ? [options.signal] : [])];
    const abortReason = () => signals.find((s) => s.aborted)?.reason;
    const throwIfAborted = () => {
      if (signals.some((s) => s.aborted))
        throw new GenerationAbortedError({ cause: abortReason() });
    };
    const draftAbort = new AbortController();
    const onAbort = () => draftAbort.abort(abortReason());
    for (const s of signals) s.addEventListener('abort', onAbort, { once: true });
    try {
      throwIfAborted();
      const prompt = renderedPrompt ?? this.renderPrompt(options);
      const contextSize = sequence.contextSize;
      if (prompt.length >= contextSize) throw new PromptTooLongError(prompt.length, contextSize);
      const maxTokens = Math.min(
        options.maxTokens ?? DEFAULT_MAX_TOKENS,
        contextSize - prompt.length
      );
      const temperature = options.temperature ?? 0;
      const topP = options.topP ?? 1;
      const isGreedy = temperature <= 0;
      const rng = createSeededRng(options.seed ?? randomSeed());
      const stopStrings = (options.stop ?? []).filter((s) => s.length > 0);

      const source =
        options.jsonSchema || options.speculation === 'off'
          ? null
          : options.draftSource === undefined
            ? (this.options.defaultDraftSource ?? null)
            : options.draftSource;
      const governor = source ? this.governorFor(source) : null;
      const draftLength = Math.min(options.draftLength ?? DEFAULT_DRAFT_LENGTH, MAX_DRAFT_LENGTH);

      // Reuse the cached prefix of this sequence (an earlier generation on it).
      let shared = Math.min(sharedPrefix(sequence.contextTokens, prompt), prompt.length - 1);
      if (shared < sequence.nextTokenIndex)
        await sequence.eraseContextTokenRanges([{ start: shared, end: sequence.nextTokenIndex }]);
      shared = sequence.nextTokenIndex;

      const committed: number[] = [...prompt];
      const generated: number[] = [];
      let pending: Token[] = prompt.slice(shared) as Token[];
      const stats = { rounds: 0, drafted: 0, accepted: 0, speculativeRounds: 0 };
      const text = new TextStreamer(stopStrings);
      const promptTail = prompt.slice(-4) as Token[];
      const render = () => this.model.detokenize(generated as Token[], false, promptTail);
      let finishReason: FinishReason = 'length';
      let fixedDecision: GovernorDecision | null = null;

      if (options.jsonSchema) {
        fixedDecision = {
          isSpeculating: false,
          predictedSpeedup: 1,
          reason: 'jsonSchema output: speculation off'
        };
        const grammar = await this.grammarFor(options.jsonSchema);
        const grammarState = new LlamaGrammarEvaluationState({ model: this.model, grammar });
        const iterator = sequence.evaluate(pending, {
          temperature,
          topP,
          topK: 0,
          minP: 0,
          seed: options.seed,
          grammarEvaluationState: grammarState
        });
        let isStopped = false;
        try {
          for await (const token of iterator) {
            throwIfAborted();
            stats.rounds++;
            generated.push(token);
            committed.push(token);
            const delta = text.update(render());
            if (delta.text || delta.isStopped)
              yield { type: 'tokens', tokens: [token], text: delta.text };
            if (delta.isStopped) {
              isStopped = true;
              break;
            }
            if (generated.length >= maxTokens) break;
          }
        } finally {
          await iterator.return();
        }
        finishReason = isStopped || generated.length < maxTokens ? 'stop' : 'length';
      } else {
        decoding: while (generated.length < maxTokens) {
          throwIfAborted();
          // 1. Decide the draft length for this round (0 = plain decode step).
          const room = Math.min(
            maxTokens - generated.length - 1,
            contextSize - committed.length - 1
          );
          const maxK = source ? Math.max(0, Math.min(draftLength, room)) : 0;
          let k = 0;
          if (source && governor && maxK > 0) {
            // 'on' drafts the full requested length every round (predictable, reproducible);
            // 'auto' lets the governor pick k, or 0 when drafting does not pay.
            k = options.speculation === 'on' ? maxK : governor.decide({ maxK, mode: 'auto' }).k;
          }

          // 2. Ask the draft source (failures fall back to a plain step; drafts are untrusted).
          let drafts: number[] = [];
          let draftProbs: DraftProposal['probs'];
          if (source && governor && k > 0) {
            const t0 = performance.now();
            const sampling = isGreedy
              ? undefined
              : { temperature, topP, seed: Math.floor(rng() * 0x7fffffff) };
            const proposal = await this.requestDraft(
              source,
              committed,
              k,
              draftAbort.signal,
              sampling
            );
            throwIfAborted();
            const ms = performance.now() - t0;
            drafts = proposal?.tokens.slice(0, k) ?? [];
            draftProbs = proposal?.probs?.slice(0, drafts.length);
            if (drafts.length > 0) governor.recordDraft(k, ms);
            else governor.recordEmptyDraft(ms, k);
          }

          // 3. Verify: evaluate [pending..., drafts...] in one batch; the target's choice is needed
          //    after the last pending token and after every draft.
          const batch = [...pending, ...(drafts as Token[])];
          const firstOutput = pending.length - 1;
          const cacheBefore = sequence.nextTokenIndex;
          const generateNext = isGreedy
            ? { token: true, options: { temperature: 0 } }
            : // topK 0 = whole vocabulary (node-llama-cpp's default is 40); llama.cpp applies top-p
              // before the temperature (its sampler chain order).
              { probabilities: true, options: { temperature, topP, topK: 0, minP: 0 } };
          const t0 = performance.now();
          const results = await sequence.controlledEvaluate(
            batch.map((t, i) => (i >= firstOutput ? [t, { generateNext }] : t))
          );
          const verifyMs = performance.now() - t0;
          throwIfAborted();

          // 4. Accept: the longest agreeing prefix (greedy) or rejection sampling; >= 1 token commits.
          let outcome: RoundOutcome;
          if (isGreedy) {
            const choices = results.slice(firstOutput).map((r) => r?.next.token);
            if (choices.some((c) => c === undefined || c === null))
              throw new Error('llama.cpp returned no token for a verified position');
            outcome = acceptGreedy(drafts, choices as number[]);
          } else {
            const targetProbs = results
              .slice(firstOutput)
              .map((r) => (r?.next.probabilities ?? new Map()) as SparseDistribution);
            outcome =
              drafts.length > 0
                ? acceptSampled({ drafts, draftProbs, targetProbs, rng })
                : { accepted: 0, tokens: [sampleFrom(targetProbs[0], rng)] };
          }
          assert.equal(
            outcome.tokens.length,
            outcome.accepted + 1,
            'a round commits accepted + 1 tokens'
          );

          // 5. Erase the rejected drafts from the KV cache: keep pending + accepted drafts.
          const keep = cacheBefore + pending.length + outcome.accepted;
          if (sequence.nextTokenIndex > keep)
            await sequence.eraseContextTokenRanges([{ start: keep, end: sequence.nextTokenIndex }]);
          assert.equal(
            sequence.nextTokenIndex,
            keep,
            'KV cache holds the committed context plus the accepted drafts'
          );

          // 6. Bookkeeping: governor timings (not for the prefill round), stats, source feedback.
          stats.rounds++;
          if (governor && pending.length === 1) {
            if (drafts.length > 0) governor.recordVerify(drafts.length, verifyMs, outcome.accepted);
            else governor.recordPlainStep(verifyMs);
          }
          if (drafts.length > 0) {
            stats.drafted += drafts.length;
            stats.accepted += outcome.accepted;
            stats.speculativeRounds++;
            try {
              source?.onVerified?.({ accepted: outcome.accepted, drafted: drafts.length });
            } catch (err) {
              log.warn('draft source onVerified threw', { source: source?.name, error: err });
            }
          }

          // 7. Commit, stopping at end-of-generation, the token budget or a stop string.
          const fresh: number[] = [];
          let isDone = false;
          for (const token of outcome.tokens) {
            if (this.model.isEogToken(token as Token)) {
              finishReason = 'stop';
              isDone = true;
              break;
            }
            fresh.push(token);
            generated.push(token);
            committed.push(token);
            if (generated.length >= maxTokens) break;
          }
          // Invariant: the cache holds all committed tokens but the last (the next pending input).
          pending = [committed[committed.length - 1] as Token];
          const delta = text.update(render());
          if (fresh.length > 0 || delta.text)
            yield { type: 'tokens', tokens: fresh, text: delta.text };
          if (delta.isStopped) {
            finishReason = 'stop';
            break decoding;
          }
          if (isDone) break decoding;
        }
      }

      const finalText = text.finish(render());
      if (finalText.tail) yield { type: 'tokens', tokens: [], text: finalText.tail };
      const generationStats: GenerationStats = {
        mode: stats.speculativeRounds > 0 ? 'speculative' : 'standard',
        draftSource: source?.name ?? null,
        promptTokens: prompt.length,
        completionTokens: generated.length,
        rounds: stats.rounds,
        drafted: stats.drafted,
        accepted: stats.accepted,
        acceptanceRate: stats.drafted > 0 ? stats.accepted / stats.drafted : 0,
        governor:
          fixedDecision ??
          (governor && options.speculation === 'on'
            ? {
                isSpeculating: true,
                predictedSpeedup: governor.predict(draftLength) ?? 1,
                reason: `speculation forced on (k=${draftLength})`
              }
            : governor
              ? governor.decision()
              : {
                  isSpeculating: false,
                  predictedSpeedup: 1,
                  reason: options.speculation === 'off' ? 'speculation off' : 'no draft source'
                }),
        durationMs: performance.now() - started,
        cachedPromptTokens: shared
      };
      log.debug('generation done', {
        model: this.modelId,
        promptTokens: prompt.length,
        completionTokens: generated.length,
        rounds: stats.rounds,
        acceptanceRate: generationStats.acceptanceRate
      });
      yield { type: 'done', finishReason, text: finalText.text, stats: generationStats };
    } catch (err) {
      if (signals.some((s) => s.aborted) && !(err instanceof GenerationAbortedError)) {
        throw new GenerationAbortedError({ cause: abortReason() });
      }
      throw err;
    } finally {
      for (const s of signals) s.removeEventListener('abort', onAbort);
      draftAbort.abort();
      release();
    }
  }

  /** Calls the draft source, validating what comes back; failures become "no draft". */
  private async requestDraft(
    source: DraftSource,
    context: readonly number[],
    k: number,
    signal: AbortSignal,
    sampling: { temperature: number; topP: number; seed: number } | undefined
  ): Promise<DraftProposal | null> {
    let proposal: DraftProposal | null;
    try {
      proposal = await source.draft({ context, k, signal, ...(sampling ? { sampling } : {}) });
    } catch (err) {
      if (signal.aborted) return null;
      log.warn('draft source failed; decoding plainly this round', {
        source: source.name,
        error: err
      });
      return null;
    }
    if (!proposal || !Array.isArray(proposal.tokens)) return null;
    const tokens = proposal.tokens.slice(0, k);
    try {
      this.assertTokens(tokens, `draft from ${source.name}`);
    } catch (err) {
      log.warn('draft rejected: invalid tokens', { source: source.name, error: err });
      return null;
    }
    const probs =
      Array.isArray(proposal.probs) && proposal.probs.length >= tokens.length
        ? proposal.probs.slice(0, tokens.length)
        : undefined;
    return { tokens, probs: probs && probs.every(isValidSparse) ? probs : undefined };
  }
}

function isValidSparse(dist: unknown): boolean {
  if (!Array.isArray(dist)) return false;
  return dist.every(
    (e) =>
      Array.isArray(e) &&
      Number.isInteger(e[0]) &&
      typeof e[1] === 'number' &&
      e[1] >= 0 &&
      e[1] <= 1
  );
}

function validateOptions(o: GenerateOptions): void {
  const fail = (m: string) => {
    throw new InvalidGenerateOptionsError(m);
  };
  if (!o || typeof o !== 'object') fail('options must be an object');
  if ((o.messages === undefined) === (o.prompt === undefined))
    fail('exactly one of messages or prompt is required');
  if (o.messages !== undefined) {
    if (!Array.isArray(o.messages) || o.messages.length === 0)
      fail('messages must be a non-empty array');
    for (const m of o.messages!) {
      if (
        !m ||
        !['system', 'user', 'assistant'].includes(m.role) ||
        typeof m.content !== 'string'
      ) {
        fail('each message needs role system|user|assistant and string content');
      }
    }
  }
  if (o.prompt !== undefined && typeof o.prompt !== 'string') fail('prompt must be a string');
  if (o.maxTokens !== undefined && (!Number.isInteger(o.maxTokens) || o.maxTokens < 1))
    fail('maxTokens must be a positive integer');
  if (o.temperature !== undefined && !(o.temperature >= 0 && o.temperature <= 100))
    fail('temperature must be in 0..100');
  if (o.topP !== undefined && !(o.topP > 0 && o.topP <= 1)) fail('topP must be in (0, 1]');
  if (o.seed !== undefined && !Number.isInteger(o.seed)) fail('seed must be an integer');
  if (o.draftLength !== undefined && (!Number.isInteger(o.draftLength) || o.draftLength < 1))
    fail('draftLength must be a positive integer');
  if (o.speculation !== undefined && !['auto', 'off', 'on'].includes(o.speculation))
    fail('speculation must be auto, off or on');
  if (o.stop !== undefined && (!Array.isArray(o.stop) || o.stop.some((s) => typeof s !== 'string')))
    fail('stop must be an array of strings');
  if (o.jsonSchema !== undefined && (typeof o.jsonSchema !== 'object' || o.jsonSchema === null))
    fail('jsonSchema must be an object');
}

function sharedPrefix(a: readonly number[], b: readonly number[]): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a[i] === b[i]) i++;
  return i;
}

function randomSeed(): number {
  return Math.floor(Math.random() * 0x7fffffff);
}

/** The shared fingerprint rule (src/lib/protocol/mesh.ts), re-exported for Node callers. */
export { tokenizerFingerprint };

/**
 * Turns the growing detokenized text into deltas: holds back an incomplete UTF-8 character
 * (U+FFFD at the end) and any tail that could be the start of a stop string, so text that is
 * emitted never has to be taken back.
 */
export class TextStreamer {
  private emitted = 0;
  private stoppedAt = -1;
  constructor(private readonly stops: readonly string[]) {}

  update(full: string): { text: string; isStopped: boolean } {
    if (this.stoppedAt >= 0) return { text: '', isStopped: true };
    // Invariant: no stop string starts before `emitted` (held-back tails guarantee it).
    this.stoppedAt = this.firstStop(full);
    if (this.stoppedAt >= 0) {
      const text = full.slice(this.emitted, this.stoppedAt);
      this.emitted = this.stoppedAt;
      return { text, isStopped: true };
    }
    let safe = full.length;
    while (safe > this.emitted && full[safe - 1] === '\uFFFD') safe--;
    let limit = safe;
    for (const stop of this.stops) {
      for (let n = Math.min(stop.length - 1, safe - this.emitted); n > 0; n--) {
        if (full.slice(safe - n, safe) === stop.slice(0, n)) {
          limit = Math.min(limit, safe - n);
          break;
        }
      }
    }
    const text = full.slice(this.emitted, limit);
    this.emitted = limit;
    return { text, isStopped: false };
  }

  /** Final text (up to a stop string) and whatever was still held back. */
  finish(full: string): { text: string; tail: string } {
    if (this.stoppedAt < 0) this.stoppedAt = this.firstStop(full);
    const end = this.stoppedAt >= 0 ? this.stoppedAt : full.length;
    const tail = full.slice(this.emitted, Math.max(this.emitted, end));
    this.emitted = Math.max(this.emitted, end);
    return { text: full.slice(0, end), tail };
  }

  /**
   * Start of the stop string that completes first (smallest end; then smallest start), as a
   * character-by-character stream would see it, so the result does not depend on how tokens
   * group characters. -1 when none occurs.
   */
  private firstStop(full: string): number {
    let bestStart = -1;
    let bestEnd = Infinity;
    for (const stop of this.stops) {
      const at = full.indexOf(stop, this.emitted);
      if (at < 0) continue;
      const end = at + stop.length;
      if (end < bestEnd || (end === bestEnd && at < bestStart)) {
        bestEnd = end;
        bestStart = at;
      }
    }
    return bestStart;
  }

  get isStopped(): boolean {
    return this.stoppedAt >= 0;
  }
}

/**
 * Wraps a generator so that the slot is released even when the caller calls `return()` before
 * the first `next()` (a never-started async generator body has no `finally` to run).
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
