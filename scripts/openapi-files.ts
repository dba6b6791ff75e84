/**
 * The checked-in renderings of the OpenAPI document, as `npm run openapi` writes them and the
 * drift test compares them: `openapi.json` and its TypeScript types (openapi-typescript) for the
 * generated-client test, both formatted with the repository's Prettier settings. Build-time
 * only (the server never imports it): openapi-typescript and Prettier are dev dependencies.
 */
import { join } from 'node:path';
import openapiTS, { astToString } from 'openapi-typescript';
import prettier from 'prettier';
import { buildOpenApiDocument } from '../native-oracle/api/openapi.js';

/** Repository-relative paths of the rendered files. */
export const OPENAPI_JSON_PATH = 'openapi.json';
export const OPENAPI_TYPES_PATH = 'tests/integration/openapi-types.ts';

/** The files' texts (path → content); `root` is the repository root (for Prettier's config). */
export async function renderOpenApiFiles(root: string): Promise<Record<string, string>> {
  const document = buildOpenApiDocument();
  const format = async (path: string, text: string) => {
    const filepath = join(root, path);
    const options = (await prettier.resolveConfig(filepath)) ?? {};
    return prettier.format(text, { ...options, filepath });
  };
  const types = astToString(await openapiTS(JSON.stringify(document)));
  return {
    [OPENAPI_JSON_PATH]: await format(OPENAPI_JSON_PATH, JSON.stringify(document)),
    [OPENAPI_TYPES_PATH]: await format(OPENAPI_TYPES_PATH, types)
  };
}
