/**
 * HTTP routes of the workflow surface (envelope errors `{ ok: false, detail }`):
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
 * can be polled by id (use the cancel route to stop it).
 */
import { z } from 'zod';
import { toOtelSpans, toProvJson } from '../../src/lib/protocol/provenance.js';
import { EXECUTION_STATUSES, type ExecutionStatus } from '../../src/lib/protocol/receipts.js';
import { parseAgentTask, type AgentTaskAccepted } from '../../src/lib/protocol/workflow.js';
import { BadRequestError, ConflictError, NotFoundError } from '../http/errors.js';
import type { Router } from '../http/router.js';
import { IdempotencyConflictError } from '../receipts/index.js';
import { requestHash, type WorkflowService } from './service.js';

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

/** Registers the workflow routes on `router`. */
export function registerWorkflowRoutes(router: Router, service: WorkflowService): void {
  const env = { errorShape: 'envelope' as const };

  router.add({
    ...env,
    method: 'POST',
    path: '/v1/agents/tasks',
    async handler(ctx) {
      const body = await ctx.json(z.unknown());
      const parsed = parseAgentTask(body);
      if (!parsed.ok) throw new BadRequestError(parsed.detail);
      const keyHeader = ctx.req.headers['idempotency-key'];
      const key = (Array.isArray(keyHeader) ? keyHeader[0] : keyHeader)?.trim() || null;
      if (key && key.length > MAX_IDEMPOTENCY_KEY_CHARS) {
        throw new BadRequestError(
          `Idempotency-Key must be at most ${MAX_IDEMPOTENCY_KEY_CHARS} characters`
        );
      }
      let submitted;
      try {
        submitted = service.submit(parsed.task, {
          requestHash: requestHash(body),
          idempotencyKey: key
        });
      } catch (err) {
        if (err instanceof IdempotencyConflictError) throw new ConflictError(err.message);
        throw err;
      }
      const id = submitted.execution_id;
      const wait = ctx.url.searchParams.get('wait');
      if (wait === 'true' || wait === '1') {
        await service.wait(id);
        const bundle = service.bundle(id)!;
        // A replayed execution that is still running elsewhere (not here) reads as running: 202.
        const status = bundle.execution.status === 'running' ? 202 : bundle.ok ? 201 : 200;
        return {
          status,
          json: bundle,
          headers: {
            location: `/v1/executions/${id}`,
            ...(submitted.is_replay ? { 'idempotent-replayed': 'true' } : {})
          }
        };
      }
      const summary = service.bundle(id)!.execution;
      const accepted: AgentTaskAccepted = {
        ok: true,
        execution_id: id,
        status: summary.status,
        is_replay: submitted.is_replay,
        links: links(id)
      };
      return {
        status: 202,
        json: accepted,
        headers: {
          location: `/v1/executions/${id}`,
          ...(submitted.is_replay ? { 'idempotent-replayed': 'true' } : {})
        }
      };
    }
  });

  router.add({
    ...env,
    method: 'GET',
    path: '/v1/executions',
    handler(ctx) {
      const limitRaw = ctx.url.searchParams.get('limit');
      const limit = limitRaw === null ? 50 : Number(limitRaw);
      if (!Number.isInteger(limit) || limit < 1 || limit > 500)
        throw new BadRequestError('limit must be an integer between 1 and 500');
      const status = ctx.url.searchParams.get('status');
      if (status !== null && !(EXECUTION_STATUSES as readonly string[]).includes(status)) {
        throw new BadRequestError(`status must be one of ${EXECUTION_STATUSES.join(', ')}`);
      }
      const executions = service.list({
        limit,
        ...(status ? { status: status as ExecutionStatus } : {})
      });
      return { json: { ok: true, count: executions.length, executions } };
    }
  });

  const bundleOr404 = (raw: string | undefined) => {
    const id = executionId(raw);
    const bundle = service.bundle(id);
    if (!bundle) throw new NotFoundError('execution not found');
    return { id, bundle };
  };

  router.add({
    ...env,
    method: 'GET',
    path: '/v1/executions/:id',
    handler: (ctx) => ({
      json: { ok: true, execution: bundleOr404(ctx.params.id).bundle.execution }
    })
  });

  router.add({
    ...env,
    method: 'GET',
    path: '/v1/executions/:id/receipts',
    handler(ctx) {
      const { bundle } = bundleOr404(ctx.params.id);
      const format = ctx.url.searchParams.get('format') ?? 'json';
      if (format === 'json')
        return { json: { ok: true, count: bundle.receipts.length, receipts: bundle.receipts } };
      if (format === 'prov')
        return {
          json: toProvJson(bundle.receipts),
          headers: { 'content-type': 'application/json; charset=utf-8' }
        };
      if (format === 'otel')
        return {
          json: { ok: true, count: bundle.receipts.length, spans: toOtelSpans(bundle.receipts) }
        };
      throw new BadRequestError('format must be one of json, prov, otel');
    }
  });

  router.add({
    ...env,
    method: 'GET',
    path: '/v1/executions/:id/receipts/verify',
    handler(ctx) {
      const { id } = bundleOr404(ctx.params.id);
      const { ok: valid, ...report } = service.store.verify(id);
      return { json: { ok: true, valid, ...report, node_public_key: service.store.publicKeyHex } };
    }
  });

  router.add({
    ...env,
    method: 'GET',
    path: '/v1/executions/:id/events',
    handler(ctx) {
      const { id, bundle } = bundleOr404(ctx.params.id);
      const res = ctx.res;
      res.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-store',
        connection: 'keep-alive',
        'x-accel-buffering': 'no'
      });
      const send = (event: string, data: unknown) =>
        res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
      // Receipts so far, then live ones: both happen in this tick, so none is missed or doubled.
      for (const r of bundle.receipts) send('receipt', r);
      let unsubscribe = () => undefined as void;
      const finish = () => {
        unsubscribe();
        if (res.writableEnded) return;
        send('end', service.bundle(id)?.execution ?? null);
        res.end();
      };
      unsubscribe = service.subscribe(id, { onReceipt: (r) => send('receipt', r), onEnd: finish });
      ctx.signal.addEventListener('abort', () => unsubscribe(), { once: true });
    }
  });

  router.add({
    ...env,
    method: 'GET',
    path: '/v1/executions/:id/provenance',
    handler: (ctx) => ({
      json: { ok: true, provenance: bundleOr404(ctx.params.id).bundle.provenance }
    })
  });

  router.add({
    ...env,
    method: 'POST',
    path: '/v1/executions/:id/cancel',
    async handler(ctx) {
      const { id, bundle } = bundleOr404(ctx.params.id);
      if (!service.cancel(id))
        throw new ConflictError(`execution is not running (status ${bundle.execution.status})`);
      await service.wait(id);
      return {
        status: 202,
        json: {
          ok: true,
          execution_id: id,
          cancelled: true,
          execution: service.bundle(id)!.execution
        }
      };
    }
  });

  router.add({
    ...env,
    method: 'GET',
    path: '/v1/capabilities',
    handler() {
      const capabilities = service.registry.descriptors();
      return {
        json: {
          ok: true,
          count: capabilities.length,
          capabilities,
          node_public_key: service.store.publicKeyHex
        }
      };
    }
  });
}
