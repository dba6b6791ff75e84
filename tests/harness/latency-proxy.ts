/**
 * A user-space latency proxy for tests and benchmarks (Linux netem is not available on these
 * machines): a TCP/Unix-socket proxy that holds every chunk for a ONE-WAY delay in each
 * direction, with optional seeded jitter, and counts the bytes it carried.
 *
 * Usage:
 *
 *   const proxy = await startLatencyProxy({
 *     target: { host: '127.0.0.1', port: 4001 },   // or { path: '/tmp/x.sock' }
 *     oneWayDelayMs: 20,                             // default 0
 *     jitterMs: 5,                                   // default 0: delay drawn in [15, 25]
 *   });
 *   proxy.address   // { host: '127.0.0.1', port: 40123 } (listen: default 127.0.0.1, port 0)
 *   proxy.setDelay({ oneWayDelayMs: 40 })             // chunks that arrive from now on
 *   proxy.delay()   // { oneWayDelayMs: 40, jitterMs: 5 }
 *   proxy.stats()   // { connections, open, bytesUp, bytesDown, perConnection: [...] }
 *   await proxy.close()                               // ends every connection and the listener
 *
 * "up" is client -> target, "down" is target -> client. A round trip through the proxy
 * therefore costs at least 2 x oneWayDelayMs (minus jitter) on top of the real one.
 *
 * Rules it keeps (tests/unit/latency-proxy.test.ts checks each):
 * 1. Delay: a chunk is written to the other side no earlier than `arrival + sampled delay`
 *    (checked against performance.now(), not trusted to setTimeout, which may fire early).
 * 2. Order: each direction is one FIFO released from its head only, so a chunk is never released
 *    before the chunk that arrived before it (a short jitter sample waits behind a long one, as
 *    in TCP's head-of-line blocking). Bytes are never reordered within a connection.
 * 3. Backpressure: a direction's source socket is paused while its queue holds
 *    `maxQueuedBytes` or more, or while the destination's write buffer is full (write() returned
 *    false, until 'drain'). Queued bytes stay under maxQueuedBytes + one read chunk (64 KiB).
 * 4. Half-close: a source's FIN is passed on (end()) after the chunks queued before it; sockets
 *    are allowHalfOpen, so the other direction keeps flowing.
 * 5. Errors: a reset or error on one side destroys the other side (with a reset when possible),
 *    and a target that cannot be reached closes the client's connection.
 *
 * What it does not model: loss, bandwidth limits, and the TCP handshake (connecting to the
 * proxy and the proxy's connect to the target are not delayed; every byte after that is).
 */
import { createServer, connect, type Server, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';

/** Where the proxy listens or forwards: TCP host/port or a Unix socket path. */
export type SocketAddress = { host: string; port: number } | { path: string };

export type JitterDistribution = 'uniform' | 'normal';

export interface LatencyProxyOptions {
  /** Where connections are forwarded. */
  target: SocketAddress;
  /** Where to listen; default `{ host: '127.0.0.1', port: 0 }` (any free port). */
  listen?: { host?: string; port?: number } | { path: string };
  /** Delay added to each direction, ms; default 0. At most MAX_DELAY_MS. */
  oneWayDelayMs?: number;
  /** Each chunk's delay is drawn in [delay - jitter, delay + jitter] (never below 0); default 0. */
  jitterMs?: number;
  /** `uniform` (default) or `normal` (sd = jitter / 2, clipped to +-jitter). */
  jitterDistribution?: JitterDistribution;
  /** Seed of the jitter PRNG (32-bit integer); default 1. Same seed, same sequence of draws. */
  seed?: number;
  /** Per connection and direction, bytes held before the source is paused; default 1 MiB. */
  maxQueuedBytes?: number;
}

export interface ConnectionStats {
  id: number;
  bytesUp: number;
  bytesDown: number;
  isOpen: boolean;
  /** Bytes held now in each direction's queue. */
  queuedBytesUp: number;
  queuedBytesDown: number;
  /** Largest number of bytes held at once in either direction's queue. */
  peakQueuedBytes: number;
  /** Whether reading from the client (up) / target (down) is paused by backpressure now. */
  isUpPaused: boolean;
  isDownPaused: boolean;
}

export interface LatencyProxyStats {
  /** Connections accepted since start. */
  connections: number;
  /** Connections open now. */
  open: number;
  /** Bytes forwarded client -> target, all connections. */
  bytesUp: number;
  /** Bytes forwarded target -> client, all connections. */
  bytesDown: number;
  /** Open connections, and the last closed ones (up to KEPT_CLOSED_CONNECTIONS). */
  perConnection: ConnectionStats[];
}

export interface LatencyProxy {
  /** The bound address (the real port when listen.port was 0). */
  readonly address: SocketAddress;
  /** Changes the delay (and jitter when given) for chunks arriving from now on. */
  setDelay(delay: { oneWayDelayMs: number; jitterMs?: number }): void;
  /** The delay and jitter applied to chunks arriving now. */
  delay(): { oneWayDelayMs: number; jitterMs: number };
  stats(): LatencyProxyStats;
  /** Stops listening and destroys every connection; idempotent. */
  close(): Promise<void>;
}

/** Input outside these bounds is rejected. */
export class LatencyProxyOptionsError extends Error {
  override name = 'LatencyProxyOptionsError';
}

/** One minute: anything longer is a typo, not a network. */
export const MAX_DELAY_MS = 60_000;
export const DEFAULT_MAX_QUEUED_BYTES = 1024 * 1024;
/** Largest chunk a net.Socket hands to 'data' (its read buffer); the queue cap's slack. */
export const READ_CHUNK_BYTES = 64 * 1024;
/** Closed connections kept in stats() for post-mortem byte counts. */
const KEPT_CLOSED_CONNECTIONS = 64;

function checkDelay(field: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value > MAX_DELAY_MS)
    throw new LatencyProxyOptionsError(
      `${field} must be a number of ms from 0 to ${MAX_DELAY_MS}; got ${String(value)}`
    );
  return value;
}

function checkAddress(field: string, value: unknown, isListen: boolean): SocketAddress {
  const v = (value ?? {}) as Record<string, unknown>;
  if (typeof v !== 'object') throw new LatencyProxyOptionsError(`${field} must be an object`);
  if ('path' in v) {
    if (typeof v.path !== 'string' || v.path === '' || v.path.length > 100)
      throw new LatencyProxyOptionsError(`${field}.path must be a Unix socket path (1-100 chars)`);
    return { path: v.path };
  }
  const host = v.host ?? (isListen ? '127.0.0.1' : undefined);
  const port = v.port ?? (isListen ? 0 : undefined);
  if (typeof host !== 'string' || host === '')
    throw new LatencyProxyOptionsError(`${field}.host must be a host name or IP`);
  if (typeof port !== 'number' || !Number.isInteger(port) || port < (isListen ? 0 : 1))
    throw new LatencyProxyOptionsError(`${field}.port must be an integer port; got ${port}`);
  if (port > 65_535) throw new LatencyProxyOptionsError(`${field}.port must be <= 65535`);
  return { host, port };
}

interface Settings {
  target: SocketAddress;
  listen: SocketAddress;
  oneWayDelayMs: number;
  jitterMs: number;
  distribution: JitterDistribution;
  seed: number;
  maxQueuedBytes: number;
}

function checkOptions(options: LatencyProxyOptions): Settings {
  if (typeof options !== 'object' || options === null)
    throw new LatencyProxyOptionsError('options must be an object');
  const distribution = options.jitterDistribution ?? 'uniform';
  if (distribution !== 'uniform' && distribution !== 'normal')
    throw new LatencyProxyOptionsError(
      `jitterDistribution must be uniform or normal; got ${String(distribution)}`
    );
  const seed = options.seed ?? 1;
  if (!Number.isInteger(seed)) throw new LatencyProxyOptionsError('seed must be an integer');
  const maxQueuedBytes = options.maxQueuedBytes ?? DEFAULT_MAX_QUEUED_BYTES;
  if (!Number.isInteger(maxQueuedBytes) || maxQueuedBytes < 1)
    throw new LatencyProxyOptionsError('maxQueuedBytes must be a positive integer');
  return {
    target: checkAddress('target', options.target, false),
    listen: checkAddress('listen', options.listen, true),
    oneWayDelayMs: checkDelay('oneWayDelayMs', options.oneWayDelayMs ?? 0),
    jitterMs: checkDelay('jitterMs', options.jitterMs ?? 0),
    distribution,
    seed,
    maxQueuedBytes
  };
}

/** mulberry32: a small seeded PRNG, uniform in [0, 1). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A draw in [-1, 1]: uniform, or normal with sd 1/2 clipped to the interval (Box-Muller). */
function unitJitter(random: () => number, distribution: JitterDistribution): number {
  if (distribution === 'uniform') return random() * 2 - 1;
  const u = 1 - random();
  const z = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
  return Math.max(-1, Math.min(1, z / 2));
}

/**
 * The per-chunk delay draw: `oneWayDelayMs` plus jitter in [-jitterMs, +jitterMs], never below
 * 0. Reads the current delay through `current()` so setDelay applies to the next draw.
 */
export function createDelaySampler(options: {
  current: () => { oneWayDelayMs: number; jitterMs: number };
  distribution?: JitterDistribution;
  seed?: number;
}): () => number {
  const random = seededRandom(options.seed ?? 1);
  const distribution = options.distribution ?? 'uniform';
  return () => {
    const { oneWayDelayMs, jitterMs } = options.current();
    if (jitterMs === 0) return oneWayDelayMs;
    return Math.max(0, oneWayDelayMs + jitterMs * unitJitter(random, distribution));
  };
}

interface Chunk {
  data: Buffer;
  releaseAt: number;
}

/**
 * One direction of one connection: data from `source` is queued with its release time and
 * written to `dest` from the queue's head (rules 1-4 of the header).
 */
class DelayedPipe {
  private readonly queue: Chunk[] = [];
  queuedBytes = 0;
  private timer: NodeJS.Timeout | null = null;
  private isAwaitingDrain = false;
  private isSourceEnded = false;
  peakQueuedBytes = 0;
  bytes = 0;

  constructor(
    private readonly source: Socket,
    private readonly dest: Socket,
    private readonly delayMs: () => number,
    private readonly maxQueuedBytes: number,
    private readonly onBytes: (n: number) => void
  ) {
    source.on('data', (data: Buffer) => this.push(data));
    source.on('end', () => {
      this.isSourceEnded = true;
      this.release();
    });
    dest.on('drain', () => {
      this.isAwaitingDrain = false;
      this.release();
    });
  }

  private push(data: Buffer): void {
    this.queue.push({ data, releaseAt: performance.now() + this.delayMs() });
    this.queuedBytes += data.length;
    this.peakQueuedBytes = Math.max(this.peakQueuedBytes, this.queuedBytes);
    if (this.queuedBytes >= this.maxQueuedBytes) this.source.pause();
    this.schedule();
  }

  /** Writes every due chunk from the head; stops at the first one not due or a full dest. */
  private release(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.dest.destroyed) return;
    const now = performance.now();
    while (this.queue.length > 0 && !this.isAwaitingDrain) {
      const head = this.queue[0]!;
      // Invariant (rule 2): only the head is ever released, so order is kept by construction.
      if (head.releaseAt > now) break;
      this.queue.shift();
      this.queuedBytes -= head.data.length;
      this.bytes += head.data.length;
      this.onBytes(head.data.length);
      if (!this.dest.write(head.data)) this.isAwaitingDrain = true;
    }
    if (this.queue.length === 0 && this.isSourceEnded && !this.dest.writableEnded) this.dest.end();
    const canRead = this.queuedBytes < this.maxQueuedBytes && !this.isAwaitingDrain;
    if (canRead && this.source.isPaused() && !this.source.destroyed) this.source.resume();
    else if (!canRead && !this.source.isPaused()) this.source.pause();
    this.schedule();
  }

  private schedule(): void {
    if (this.timer || this.isAwaitingDrain || this.queue.length === 0) return;
    const wait = this.queue[0]!.releaseAt - performance.now();
    // ceil: setTimeout may fire up to ~1 ms early; release() re-checks and re-arms if so.
    this.timer = setTimeout(() => this.release(), Math.max(0, Math.ceil(wait)));
  }

  get isPaused(): boolean {
    return this.source.isPaused();
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.queue.length = 0;
    this.queuedBytes = 0;
  }
}

interface ProxiedConnection {
  stats: ConnectionStats;
  client: Socket;
  upstream: Socket;
  pipes: [DelayedPipe, DelayedPipe];
}

/** Destroys `socket`, with a TCP reset when it is a connected TCP socket (error propagation). */
function abort(socket: Socket): void {
  if (socket.destroyed) return;
  if (socket.remotePort !== undefined && !socket.connecting) socket.resetAndDestroy();
  else socket.destroy();
}

/**
 * Starts a proxy listening on `options.listen`; resolves once it is bound.
 * Throws LatencyProxyOptionsError for bad options and the listen error (e.g. EADDRINUSE).
 */
export async function startLatencyProxy(options: LatencyProxyOptions): Promise<LatencyProxy> {
  const settings = checkOptions(options);
  let { oneWayDelayMs, jitterMs } = settings;
  const delayMs = createDelaySampler({
    current: () => ({ oneWayDelayMs, jitterMs }),
    distribution: settings.distribution,
    seed: settings.seed
  });
  const open = new Set<ProxiedConnection>();
  const closed: ConnectionStats[] = [];
  const totals = { connections: 0, bytesUp: 0, bytesDown: 0 };

  const server: Server = createServer({ allowHalfOpen: true, pauseOnConnect: true }, (client) => {
    const upstream = connect({ ...settings.target, allowHalfOpen: true });
    const stats: ConnectionStats = {
      id: ++totals.connections,
      bytesUp: 0,
      bytesDown: 0,
      isOpen: true,
      queuedBytesUp: 0,
      queuedBytesDown: 0,
      peakQueuedBytes: 0,
      isUpPaused: false,
      isDownPaused: false
    };
    const up = new DelayedPipe(client, upstream, delayMs, settings.maxQueuedBytes, (n) => {
      stats.bytesUp += n;
      totals.bytesUp += n;
    });
    const down = new DelayedPipe(upstream, client, delayMs, settings.maxQueuedBytes, (n) => {
      stats.bytesDown += n;
      totals.bytesDown += n;
    });
    const conn: ProxiedConnection = { stats, client, upstream, pipes: [up, down] };
    open.add(conn);
    // Rule 5: an error or reset on one side tears down the other.
    client.on('error', () => abort(upstream));
    upstream.on('error', () => abort(client));
    const onClose = () => {
      if (!client.destroyed || !upstream.destroyed) return;
      stats.peakQueuedBytes = Math.max(up.peakQueuedBytes, down.peakQueuedBytes);
      for (const pipe of conn.pipes) pipe.stop();
      stats.isOpen = false;
      if (open.delete(conn)) {
        closed.push(stats);
        if (closed.length > KEPT_CLOSED_CONNECTIONS) closed.shift();
      }
    };
    client.on('close', (hadError) => {
      if (hadError) abort(upstream);
      onClose();
    });
    upstream.on('close', (hadError) => {
      if (hadError) abort(client);
      onClose();
    });
    client.resume();
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen('path' in settings.listen ? settings.listen.path : settings.listen, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const bound = server.address();
  const address: SocketAddress =
    typeof bound === 'string' || bound === null
      ? { path: (settings.listen as { path: string }).path }
      : { host: bound.address, port: bound.port };
  let closing: Promise<void> | null = null;

  return {
    address,
    setDelay(delay) {
      oneWayDelayMs = checkDelay('oneWayDelayMs', delay?.oneWayDelayMs);
      if (delay.jitterMs !== undefined) jitterMs = checkDelay('jitterMs', delay.jitterMs);
    },
    delay: () => ({ oneWayDelayMs, jitterMs }),
    stats() {
      const live = [...open].map(({ stats, pipes: [up, down] }) => ({
        ...stats,
        queuedBytesUp: up.queuedBytes,
        queuedBytesDown: down.queuedBytes,
        peakQueuedBytes: Math.max(up.peakQueuedBytes, down.peakQueuedBytes),
        isUpPaused: up.isPaused,
        isDownPaused: down.isPaused
      }));
      return { ...totals, open: open.size, perConnection: [...closed, ...live] };
    },
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const conn of open) {
          for (const pipe of conn.pipes) pipe.stop();
          conn.client.destroy();
          conn.upstream.destroy();
        }
      });
      return closing;
    }
  };
}
