/**
 * Reports the longest functions in Shard's product code and fails when one is over the limit.
 *
 * A function's length is the lines of its OWN: its span minus the spans of the functions nested
 * directly in it (each nested function, method or arrow is judged on its own), so a factory is
 * judged by its methods, like a class. Product code is `src/`, `workers/`, `relay/` and
 * `native-oracle/` (TypeScript files and the `<script>` blocks of Svelte components); tests,
 * benchmarks and build scripts are not product code.
 *
 *   node scripts/function-length.mjs            # top 10, exit 1 if any is over 150 lines
 *   node scripts/function-length.mjs --top 25 --max 150
 *   node scripts/function-length.mjs --dir some/folder   # measure other folders instead
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import ts from 'typescript';

const ROOT = join(import.meta.dirname, '..');
const PRODUCT_DIRS = ['src', 'workers', 'relay', 'native-oracle'];
/** The limit agreed for the codebase: a function needing a scroll bar is several functions. */
const DEFAULT_MAX_OWN_LINES = 150;

function argValue(name, fallback) {
  const i = process.argv.indexOf(name);
  if (i < 0) return fallback;
  const value = Number(process.argv[i + 1]);
  if (!Number.isInteger(value) || value < 1) {
    console.error(`function-length: ${name} needs a positive integer, got ${process.argv[i + 1]}`);
    process.exit(2);
  }
  return value;
}

function* productFiles(dir) {
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name.startsWith('.')) continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) yield* productFiles(path);
    else if (/\.(ts|svelte)$/.test(name) && !name.endsWith('.d.ts')) yield path;
  }
}

/** Returns [source text, line offset] pairs to parse: the file itself, or a component's scripts. */
function scriptsOf(path) {
  const text = readFileSync(path, 'utf8');
  if (!path.endsWith('.svelte')) return [[text, 0]];
  const blocks = [];
  for (const m of text.matchAll(/<script[^>]*>([\s\S]*?)<\/script>/g)) {
    const offset = text.slice(0, m.index + m[0].indexOf('>') + 1).split('\n').length - 1;
    blocks.push([m[1], offset]);
  }
  return blocks;
}

const isFunctionLike = (node) =>
  ts.isFunctionDeclaration(node) ||
  ts.isFunctionExpression(node) ||
  ts.isArrowFunction(node) ||
  ts.isMethodDeclaration(node) ||
  ts.isConstructorDeclaration(node) ||
  ts.isGetAccessorDeclaration(node) ||
  ts.isSetAccessorDeclaration(node);

function functionName(node) {
  if (node.name && ts.isIdentifier(node.name)) return node.name.text;
  if (node.name) return node.name.getText();
  if (ts.isConstructorDeclaration(node)) return 'constructor';
  const parent = node.parent;
  if (parent && ts.isVariableDeclaration(parent) && ts.isIdentifier(parent.name))
    return parent.name.text;
  if (parent && ts.isPropertyAssignment(parent)) return parent.name.getText();
  if (parent && ts.isPropertyDeclaration(parent)) return parent.name.getText();
  return '<anonymous>';
}

/** Measures every function in one source text; returns { name, line, own } records. */
function measure(text, file, lineOffset) {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const lineOf = (pos) => source.getLineAndCharacterOfPosition(pos).line;
  const found = [];
  // Walks the tree; `owner` is the record of the innermost enclosing function, if any.
  const visit = (node, owner) => {
    if (isFunctionLike(node) && node.body) {
      const first = lineOf(node.getStart(source));
      const last = lineOf(node.getEnd());
      const span = last - first + 1;
      const record = { name: functionName(node), line: first + 1 + lineOffset, own: span };
      if (owner) owner.own -= span;
      found.push(record);
      ts.forEachChild(node, (child) => visit(child, record));
      return;
    }
    ts.forEachChild(node, (child) => visit(child, owner));
  };
  visit(source, null);
  return found;
}

const top = argValue('--top', 10);
const max = argValue('--max', DEFAULT_MAX_OWN_LINES);
const dirs = process.argv.flatMap((a, i) => (process.argv[i - 1] === '--dir' ? [a] : []));
const all = [];
for (const dir of dirs.length > 0 ? dirs : PRODUCT_DIRS) {
  for (const path of productFiles(join(ROOT, dir))) {
    for (const [text, offset] of scriptsOf(path)) {
      for (const r of measure(text, path, offset)) all.push({ ...r, file: relative(ROOT, path) });
    }
  }
}
all.sort((a, b) => b.own - a.own);
console.log(`Longest functions (lines of their own; limit ${max}):`);
for (const r of all.slice(0, top)) {
  console.log(`${String(r.own).padStart(5)}  ${r.file}:${r.line}  ${r.name}`);
}
const over = all.filter((r) => r.own > max);
if (over.length > 0) {
  console.error(`function-length: ${over.length} function(s) over ${max} lines of their own:`);
  for (const r of over) console.error(`  ${r.file}:${r.line} ${r.name} (${r.own} lines)`);
  process.exit(1);
}
console.log(`function-length: all ${all.length} functions within ${max} lines.`);
