/**
 * `npm run openapi`: writes the oracle's OpenAPI 3.1 document to `openapi.json` at the root,
 * generated from the zod schemas the server validates with (native-oracle/api/openapi.ts) and
 * formatted with the repository's Prettier settings. `npm run openapi -- --check` writes
 * nothing and exits 1 when the checked-in file differs from the code.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { isDeepStrictEqual } from 'node:util';
import { join } from 'node:path';
import prettier from 'prettier';
import { buildOpenApiDocument } from '../native-oracle/api/openapi.js';

const ROOT = join(import.meta.dirname, '..');
const FILE = join(ROOT, 'openapi.json');

const document = buildOpenApiDocument();
if (process.argv.includes('--check')) {
  const current: unknown = JSON.parse(readFileSync(FILE, 'utf8'));
  if (!isDeepStrictEqual(current, document)) {
    console.error('openapi.json differs from the code: run `npm run openapi`');
    process.exit(1);
  }
  console.log('openapi.json matches the code');
} else {
  const options = (await prettier.resolveConfig(FILE)) ?? {};
  const text = await prettier.format(JSON.stringify(document), { ...options, filepath: FILE });
  writeFileSync(FILE, text);
  console.log(`wrote ${FILE} (${Object.keys(document.paths as object).length} paths)`);
}
