/**
 * `npm run openapi`: writes the oracle's OpenAPI 3.1 document to `openapi.json` at the root,
 * generated from the zod schemas the server validates with (native-oracle/api/openapi.ts), and
 * the TypeScript types of that document (openapi-typescript) that the generated-client test uses
 * to `tests/integration/openapi-types.ts`, both formatted with the repository's Prettier
 * settings. `npm run openapi -- --check` writes nothing and exits 1 when a file differs.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderOpenApiFiles } from './openapi-files.js';

const ROOT = join(import.meta.dirname, '..');
const files = await renderOpenApiFiles(ROOT);
const isCheck = process.argv.includes('--check');
let isStale = false;
for (const [path, text] of Object.entries(files)) {
  const file = join(ROOT, path);
  if (!isCheck) {
    writeFileSync(file, text);
    console.log(`wrote ${path}`);
  } else if (readFileSync(file, 'utf8') !== text) {
    console.error(`${path} differs from the code: run \`npm run openapi\``);
    isStale = true;
  }
}
if (isStale) process.exit(1);
