/**
 * Test harness of the OpenAI-surface tests: an oracle with the real engine on the generated
 * target model (and the draft model as default draft source) on 127.0.0.1:0, a recording fetch
 * (given to the official `openai` client and used by raw requests) that keeps every live
 * response, and the check of those responses against the checked-in OpenAPI document (ajv,
 * JSON Schema 2020-12, OpenAPI 3.1's dialect).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import OpenAI from 'openai';
import {
  createDraftModelSource,
  createTargetEngine,
  type DraftModelSource,
  type TargetEngine
} from '../../native-oracle/engine/index.js';
import {
  createOracleServer,
  type OracleServer,
  type OracleServerOptions
} from '../../native-oracle/server.js';
import { ensureTestModels } from '../helpers/models.js';

/** One response the tests saw: enough to check it against the document. */
export interface Recorded {
  method: string;
  path: string;
  status: number;
  contentType: string;
  body: Promise<string>;
}

export interface OracleHarness {
  engine: TargetEngine;
  draft: DraftModelSource;
  server: OracleServer;
  url: string;
  client: OpenAI;
  /** fetch that records each response (its body is read from a clone). */
  fetch: typeof fetch;
  recorded: Recorded[];
  stop(): Promise<void>;
}

/** Starts an oracle on the generated models; `server` options override the defaults. */
export async function startOracleHarness(
  server: Partial<OracleServerOptions> = {},
  engineOptions: { contextSize?: number } = {}
): Promise<OracleHarness> {
  const { targetPath, draftPath } = await ensureTestModels();
  const draft = await createDraftModelSource({ modelPath: draftPath, threads: 1 });
  const engine = await createTargetEngine({
    modelPath: targetPath,
    threads: 1,
    maxConcurrent: 2,
    defaultDraftSource: draft,
    ...engineOptions
  });
  const oracle = createOracleServer({
    engine,
    host: '127.0.0.1',
    port: 0,
    rateLimitPerMinute: 0,
    ...server
  });
  await oracle.start();
  const recorded: Recorded[] = [];
  const recordingFetch: typeof fetch = async (input, init) => {
    const request = new Request(input, init);
    const res = await fetch(request);
    recorded.push({
      method: request.method,
      path: new URL(request.url).pathname,
      status: res.status,
      contentType: res.headers.get('content-type') ?? '',
      body: res
        .clone()
        .text()
        .catch(() => '')
    });
    return res;
  };
  const client = new OpenAI({
    baseURL: `${oracle.url}/v1`,
    apiKey: server.apiKeys?.[0] ?? 'unused',
    maxRetries: 0,
    fetch: recordingFetch
  });
  return {
    engine,
    draft,
    server: oracle,
    url: oracle.url,
    client,
    fetch: recordingFetch,
    recorded,
    async stop() {
      await oracle.stop();
      await engine.dispose();
      await draft.dispose();
    }
  };
}

type Json = Record<string, unknown>;

/** The checked-in document. */
export function openApiDocument(): Json {
  return JSON.parse(readFileSync(join(import.meta.dirname, '../../openapi.json'), 'utf8'));
}

/** The document's path template matching `path` (`/v1/executions/{id}`), if any. */
function templateOf(doc: Json, path: string): string | undefined {
  const paths = Object.keys(doc.paths as Json);
  if (paths.includes(path)) return path;
  return paths.find((t) => {
    const re = new RegExp(`^${t.replace(/\{[^}]+\}/g, '[^/]+')}$`);
    return re.test(path);
  });
}

/** `data:` payloads of an SSE body, without `[DONE]`. */
function sseData(text: string): unknown[] {
  return text
    .split('\n\n')
    .flatMap((block) => block.split('\n').filter((l) => l.startsWith('data: ')))
    .map((l) => l.slice('data: '.length))
    .filter((d) => d !== '[DONE]')
    .map((d) => JSON.parse(d));
}

/**
 * Checks every recorded response against `doc`: JSON bodies against the operation's schema for
 * that status, SSE `data:` payloads against `x-shard-event-schema` (an error event against the
 * Error schema). Returns one line per mismatch (empty when all conform) and the count checked.
 */
export async function checkAgainstDocument(
  doc: Json,
  recorded: readonly Recorded[]
): Promise<{ problems: string[]; checked: number }> {
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormats(ajv);
  ajv.addSchema({ components: doc.components }, 'openapi');
  const validate = (schema: unknown, value: unknown): string | null => {
    const fn = ajv.compile(rebase(schema) as object);
    return fn(value) ? null : ajv.errorsText(fn.errors);
  };
  const problems: string[] = [];
  let checked = 0;
  for (const r of recorded) {
    const where = `${r.method} ${r.path} ${r.status}`;
    const template = templateOf(doc, r.path);
    if (r.status === 499) continue;
    if (!template) {
      problems.push(`${where}: path not in the document`);
      continue;
    }
    const operation = ((doc.paths as Json)[template] as Json)[r.method.toLowerCase()] as
      Json | undefined;
    const response = (operation?.responses as Json | undefined)?.[String(r.status)] as
      { content?: Json } | undefined;
    if (!response) {
      problems.push(`${where}: status not documented`);
      continue;
    }
    const text = await r.body;
    const content = response.content ?? {};
    if (r.contentType.startsWith('text/event-stream')) {
      const media = content['text/event-stream'] as Json | undefined;
      if (!media) {
        problems.push(`${where}: event stream not documented`);
        continue;
      }
      const eventSchema = media['x-shard-event-schema'];
      if (!eventSchema) continue;
      for (const data of sseData(text)) {
        const isError = !!data && typeof data === 'object' && 'error' in data;
        const schema = isError ? { $ref: '#/components/schemas/Error' } : eventSchema;
        const error = validate(schema, data);
        if (error) problems.push(`${where} event: ${error}`);
      }
      checked += 1;
      continue;
    }
    if (!r.contentType.startsWith('application/json')) {
      if (!Object.keys(content).some((t) => r.contentType.startsWith(t)))
        problems.push(`${where}: content-type ${r.contentType} not documented`);
      checked += 1;
      continue;
    }
    const media = content['application/json'] as Json | undefined;
    if (!media) {
      problems.push(`${where}: JSON body not documented`);
      continue;
    }
    const error = validate(media.schema, JSON.parse(text));
    if (error) problems.push(`${where}: ${error} — body ${text.slice(0, 300)}`);
    checked += 1;
  }
  return { problems, checked };
}

/** Points the document's local refs (`#/components/...`) at the added `openapi` schema. */
function rebase(schema: unknown): unknown {
  return JSON.parse(JSON.stringify(schema).replaceAll('"#/components/', '"openapi#/components/'));
}
