/**
 * Schemas of the workflow surface (`/v1/agents/tasks`, `/v1/executions/*`, `/v1/capabilities`)
 * for request validation and the OpenAPI document. Receipts, summaries, provenance graphs and
 * candidates are the protocol's own schemas (src/lib/protocol/receipts.ts). The task body's
 * rules beyond its shape (duplicate source ids, lengths, policy normalization) stay in
 * `parseAgentTask`, whose `detail` strings clients read. Response envelopes are open objects
 * (documented fields required, others allowed): the workflow surface adds fields (e.g. chain
 * heads) without breaking clients; the OpenAI-compatible responses are closed instead.
 */
import { z } from 'zod';
import { apiSchemas } from './openai-schema.js';
import { ExecutionPolicySchema } from '../../src/lib/protocol/policy.js';
import {
  CapabilityDescriptorSchema,
  ExecutionReceiptSchema,
  ExecutionStatusSchema,
  ExecutionSummarySchema,
  ProvenanceGraphSchema
} from '../../src/lib/protocol/receipts.js';
import { MAX_RESEARCH_SOURCES } from '../../src/lib/protocol/workflow.js';

// The protocol's schemas get their own components (they are used by several responses).
apiSchemas.add(ExecutionSummarySchema, { id: 'ExecutionSummary' });
apiSchemas.add(ProvenanceGraphSchema, { id: 'ProvenanceGraph' });
apiSchemas.add(ExecutionReceiptSchema, { id: 'ExecutionReceipt' });
apiSchemas.add(CapabilityDescriptorSchema, { id: 'CapabilityDescriptor' });

const sourceSchema = z.strictObject({
  id: z.string().nullish().describe('Default `source-<n>`; unique within the task.'),
  title: z.string().nullish(),
  content: z.string().optional().describe('The source text (or send it as `text`).'),
  text: z.string().optional().describe('Alias of `content`.')
});

/**
 * The policy a client may send: every field of the normalized policy, each optional (absent
 * fields take the defaults of native-oracle/workflows/README.md). Checked in full by
 * parsePolicy (ranges, fallback_order within allowed_supply_tiers).
 */
const policyInputSchema = z.strictObject(ExecutionPolicySchema.partial().shape);

export const agentTaskRequestSchema = z
  .strictObject({
    workflow_kind: z.literal('research_brief'),
    question: z.string().describe('Required, at most 4000 characters.'),
    sources: z.array(sourceSchema).min(1).max(MAX_RESEARCH_SOURCES),
    policy: policyInputSchema.nullish(),
    model: z
      .string()
      .nullish()
      .describe('Model id asked of the candidates that generate (recorded in receipts).')
  })
  .register(apiSchemas, { id: 'AgentTaskRequest' });

const linksSchema = z.object({
  self: z.string(),
  receipts: z.string(),
  provenance: z.string(),
  verify: z.string()
});

export const agentTaskAcceptedSchema = z
  .looseObject({
    ok: z.literal(true),
    execution_id: z.string(),
    status: ExecutionStatusSchema,
    is_replay: z.boolean(),
    links: linksSchema
  })
  .register(apiSchemas, { id: 'AgentTaskAccepted' });

export const executionBundleSchema = z
  .looseObject({
    ok: z.boolean(),
    detail: z.string().nullish(),
    execution: ExecutionSummarySchema,
    provenance: ProvenanceGraphSchema,
    receipts: z.array(ExecutionReceiptSchema)
  })
  .register(apiSchemas, { id: 'ExecutionBundle' });

export const executionListSchema = z
  .looseObject({
    ok: z.literal(true),
    count: z.number().int(),
    executions: z.array(ExecutionSummarySchema)
  })
  .register(apiSchemas, { id: 'ExecutionList' });

export const executionResponseSchema = z
  .looseObject({ ok: z.literal(true), execution: ExecutionSummarySchema })
  .register(apiSchemas, { id: 'ExecutionResponse' });

export const receiptListSchema = z
  .looseObject({
    ok: z.literal(true),
    count: z.number().int(),
    receipts: z.array(ExecutionReceiptSchema)
  })
  .register(apiSchemas, { id: 'ReceiptList' });

export const otelSpansSchema = z
  .object({
    ok: z.literal(true),
    count: z.number().int(),
    spans: z.array(
      z.object({
        trace_id: z.string(),
        span_id: z.string(),
        parent_span_id: z.string().nullable(),
        name: z.string(),
        kind: z.enum(['INTERNAL', 'CLIENT']),
        start_time_unix_nano: z.string(),
        end_time_unix_nano: z.string(),
        status: z.object({
          code: z.enum(['OK', 'ERROR', 'UNSET']),
          message: z.string().optional()
        }),
        attributes: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()]))
      })
    )
  })
  .register(apiSchemas, { id: 'OtelSpans' });

export const provJsonSchema = z
  .looseObject({})
  .describe('W3C PROV-JSON document (prefix, entity, activity, agent and relations).')
  .register(apiSchemas, { id: 'ProvJson' });

export const chainVerificationSchema = z
  .looseObject({
    ok: z.literal(true),
    valid: z.boolean(),
    execution_id: z.string().nullable(),
    count: z.number().int(),
    verified: z.number().int(),
    signer_keys: z.array(z.string()),
    head_hash: z.string().nullable(),
    head_signed: z.boolean(),
    first_bad: z
      .object({
        index: z.number().int(),
        receipt_id: z.string().nullable(),
        seq: z.number().int().nullable(),
        reason: z.string(),
        detail: z.string()
      })
      .nullable(),
    node_public_key: z.string()
  })
  .register(apiSchemas, { id: 'ChainVerification' });

export const provenanceResponseSchema = z
  .looseObject({ ok: z.literal(true), provenance: ProvenanceGraphSchema })
  .register(apiSchemas, { id: 'ProvenanceResponse' });

export const cancelResponseSchema = z
  .looseObject({
    ok: z.literal(true),
    execution_id: z.string(),
    cancelled: z.literal(true),
    execution: ExecutionSummarySchema
  })
  .register(apiSchemas, { id: 'CancelResponse' });

export const capabilitiesSchema = z
  .looseObject({
    ok: z.literal(true),
    count: z.number().int(),
    capabilities: z.array(CapabilityDescriptorSchema),
    node_public_key: z.string()
  })
  .register(apiSchemas, { id: 'Capabilities' });

/** Workflow errors: OpenAI's error body plus the predecessor's `ok`, `detail`, `code`. */
export const envelopeErrorSchema = z
  .object({
    ok: z.literal(false),
    detail: z.string(),
    code: z.string(),
    error: z.object({
      message: z.string(),
      type: z.string(),
      param: z.string().nullable(),
      code: z.string().nullable()
    })
  })
  .register(apiSchemas, { id: 'EnvelopeError' });
