/**
 * The latency proxy as its own process (so it can run inside a network namespace):
 *
 *   node --import tsx tests/harness/latency-proxy-cli.ts --listen 0 --to 127.0.0.1:4001 \
 *     --delay-ms 20 [--jitter-ms 5] [--jitter-distribution uniform|normal] [--seed 1] \
 *     [--max-queued-bytes 1048576]
 *
 * --listen takes PORT (on 127.0.0.1), HOST:PORT or unix:PATH; --to takes HOST:PORT or unix:PATH.
 * Several `--listen A --to B` pairs run several proxies in one process (paired in order; the
 * layout uses that for the bridge inside a scout's network namespace), all with the same delay.
 * Prints one JSON line `{"event":"proxy:ready","address":{...},"addresses":[...]}` once
 * listening (`address` is the first), and on SIGTERM/SIGINT one
 * `{"event":"proxy:stopped","connections":N,"bytesUp":N,"bytesDown":N}` (sums) before exiting 0.
 * Bad flags exit 2 with a message naming the flag.
 */
import { parseArgs } from 'node:util';
import {
  LatencyProxyOptionsError,
  startLatencyProxy,
  type JitterDistribution,
  type LatencyProxy,
  type SocketAddress
} from './latency-proxy.js';

class UsageError extends Error {
  override name = 'UsageError';
}

/** `unix:/path`, `host:port` or (for --listen) a bare port. */
function parseSocketAddress(flag: string, raw: string, isListen: boolean): SocketAddress {
  if (raw.startsWith('unix:')) return { path: raw.slice('unix:'.length) };
  const bare = /^\d+$/.test(raw);
  if (bare && !isListen) throw new UsageError(`${flag} needs HOST:PORT or unix:PATH; got "${raw}"`);
  const at = raw.lastIndexOf(':');
  const host = bare ? '127.0.0.1' : raw.slice(0, at).replace(/^\[|\]$/g, '');
  const portText = bare ? raw : raw.slice(at + 1);
  const port = Number(portText);
  if ((!bare && at <= 0) || !/^\d+$/.test(portText) || port > 65_535)
    throw new UsageError(`${flag} needs HOST:PORT or unix:PATH; got "${raw}"`);
  return { host, port };
}

function numberFlag(flag: string, raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(n))
    throw new UsageError(`${flag} must be a number; got "${raw}"`);
  return n;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      listen: { type: 'string', multiple: true },
      to: { type: 'string', multiple: true },
      'delay-ms': { type: 'string' },
      'jitter-ms': { type: 'string' },
      'jitter-distribution': { type: 'string' },
      seed: { type: 'string' },
      'max-queued-bytes': { type: 'string' }
    },
    strict: true
  });
  const targets = values.to ?? [];
  if (targets.length === 0) throw new UsageError('--to HOST:PORT or unix:PATH is required');
  const listens = values.listen ?? (targets.length === 1 ? ['0'] : []);
  if (listens.length !== targets.length)
    throw new UsageError(
      `give one --listen per --to (paired in order); got ${listens.length} --listen and ${targets.length} --to`
    );
  const common = {
    oneWayDelayMs: numberFlag('--delay-ms', values['delay-ms']) ?? 0,
    jitterMs: numberFlag('--jitter-ms', values['jitter-ms']) ?? 0,
    jitterDistribution: (values['jitter-distribution'] ?? 'uniform') as JitterDistribution,
    ...(values['max-queued-bytes'] !== undefined
      ? { maxQueuedBytes: numberFlag('--max-queued-bytes', values['max-queued-bytes']) }
      : {})
  };
  const seed = numberFlag('--seed', values.seed) ?? 1;
  const specs = targets.map((to, i) => ({
    listen: parseSocketAddress('--listen', listens[i]!, true),
    target: parseSocketAddress('--to', to, false)
  }));
  const proxies: LatencyProxy[] = [];
  try {
    for (const [i, spec] of specs.entries())
      proxies.push(await startLatencyProxy({ ...spec, ...common, seed: seed + i }));
  } catch (err) {
    await Promise.all(proxies.map((p) => p.close()));
    throw err;
  }
  const emit = (event: Record<string, unknown>) =>
    process.stdout.write(JSON.stringify(event) + '\n');
  const addresses = proxies.map((p) => p.address);
  emit({ event: 'proxy:ready', address: addresses[0], addresses, pid: process.pid });
  const stop = () => {
    void Promise.all(proxies.map((p) => p.close())).then(() => {
      const sum = { connections: 0, bytesUp: 0, bytesDown: 0 };
      for (const p of proxies) {
        const s = p.stats();
        sum.connections += s.connections;
        sum.bytesUp += s.bytesUp;
        sum.bytesDown += s.bytesDown;
      }
      emit({ event: 'proxy:stopped', ...sum });
      process.exit(0);
    });
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

main().catch((err: unknown) => {
  const e = err as Error & { code?: string };
  const isUsage =
    e.name === 'UsageError' ||
    e instanceof LatencyProxyOptionsError ||
    (e.code?.startsWith('ERR_PARSE_ARGS') ?? false);
  process.stderr.write(`latency proxy: ${e.message}\n`);
  process.exit(isUsage ? 2 : 1);
});
