/**
 * `npm start`: the one command that runs Shard on its embedded defaults on a fresh clone.
 * Installs what is missing, generates the default models, builds the PWA, then starts a relay
 * and an oracle (which serves the app and the API on one origin) and prints the URL to open.
 *
 * Arguments after `--` go to the oracle, e.g. `npm start -- --port 8080`.
 * Environment: SHARD_RELAY_TCP_PORT (4001), SHARD_RELAY_WS_PORT (4101), SHARD_RELAY_HTTP_PORT
 * (4201), SHARD_NO_RELAY=1 to run the oracle alone.
 */
import { spawn } from 'node:child_process';
import { ensureBuild, ensureModels, ensureNodeModules, root, step } from './ensure.mjs';

const args = process.argv.slice(2);
if (args.includes('--help') || args.includes('-h')) {
  console.log(`Usage: npm start [-- <oracle flags>]

Installs what is missing, generates the default models, builds the PWA, and starts a relay and
an oracle. Oracle flags (see \`npm run oracle -- --help\`) pass through, e.g. --port 8080.

Environment:
  SHARD_RELAY_TCP_PORT   relay TCP port (default 4001)
  SHARD_RELAY_WS_PORT    relay WebSocket port (default 4101)
  SHARD_RELAY_HTTP_PORT  relay HTTP port for /health and /topology (default 4201)
  SHARD_RELAY_HOST       relay listen address (default 127.0.0.1; 0.0.0.0 for other devices)
  SHARD_NO_RELAY=1       start the oracle alone
  SHARD_DATA_DIR         where models, keys and receipts live (default ./.shard)`);
  process.exit(0);
}

ensureNodeModules();
ensureModels();
ensureBuild();

const children = [];
let isStopping = false;

function launch(name, script, scriptArgs) {
  const child = spawn('npx', ['tsx', script, ...scriptArgs], {
    cwd: root,
    stdio: ['ignore', 'inherit', 'inherit'],
    env: process.env
  });
  children.push(child);
  child.on('exit', (code, signal) => {
    if (isStopping) return;
    console.error(`[shard] ${name} exited (${signal ?? code}); stopping.`);
    shutdown(typeof code === 'number' && code !== 0 ? code : 1);
  });
  return child;
}

function shutdown(code = 0) {
  if (isStopping) return;
  isStopping = true;
  for (const child of children) child.kill('SIGTERM');
  setTimeout(() => process.exit(code), 3000).unref();
  Promise.all(
    children.map((c) => new Promise((r) => (c.exitCode !== null ? r() : c.on('exit', r))))
  ).then(() => process.exit(code));
}
process.on('SIGINT', () => shutdown(0));
process.on('SIGTERM', () => shutdown(0));

async function waitForJson(url, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  let lastError;
  while (Date.now() < deadline) {
    try {
      const res = await fetch(url);
      if (res.ok) return await res.json();
      lastError = new Error(`HTTP ${res.status}`);
    } catch (err) {
      lastError = err;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(
    `${url} did not answer within ${timeoutMs} ms (${lastError?.message ?? 'no answer'})`
  );
}

const relayArgs = [];
if (process.env.SHARD_NO_RELAY !== '1') {
  const tcp = process.env.SHARD_RELAY_TCP_PORT ?? '4001';
  const ws = process.env.SHARD_RELAY_WS_PORT ?? '4101';
  const http = process.env.SHARD_RELAY_HTTP_PORT ?? '4201';
  step(`starting relay (tcp ${tcp}, ws ${ws}, http ${http})`);
  launch('relay', 'relay/main.ts', [
    '--host',
    process.env.SHARD_RELAY_HOST ?? '127.0.0.1',
    '--tcp-port',
    tcp,
    '--ws-port',
    ws,
    '--http-port',
    http
  ]);
  try {
    const topology = await waitForJson(`http://127.0.0.1:${http}/topology`, 30_000);
    // The oracle joins over WebSockets, the transport browsers share, so browser scouts can
    // reach it through the relay's circuit.
    const wsAddr = (topology.wsAddrs ?? []).find((a) => a.includes('/ip4/127.0.0.1/'));
    const addr = wsAddr ?? (topology.wsAddrs ?? [])[0] ?? (topology.tcpAddrs ?? [])[0];
    if (addr) relayArgs.push('--relay', addr);
  } catch (err) {
    console.error(`[shard] relay did not come up: ${err.message}; the oracle runs without a mesh.`);
  }
}

step('starting oracle');
launch('oracle', 'native-oracle/main.ts', [...relayArgs, ...args]);
