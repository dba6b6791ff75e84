/**
 * HTTP routes of the workflow surface (envelope errors `{ ok: false, detail, code }`):
 *   POST /v1/agents/tasks                       202 + execution id; `?wait=true`: 201 ok / 200 ok:false bundle
 *   GET  /v1/executions                         list (`?limit=`, `?status=`)
 *   GET  /v1/executions/:id                     summary
 *   GET  /v1/executions/:id/receipts            receipts (`?format=prov` PROV-JSON, `?format=otel` spans)
 *   GET  /v1/executions/:id/receipts/verify     recomputed chain + signatures, first bad receipt
 *   GET  /v1/executions/:id/provenance          graph
 *   GET  /v1/executions/:id/events              SSE: `receipt` events (past, then live), one `end` (summary)
 *   POST /v1/executions/:id/cancel              202 cancelled; 409 when not running
 *   GET  /v1/capabilities                       candidates
 * A `?wait=true` request whose client goes away does NOT cancel the execution: it is durable and
 * can be polled by id (use the cancel route to stop it). A client leaving the events stream only
 * unsubscribes it. The task body is checked against agentTaskRequestSchema (unknown fields are a
 * 400 naming them) and parseAgentTask (whose `detail` strings win where both object).
 */
import { z } from 'zod';
import { agentTaskRequestSchema } from '../api/workflow-schema.js';
import { toOtelSpans, toProvJson } from '../../src/lib/protocol/provenance.js';
import { EXECUTION_STATUSES, type ExecutionStatus } from '../../src/lib/protocol/receipts.js';
import { parseAgentTask, type AgentTaskAccepted } from '../../src/lib/protocol/workflow.js';
import { BadRequestError, ConflictError, HttpError, NotFoundError } from '../http/errors.js';
import { callerOf } from '../http/security.js';
import { envelopeErrors, jsonResponse, type OracleContext, type Router } from '../http/router.js';
import { eventStream } from '../http/sse.js';
import { jsonBody, zodErrorToBadRequest } from '../http/validate.js';
import { IdempotencyConflictError } from '../receipts/index.js';
import { requestHash, type WorkflowService } from './service.js';
import type { OracleMetrics } from '../http/metrics.js';

const EXECUTION_ID = /^exec-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const MAX_IDEMPOTENCY_KEY_CHARS = 200;

function executionId(raw: string | undefined): string {
  if (!raw || !EXECUTION_ID.test(raw)) throw new NotFoundError('execution not found');
  return raw;
}

function links(id: string): AgentTaskAccepted['links'] {
  const base = `/v1/executions/${id}`;
  return {
    self: base,
    receipts: `${base}/receipts`,
    provenance: `${base}/provenance`,
    verify: `${base}/receipts/verify`
  };
}

/**
 * Counts the receipts a new execution appends (`shard_receipts_written_total`): those written
 * during submit, then each live one until it ends here.
 */
function countReceipts(service: WorkflowService, id: string, metrics: OracleMetrics | undefined) {
  if (!metrics) return;
  metrics.receiptsWritten.inc(service.bundle(id)?.receipts.length ?? 0);
  const unsubscribe = service.subscribe(id, {
    onReceipt: () => metrics.receiptsWritten.inc(),
    onEnd: () => queueMicrotask(() => unsubscribe())
  });
}

/** Registers the workflow routes on `router`; their errors use the envelope shape. */
export function registerWorkflowRoutes(router: Router, service: WorkflowService): void {
  for (const path of ['/v1/agents/*', '/v1/executions', '/v1/executions/*', '/v1/capabilities']) {
    router.use(path, envelopeErrors);
  }

  router.post('/v1/agents/tasks', jsonBody(z.unknown()), async (c) => {
    const body = c.req.valid('json');
    const parsed = parseAgentTask(body);
    if (!parsed.ok) throw new BadRequestError(parsed.detail);
    const shape = agentTaskRequestSchema.safeParse(body);
    if (!shape.success) throw zodErrorToBadRequest(shape.error);
    const key = c.req.header('idempotency-key')?.trim() || null;
    if (key && key.length > MAX_IDEMPOTENCY_KEY_CHARS) {
      throw new BadRequestError(
        `Idempotency-Key must be at most ${MAX_IDEMPOTENCY_KEY_CHARS} characters`
      );
    }
    let submitted;
    try {
      submitted = service.submit(parsed.task, {
        requestHash: requestHash(body),
        idempotencyKey: key,
        owner: callerOf(c).owner
      });
    } catch (err) {
      if (err instanceof IdempotencyConflictError) throw new ConflictError(err.message);
      // A full disk is the operator's problem, not a bug: 507 with a plain message.
      if ((err as Error).name === 'ReceiptStorageFullError')
        throw new HttpError((err as Error).message, 507, 'insufficient_storage');
      throw err;
    }
    const id = submitted.execution_id;
    if (!submitted.is_replay) countReceipts(service, id, c.var.metrics);
    const headers = {
      location: `/v1/executions/${id}`,
      ...(submitted.is_replay ? { 'idempotent-replayed': 'true' } : {})
    };
    const wait = c.req.query('wait');
    if (wait === 'true' || wait === '1') {
      await service.wait(id);
      const bundle = service.bundle(id)!;
      // A replayed execution that is still running elsewhere (not here) reads as running: 202.
      const status = bundle.execution.status === 'running' ? 202 : bundle.ok ? 201 : 200;
      return jsonResponse(bundle, status, headers);
    }
    const summary = service.bundle(id)!.execution;
    const accepted: AgentTaskAccepted = {
      ok: true,
      execution_id: id,
      status: summary.status,
      is_replay: submitted.is_replay,
      links: links(id)
    };
    return jsonResponse(accepted, 202, headers);
  });

  router.get('/v1/executions', (c) => {
    const limitRaw = c.req.query('limit');
    const limit = limitRaw === undefined ? 50 : Number(limitRaw);
    if (!Number.isInteger(limit) || limit < 1 || limit > 500)
      throw new BadRequestError('limit must be an integer between 1 and 500');
    const status = c.req.query('status');
    if (status !== undefined && !(EXECUTION_STATUSES as readonly string[]).includes(status)) {
      throw new BadRequestError(`status must be one of ${EXECUTION_STATUSES.join(', ')}`);
    }
    const executions = service.list({
      limit,
      viewer: callerOf(c),
      ...(status ? { status: status as ExecutionStatus } : {})
    });
    return jsonResponse({ ok: true, count: executions.length, executions });
  });

  // Another owner's execution is a 404 like an unknown one: its existence is not revealed.
  const bundleOr404 = (c: OracleContext) => {
    const id = executionId(c.req.param('id'));
    if (service.store.isPruned(id))
      throw new HttpError('execution removed by the receipt retention policy', 410, 'gone');
    const bundle = service.bundle(id, callerOf(c));
    if (!bundle) throw new NotFoundError('execution not found');
    return { id, bundle };
  };

  router.get('/v1/executions/:id', (c) =>
    jsonResponse({ ok: true, execution: bundleOr404(c).bundle.execution })
  );

  router.get('/v1/executions/:id/receipts', (c) => {
    const { id, bundle } = bundleOr404(c);
    const format = c.req.query('format') ?? 'json';
    if (format === 'json')
      return jsonResponse({
        ok: true,
        count: bundle.receipts.length,
        receipts: bundle.receipts,
        head: service.store.head(id)
      });
    if (format === 'prov') return jsonResponse(toProvJson(bundle.receipts));
    if (format === 'otel')
      return jsonResponse({
        ok: true,
        count: bundle.receipts.length,
        spans: toOtelSpans(bundle.receipts)
      });
    throw new BadRequestError('format must be one of json, prov, otel');
  });

  router.get('/v1/executions/:id/receipts/verify', (c) => {
    const { id } = bundleOr404(c);
    const { ok: valid, ...report } = service.store.verify(id);
    return jsonResponse({
      ok: true,
      valid,
      ...report,
      head: service.store.head(id),
      node_public_key: service.store.publicKeyHex,
      node_public_keys: service.store.trustedKeys
    });
  });

  router.get('/v1/executions/:id/events', (c) => {
    const { id, bundle } = bundleOr404(c);
    return eventStream(c, async (sink) => {
      const send = (event: string, data: unknown) => sink.send(JSON.stringify(data), event);
      // Receipts so far, then live ones, are queued in the same tick, so none is missed or
      // doubled; sending them one by one keeps the socket's backpressure.
      const queue: Array<[string, unknown]> = bundle.receipts.map((r) => ['receipt', r]);
      let wake = () => undefined as void;
      let isEnded = false;
      const unsubscribe = service.subscribe(id, {
        onReceipt: (r) => {
          queue.push(['receipt', r]);
          wake();
        },
        onEnd: () => {
          isEnded = true;
          wake();
        }
      });
      const onAbort = () => wake();
      sink.signal.addEventListener('abort', onAbort, { once: true });
      try {
        while (!sink.signal.aborted) {
          const next = queue.shift();
          if (next) {
            await send(...next);
            continue;
          }
          if (isEnded) {
            await send('end', service.bundle(id)?.execution ?? null);
            return;
          }
          await new Promise<void>((resolve) => (wake = resolve));
        }
      } finally {
        sink.signal.removeEventListener('abort', onAbort);
        unsubscribe();
      }
    });
  });

  router.get('/v1/executions/:id/provenance', (c) =>
    jsonResponse({ ok: true, provenance: bundleOr404(c).bundle.provenance })
  );

  router.post('/v1/executions/:id/cancel', async (c) => {
    const { id, bundle } = bundleOr404(c);
    if (!service.cancel(id))
      throw new ConflictError(`execution is not running (status ${bundle.execution.status})`);
    await service.wait(id);
    return jsonResponse(
      { ok: true, execution_id: id, cancelled: true, execution: service.bundle(id)!.execution },
      202
    );
  });

  router.get('/v1/capabilities', () => {
    const capabilities = service.registry.descriptors();
    return jsonResponse({
      ok: true,
      count: capabilities.length,
      capabilities,
      node_public_key: service.store.publicKeyHex
    });
  });
}
