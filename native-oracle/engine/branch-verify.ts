/**
 * Several drafts for the same position (e.g. from different scouts), verified in ONE batched
 * pass as parallel sequences, committing the longest verified path.
 *
 * node-llama-cpp has no tree attention mask, but its batching dispatcher puts concurrent
 * evaluations of DIFFERENT sequences of one context into one llama_decode (checked on the
 * generated models: two `controlledEvaluate` calls started together gave one decode with two
 * batch entries). So a round with alternatives copies the main sequence's committed KV cache
 * into spare "branch" sequences (llama_memory_seq_cp), evaluates [pending, main drafts] on the
 * main sequence and [pending, alternative] on each branch concurrently, accepts on each, and
 * keeps the path that accepted the most (ties go to the main draft). When a branch wins, its
 * state is copied back into the main sequence, so the round invariant of
 * ./speculative-round.ts holds on the main sequence exactly as after a plain round.
 *
 * Committed tokens are still the target's own argmax at every position: each path is verified
 * by the target, and only the tokens of the winning path's own verify pass are committed.
 * Greedy rounds only: a sampling or log-probability round keeps the single-draft path
 * (./speculative-decoding.ts drops the alternatives there).
 */
import type { LlamaContextSequence, Token } from 'node-llama-cpp';
import type { RoundOutcome } from './acceptance.js';
import { invariant } from './errors.js';
import {
  acceptGreedyRound,
  assertCacheHoldsCommittedButLast,
  type DecodeState,
  type RoundResult,
  type VerifySequence
} from './speculative-round.js';

/**
 * Copies `from`'s KV cache into `to` (whatever `to` held is dropped) and trims `to` to its
 * first `upToTokenIndex` tokens. Throws when the copy did not leave exactly that.
 */
export type CopySequenceState = (
  to: VerifySequence,
  from: VerifySequence,
  upToTokenIndex: number
) => Promise<void>;

/** The branch sequences one round may use; `release()` hands them back. */
export interface BranchLease {
  readonly sequences: readonly VerifySequence[];
  readonly copy: CopySequenceState;
  release(): void;
}

/**
 * The engine's spare sequences, never handed to a generation. One round at a time holds them
 * all; a round that finds them taken verifies its main draft alone.
 */
export class BranchPool {
  private isTaken = false;

  constructor(
    private readonly sequences: readonly VerifySequence[],
    private readonly copy: CopySequenceState
  ) {}

  /** Number of alternatives a round can verify at once. */
  get size(): number {
    return this.sequences.length;
  }

  /** Called by a round with alternatives: the branches, or null while another round holds them. */
  tryTake(): BranchLease | null {
    if (this.isTaken || this.sequences.length === 0) return null;
    this.isTaken = true;
    let isReleased = false;
    return {
      sequences: this.sequences,
      copy: this.copy,
      release: () => {
        if (isReleased) return;
        isReleased = true;
        this.isTaken = false;
      }
    };
  }
}

interface InternalSequence {
  _copyStateFromOtherSequence?: (other: unknown, upToTokenIndex: number) => Promise<boolean>;
}

/**
 * True when node-llama-cpp offers the sequence copy this unit needs. It is an internal method
 * (checked on 3.22), so the engine asks before creating a BranchPool and runs without
 * alternatives, saying so, when a later version drops it.
 */
export function canCopySequenceState(sequence: LlamaContextSequence): boolean {
  return (
    typeof (sequence as unknown as InternalSequence)._copyStateFromOtherSequence === 'function'
  );
}

/** CopySequenceState on node-llama-cpp's sequences (llama_memory_seq_cp underneath). */
export const copyLlamaSequenceState: CopySequenceState = async (to, from, upToTokenIndex) => {
  // Nothing to copy (a one-token prompt): node-llama-cpp reports a copy of an empty sequence as
  // failed, so the target is emptied instead, which is the same state.
  if (upToTokenIndex === 0) {
    if (to.nextTokenIndex > 0)
      await to.eraseContextTokenRanges([{ start: 0, end: to.nextTokenIndex }]);
    invariant(to.nextTokenIndex === 0, 'emptying a branch sequence left tokens in it');
    return;
  }
  const copy = (to as unknown as InternalSequence)._copyStateFromOtherSequence;
  invariant(typeof copy === 'function', 'node-llama-cpp offers no sequence state copy');
  const isCopied = await copy.call(to, from, upToTokenIndex);
  invariant(
    isCopied === true && to.nextTokenIndex === upToTokenIndex,
    `copying a sequence's KV cache up to ${upToTokenIndex} left ${to.nextTokenIndex} tokens`
  );
};

export interface BranchRoundInput {
  sequence: VerifySequence;
  state: DecodeState;
  /** The main draft (may be empty). */
  drafts: readonly number[];
  /** Other drafts for the same first position; at most one per branch sequence is verified. */
  alternatives: readonly (readonly number[])[];
  branches: BranchLease;
}

export interface BranchRoundResult extends RoundResult {
  /** Whose path was committed: 0 = the main draft, i = `alternatives[i - 1]`. */
  branch: number;
  /** Drafts on the committed path (the winner's draft length). */
  drafted: number;
}

/**
 * Runs one greedy round over the main draft and the alternatives: appends the winning path's
 * tokens to `state.committed`, advances `state.nPast`, and leaves the MAIN sequence in the
 * round invariant (./speculative-round.ts); branch sequences are emptied. Throws
 * EngineInvariantError if a step breaks it; llama.cpp errors propagate.
 */
export async function runBranchRound(round: BranchRoundInput): Promise<BranchRoundResult> {
  const { sequence, state, branches } = round;
  const alternatives = round.alternatives.slice(0, branches.sequences.length);
  const paths = [round.drafts, ...alternatives];
  const sequences = [sequence, ...branches.sequences.slice(0, alternatives.length)];

  // 1. Every path starts from the committed cache: the pending tokens then its drafts.
  const pending = state.committed.slice(state.nPast);
  invariant(pending.length >= 1, `no pending token to evaluate (nPast ${state.nPast})`);
  invariant(
    sequence.nextTokenIndex === state.nPast,
    `the batch must start at nPast ${state.nPast}, the cache ends at ${sequence.nextTokenIndex}`
  );
  for (const branch of sequences.slice(1)) await branches.copy(branch, sequence, state.nPast);

  // 2. Verify every path in one llama_decode: the evaluations start together, so
  //    node-llama-cpp's dispatcher batches them.
  const firstOutput = pending.length - 1;
  const generateNext = { token: true, options: { temperature: 0 } };
  const started = performance.now();
  const results = await Promise.all(
    sequences.map((s, i) =>
      s.controlledEvaluate(
        ([...pending, ...paths[i]] as Token[]).map((t, j) =>
          j >= firstOutput ? [t, { generateNext }] : t
        )
      )
    )
  );
  const verifyMs = performance.now() - started;

  // 3. Accept on each path; the longest accepted path wins, the main draft on a tie.
  const outcomes: RoundOutcome[] = results.map((r, i) =>
    acceptGreedyRound(paths[i], r.slice(firstOutput))
  );
  let winner = 0;
  for (let i = 1; i < outcomes.length; i++)
    if (outcomes[i].accepted > outcomes[winner].accepted) winner = i;
  const outcome = outcomes[winner];
  invariant(
    outcome.accepted <= paths[winner].length && outcome.tokens.length === outcome.accepted + 1,
    `a round commits accepted + 1 >= 1 tokens (accepted ${outcome.accepted}, tokens ${outcome.tokens.length})`
  );

  // 4. Trim the main sequence to the winning path: erase its rejected drafts, or take the
  //    winning branch's cache (pending tokens + accepted drafts) in place of its own.
  state.nPast += pending.length + outcome.accepted;
  if (winner === 0) {
    if (sequence.nextTokenIndex > state.nPast)
      await sequence.eraseContextTokenRanges([
        { start: state.nPast, end: sequence.nextTokenIndex }
      ]);
  } else await branches.copy(sequence, sequences[winner], state.nPast);
  for (const branch of sequences.slice(1))
    await branch.eraseContextTokenRanges([{ start: 0, end: branch.nextTokenIndex }]);

  // 5. Commit, then check the invariant on the main sequence.
  state.committed.push(...outcome.tokens);
  assertCacheHoldsCommittedButLast(sequence, state);
  return {
    ...outcome,
    pendingCount: pending.length,
    verifyMs,
    branch: winner,
    drafted: paths[winner].length
  };
}
