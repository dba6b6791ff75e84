/**
 * Setup steps shared by `npm start`, `npm test` and `npm run dev`: each is idempotent and
 * fast when nothing is missing. Uses Node built-ins only, because it runs before node_modules
 * exists on a fresh clone.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

export const root = new URL('..', import.meta.url).pathname.replace(/\/$/, '');

/** Runs a command inheriting stdio; exits the process with a clear line if it fails. */
export function run(cmd, args, options = {}) {
  const result = spawnSync(cmd, args, {
    cwd: root,
    stdio: 'inherit',
    env: process.env,
    ...options
  });
  if (result.status !== 0) {
    const why = result.error ? result.error.message : `exit code ${result.status ?? result.signal}`;
    console.error(`\nshard: \`${cmd} ${args.join(' ')}\` failed (${why}).`);
    process.exit(result.status || 1);
  }
}

/** Prints a step header so long setups show progress. */
export function step(message) {
  console.log(`\n[shard] ${message}`);
}

/** Installs npm packages when node_modules is missing or older than package-lock.json. */
export function ensureNodeModules() {
  const lock = join(root, 'package-lock.json');
  const installed = join(root, 'node_modules', '.package-lock.json');
  if (existsSync(installed) && statSync(installed).mtimeMs >= statSync(lock).mtimeMs) return;
  const isFresh = !existsSync(join(root, 'node_modules'));
  step(isFresh ? 'installing npm packages (first run; a few minutes)' : 'updating npm packages');
  // `npm install`, not `npm ci`: node-llama-cpp lists optional per-platform binaries, and
  // registries that do not carry every platform's build make `npm ci` refuse the lockfile
  // even though the one this machine needs is present. `install` still follows the lockfile.
  run('npm', ['install', '--no-audit', '--no-fund']);
}

/** Path of the Chromium binary the browser tests drive. */
export function chromiumPath() {
  return process.env.SHARD_CHROMIUM || '/usr/bin/chromium';
}

/**
 * Makes sure Debian's Chromium is there for the browser tests: installs it with apt-get when
 * running as root, otherwise explains how. Never downloads a browser build of its own.
 */
export function ensureChromium() {
  if (existsSync(chromiumPath())) return;
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  const hasApt = spawnSync('sh', ['-c', 'command -v apt-get'], { stdio: 'ignore' }).status === 0;
  if (!isRoot || !hasApt) {
    console.error(
      `\nshard: the browser tests need Chromium at ${chromiumPath()}.\n` +
        `  On Debian/Ubuntu: sudo apt-get install -y chromium\n` +
        `  Or point SHARD_CHROMIUM at an installed Chromium binary.`
    );
    process.exit(1);
  }
  step("installing Debian's chromium for the browser tests (apt-get)");
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  run('apt-get', ['update', '-qq'], { env });
  run('apt-get', ['install', '-y', '-qq', 'chromium', 'fonts-liberation'], { env });
}

/**
 * Makes sure /usr/bin/python3 can run the Python SDK's tests (httpx, PyNaCl, pytest): installs
 * Debian's python3-httpx, python3-nacl and python3-pytest with apt-get when running as root,
 * otherwise says how (the SDK test then skips, naming what is missing).
 */
export function ensurePythonSdkDeps() {
  const probe = ['-c', 'import httpx, nacl, pytest'];
  if (spawnSync('/usr/bin/python3', probe, { stdio: 'ignore' }).status === 0) return;
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  const hasApt = spawnSync('sh', ['-c', 'command -v apt-get'], { stdio: 'ignore' }).status === 0;
  if (!isRoot || !hasApt) {
    console.warn(
      `\nshard: the Python SDK tests need httpx, PyNaCl and pytest for /usr/bin/python3.\n` +
        `  On Debian/Ubuntu: sudo apt-get install -y python3-httpx python3-nacl python3-pytest`
    );
    return;
  }
  step("installing Debian's python3-httpx, python3-nacl, python3-pytest for the Python SDK tests");
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  run('apt-get', ['update', '-qq'], { env });
  run('apt-get', ['install', '-y', '-qq', 'python3-httpx', 'python3-nacl', 'python3-pytest'], {
    env
  });
}

/** Generates the embedded default models into the data dir (idempotent). */
export function ensureModels() {
  step('checking generated models (npm run models)');
  run('npx', ['tsx', 'native-oracle/models/cli.ts']);
}

function newestMtime(dir) {
  let newest = 0;
  if (!existsSync(dir)) return newest;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(p) : statSync(p).mtimeMs);
  }
  return newest;
}

/** Builds the PWA into build/ when it is missing or older than its sources (or when forced). */
export function ensureBuild({ force = false } = {}) {
  const index = join(root, 'build', 'index.html');
  const sources = Math.max(
    newestMtime(join(root, 'src')),
    newestMtime(join(root, 'static')),
    newestMtime(join(root, 'workers')),
    statSync(join(root, 'svelte.config.js')).mtimeMs,
    statSync(join(root, 'vite.config.ts')).mtimeMs
  );
  if (!force && existsSync(index) && statSync(index).mtimeMs >= sources) return;
  step('building the PWA (vite build)');
  run('npx', ['vite', 'build', '--logLevel', 'warn']);
}
