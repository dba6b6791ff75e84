/**
 * The checked-in OpenAPI document (`openapi.json`) and its generated types are what the code
 * generates: a schema change without `npm run openapi` fails here.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildOpenApiDocument } from '../../native-oracle/api/openapi.js';
import { renderOpenApiFiles } from '../../scripts/openapi-files.js';

const ROOT = join(import.meta.dirname, '../..');

describe('the OpenAPI document', () => {
  it('checked in as openapi.json, equals the one the code generates', () => {
    const checkedIn = JSON.parse(readFileSync(join(ROOT, 'openapi.json'), 'utf8'));
    expect(checkedIn).toEqual(buildOpenApiDocument());
  });

  it('and its checked-in types equal the generated ones (run `npm run openapi` when not)', async () => {
    const files = await renderOpenApiFiles(ROOT);
    for (const [path, text] of Object.entries(files)) {
      expect(readFileSync(join(ROOT, path), 'utf8'), path).toBe(text);
    }
  }, 30_000);

  it('is OpenAPI 3.1 covering every route group, with the field policy', () => {
    const doc = buildOpenApiDocument() as {
      openapi: string;
      paths: Record<string, unknown>;
      'x-shard-accepted-ignored-fields': Record<string, string>;
    };
    expect(doc.openapi).toBe('3.1.0');
    for (const path of [
      '/v1/chat/completions',
      '/v1/completions',
      '/v1/embeddings',
      '/v1/models',
      '/v1/agents/tasks',
      '/v1/executions/{id}/receipts',
      '/v1/executions/{id}/receipts/verify',
      '/v1/executions/{id}/provenance',
      '/v1/capabilities',
      '/health',
      '/metrics'
    ]) {
      expect(doc.paths, path).toHaveProperty([path]);
    }
    expect(Object.keys(doc['x-shard-accepted-ignored-fields'])).toEqual(
      expect.arrayContaining(['user', 'metadata', 'store', 'service_tier'])
    );
  });
});
