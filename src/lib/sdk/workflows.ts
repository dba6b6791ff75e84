/**
 * `client.workflows`: receipt-first workflows (`research_brief`). Submit a task, wait for it,
 * read its summary, receipts and provenance, and verify the receipts HERE with the same
 * hash-chain code the oracle seals them with (src/lib/protocol/receipt-chain.ts), pinned to the
 * signer keys you trust.
 */
import { z } from 'zod';
import type { ExecutionPolicy } from '../protocol/policy.js';
import { verifyReceiptChain, type ChainVerification } from '../protocol/receipt-chain.js';
import {
  CapabilityDescriptorSchema,
  ExecutionReceiptSchema,
  ExecutionStatusSchema,
  ExecutionSummarySchema,
  ProvenanceGraphSchema,
  type ExecutionReceipt,
  type ExecutionSummary,
  type ProvenanceGraph
} from '../protocol/receipts.js';
import type { AgentTaskAccepted, ResearchSource } from '../protocol/workflow.js';
import { ShardResponseError, ShardTimeoutError } from './errors.js';
import type { Http } from './http.js';

/** Default longest wait for an execution; the oracle's own default deadline is 45 s. */
export const DEFAULT_WAIT_TIMEOUT_MS = 120_000;
/** Default poll interval of wait(). */
export const DEFAULT_POLL_MS = 250;

export interface WorkflowTask {
  /** Default `research_brief`, the one workflow of v1. */
  workflow_kind?: 'research_brief';
  question: string;
  sources: Array<Partial<ResearchSource> & { content: string }>;
  policy?: Partial<ExecutionPolicy>;
  model?: string;
}

/** A finished execution: its summary, receipts (raw, as signed) and provenance graph. */
export interface ExecutionBundle {
  ok: boolean;
  execution: ExecutionSummary;
  receipts: ExecutionReceipt[];
  provenance: ProvenanceGraph;
}

const AcceptedSchema = z.looseObject({
  ok: z.literal(true),
  execution_id: z.string(),
  status: ExecutionStatusSchema,
  is_replay: z.boolean(),
  links: z.looseObject({
    self: z.string(),
    receipts: z.string(),
    provenance: z.string(),
    verify: z.string()
  })
});
const SummaryEnvelope = z.looseObject({ execution: ExecutionSummarySchema });
// Receipts are kept as received: a zod parse would strip fields and break their hashes.
const ReceiptsEnvelope = z.looseObject({ receipts: z.array(z.record(z.string(), z.unknown())) });
const ProvenanceEnvelope = z.looseObject({ provenance: ProvenanceGraphSchema });
const CapabilitiesEnvelope = z.looseObject({ capabilities: z.array(CapabilityDescriptorSchema) });

const isEnded = (status: string) => status !== 'running';

export function createWorkflows(http: Http) {
  const path = (id: string) => `/v1/executions/${encodeURIComponent(id)}`;

  const receipts = async (id: string): Promise<ExecutionReceipt[]> => {
    const raw = (await http.json(`${path(id)}/receipts`, ReceiptsEnvelope)).receipts;
    raw.forEach((r, i) => {
      const check = ExecutionReceiptSchema.safeParse(r);
      if (!check.success)
        throw new ShardResponseError(
          `receipt ${i} is malformed: ${check.error.issues[0]?.message}`
        );
    });
    return raw as unknown as ExecutionReceipt[];
  };

  const status = async (id: string): Promise<ExecutionSummary> =>
    (await http.json(path(id), SummaryEnvelope)).execution;

  const provenance = async (id: string): Promise<ProvenanceGraph> =>
    (await http.json(`${path(id)}/provenance`, ProvenanceEnvelope)).provenance;

  /** Polls the execution until it is no longer running; throws ShardTimeoutError. */
  const wait = async (
    id: string,
    options: { timeoutMs?: number; pollMs?: number; signal?: AbortSignal } = {}
  ): Promise<ExecutionBundle> => {
    const deadline = Date.now() + (options.timeoutMs ?? DEFAULT_WAIT_TIMEOUT_MS);
    for (;;) {
      const execution = await status(id);
      if (isEnded(execution.status)) {
        const [r, p] = await Promise.all([receipts(id), provenance(id)]);
        return { ok: execution.status === 'completed', execution, receipts: r, provenance: p };
      }
      if (Date.now() > deadline) throw new ShardTimeoutError(`execution ${id} is still running`);
      options.signal?.throwIfAborted();
      await new Promise((r) => setTimeout(r, options.pollMs ?? DEFAULT_POLL_MS));
    }
  };

  return {
    /** Submits a task (202 + execution id). `idempotencyKey` makes a retried submit safe. */
    async submit(
      task: WorkflowTask,
      options: { idempotencyKey?: string } = {}
    ): Promise<AgentTaskAccepted> {
      const accepted = await http.json('/v1/agents/tasks', AcceptedSchema, {
        body: { workflow_kind: 'research_brief', ...task },
        ...(options.idempotencyKey
          ? { headers: { 'idempotency-key': options.idempotencyKey } }
          : {})
      });
      return accepted;
    },
    /** Submits and waits for the end (see wait()). */
    async run(task: WorkflowTask, options: { timeoutMs?: number; idempotencyKey?: string } = {}) {
      const { execution_id } = await this.submit(task, options);
      return wait(execution_id, options);
    },
    wait,
    status,
    receipts,
    provenance,
    async capabilities() {
      return (await http.json('/v1/capabilities', CapabilitiesEnvelope)).capabilities;
    },
    /**
     * Verifies an execution's receipts locally: hash chain, seq, and every signature, pinned to
     * `trustedKeys` (hex) when given. Pass the receipts you hold, or an id to fetch them.
     */
    async verifyReceipts(
      idOrReceipts: string | readonly unknown[],
      options: { trustedKeys?: readonly string[] } = {}
    ): Promise<ChainVerification> {
      const list = typeof idOrReceipts === 'string' ? await receipts(idOrReceipts) : idOrReceipts;
      return verifyReceiptChain(
        list,
        options.trustedKeys ? { trustedKeys: options.trustedKeys } : {}
      );
    }
  };
}

export type Workflows = ReturnType<typeof createWorkflows>;
