/**
 * Prometheus metrics of one oracle server (prom-client, one registry per server so several
 * servers in a process never share counters), served as text at `GET /metrics`:
 *
 *   shard_http_requests_total{method,route,status}    requests by route pattern and status
 *   shard_http_request_duration_seconds{method,route} time to the response headers (streams:
 *                                                     to the first byte, not the end)
 *   shard_generations_total{mode,finish_reason}       finished generations (chat, completions,
 *                                                     workflow steps on the local engine)
 *   shard_tokens_generated_total / shard_prompt_tokens_total
 *   shard_draft_tokens_drafted_total / shard_draft_tokens_accepted_total
 *   shard_embedding_tokens_total
 *   shard_queue_active / shard_queue_queued / shard_queue_max_concurrent / shard_queue_max_queued
 *   shard_peers_connected / shard_scouts_connected    libp2p peers, those with the scout role
 *   shard_receipts_written_total                      receipts appended by executions submitted
 *                                                     over HTTP since start
 * plus prom-client's default process metrics (CPU, memory, event-loop lag, ...).
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { matchedRoutes } from 'hono/route';
import type { AdmissionQueue } from '../admission/queue.js';
import { delegateEngine } from '../engine/delegate.js';
import type { GenerateOptions, GenerationEvent, TargetEngine } from '../engine/index.js';
import type { OracleContext, OracleMiddleware } from './router.js';

/** Request-duration buckets in seconds: from a cached JSON reply to a long generation. */
const DURATION_BUCKETS_S = [0.005, 0.025, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

export interface OracleMetrics {
  readonly registry: Registry;
  /** Counts every request by its route pattern (`none` when no route matched) and status. */
  readonly requests: OracleMiddleware;
  /** Incremented by the workflow routes for each receipt an execution appends. */
  readonly receiptsWritten: Counter;
  /** An engine with the same contract that counts the tokens of every generation and embedding. */
  meterEngine(engine: TargetEngine): TargetEngine;
}

export interface OracleMetricsOptions {
  admission: AdmissionQueue;
  /** Peers and their handshake role, read at each scrape. */
  peers: () => ReadonlyArray<Record<string, unknown>>;
}

/** The route pattern that handled `c` (`/v1/executions/:id`), or `none`. */
function routeLabel(c: OracleContext): string {
  return matchedRoutes(c).find((r) => r.method !== 'ALL')?.path ?? 'none';
}

/** Creates the registry and its metrics; nothing is collected until a scrape. */
export function createOracleMetrics(options: OracleMetricsOptions): OracleMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const counter = (name: string, help: string, labelNames: string[] = []) =>
    new Counter({ name, help, labelNames, registers: [registry] });
  const gauge = (name: string, help: string, read: () => number) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        this.set(read());
      }
    });
  const requests = counter('shard_http_requests_total', 'HTTP requests by route and status', [
    'method',
    'route',
    'status'
  ]);
  const duration = new Histogram({
    name: 'shard_http_request_duration_seconds',
    help: 'Time to the response headers (for streams, to the first byte)',
    labelNames: ['method', 'route'],
    buckets: DURATION_BUCKETS_S,
    registers: [registry]
  });
  const generations = counter('shard_generations_total', 'Finished generations', [
    'mode',
    'finish_reason'
  ]);
  const generated = counter('shard_tokens_generated_total', 'Output tokens committed');
  const prompt = counter('shard_prompt_tokens_total', 'Prompt tokens of finished generations');
  const drafted = counter('shard_draft_tokens_drafted_total', 'Draft tokens proposed');
  const accepted = counter('shard_draft_tokens_accepted_total', 'Draft tokens the target accepted');
  const embedded = counter('shard_embedding_tokens_total', 'Tokens embedded');
  const receiptsWritten = counter('shard_receipts_written_total', 'Receipts appended');
  const queue = () => options.admission.snapshot();
  gauge('shard_queue_active', 'Generations running', () => queue().active);
  gauge('shard_queue_queued', 'Requests waiting for a generation slot', () => queue().queued);
  gauge('shard_queue_max_concurrent', 'Generation slots', () => queue().maxConcurrent);
  gauge('shard_queue_max_queued', 'Waiting requests allowed', () => queue().maxQueued);
  const peers = () => {
    try {
      return options.peers();
    } catch {
      // A failing mesh provider must not fail the scrape; /health logs the same failure.
      return [];
    }
  };
  gauge('shard_peers_connected', 'libp2p peers connected', () => peers().length);
  gauge(
    'shard_scouts_connected',
    'Connected peers whose handshake role is scout',
    () => peers().filter((p) => p.role === 'scout').length
  );

  const onDone = (event: Extract<GenerationEvent, { type: 'done' }>) => {
    generations.inc({ mode: event.stats.mode, finish_reason: event.finishReason });
    generated.inc(event.stats.completionTokens);
    prompt.inc(event.stats.promptTokens);
    drafted.inc(event.stats.drafted);
    accepted.inc(event.stats.accepted);
  };
  async function* metered(engine: TargetEngine, o: GenerateOptions) {
    for await (const event of engine.generate(o)) {
      if (event.type === 'done') onDone(event);
      yield event;
    }
  }

  return {
    registry,
    receiptsWritten,
    requests: async (c, next) => {
      const startedAt = performance.now();
      await next();
      const route = routeLabel(c);
      requests.inc({ method: c.req.method, route, status: String(c.res.status) });
      duration.observe({ method: c.req.method, route }, (performance.now() - startedAt) / 1000);
    },
    meterEngine: (engine) =>
      delegateEngine(engine, {
        generate: (o) => metered(engine, o),
        embed: async (o) => {
          const result = await engine.embed(o);
          embedded.inc(result.totalTokens);
          return result;
        }
      })
  };
}
