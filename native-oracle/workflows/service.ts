/**
 * The workflow service: starts executions (durably registered before they run), keeps their
 * cancel handles, answers bundles from the receipt store (summary and graph recomputed on every
 * read; a chain that fails verification reads as `corrupted`), and honours idempotency keys
 * (same owner + same key + same body → same execution).
 *
 * Every execution has an owner (the API key that created it, or the local user). Methods that
 * take a `viewer` treat another owner's execution as unknown unless the viewer is an operator,
 * so a route answers 404 for it, never revealing that it exists.
 */
import { randomUUID } from 'node:crypto';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { canonicalBytes } from '../../src/lib/protocol/canonical-json.js';
import { buildProvenance } from '../../src/lib/protocol/provenance.js';
import type {
  ExecutionReceipt,
  ExecutionStatus,
  ExecutionSummary
} from '../../src/lib/protocol/receipts.js';
import type { AgentTask, AgentTaskResponse } from '../../src/lib/protocol/workflow.js';
import {
  IdempotencyConflictError,
  LOCAL_OWNER,
  ReceiptStorageFullError,
  type ReceiptStore
} from '../receipts/index.js';
import { createLogger } from '../../src/lib/server/log.js';
import { StepAttemptError } from './errors.js';
import { runResearchBrief, type RunOutcome } from './research-brief.js';
import type { CapacityRegistry } from './registry.js';

const log = createLogger('shard:oracle:workflows');

/** Who reads: the owner id of the caller and whether it sees every owner's executions. */
export interface ExecutionViewer {
  owner: string;
  isOperator: boolean;
}

export interface WorkflowService {
  readonly store: ReceiptStore;
  readonly registry: CapacityRegistry;
  /**
   * Registers and starts an execution owned by `owner` (default LOCAL_OWNER). With an
   * idempotency key this owner already used: same request hash → the earlier execution
   * (`is_replay: true`); different hash → throws IdempotencyConflictError. Throws
   * ReceiptStorageFullError when the execution cannot be stored (disk full).
   */
  submit(
    task: AgentTask,
    options: { requestHash: string; idempotencyKey?: string | null; owner?: string }
  ): { execution_id: string; is_replay: boolean };
  /** Whether `viewer` may see the execution (false for unknown ones); no viewer sees all. */
  canSee(executionId: string, viewer?: ExecutionViewer): boolean;
  /** Resolves when the execution is no longer running in this process. */
  wait(executionId: string): Promise<void>;
  /** Aborts a running execution; false when it is not running here. */
  cancel(executionId: string): boolean;
  isRunning(executionId: string): boolean;
  /**
   * Listens to the receipts a running execution appends from now on; `onEnd` fires once when
   * it stops running here. Returns the unsubscribe function. Subscribing to an execution that
   * is not running calls `onEnd` at once.
   */
  subscribe(
    executionId: string,
    listener: { onReceipt(r: ExecutionReceipt): void; onEnd(): void }
  ): () => void;
  /** The full bundle, or null when the execution is unknown (or not `viewer`'s to see). */
  bundle(executionId: string, viewer?: ExecutionViewer): AgentTaskResponse | null;
  /** Newest first: `viewer`'s own executions, every one for an operator or without a viewer. */
  list(options?: {
    limit?: number;
    status?: ExecutionStatus;
    viewer?: ExecutionViewer;
  }): ExecutionSummary[];
  /** Aborts every running execution (reason `cancelled`) and waits for their final receipts. */
  stop(): Promise<void>;
}

/** sha256 of the canonical JSON of a request body: equal bodies in any key order match. */
export function requestHash(body: unknown): string {
  return bytesToHex(sha256(canonicalBytes(body ?? null)));
}

export function createWorkflowService(options: {
  store: ReceiptStore;
  registry: CapacityRegistry;
  now?: () => number;
}): WorkflowService {
  const { store, registry } = options;
  const now = options.now ?? Date.now;
  const running = new Map<string, { controller: AbortController; done: Promise<RunOutcome> }>();
  type Listener = { onReceipt(r: ExecutionReceipt): void; onEnd(): void };
  const listeners = new Map<string, Set<Listener>>();
  const notify = (executionId: string, receipt: ExecutionReceipt) => {
    for (const l of listeners.get(executionId) ?? []) {
      try {
        l.onReceipt(receipt);
      } catch (err) {
        log.warn('receipt listener failed', { execution_id: executionId, err });
      }
    }
  };
  const ended = (executionId: string) => {
    running.delete(executionId);
    const set = listeners.get(executionId);
    listeners.delete(executionId);
    for (const l of set ?? []) l.onEnd();
  };

  const service: WorkflowService = {
    store,
    registry,

    submit(task, { requestHash: hash, idempotencyKey, owner = LOCAL_OWNER }) {
      if (idempotencyKey) {
        const existing = store.findByIdempotencyKey(idempotencyKey, owner);
        if (existing) {
          if (existing.request_hash !== hash) {
            throw new IdempotencyConflictError(
              `Idempotency-Key ${idempotencyKey} was already used with a different request body`
            );
          }
          return { execution_id: existing.execution_id, is_replay: true };
        }
      }
      const executionId = `exec-${randomUUID()}`;
      store.createExecution({
        execution_id: executionId,
        created_at_ms: now(),
        request_hash: hash,
        owner,
        idempotency_key: idempotencyKey ?? null
      });
      const controller = new AbortController();
      // runResearchBrief appends its `planned` receipt synchronously, before its first await.
      const done = runResearchBrief({
        executionId,
        task,
        store,
        registry,
        signal: controller.signal,
        now,
        onReceipt: (r) => notify(executionId, r)
      }).finally(() => ended(executionId));
      // A run whose first receipt could not be written rejects; that is reported below.
      done.catch((err: unknown) =>
        log.warn('execution ended with an error', { execution_id: executionId, err })
      );
      running.set(executionId, { controller, done });
      try {
        // The id is about to be acknowledged (202): make the execution and its root receipt durable.
        store.flush();
        // A write that failed for lack of space rolled the execution back with it.
        if (!store.hasExecution(executionId)) {
          throw new ReceiptStorageFullError(
            store.writeProblem()?.message ?? 'the execution could not be stored'
          );
        }
      } catch (err) {
        controller.abort(new StepAttemptError('cancelled'));
        throw err;
      }
      log.info('execution started', { execution_id: executionId, sources: task.sources.length });
      return { execution_id: executionId, is_replay: false };
    },

    async wait(executionId) {
      await running.get(executionId)?.done.catch(() => undefined);
    },

    canSee(executionId, viewer) {
      if (!viewer || viewer.isOperator) return store.hasExecution(executionId);
      return store.ownerOf(executionId) === viewer.owner;
    },

    cancel(executionId) {
      const r = running.get(executionId);
      if (!r) return false;
      r.controller.abort(new StepAttemptError('cancelled'));
      return true;
    },

    isRunning: (executionId) => running.has(executionId),

    subscribe(executionId, listener) {
      if (!running.has(executionId)) {
        listener.onEnd();
        return () => undefined;
      }
      const set = listeners.get(executionId) ?? new Set<Listener>();
      set.add(listener);
      listeners.set(executionId, set);
      return () => {
        set.delete(listener);
      };
    },

    bundle(executionId, viewer) {
      if (viewer && !service.canSee(executionId, viewer)) return null;
      // The store's summary verifies the chain: a damaged or cut chain reads `corrupted`.
      const execution = store.summary(executionId);
      const receipts = store.list(executionId);
      if (!execution) return null;
      const last = receipts.at(-1);
      const isOk = execution.status === 'completed';
      return {
        ok: isOk,
        detail: isOk
          ? null
          : execution.status === 'running'
            ? null
            : (execution.integrity_problem ??
              last?.failure_reason ??
              last?.fallback_reason ??
              last?.summary ??
              null),
        execution,
        provenance: buildProvenance(receipts, executionId),
        receipts
      };
    },

    list({ limit = 50, status, viewer } = {}) {
      const owner = viewer && !viewer.isOperator ? viewer.owner : undefined;
      const rows = store.listExecutions({
        limit: status ? 500 : limit,
        ...(owner !== undefined ? { owner } : {})
      });
      const out: ExecutionSummary[] = [];
      for (const row of rows) {
        const summary = store.summary(row.execution_id);
        if (!summary) continue;
        if (status && summary.status !== status) continue;
        out.push(summary);
        if (out.length >= limit) break;
      }
      return out;
    },

    async stop() {
      for (const r of running.values()) r.controller.abort(new StepAttemptError('cancelled'));
      await Promise.allSettled([...running.values()].map((r) => r.done));
    }
  };
  return service;
}
