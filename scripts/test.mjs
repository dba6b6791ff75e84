/**
 * `npm test`: the one command that tests Shard on a fresh clone. Installs what is missing (npm
 * packages, Debian's chromium, generated models), then runs lint, type-check, unit, integration
 * and browser tests, and ends with one summary line `tests: N passed, N failed`.
 *
 * `npm test -- --only unit,integration` runs a subset of the stages:
 *   lint, check, unit, integration, e2e
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import {
  ensureBuild,
  ensureChromium,
  ensureModels,
  ensureNodeModules,
  ensurePythonSdkDeps,
  root,
  run,
  step
} from './ensure.mjs';

const ALL_STAGES = ['lint', 'check', 'unit', 'integration', 'e2e'];
const onlyIndex = process.argv.indexOf('--only');
const stages = onlyIndex > 0 ? process.argv[onlyIndex + 1].split(',') : ALL_STAGES;
const unknown = stages.filter((s) => !ALL_STAGES.includes(s));
if (unknown.length > 0) {
  console.error(
    `shard: unknown test stage(s) ${unknown.join(', ')}; known: ${ALL_STAGES.join(', ')}`
  );
  process.exit(2);
}

ensureNodeModules();
if (stages.includes('e2e')) ensureChromium();
if (stages.includes('integration')) ensurePythonSdkDeps();
ensureModels();
step('syncing SvelteKit types');
run('npx', ['svelte-kit', 'sync']);

const artifacts = join(root, 'tests', 'artifacts');
mkdirSync(artifacts, { recursive: true });
const results = [];
let passed = 0;
let failed = 0;
let skipped = 0;

function stage(name, cmd, args, options = {}) {
  step(`${name}: ${cmd} ${args.join(' ')}`);
  const started = Date.now();
  const r = spawnSync(cmd, args, {
    cwd: root,
    stdio: 'inherit',
    env: { ...process.env, ...options.env }
  });
  const ok = r.status === 0;
  results.push({ name, ok, seconds: Math.round((Date.now() - started) / 1000) });
  return ok;
}

function countVitest(file) {
  if (!existsSync(file)) return;
  const report = JSON.parse(readFileSync(file, 'utf8'));
  passed += report.numPassedTests ?? 0;
  const failedTests = report.numFailedTests ?? 0;
  // A suite that fails to load has no failed tests of its own; count it once.
  failed += failedTests > 0 ? failedTests : (report.numFailedTestSuites ?? 0);
  skipped += (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0);
}

function countPlaywright(file) {
  if (!existsSync(file)) return;
  const stats = JSON.parse(readFileSync(file, 'utf8')).stats ?? {};
  passed += (stats.expected ?? 0) + (stats.flaky ?? 0);
  failed += stats.unexpected ?? 0;
  skipped += stats.skipped ?? 0;
}

if (stages.includes('lint')) {
  stage('lint', 'npx', ['eslint', '.']);
  stage('format', 'npx', ['prettier', '--check', '.', '--log-level', 'warn']);
  stage('function-length', 'node', ['scripts/function-length.mjs']);
}
if (stages.includes('check')) {
  stage('check', 'npx', [
    'svelte-check',
    '--tsconfig',
    './tsconfig.json',
    '--threshold',
    'error',
    '--output',
    'human'
  ]);
}
for (const project of ['unit', 'integration']) {
  if (!stages.includes(project)) continue;
  const out = join(artifacts, `vitest-${project}.json`);
  rmSync(out, { force: true });
  const ok = stage(project, 'npx', [
    'vitest',
    'run',
    '--project',
    project,
    '--reporter=default',
    '--reporter=json',
    `--outputFile.json=${out}`
  ]);
  countVitest(out);
  if (!ok && !existsSync(out)) failed += 1;
}
if (stages.includes('e2e')) {
  ensureBuild({ force: true });
  const out = join(artifacts, 'playwright.json');
  rmSync(out, { force: true });
  const ok = stage('e2e', 'npx', ['playwright', 'test', '--reporter=list,json'], {
    env: { PLAYWRIGHT_JSON_OUTPUT_NAME: out }
  });
  countPlaywright(out);
  if (!ok && !existsSync(out)) failed += 1;
}

console.log('\n[shard] stages:');
for (const r of results) console.log(`  ${r.ok ? 'ok  ' : 'FAIL'} ${r.name} (${r.seconds}s)`);
const failedStages = results.filter((r) => !r.ok).length;
if (failedStages > 0 && failed === 0) failed = failedStages;
console.log(`\ntests: ${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exit(failedStages > 0 || failed > 0 ? 1 : 0);
