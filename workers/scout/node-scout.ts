/**
 * `npm run scout -- --relay <multiaddr> [options]`: a Node scout. Joins relays, finds oracles by
 * their work announcements (or dials --oracle directly), handshakes, and drafts with
 * node-llama-cpp on the generated draft model. Prints JSON lines on stdout: first
 * `{"event":"scout:ready",...}`, then one per oracle/session event; logs go to stderr.
 */
import '../../src/lib/server/node-compat.js';
import { generateKeyPair } from '@libp2p/crypto/keys';
import { multiaddr } from '@multiformats/multiaddr';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createMeshNode } from '../../native-oracle/mesh/node-peer.js';
import { loadOrCreateKey } from '../../relay/key-file.js';
import { modelsDir } from '../../src/lib/server/data-dir.js';
import { applyLogLevelFlag, createLogger } from '../../src/lib/server/log.js';
import { lyingEngine } from './core.js';
import { createLlamaDraftEngine } from './llama-draft-engine.js';
import { createScoutPeer } from './scout-peer.js';

const HELP = `Usage: npm run scout -- --relay <multiaddr> [options]

Runs a Node scout that drafts tokens for oracles on the Shard mesh.

Options:
  --relay <multiaddr>     relay to join (repeatable)
  --oracle <multiaddr>    oracle to join directly, without waiting for its announcement (repeatable)
  --model <path>          draft model GGUF (default <data dir>/models/draft.gguf)
  --threads <n>           llama.cpp threads (default 1)
  --listen <multiaddr>    own listen address (default /ip4/127.0.0.1/tcp/0; repeatable)
  --key-file <path>       persistent identity (default: a fresh one per run)
  --max-sessions <n>      generation sessions served at once (default 4)
  --lie                   send random drafts (for tests and demos: acceptance drops, output never changes)
  --log-level <level>     error | warn | info | debug (default info)
  --help                  show this help
`;

/** How often the scout re-dials relays it lost. */
const RELAY_REDIAL_MS = 20_000;

class UsageError extends Error {
  override name = 'UsageError';
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      relay: { type: 'string', multiple: true },
      oracle: { type: 'string', multiple: true },
      model: { type: 'string' },
      threads: { type: 'string' },
      listen: { type: 'string', multiple: true },
      'key-file': { type: 'string' },
      'max-sessions': { type: 'string' },
      lie: { type: 'boolean' },
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
  const relays = values.relay ?? [];
  const oracles = values.oracle ?? [];
  if (relays.length === 0 && oracles.length === 0)
    throw new UsageError('give at least one --relay or --oracle');
  for (const a of [...relays, ...oracles]) {
    try {
      multiaddr(a);
    } catch (err) {
      throw new UsageError(`not a multiaddr: "${a}" (${(err as Error).message})`);
    }
  }
  const threads = Number(values.threads ?? '1');
  if (!Number.isInteger(threads) || threads < 1 || threads > 64)
    throw new UsageError('--threads must be an integer 1..64');
  const maxSessions = Number(values['max-sessions'] ?? '4');
  if (!Number.isInteger(maxSessions) || maxSessions < 1 || maxSessions > 64)
    throw new UsageError('--max-sessions must be an integer 1..64');
  const log = createLogger('shard:scout');

  const modelPath = values.model ?? join(modelsDir(), 'draft.gguf');
  let engine = await createLlamaDraftEngine({ modelPath, threads });
  // Warm-up draft: loads weights into cache and gives the hello a measured speed.
  await engine.draft([1, 2, 3, 4], 8);
  if (values.lie) engine = lyingEngine(engine, 256);

  const privateKey = values['key-file']
    ? (await loadOrCreateKey(values['key-file'])).key
    : await generateKeyPair('Ed25519');
  const node = await createMeshNode({
    privateKey,
    listen: values.listen ?? ['/ip4/127.0.0.1/tcp/0']
  });
  const emit = (event: Record<string, unknown>) =>
    process.stdout.write(JSON.stringify(event) + '\n');
  const scout = createScoutPeer({
    node,
    privateKey,
    engine,
    software: { name: 'shard-node-scout', version: '0.1.0' },
    maxSessions,
    onEvent: (e) => {
      const { type, ...rest } = e;
      emit({ event: type, ...rest });
      if (e.type === 'oracle:refused')
        log.warn('oracle refused this scout', {
          oracle: e.oracle,
          reason: e.reason,
          message: e.message
        });
      if (e.type === 'engine:error') log.warn('draft engine error', { message: e.message });
    }
  });
  await scout.start();
  const dialRelays = async () => {
    for (const relay of relays) {
      const target = multiaddr(relay);
      const id = target.getComponents().findLast((c) => c.name === 'p2p')?.value;
      if (id && node.getConnections().some((c) => c.remotePeer.toString() === id)) continue;
      try {
        await node.dial(target, { signal: AbortSignal.timeout(10_000) });
      } catch (err) {
        log.warn('relay dial failed', { relay, error: err });
      }
    }
  };
  await dialRelays();
  // A restarted relay is joined again; oracles are re-found through their announcements.
  const redial = setInterval(() => void dialRelays(), RELAY_REDIAL_MS);
  redial.unref();
  for (const oracle of oracles) void scout.join(oracle);
  emit({
    event: 'scout:ready',
    peerId: node.peerId.toString(),
    multiaddrs: node.getMultiaddrs().map((m) => m.toString()),
    engine: engine.name,
    tokenizerFingerprint: engine.tokenizerFingerprint,
    draftTokensPerSecond: engine.tokensPerSecond?.() ?? null
  });
  log.info('scout ready', { peerId: node.peerId.toString(), engine: engine.name });

  let isStopping = false;
  const shutdown = async (signal: string) => {
    if (isStopping) return;
    isStopping = true;
    log.info('stopping', { signal });
    clearInterval(redial);
    await scout.stop();
    await node.stop();
    await engine.dispose();
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
}

main().catch((err: unknown) => {
  const e = err as Error & { code?: string };
  const isUsage = e.name === 'UsageError' || (e.code?.startsWith('ERR_PARSE_ARGS') ?? false);
  process.stderr.write(`${isUsage ? 'usage error' : 'scout failed'}: ${e.message}\n`);
  if (isUsage) process.stderr.write('run with --help for options\n');
  process.exit(isUsage ? 2 : 1);
});
