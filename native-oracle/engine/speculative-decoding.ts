/**
 * The speculative decoding loop: each iteration is one verify round (./speculative-round.ts)
 * around which this loop decides the draft length, asks the draft source, feeds the governor
 * and streams the committed tokens. Without a draft source (or while the governor says drafting
 * does not pay) a round has no drafts and is a plain decode step. A greedy round whose proposal
 * carries alternatives verifies them beside the main draft in the same batch when the engine's
 * branch sequence is free (./branch-verify.ts), and commits the path the target accepted furthest.
 */
import type { Token } from 'node-llama-cpp';
import { createLogger } from '../../src/lib/server/log.js';
import { runBranchRound, type BranchPool } from './branch-verify.js';
import type { DecodeRun } from './decode-run.js';
import { requestDraft } from './draft-validation.js';
import type { SpeculationGovernor } from './governor.js';
import type { DraftBudget, DraftSource, FinishReason, GenerationEvent } from './index.js';
import { positionUniform, type TokenLogprobs } from './sampling.js';
import { runSpeculativeRound, type RoundResult } from './speculative-round.js';

const log = createLogger('shard:oracle:engine');

/** Largest per-round draft seed (2^31 - 1): seeds stay positive 32-bit integers for any source. */
const MAX_DRAFT_SEED = 0x7fffffff;
/** The uniform stream of a round's draft seed, apart from the target's own (stream 0). */
const DRAFT_SEED_STREAM = 1;

/** Where drafts come from for one generation, and how many to ask for. */
export interface SpeculationPlan {
  source: DraftSource;
  /** The source's governor (shared by all generations that use the source). */
  governor: SpeculationGovernor;
  /** Drafts per round at most (the request's draftLength, capped). */
  draftLength: number;
  /** `speculation: 'on'`: draft the full length every round instead of asking the governor. */
  isForcedOn: boolean;
  /** Aborted when the generation ends, so a pending draft call stops. */
  signal: AbortSignal;
  vocabularySize: number;
  /** Spare sequences for verifying alternative drafts (./branch-verify.ts); null = none. */
  branches?: BranchPool | null;
}

/** A round's drafts: the main draft and the alternatives to verify beside it. */
interface RoundDrafts {
  drafts: number[];
  alternatives: number[][];
}

type TokensEvent = Extract<GenerationEvent, { type: 'tokens' }>;

/**
 * Decodes until end of generation, a stop string or `run.maxTokens`, one verify round per
 * iteration (`plan` null: never drafts). Yields a `tokens` event for each round that commits
 * output or releases text; returns the finish reason. Throws GenerationAbortedError on abort.
 */
export async function* decodeSpeculative(
  run: DecodeRun,
  plan: SpeculationPlan | null
): AsyncGenerator<TokensEvent, FinishReason> {
  while (run.output.tokens.length < run.maxTokens) {
    run.throwIfAborted();
    // 1. Decide the draft length for this round (0 = plain decode step) and the wait budget.
    const { k, budget } = plan ? chooseDraftLength(run, plan) : { k: 0, budget: undefined };

    // 2. Ask the draft source (failures fall back to a plain step; drafts are untrusted).
    const proposed =
      plan && k > 0 ? await draftRound(run, plan, k, budget) : { drafts: [], alternatives: [] };

    // 3. Verify, accept and trim the KV cache: one round, at least one token committed.
    const round = await verifyRound(run, plan, proposed);
    run.throwIfAborted();

    // 4. Bookkeeping: counters, governor timings, source feedback.
    recordRound(run, plan, round);

    // 5. Stream the output, stopping at end of generation, the token budget or a stop string.
    const { fresh, logprobs, isEndOfGeneration } = appendOutput(run, round);
    const delta = run.output.update();
    if (fresh.length > 0 || delta.text)
      yield { type: 'tokens', tokens: fresh, text: delta.text, ...(logprobs ? { logprobs } : {}) };
    if (delta.isStopped || isEndOfGeneration) return 'stop';
  }
  return 'length';
}

/**
 * Drafts for this round: never more than the output budget left after the round's own token,
 * nor than the context has room for; the governor picks k (and the source's wait budget) unless
 * speculation is forced on.
 */
function chooseDraftLength(
  run: DecodeRun,
  plan: SpeculationPlan
): { k: number; budget: DraftBudget | undefined } {
  const room = Math.min(
    run.maxTokens - run.output.tokens.length - 1,
    run.contextSize - run.state.committed.length - 1
  );
  const maxK = Math.max(0, Math.min(plan.draftLength, room));
  if (maxK === 0) return { k: 0, budget: undefined };
  // 'on' drafts the full length every round (predictable, reproducible) with no budget: the
  // source waits up to its own cap. 'auto' lets the governor pick k, or 0 when drafting does
  // not pay, and how long the source may wait.
  if (plan.isForcedOn) return { k: maxK, budget: undefined };
  const round = plan.governor.decide({ maxK, mode: 'auto' });
  return { k: round.k, budget: round.k > 0 ? plan.governor.budget(round) : undefined };
}

/** A round's verify result with the path it committed (0 = the main draft) and its length. */
type VerifiedRound = RoundResult & { branch: number; drafted: number; isBranchRound: boolean };

/**
 * Verifies the main draft alone, or beside its alternatives when this is a greedy round and the
 * engine's branch sequences are free (another generation's round may hold them: then the
 * alternatives are dropped for this round).
 */
async function verifyRound(
  run: DecodeRun,
  plan: SpeculationPlan | null,
  { drafts, alternatives }: RoundDrafts
): Promise<VerifiedRound> {
  // A round that prefills the prompt would evaluate it once per branch: main draft only.
  const isPlainRound =
    alternatives.length === 0 || run.state.committed.length - run.state.nPast > 1;
  const lease = isPlainRound ? null : (plan?.branches?.tryTake() ?? null);
  if (!lease) {
    const round = await runSpeculativeRound({
      sequence: run.sequence,
      state: run.state,
      drafts,
      choice: run.choice
    });
    return { ...round, branch: 0, drafted: drafts.length, isBranchRound: false };
  }
  try {
    const round = await runBranchRound({
      sequence: run.sequence,
      state: run.state,
      drafts,
      alternatives,
      branches: lease
    });
    return { ...round, isBranchRound: true };
  } finally {
    lease.release();
  }
}

async function draftRound(
  run: DecodeRun,
  plan: SpeculationPlan,
  k: number,
  budget: DraftBudget | undefined
): Promise<RoundDrafts> {
  const started = performance.now();
  const proposal = await requestDraft({
    source: plan.source,
    context: run.state.committed,
    k,
    signal: plan.signal,
    sampling: draftSampling(run, k),
    budget,
    vocabularySize: plan.vocabularySize
  });
  run.throwIfAborted();
  const ms = performance.now() - started;
  const drafts = proposal?.tokens.slice(0, k) ?? [];
  if (drafts.length > 0) plan.governor.recordDraft(k, ms);
  else plan.governor.recordEmptyDraft(ms, k);
  // Alternatives are verified in greedy rounds only: a sampling or log-probability round
  // chooses each token from the raw logits with the position's uniform (./sampling.ts), which
  // the branch round does not do, so it keeps the single-draft path.
  const alternatives = run.choice === null ? (proposal?.alternatives ?? []) : [];
  return { drafts, alternatives };
}

/**
 * What a sampling target tells the draft source: its temperature and top-p, a seed for this
 * round and the uniforms the target will draw the drafted positions with, all keyed by the
 * round's first output position (never by a stream earlier rounds consumed), so a seeded request
 * stays reproducible. Undefined for greedy targets.
 */
function draftSampling(run: DecodeRun, k: number) {
  const settings = run.choice?.settings;
  if (!settings || settings.temperature === 0) return undefined;
  const first = run.output.tokens.length;
  return {
    temperature: settings.temperature,
    topP: settings.topP,
    seed: Math.floor(positionUniform(settings.seed, first, DRAFT_SEED_STREAM) * MAX_DRAFT_SEED),
    uniforms: Array.from({ length: k }, (_, j) => positionUniform(settings.seed, first + j))
  };
}

function recordRound(run: DecodeRun, plan: SpeculationPlan | null, round: VerifiedRound): void {
  const { drafted } = round;
  run.counters.rounds++;
  // The round that prefills the prompt is no sample of a verify step's cost.
  if (plan && round.pendingCount === 1) {
    if (drafted > 0) plan.governor.recordVerify(drafted, round.verifyMs, round.accepted);
    else plan.governor.recordPlainStep(round.verifyMs);
  }
  if (drafted === 0) return;
  run.counters.drafted += drafted;
  run.counters.accepted += round.accepted;
  run.counters.speculativeRounds++;
  if (round.isBranchRound) {
    run.counters.branchRounds = (run.counters.branchRounds ?? 0) + 1;
    if (round.branch > 0) run.counters.branchWins = (run.counters.branchWins ?? 0) + 1;
  }
  try {
    plan?.source.onVerified?.({
      accepted: round.accepted,
      drafted,
      ...(round.branch > 0 ? { branch: round.branch } : {})
    });
  } catch (err) {
    log.warn('draft source onVerified threw', { source: plan?.source.name, error: err });
  }
}

/**
 * Appends the round's tokens (and their log-probabilities, when reported) to the output up to an
 * end-of-generation token or the budget.
 */
function appendOutput(
  run: DecodeRun,
  round: RoundResult
): { fresh: number[]; logprobs?: TokenLogprobs[]; isEndOfGeneration: boolean } {
  const fresh: number[] = [];
  const logprobs = round.logprobs ? ([] as TokenLogprobs[]) : undefined;
  let isEndOfGeneration = false;
  for (const [i, token] of round.tokens.entries()) {
    if (run.model.isEogToken(token as Token)) {
      isEndOfGeneration = true;
      break;
    }
    fresh.push(token);
    logprobs?.push(round.logprobs![i]);
    run.output.tokens.push(token);
    if (run.output.tokens.length >= run.maxTokens) break;
  }
  return { fresh, logprobs, isEndOfGeneration };
}
