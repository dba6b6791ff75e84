/**
 * `npm run relay -- [flags]`: runs a Shard relay. Prints one JSON line `{"event":"relay:ready",...}`
 * on stdout once listening (scripts and tests read it), logs to stderr, stops cleanly on
 * SIGTERM/SIGINT.
 *
 * TLS: the relay speaks plain WebSockets on --ws-port. For browsers on https pages put a TLS
 * proxy in front (e.g. Caddy `reverse_proxy 127.0.0.1:4101`, or nginx with `proxy_set_header
 * Upgrade $http_upgrade; proxy_set_header Connection "upgrade";`) and announce the public address
 * with `--announce /dns4/relay.example.org/tcp/443/wss`.
 */
import '../src/lib/server/node-compat.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { dataDir } from '../src/lib/server/data-dir.js';
import { applyLogLevelFlag, createLogger } from '../src/lib/server/log.js';
import { ADMIN_KEY_ENV, CIRCUIT_DATA_LIMIT_BYTES, CIRCUIT_DURATION_LIMIT_MS } from './constants.js';
import { startRelayHttp } from './http.js';
import { createRelay } from './index.js';
import { loadOrCreateKey } from './key-file.js';

const HELP = `Usage: npm run relay -- [options]

Runs a Shard relay: circuit relay v2 + gossip hub for browsers and Node peers.
Relayed connections are end-to-end encrypted between the two peers: the relay cannot see the
protocols inside, so it caps each circuit's bytes and lifetime instead.

Options:
  --host <ip>               interface to listen on (default 0.0.0.0)
  --tcp-port <n>            libp2p TCP port (default 4001; 0 = any)
  --ws-port <n>             libp2p WebSocket port (default 4101; 0 = any; put wss in front with a proxy)
  --http-port <n>           HTTP API port for GET /health, /topology, /peers (default 4201; 0 = any)
  --bootstrap <multiaddr>   another relay to join (repeatable)
  --bootstrap-file <path>   file with one bootstrap multiaddr per line (# comments)
  --reconnect-seconds <n>   re-dial bootstrap relays this often (default 20)
  --key-file <path>         persistent peer identity, created if absent (default <data dir>/relay.key)
  --announce <multiaddr>    extra address to announce, e.g. /dns4/host/tcp/443/wss (repeatable)
  --max-reservations <n>    circuit reservations held at once (default 1024)
  --circuit-max-bytes <n>   bytes one relayed connection may carry in each direction
                            (default ${CIRCUIT_DATA_LIMIT_BYTES} = 16 MiB)
  --circuit-max-seconds <n> lifetime of one relayed connection (default ${CIRCUIT_DURATION_LIMIT_MS / 1000} = 15 min)
  --admin-key <key>         key that unlocks peer IP addresses and ports on GET /peers
                            (Authorization: Bearer <key>); default none = never shown
                            [env ${ADMIN_KEY_ENV}]
  --log-level <level>       error | warn | info | debug (default info)
  --help                    show this help
`;

class UsageError extends Error {
  override name = 'UsageError';
}

function intFlag(
  name: string,
  value: string | undefined,
  fallback: number,
  max: number = 65535 * 16
): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > max)
    throw new UsageError(`--${name} must be an integer from 0 to ${max}, got "${value}"`);
  return n;
}

/** A positive limit flag (0 would make every circuit unusable). */
function limitFlag(name: string, value: string | undefined, fallback: number): number {
  const n = intFlag(name, value, fallback, Number.MAX_SAFE_INTEGER);
  if (n < 1) throw new UsageError(`--${name} must be at least 1, got "${value}"`);
  return n;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      host: { type: 'string' },
      'tcp-port': { type: 'string' },
      'ws-port': { type: 'string' },
      'http-port': { type: 'string' },
      bootstrap: { type: 'string', multiple: true },
      'bootstrap-file': { type: 'string' },
      'reconnect-seconds': { type: 'string' },
      'key-file': { type: 'string' },
      announce: { type: 'string', multiple: true },
      'max-reservations': { type: 'string' },
      'circuit-max-bytes': { type: 'string' },
      'circuit-max-seconds': { type: 'string' },
      'admin-key': { type: 'string' },
      'log-level': { type: 'string' },
      help: { type: 'boolean' }
    },
    strict: true
  });
  if (values.help) {
    process.stdout.write(HELP);
    return;
  }
  const logLevelProblem = applyLogLevelFlag(values['log-level']);
  if (logLevelProblem) throw new UsageError(logLevelProblem);
  const log = createLogger('shard:relay');
  const bootstrap = [...(values.bootstrap ?? [])];
  if (values['bootstrap-file']) {
    const lines = readFileSync(values['bootstrap-file'], 'utf8').split('\n');
    bootstrap.push(...lines.map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#')));
  }
  const host = values.host ?? '0.0.0.0';
  const keyPath = values['key-file'] ?? join(dataDir(), 'relay.key');
  const { key, isCreated } = await loadOrCreateKey(keyPath);
  if (isCreated) log.info('created relay identity', { keyPath });

  const relay = await createRelay({
    host,
    tcpPort: intFlag('tcp-port', values['tcp-port'], 4001),
    wsPort: intFlag('ws-port', values['ws-port'], 4101),
    privateKey: key,
    bootstrap,
    reconnectSeconds: intFlag('reconnect-seconds', values['reconnect-seconds'], 20),
    maxReservations: intFlag('max-reservations', values['max-reservations'], 1024),
    announce: values.announce ?? [],
    circuitDataLimitBytes: limitFlag(
      'circuit-max-bytes',
      values['circuit-max-bytes'],
      CIRCUIT_DATA_LIMIT_BYTES
    ),
    circuitDurationLimitMs:
      limitFlag(
        'circuit-max-seconds',
        values['circuit-max-seconds'],
        CIRCUIT_DURATION_LIMIT_MS / 1000
      ) * 1000
  });
  await relay.start();
  const http = await startRelayHttp(relay, {
    host,
    port: intFlag('http-port', values['http-port'], 4201),
    adminKey: values['admin-key'] ?? (process.env[ADMIN_KEY_ENV]?.trim() || null)
  });
  process.stdout.write(
    JSON.stringify({
      event: 'relay:ready',
      peerId: relay.peerId,
      multiaddrs: relay.multiaddrs(),
      httpPort: http.port
    }) + '\n'
  );

  let isStopping = false;
  const shutdown = async (signal: string) => {
    if (isStopping) return;
    isStopping = true;
    log.info('stopping', { signal });
    await http.close();
    await relay.stop();
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
}

main().catch((err: unknown) => {
  const e = err as Error & { code?: string };
  const isUsage = e.name === 'UsageError' || (e.code?.startsWith('ERR_PARSE_ARGS') ?? false);
  process.stderr.write(`${isUsage ? 'usage error' : 'relay failed'}: ${e.message}\n`);
  if (isUsage) process.stderr.write('run with --help for options\n');
  process.exit(isUsage ? 2 : 1);
});
