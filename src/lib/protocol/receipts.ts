/**
 * Wire shapes of the receipt-first workflow surface: capability descriptors, execution receipts,
 * the research brief artifact, execution summaries and provenance graphs.
 *
 * Field names follow the predecessor's contract (snake_case). Additions: `seq` (0-based position
 * of the receipt in its execution's chain), `prev_hash` (sha256 of the previous receipt,
 * see receipt-chain.ts), `signature` (Ed25519 by `node_identity`), `input_tokens` /
 * `output_tokens`, price fields on candidates, `rejected_candidates` on `candidate_ranked`.
 *
 * Producers OMIT absent optional fields (they never write null), because the signed bytes are
 * the canonical JSON of exactly what is stored and served. Verifiers must hash the raw JSON
 * object they received, never a re-parsed copy (zod strips unknown keys).
 */
import { z } from 'zod';
import { ExecutionPolicySchema, SupplyTierSchema, TrustTierSchema } from './policy.js';
import { StepAttestationSchema } from './contribution.js';
import { PrivacyEnvelopeSchema } from './privacy.js';

export const EVENT_KINDS = [
  'planned',
  'candidate_ranked',
  'dispatched',
  'completed',
  'failed',
  'fallback_applied',
  'orphaned'
] as const;
export const EventKindSchema = z.enum(EVENT_KINDS);
export type EventKind = z.infer<typeof EventKindSchema>;

export const STEP_KINDS = [
  'workflow',
  'planner',
  'summarize_source',
  'synthesize_brief',
  'workflow_result',
  'chat_completion'
] as const;
export const StepKindSchema = z.enum(STEP_KINDS);
export type StepKind = z.infer<typeof StepKindSchema>;

export const CANDIDATE_KINDS = ['local_engine', 'remote_oracle', 'extractive'] as const;
export const CandidateKindSchema = z.enum(CANDIDATE_KINDS);
export type CandidateKind = z.infer<typeof CandidateKindSchema>;

/** One candidate that may run a step (`CapabilityDescriptor`). */
export const CapabilityDescriptorSchema = z.object({
  candidate_id: z.string(),
  display_name: z.string(),
  kind: CandidateKindSchema.optional(),
  supply_tier: SupplyTierSchema,
  trust_tier: TrustTierSchema,
  capability_tier: z.string().nullish(),
  gpu_available: z.boolean().nullish(),
  public_api: z.boolean().nullish(),
  endpoint: z.string().nullish(),
  model_id: z.string().nullish(),
  queue_depth: z.number().nullish(),
  /** Measured (EWMA) or configured latency of one step, ms. */
  latency_ms: z.number().nullish(),
  price_per_1k_input_usd: z.number().nullish(),
  price_per_1k_output_usd: z.number().nullish(),
  score: z.number().nullish(),
  /** Capability tags; always present in /v1/capabilities, omitted in receipt snapshots. */
  tags: z.array(z.string()).optional(),
  role: z.string().nullish(),
  healthy: z.boolean().nullish(),
  selection_reason: z.string().nullish()
});
export type CapabilityDescriptor = z.infer<typeof CapabilityDescriptorSchema>;

/** A candidate the ranking excluded, and why (`trust_floor_unmet`, `budget_exceeded`, ...). */
export const RejectedCandidateSchema = z.object({ candidate_id: z.string(), reason: z.string() });
export type RejectedCandidate = z.infer<typeof RejectedCandidateSchema>;

export const ModelMetadataSchema = z.object({
  model_id: z.string().nullish(),
  inference_mode: z.string().nullish(),
  served_by: z.string().nullish(),
  mesh_forwarded: z.boolean().nullish(),
  mesh_forward_target: z.string().nullish(),
  mesh_target_tier: z.string().nullish(),
  mesh_detail: z.string().nullish(),
  overflow_routed: z.boolean().nullish(),
  overflow_destination: z.string().nullish(),
  /** `grammar` when output was constrained by a JSON-schema grammar. */
  constrained: z.string().nullish(),
  /**
   * A contributed node's signed attestation of the step's answer (`shard-attestation/1`,
   * contribution.ts), checked by the orchestrator against the key the node registered with.
   */
  attestation: StepAttestationSchema.optional()
});
export type ModelMetadata = z.infer<typeof ModelMetadataSchema>;

export const TaskContextSchema = z.object({
  workflow_kind: z.string(),
  question: z.string(),
  source_count: z.number().int(),
  source_ids: z.array(z.string())
});
export type TaskContext = z.infer<typeof TaskContextSchema>;

export const SubQuestionSchema = z.object({
  question: z.string(),
  relevant_source_ids: z.array(z.string())
});
export type SubQuestion = z.infer<typeof SubQuestionSchema>;

export const SourceSummarySchema = z.object({
  source_id: z.string(),
  title: z.string().nullish(),
  summary: z.string()
});
export type SourceSummary = z.infer<typeof SourceSummarySchema>;

/**
 * The research brief. A failed execution carries a partial artifact (`partial: true`) on its
 * final `failed` receipt: whatever steps completed, `brief` null when synthesis did not run.
 */
export const ResearchBriefArtifactSchema = z.object({
  brief: z.string().nullable(),
  planner_notes: z.string().nullish(),
  sub_questions: z.array(SubQuestionSchema),
  selected_source_ids: z.array(z.string()),
  source_summaries: z.array(SourceSummarySchema),
  partial: z.boolean().optional()
});
export type ResearchBriefArtifact = z.infer<typeof ResearchBriefArtifactSchema>;

/** The `workflow_kind` of a chat answer's execution (one receipt, step kind `chat_completion`). */
export const CHAT_WORKFLOW_KIND = 'chat';

/**
 * How one chat answer was made (`chat` on a `chat_completion` receipt). It never holds the
 * prompt or the answer: `messages_sha256` and `output_sha256` commit to them (chat-receipt.ts
 * says how to recompute them), so whoever holds the conversation can check it against the
 * signed receipt. `finish_reason` is OpenAI's (`stop`, `length`, `tool_calls`) or `stopped`
 * when the client went away before the answer was complete.
 */
export const ChatReceiptDetailsSchema = z.object({
  model: z.string(),
  stream: z.boolean(),
  /** The request's speculation choice: auto, off or on. */
  speculation: z.string(),
  mode: z.enum(['standard', 'speculative']),
  /** Who drafted (`scout`, `draft-model`, `prompt-lookup`, ...); null when nothing did. */
  draft_source: z.string().nullable(),
  drafted: z.number().int(),
  accepted: z.number().int(),
  rounds: z.number().int(),
  prompt_tokens: z.number().int(),
  completion_tokens: z.number().int(),
  finish_reason: z.string(),
  /** Time spent before the engine started (admission queue), ms. */
  queue_ms: z.number(),
  /** From the request to the first generated text, ms; null when none was generated. */
  first_token_ms: z.number().nullable(),
  /** From the request to the end of generation, ms. */
  total_ms: z.number(),
  /** The request's privacy envelope, normalized (privacy.ts). */
  privacy: PrivacyEnvelopeSchema,
  /** sha256 hex of the canonical JSON of the request's `messages` array. */
  messages_sha256: z.string(),
  /** sha256 hex of the UTF-8 text the model generated. */
  output_sha256: z.string()
});
export type ChatReceiptDetails = z.infer<typeof ChatReceiptDetailsSchema>;

/** Where a chat answer's receipt is (`shard.receipt` of the reply). */
export const ChatReceiptRefSchema = z.object({
  execution_id: z.string(),
  receipt_id: z.string(),
  links: z.object({
    self: z.string(),
    receipts: z.string(),
    provenance: z.string(),
    verify: z.string()
  })
});
export type ChatReceiptRef = z.infer<typeof ChatReceiptRefSchema>;

/** One append-only, hash-chained, signed event of an execution (`ExecutionReceipt`). */
export const ExecutionReceiptSchema = z.object({
  receipt_id: z.string(),
  execution_id: z.string(),
  seq: z.number().int().min(0),
  step_id: z.string(),
  attempt_id: z.string(),
  parent_receipt_id: z.string().nullish(),
  event_kind: EventKindSchema,
  timestamp_ms: z.number(),
  workflow_kind: z.string(),
  step_kind: StepKindSchema.nullish(),
  task_context: TaskContextSchema.nullish(),
  policy_snapshot: ExecutionPolicySchema.nullish(),
  candidate_rankings: z.array(CapabilityDescriptorSchema).nullish(),
  rejected_candidates: z.array(RejectedCandidateSchema).nullish(),
  selected_candidate: CapabilityDescriptorSchema.nullish(),
  supply_tier: SupplyTierSchema.nullish(),
  trust_tier: TrustTierSchema.nullish(),
  capability_match_reason: z.string().nullish(),
  estimated_cost_usd: z.number().nullish(),
  actual_cost_usd: z.number().nullish(),
  latency_ms: z.number().nullish(),
  input_tokens: z.number().int().nullish(),
  output_tokens: z.number().int().nullish(),
  outcome: z.string().nullish(),
  failure_reason: z.string().nullish(),
  fallback_reason: z.string().nullish(),
  node_identity: z.string(),
  agent_identity: z.string().nullish(),
  model_metadata: ModelMetadataSchema.nullish(),
  summary: z.string().nullish(),
  result: ResearchBriefArtifactSchema.nullish(),
  /** Present on `chat_completion` receipts only. */
  chat: ChatReceiptDetailsSchema.optional(),
  /** sha256 hex of the previous receipt of this execution; null on seq 0. */
  prev_hash: z.string().nullable(),
  /** Ed25519 signature (hex) over the receipt hash, by `node_identity`. */
  signature: z.string()
});
export type ExecutionReceipt = z.infer<typeof ExecutionReceiptSchema>;
/** A receipt before the chain fields are filled in (what the workflow runner emits). */
export type UnsignedReceipt = Omit<
  ExecutionReceipt,
  'seq' | 'prev_hash' | 'signature' | 'node_identity'
>;

/**
 * The statuses an execution moves through (and that GET /v1/executions?status= filters on).
 */
export const EXECUTION_STATUSES = ['running', 'completed', 'failed', 'orphaned'] as const;

/**
 * The status shown when the stored receipts fail verification (a receipt edited, unreadable, or
 * cut off the end of the chain): what the receipts say can no longer be believed, so neither
 * `running` nor their last event is reported. Not one of EXECUTION_STATUSES: no execution moves
 * into it, it is what a reader finds.
 */
export const CORRUPTED_STATUS = 'corrupted';
export const SUMMARY_STATUSES = [...EXECUTION_STATUSES, CORRUPTED_STATUS] as const;
/** Any status a summary or a response may carry: EXECUTION_STATUSES or `corrupted`. */
export const ExecutionStatusSchema = z.enum(SUMMARY_STATUSES);
export type ExecutionStatus = z.infer<typeof ExecutionStatusSchema>;
export const SummaryStatusSchema = ExecutionStatusSchema;
export type SummaryStatus = ExecutionStatus;

export const ExecutionSummarySchema = z.object({
  execution_id: z.string(),
  workflow_kind: z.string(),
  /** `corrupted` when the stored chain fails verification (see `integrity_problem`). */
  status: SummaryStatusSchema,
  /** Why the status is `corrupted`: the verification failure, e.g. `truncated: ...`. */
  integrity_problem: z.string().nullish(),
  created_at_ms: z.number(),
  updated_at_ms: z.number(),
  current_step: z.string().nullish(),
  question: z.string().nullish(),
  source_count: z.number().int(),
  latest_summary: z.string().nullish(),
  result: ResearchBriefArtifactSchema.nullish(),
  receipt_count: z.number().int(),
  /** Σ actual_cost_usd of step `completed` and `failed` receipts. */
  observed_cost_usd: z.number()
});
export type ExecutionSummary = z.infer<typeof ExecutionSummarySchema>;

export const ProvenanceNodeSchema = z.object({
  receipt_id: z.string(),
  parent_receipt_id: z.string().nullish(),
  step_id: z.string(),
  attempt_id: z.string(),
  event_kind: EventKindSchema,
  timestamp_ms: z.number(),
  seq: z.number().int(),
  step_kind: z.string().nullish(),
  label: z.string(),
  supply_tier: SupplyTierSchema.nullish(),
  trust_tier: TrustTierSchema.nullish(),
  latency_ms: z.number().nullish(),
  estimated_cost_usd: z.number().nullish(),
  actual_cost_usd: z.number().nullish(),
  failure_reason: z.string().nullish(),
  fallback_reason: z.string().nullish(),
  summary: z.string().nullish(),
  selected_candidate: CapabilityDescriptorSchema.nullish(),
  model_metadata: ModelMetadataSchema.nullish(),
  /** `main` (on the path to the result), `fallback` (a failed attempt and its recovery), `failed`, `orphaned`. */
  branch: z.enum(['main', 'fallback', 'failed', 'orphaned'])
});
export type ProvenanceNode = z.infer<typeof ProvenanceNodeSchema>;

export const ProvenanceEdgeSchema = z.object({
  from_receipt_id: z.string(),
  to_receipt_id: z.string(),
  /** True when the edge leads to or from a fallback. */
  is_fallback: z.boolean()
});
export type ProvenanceEdge = z.infer<typeof ProvenanceEdgeSchema>;

export const ProvenanceGraphSchema = z.object({
  execution_id: z.string(),
  root_receipt_id: z.string().nullish(),
  nodes: z.array(ProvenanceNodeSchema),
  edges: z.array(ProvenanceEdgeSchema),
  incomplete: z.boolean(),
  /** Receipt ids from a failed attempt through its fallback_applied to the recovering attempt. */
  fallback_paths: z.array(z.array(z.string())),
  /** Parent ids referenced by some receipt but absent from the set. */
  missing_parent_ids: z.array(z.string())
});
export type ProvenanceGraph = z.infer<typeof ProvenanceGraphSchema>;
