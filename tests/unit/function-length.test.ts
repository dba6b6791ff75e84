/**
 * The function-length check (`scripts/function-length.mjs`, run by `npm run lint`): a function
 * over the limit fails the check, nested functions count on their own, Svelte scripts count.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..', '..');
const SCRIPT = join(ROOT, 'scripts', 'function-length.mjs');
const dirs: string[] = [];

function fixture(files: Record<string, string>): string {
  const base = join(ROOT, 'tests', 'artifacts');
  mkdirSync(base, { recursive: true });
  const dir = mkdtempSync(join(base, 'function-length-'));
  dirs.push(dir);
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return relative(ROOT, dir);
}

function check(dir: string, max: number) {
  const r = spawnSync('node', [SCRIPT, '--dir', dir, '--max', String(max)], { encoding: 'utf8' });
  return { status: r.status, out: r.stdout + r.stderr };
}

const body = (n: number) => Array.from({ length: n }, (_, i) => `  const v${i} = ${i};`).join('\n');

afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('function-length check', () => {
  it('passes at the limit and fails one line over it, naming the function', () => {
    // A function of n body lines spans n + 2 lines (its opening and closing lines).
    const atLimit = fixture({ 'a.ts': `export function ok() {\n${body(8)}\n}\n` });
    expect(check(atLimit, 10).status).toBe(0);
    const over = fixture({ 'b.ts': `export function tooLong() {\n${body(9)}\n}\n` });
    const r = check(over, 10);
    expect(r.status).toBe(1);
    expect(r.out).toContain('tooLong (11 lines)');
  });

  it('judges a factory by its methods: nested functions count on their own', () => {
    const src = `export function factory() {\n  return {\n    a() {\n${body(7)}\n    },\n    b: () => {\n${body(7)}\n    }\n  };\n}\n`;
    const r = check(fixture({ 'c.ts': src }), 10);
    expect(r.status).toBe(0);
    expect(r.out).toMatch(/9 {2}.*c\.ts:3 {2}a/);
  });

  it('measures the script blocks of Svelte components', () => {
    const src = `<h1>x</h1>\n<script lang="ts">\n  function big() {\n${body(12)}\n  }\n</script>\n`;
    const r = check(fixture({ 'D.svelte': src }), 10);
    expect(r.status).toBe(1);
    expect(r.out).toContain('D.svelte:3 big (14 lines)');
  });
});
