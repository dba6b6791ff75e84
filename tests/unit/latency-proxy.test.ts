/**
 * The latency proxy (tests/harness/latency-proxy.ts) on real loopback sockets: the delay it
 * imposes is a lower bound on a round trip, bytes arrive complete and in order under jitter,
 * a reader that stops reading does not make it buffer without bound, half-close and errors pass
 * through, and close() ends everything. No upper-bound timing is asserted anywhere.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { performance } from 'node:perf_hooks';
import { afterEach, describe, expect, it } from 'vitest';
import {
  createDelaySampler,
  LatencyProxyOptionsError,
  READ_CHUNK_BYTES,
  seededRandom,
  startLatencyProxy,
  type LatencyProxy,
  type LatencyProxyOptions,
  type SocketAddress
} from '../harness/latency-proxy.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function listen(server: Server): Promise<SocketAddress> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const a = server.address();
  if (a === null || typeof a === 'string') throw new Error('expected a TCP address');
  cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
  return { host: '127.0.0.1', port: a.port };
}

/** A TCP echo server on loopback; every accepted socket is kept for the test to inspect. */
async function echoServer(): Promise<{ address: SocketAddress; sockets: Socket[] }> {
  const sockets: Socket[] = [];
  const server = createServer((s) => {
    sockets.push(s);
    s.on('error', () => undefined);
    s.pipe(s);
  });
  cleanups.push(() => sockets.forEach((s) => s.destroy()));
  return { address: await listen(server), sockets };
}

async function proxyTo(options: LatencyProxyOptions): Promise<LatencyProxy> {
  const proxy = await startLatencyProxy(options);
  cleanups.push(() => proxy.close());
  return proxy;
}

async function dial(address: SocketAddress, allowHalfOpen = false): Promise<Socket> {
  const socket = connect({ ...address, allowHalfOpen });
  cleanups.push(() => void socket.destroy());
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  return socket;
}

/** Resolves with the next `n` bytes the socket yields. */
function readBytes(socket: Socket, n: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let got = 0;
    const onData = (d: Buffer) => {
      parts.push(d);
      got += d.length;
      if (got >= n) {
        socket.off('data', onData);
        resolve(Buffer.concat(parts));
      }
    };
    socket.on('data', onData);
    socket.once('error', reject);
  });
}

/** Polls until `check` holds (50 ms steps, bounded); synchronisation, not a timing assertion. */
async function until(what: string, check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function pingMs(socket: Socket): Promise<number> {
  const t0 = performance.now();
  const reply = readBytes(socket, 4);
  socket.write('ping');
  expect((await reply).toString()).toBe('ping');
  return performance.now() - t0;
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('latency proxy', () => {
  it('a round trip costs at least twice the one-way delay, and setDelay changes it', async () => {
    const echo = await echoServer();
    const proxy = await proxyTo({ target: echo.address, oneWayDelayMs: 20 });
    const socket = await dial(proxy.address);
    for (let i = 0; i < 3; i++) expect(await pingMs(socket)).toBeGreaterThanOrEqual(40);
    expect(proxy.delay()).toEqual({ oneWayDelayMs: 20, jitterMs: 0 });
    proxy.setDelay({ oneWayDelayMs: 35 });
    expect(proxy.delay()).toEqual({ oneWayDelayMs: 35, jitterMs: 0 });
    expect(await pingMs(socket)).toBeGreaterThanOrEqual(70);
    expect(proxy.stats()).toMatchObject({ connections: 1, open: 1, bytesUp: 16, bytesDown: 16 });
    expect(proxy.stats().perConnection[0]).toMatchObject({ bytesUp: 16, bytesDown: 16 });
  });

  it('1 MB in random chunk sizes arrives complete and in order under jitter', async () => {
    const echo = await echoServer();
    // Draws in [0, 10] ms per chunk: a FIFO that released any due chunk would reorder often.
    const proxy = await proxyTo({ target: echo.address, oneWayDelayMs: 5, jitterMs: 5, seed: 7 });
    const socket = await dial(proxy.address);
    const random = seededRandom(42);
    const payload = Buffer.alloc(1024 * 1024);
    for (let i = 0; i < payload.length; i++) payload[i] = Math.floor(random() * 256);
    const received = readBytes(socket, payload.length);
    let chunks = 0;
    for (let at = 0; at < payload.length; chunks++) {
      const size = 1 + Math.floor(random() * 8192);
      socket.write(payload.subarray(at, at + size));
      at += size;
      // Let the event loop run so chunks reach the proxy separately, each with its own draw.
      if (chunks % 4 === 0) await new Promise((r) => setImmediate(r));
    }
    const echoed = await received;
    expect(echoed.length).toBe(payload.length);
    expect(sha256(echoed)).toBe(sha256(payload));
    expect(proxy.stats()).toMatchObject({ bytesUp: payload.length, bytesDown: payload.length });
  });

  it('a reader that stops reading pauses the proxy instead of filling its memory', async () => {
    const maxQueuedBytes = 256 * 1024;
    let target: Socket | null = null;
    const server = createServer((s) => {
      target = s;
      s.pause();
    });
    const address = await listen(server);
    cleanups.push(() => void target?.destroy());
    const proxy = await proxyTo({ target: address, oneWayDelayMs: 1, maxQueuedBytes });
    const socket = await dial(proxy.address);
    const payload = Buffer.alloc(64 * 1024 * 1024, 7);
    socket.write(payload);
    // Either the proxy pauses its reads (right), or its queue grows past any cap (the bug).
    const conn = () => proxy.stats().perConnection[0]!;
    await until('proxy paused or over-queued', () => {
      const c = proxy.stats().perConnection[0];
      return c !== undefined && (c.isUpPaused || c.queuedBytesUp > 4 * maxQueuedBytes);
    });
    expect(conn().peakQueuedBytes).toBeLessThanOrEqual(maxQueuedBytes + READ_CHUNK_BYTES);
    expect(socket.writableLength).toBeGreaterThan(0);
    // The stalled bytes were held back, not lost: the reader gets every one once it reads.
    const all = readBytes(target!, payload.length);
    target!.resume();
    expect(sha256(await all)).toBe(sha256(payload));
    expect(conn().peakQueuedBytes).toBeLessThanOrEqual(maxQueuedBytes + READ_CHUNK_BYTES);
  });

  it('half-close passes through in both directions', async () => {
    const serverGot: Buffer[] = [];
    let onServerEnd = () => {};
    const serverEnded = new Promise<void>((resolve) => (onServerEnd = resolve));
    const server = createServer({ allowHalfOpen: true }, (s) => {
      s.on('data', (d: Buffer) => serverGot.push(d));
      // Answers only once the client's FIN arrived, then closes its own side.
      s.on('end', () => {
        s.end(`got ${Buffer.concat(serverGot).toString()}`);
        onServerEnd();
      });
    });
    const address = await listen(server);
    const proxy = await proxyTo({ target: address, oneWayDelayMs: 5 });
    const socket = await dial(proxy.address, true);
    const reply: Buffer[] = [];
    socket.on('data', (d: Buffer) => reply.push(d));
    const clientEnded = new Promise<void>((r) => socket.once('end', r));
    socket.end('hello');
    await serverEnded;
    await clientEnded;
    expect(Buffer.concat(reply).toString()).toBe('got hello');

    // The other way: the target ends first and the client may still send.
    const late: Buffer[] = [];
    let lateSide: Socket | null = null;
    const server2 = createServer({ allowHalfOpen: true }, (s) => {
      lateSide = s;
      s.on('data', (d: Buffer) => late.push(d));
      s.end('server done');
    });
    const proxy2 = await proxyTo({ target: await listen(server2), oneWayDelayMs: 5 });
    const socket2 = await dial(proxy2.address, true);
    await new Promise<void>((r) => socket2.once('end', r).resume());
    socket2.end('after your FIN');
    await until('late bytes', () => Buffer.concat(late).toString() === 'after your FIN');
    await new Promise<void>((r) => (lateSide!.readableEnded ? r() : lateSide!.once('end', r)));
  });

  it('close() ends open connections and stops listening', async () => {
    const echo = await echoServer();
    const proxy = await proxyTo({ target: echo.address, oneWayDelayMs: 2 });
    const socket = await dial(proxy.address);
    await pingMs(socket);
    const clientClosed = new Promise<void>((r) => socket.once('close', () => r()));
    socket.on('error', () => undefined);
    await proxy.close();
    await clientClosed;
    await until('target side closed', () => echo.sockets.every((s) => s.destroyed));
    expect(proxy.stats().open).toBe(0);
    await expect(dial(proxy.address)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });

  it('a target that refuses closes the client connection', async () => {
    const server = createServer();
    const address = await listen(server);
    await new Promise<void>((r) => server.close(() => r()));
    const proxy = await proxyTo({ target: address });
    const socket = await dial(proxy.address);
    socket.on('error', () => undefined);
    await new Promise<void>((r) => socket.once('close', () => r()));
    await until('connection forgotten', () => proxy.stats().open === 0);
  });

  it('listens on a Unix socket and counts each connection', async () => {
    const echo = await echoServer();
    const path = join(mkdtempSync(join(tmpdir(), 'shard-proxy-')), 'p.sock');
    const proxy = await proxyTo({ target: echo.address, listen: { path } });
    expect(proxy.address).toEqual({ path });
    for (let i = 0; i < 2; i++) {
      const socket = await dial({ path });
      await pingMs(socket);
      socket.end();
    }
    await until('both closed', () => proxy.stats().open === 0);
    const { connections, bytesUp, perConnection } = proxy.stats();
    expect({ connections, bytesUp }).toEqual({ connections: 2, bytesUp: 8 });
    expect(perConnection.map((c) => [c.id, c.bytesUp, c.bytesDown, c.isOpen])).toEqual([
      [1, 4, 4, false],
      [2, 4, 4, false]
    ]);
  });
});

describe('latency proxy CLI', () => {
  const CLI = resolve(import.meta.dirname, '../harness/latency-proxy-cli.ts');
  const run = (args: string[]) =>
    spawn(process.execPath, ['--import', 'tsx', CLI, ...args], {
      stdio: ['ignore', 'pipe', 'pipe']
    });

  it('prints a ready line, delays, and reports its bytes when stopped', async () => {
    const echo = await echoServer();
    const child = run([
      '--listen',
      '0',
      '--to',
      `127.0.0.1:${(echo.address as { port: number }).port}`,
      '--delay-ms',
      '15',
      '--seed',
      '3'
    ]);
    cleanups.push(() => void child.kill('SIGKILL'));
    const lines = createInterface({ input: child.stdout! });
    const events: Array<Record<string, unknown>> = [];
    lines.on('line', (l) => events.push(JSON.parse(l) as Record<string, unknown>));
    await until('ready line', () => events.length > 0, 20_000);
    expect(events[0]).toMatchObject({ event: 'proxy:ready', address: { host: '127.0.0.1' } });
    const socket = await dial(events[0]!.address as SocketAddress);
    expect(await pingMs(socket)).toBeGreaterThanOrEqual(30);
    socket.destroy();
    const code = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    expect(await code).toBe(0);
    expect(events[1]).toEqual({ event: 'proxy:stopped', connections: 1, bytesUp: 4, bytesDown: 4 });
  });

  it.each([
    [['--to', '1234'], /--to needs HOST:PORT or unix:PATH/],
    [['--listen', '0'], /--to HOST:PORT or unix:PATH is required/],
    [['--listen', '0', '--listen', '0', '--to', 'h:1'], /give one --listen per --to/],
    [['--to', 'h:1', '--delay-ms', 'soon'], /--delay-ms must be a number/],
    [['--to', 'h:1', '--jitter-ms=-1'], /jitterMs must be a number of ms/]
  ])('exits 2 on %j, naming the flag', async (args, message) => {
    const child = run(args);
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    expect(await new Promise((r) => child.once('exit', r))).toBe(2);
    expect(stderr).toMatch(message);
  });
});

describe('latency proxy delay draws and options', () => {
  it.each(['uniform', 'normal'] as const)(
    '%s jitter stays within delay +- jitter and repeats for a seed',
    (distribution) => {
      const current = () => ({ oneWayDelayMs: 20, jitterMs: 8 });
      const a = createDelaySampler({ current, distribution, seed: 3 });
      const b = createDelaySampler({ current, distribution, seed: 3 });
      const draws = Array.from({ length: 5000 }, () => a());
      expect(draws).toEqual(Array.from({ length: 5000 }, () => b()));
      expect(Math.min(...draws)).toBeGreaterThanOrEqual(12);
      expect(Math.max(...draws)).toBeLessThanOrEqual(28);
      const mean = draws.reduce((s, x) => s + x, 0) / draws.length;
      expect(Math.abs(mean - 20)).toBeLessThan(0.5);
      // Both halves of the interval are used (a sampler that only added jitter would fail).
      expect(draws.filter((d) => d < 16).length).toBeGreaterThan(100);
    }
  );

  it('a delay never goes below zero', () => {
    const s = createDelaySampler({ current: () => ({ oneWayDelayMs: 1, jitterMs: 10 }) });
    expect(Math.min(...Array.from({ length: 1000 }, s))).toBe(0);
  });

  const target = { host: '127.0.0.1', port: 9 };
  it.each([
    [{ target, oneWayDelayMs: -1 }, /oneWayDelayMs must be a number of ms/],
    [{ target, oneWayDelayMs: Number.NaN }, /oneWayDelayMs/],
    [{ target, jitterMs: 70_000 }, /jitterMs must be a number of ms from 0 to 60000/],
    [{ target: { host: '127.0.0.1', port: 0 } }, /target.port must be an integer port/],
    [{ target: { host: '', port: 1 } }, /target.host/],
    [{ target, listen: { port: 70_000 } }, /listen.port must be <= 65535/],
    [{ target: { path: '' } }, /target.path/],
    [{ target, seed: 1.5 }, /seed must be an integer/],
    [{ target, maxQueuedBytes: 0 }, /maxQueuedBytes/],
    [{ target, jitterDistribution: 'pareto' }, /jitterDistribution must be uniform or normal/]
  ])('rejects %j', async (options, message) => {
    const started = startLatencyProxy(options as LatencyProxyOptions);
    await expect(started).rejects.toThrow(message);
    await expect(started).rejects.toBeInstanceOf(LatencyProxyOptionsError);
  });

  it('setDelay validates too', async () => {
    const echo = await echoServer();
    const proxy = await proxyTo({ target: echo.address });
    expect(() => proxy.setDelay({ oneWayDelayMs: -5 })).toThrow(/oneWayDelayMs/);
  });
});
