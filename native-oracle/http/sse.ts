/**
 * The one Server-Sent Events writer of the oracle, used by chat streaming and workflow events.
 * Built on Hono's `streamSSE`, it adds what both need:
 * - backpressure: `send()` resolves when the event is taken by the socket side, so a slow client
 *   slows the producer instead of growing a buffer;
 * - abort: `signal` fires when the client goes away (or the server cuts the connection), and
 *   `send()` after that is a no-op;
 * - heartbeats: a comment line `: ping` every SSE_HEARTBEAT_MS while nothing else was sent, so
 *   proxies and browsers do not close an idle stream (SSE clients ignore comment lines);
 * - lifetime: the stream's work is registered with `executionCtx.waitUntil`, so server shutdown
 *   waits for it (e.g. a generation releasing its sequence) like for any running request.
 */
import { streamSSE } from 'hono/streaming';
import type { OracleContext } from './router.js';

/**
 * Heartbeat period. 15 s is below the idle timeouts of common proxies and load balancers (nginx
 * `proxy_read_timeout` 60 s, AWS ALB 60 s) with room for a late timer.
 */
const SSE_HEARTBEAT_MS = 15_000;

export interface EventSink {
  /** Writes one event (`event: <name>` when given, then `data: <data>`); waits under backpressure. */
  send(data: string, event?: string): Promise<void>;
  /** Fires when the client went away; the producer should stop. */
  readonly signal: AbortSignal;
}

export interface EventStreamOptions {
  /** Extra response headers (e.g. `x-request-id`). */
  headers?: Record<string, string>;
  /** Heartbeat period in ms; default SSE_HEARTBEAT_MS; 0 disables. */
  heartbeatMs?: number;
}

/**
 * Answers `c` with an event stream and runs `produce` to fill it; the stream ends when `produce`
 * settles. `produce` must handle its own errors (a throw is logged by Hono and ends the stream).
 */
export function eventStream(
  c: OracleContext,
  produce: (sink: EventSink) => Promise<void>,
  options: EventStreamOptions = {}
): Response {
  let settle!: () => void;
  const finished = new Promise<void>((resolve) => (settle = resolve));
  registerLifetime(c, finished);
  const res = streamSSE(c, async (stream) => {
    const abort = new AbortController();
    const onAbort = () => abort.abort(new Error('client disconnected'));
    const requestSignal = c.req.raw.signal;
    if (requestSignal.aborted) onAbort();
    requestSignal.addEventListener('abort', onAbort, { once: true });
    stream.onAbort(onAbort);
    let lastWriteMs = Date.now();
    const heartbeatMs = options.heartbeatMs ?? SSE_HEARTBEAT_MS;
    const heartbeat =
      heartbeatMs > 0
        ? setInterval(() => {
            if (Date.now() - lastWriteMs < heartbeatMs || abort.signal.aborted) return;
            lastWriteMs = Date.now();
            void stream.write(': ping\n\n');
          }, heartbeatMs)
        : undefined;
    const sink: EventSink = {
      signal: abort.signal,
      async send(data, event) {
        if (abort.signal.aborted) return;
        lastWriteMs = Date.now();
        await stream.writeSSE(event ? { event, data } : { data });
      }
    };
    try {
      await produce(sink);
    } finally {
      clearInterval(heartbeat);
      requestSignal.removeEventListener('abort', onAbort);
      settle();
    }
  });
  // streamSSE's defaults differ from this API's contract (charset, no-store, proxy buffering).
  res.headers.set('content-type', 'text/event-stream; charset=utf-8');
  res.headers.set('cache-control', 'no-store');
  res.headers.set('x-accel-buffering', 'no');
  for (const [name, value] of Object.entries(options.headers ?? {})) res.headers.set(name, value);
  return res;
}

/** Extends the request's lifetime to `work` where the runtime supports it (node: the server). */
function registerLifetime(c: OracleContext, work: Promise<void>): void {
  try {
    c.executionCtx.waitUntil(work);
  } catch {
    // No execution context (e.g. app.request() in a test): nothing waits for the stream.
  }
}
