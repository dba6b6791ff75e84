/**
 * The two halves of the draft-chain rule of the verify stream (see mesh.ts), as pure logic so
 * both ends (and the browser) run the same code and unit tests can check them against each other.
 *
 * - `ScoutChain` is the scout's state: the committed context the oracle told it, plus the chain
 *   of tokens it drafted past that context under the current `epoch`.
 * - `ChainMirror` is the oracle's record of one scout's chain: it validates incoming draft frames
 *   (order, position, lookahead) and answers "which drafted tokens continue this context?".
 *
 * Invariant: a token is offered to the engine only if the chain it belongs to agrees with every
 * committed token from the chain's start up to the asking context. Disagreeing chains yield
 * nothing; they never alter what is committed.
 */
import { MeshProtocolError, type DraftFrame, type VerifyContext } from './mesh.js';

/** Scout-side chain state. */
export class ScoutChain {
  /** Committed tokens as told by the oracle. */
  committed: number[] = [];
  /** Tokens drafted past `committed` under `epoch`. */
  chain: number[] = [];
  /** Chain number; the first chain is 0. */
  epoch = 0;
  /** Tokens of the current chain already sent to the oracle. */
  sent = 0;

  /**
   * Applies a context frame. The chain survives when the new committed sequence runs along it
   * (the oracle accepted a prefix of it); otherwise a new chain starts with `epoch + 1`.
   * Throws MeshProtocolError `out-of-order` when `base` lies past the committed end.
   * Returns whether the chain survived.
   */
  applyContext(frame: Pick<VerifyContext, 'base' | 'tokens'>): boolean {
    const oldLength = this.committed.length;
    if (frame.base > oldLength) {
      throw new MeshProtocolError(
        'out-of-order',
        `context base ${frame.base} lies past the committed end ${oldLength}`
      );
    }
    const view = this.committed.concat(this.chain);
    const next = this.committed.slice(0, frame.base).concat(frame.tokens);
    let isSurviving = next.length >= oldLength && next.length <= view.length;
    for (let i = frame.base; isSurviving && i < next.length; i++) isSurviving = next[i] === view[i];
    if (isSurviving) {
      const consumed = next.length - oldLength;
      this.chain = this.chain.slice(consumed);
      this.sent = Math.max(0, this.sent - consumed);
    } else {
      this.chain = [];
      this.sent = 0;
      this.epoch += 1;
    }
    this.committed = next;
    return isSurviving;
  }

  /** Where the next drafted token of the chain goes (absolute position). */
  get frontier(): number {
    return this.committed.length + this.chain.length;
  }

  /** The full sequence the scout drafts from: committed context and its own chain. */
  view(): number[] {
    return this.committed.concat(this.chain);
  }

  /** Appends freshly drafted tokens and returns the frame that carries the unsent ones. */
  extend(tokens: readonly number[]): Pick<DraftFrame, 'epoch' | 'position' | 'tokens'> | null {
    this.chain.push(...tokens);
    const unsent = this.chain.slice(this.sent);
    if (unsent.length === 0) return null;
    const frame = {
      epoch: this.epoch,
      position: this.committed.length + this.sent,
      tokens: unsent
    };
    this.sent = this.chain.length;
    return frame;
  }
}

/** How many recent committed ends the oracle remembers as valid chain starts. */
const CHAIN_START_MEMORY = 64;

/** Oracle-side record of one scout's chain. */
export class ChainMirror {
  epoch = -1;
  start = 0;
  tokens: number[] = [];
  /** Committed ends the oracle has sent (a new chain must start at one of them). */
  private readonly starts: number[] = [];
  /** Largest committed end sent so far. */
  private sentEnd = 0;

  constructor(private lookahead: number) {}

  /** Records that the scout was told the committed sequence ends at `end`. */
  noteCommittedEnd(end: number): void {
    this.sentEnd = Math.max(this.sentEnd, end);
    if (this.starts[this.starts.length - 1] !== end) {
      this.starts.push(end);
      if (this.starts.length > CHAIN_START_MEMORY) this.starts.shift();
    }
  }

  setLookahead(lookahead: number): void {
    this.lookahead = lookahead;
  }

  /**
   * Validates and records a draft frame. Throws MeshProtocolError: `out-of-order` (epoch went
   * back, or a gap/overlap inside a chain), `stale-position` (a new chain at a position the
   * oracle never declared committed), `exceeds-lookahead` (drafting further ahead than allowed).
   */
  accept(frame: Pick<DraftFrame, 'epoch' | 'position' | 'tokens'>): void {
    if (frame.epoch < this.epoch) {
      throw new MeshProtocolError(
        'out-of-order',
        `draft epoch ${frame.epoch} after epoch ${this.epoch}`
      );
    }
    const end = frame.position + frame.tokens.length;
    if (end > this.sentEnd + this.lookahead) {
      throw new MeshProtocolError(
        'exceeds-lookahead',
        `draft reaches position ${end}, beyond committed end ${this.sentEnd} + lookahead ${this.lookahead}`
      );
    }
    if (frame.epoch === this.epoch) {
      const expected = this.start + this.tokens.length;
      if (frame.position !== expected) {
        throw new MeshProtocolError(
          'out-of-order',
          `draft at position ${frame.position}, chain continues at ${expected}`
        );
      }
      this.tokens.push(...frame.tokens);
      return;
    }
    if (!this.starts.includes(frame.position)) {
      throw new MeshProtocolError(
        'stale-position',
        `new chain at position ${frame.position}, which was never a committed end`
      );
    }
    this.epoch = frame.epoch;
    this.start = frame.position;
    this.tokens = [...frame.tokens];
  }

  /**
   * Draft tokens that continue `context`, at most `k`. `isLive` tells whether waiting can give more:
   * the chain agrees with the context so far (or has not reached it yet).
   */
  lookup(context: readonly number[], k: number): { tokens: number[]; isLive: boolean } {
    if (this.epoch < 0 || this.start > context.length) return { tokens: [], isLive: false };
    const chainEnd = this.start + this.tokens.length;
    const checkedEnd = Math.min(chainEnd, context.length);
    for (let i = this.start; i < checkedEnd; i++) {
      if (this.tokens[i - this.start] !== context[i]) return { tokens: [], isLive: false };
    }
    // The agreed prefix is committed now; drop it so a long session keeps the mirror small.
    this.tokens = this.tokens.slice(checkedEnd - this.start);
    this.start = checkedEnd;
    if (chainEnd <= context.length) return { tokens: [], isLive: true };
    const from = context.length - this.start;
    return { tokens: this.tokens.slice(from, from + k), isLive: true };
  }
}
