/**
 * What one generation's decoding loop works on, shared by the speculative loop and the
 * constrained (JSON schema) loop: the sequence, the decode state, the output so far, limits,
 * sampling settings and counters. Built by ./generation.ts once per generation.
 */
import type { LlamaContextSequence, LlamaModel } from 'node-llama-cpp';
import type { DecodeState, RoundChoice } from './speculative-round.js';
import { TextStreamer, type TextDelta } from './text-streamer.js';

/** Counters reported in GenerationStats. */
export interface RoundCounters {
  /** Verify rounds (speculative loop) or tokens (constrained loop). */
  rounds: number;
  drafted: number;
  accepted: number;
  /** Rounds that verified at least one draft; > 0 makes the mode `speculative`. */
  speculativeRounds: number;
  /** Rounds that verified alternative drafts beside the main one (./branch-verify.ts). */
  branchRounds?: number;
  /** Of those, rounds that committed an alternative's path. */
  branchWins?: number;
}

/** The generated tokens and their streamed text. */
export class GeneratedOutput {
  /** Output tokens, without an end-of-generation token. */
  readonly tokens: number[] = [];
  private readonly streamer: TextStreamer;

  /** `render` detokenizes the whole output (called after every round). */
  constructor(
    private readonly render: (tokens: readonly number[]) => string,
    stops: readonly string[]
  ) {
    this.streamer = new TextStreamer(stops);
  }

  /** Called after tokens were appended: the text that is safe to stream now. */
  update(): TextDelta {
    return this.streamer.update(this.render(this.tokens));
  }

  /** Called once at the end: the final text and the held-back tail still to stream. */
  finish(): { text: string; tail: string } {
    return this.streamer.finish(this.render(this.tokens));
  }
}

export interface DecodeRun {
  sequence: LlamaContextSequence;
  model: LlamaModel;
  /** Committed tokens (prompt first) and how many of them the KV cache holds. */
  state: DecodeState;
  output: GeneratedOutput;
  counters: RoundCounters;
  /** Output tokens at most (the request's maxTokens, capped by the context's room). */
  maxTokens: number;
  /** Tokens the sequence holds at most (prompt + output + drafts). */
  contextSize: number;
  /**
   * How the target chooses its tokens: null for plain greedy decoding (llama.cpp's argmax, the
   * default), else sampling / transforms / log-probabilities from the raw logits.
   */
  choice: RoundChoice | null;
  /** Throws GenerationAbortedError once the caller or the engine aborted. */
  throwIfAborted(): void;
}
