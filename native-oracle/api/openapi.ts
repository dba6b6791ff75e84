/**
 * The OpenAPI 3.1 document of the oracle's HTTP API, generated from the same zod schemas the
 * routes validate with (zod 4's JSON Schema output, draft 2020-12 = OpenAPI 3.1's dialect).
 * Served at `GET /openapi.json` (open, like /health: it holds no data) and checked into the
 * repository as `openapi.json` (`npm run openapi` regenerates it; a test fails when they
 * disagree). Deterministic: the same code gives the same document.
 *
 * Request bodies are described as the server reads them (zod input: strict objects list every
 * field they accept), responses as it writes them (zod output). Server-sent events have no
 * OpenAPI form: their `data:` payload schema is in the vendor field `x-shard-event-schema`.
 */
import { z } from 'zod';
import { jsonResponse, type Router } from '../http/router.js';
import {
  CHAT_UNSUPPORTED,
  chatCompletionChunkSchema,
  chatCompletionRequestSchema,
  chatCompletionSchema
} from './chat-schema.js';
import {
  COMPLETION_UNSUPPORTED,
  completionChunkSchema,
  completionRequestSchema,
  completionSchema
} from './completions-schema.js';
import { embeddingListSchema, embeddingRequestSchema } from './embeddings.js';
import { modelListSchema, modelSchema } from './models.js';
import { ACCEPTED_IGNORED_FIELDS, apiSchemas, errorBodySchema } from './openai-schema.js';
import {
  agentTaskAcceptedSchema,
  agentTaskRequestSchema,
  cancelResponseSchema,
  capabilitiesSchema,
  chainVerificationSchema,
  envelopeErrorSchema,
  executionBundleSchema,
  executionListSchema,
  executionResponseSchema,
  otelSpansSchema,
  provenanceResponseSchema,
  provJsonSchema,
  receiptListSchema
} from './workflow-schema.js';

/** Version of the API contract in the document (not the package version). */
const API_VERSION = '1.0.0';

/**
 * `GET /health`: written by api/system.ts; described here so the document covers it. Open
 * (other fields allowed): readiness probes and backends add fields there.
 */
export const healthSchema = z
  .looseObject({
    status: z.enum(['ok', 'degraded']),
    readiness_reason: z.string(),
    ready_for_inference: z.boolean(),
    model: z.string().nullable(),
    tokenizer_fingerprint: z.string().nullable(),
    uptime_ms: z.number(),
    peers: z.number().int(),
    queue: z.object({
      active: z.number().int(),
      queued: z.number().int(),
      max_concurrent: z.number().int(),
      max_queued: z.number().int()
    }),
    chat: z.object({
      completed: z.number().int(),
      aborted: z.number().int(),
      failed: z.number().int()
    })
  })
  .register(apiSchemas, { id: 'Health' });

const peersSchema = z
  .object({ peers: z.array(z.looseObject({ peer_id: z.string() })), count: z.number().int() })
  .register(apiSchemas, { id: 'Peers' });
const topologySchema = z
  .looseObject({ status: z.string() })
  .register(apiSchemas, { id: 'Topology' });

/** Roots of the request side (read as zod input) and of the response side (zod output). */
const REQUEST_ROOTS = [
  chatCompletionRequestSchema,
  completionRequestSchema,
  embeddingRequestSchema,
  agentTaskRequestSchema
];
const RESPONSE_ROOTS = [
  chatCompletionSchema,
  chatCompletionChunkSchema,
  completionSchema,
  completionChunkSchema,
  embeddingListSchema,
  modelListSchema,
  modelSchema,
  errorBodySchema,
  envelopeErrorSchema,
  healthSchema,
  peersSchema,
  topologySchema,
  agentTaskAcceptedSchema,
  executionBundleSchema,
  executionListSchema,
  executionResponseSchema,
  receiptListSchema,
  provJsonSchema,
  otelSpansSchema,
  chainVerificationSchema,
  provenanceResponseSchema,
  cancelResponseSchema,
  capabilitiesSchema
];

type JsonSchema = Record<string, unknown>;
const REF_PREFIX = '#/components/schemas/';
const ref = (schema: z.ZodType) => ({ $ref: `${REF_PREFIX}${apiSchemas.get(schema)!.id}` });

/** Component ids `schema` refers to, transitively within `all`. */
function reachable(ids: string[], all: Record<string, JsonSchema>): Set<string> {
  const seen = new Set<string>();
  const visit = (id: string) => {
    if (seen.has(id)) return;
    seen.add(id);
    const text = JSON.stringify(all[id]);
    for (const m of text.matchAll(/"#\/components\/schemas\/([A-Za-z0-9]+)"/g)) visit(m[1]!);
  };
  ids.forEach(visit);
  return seen;
}

/**
 * The components: request roots and what they reach as zod input, response roots and what they
 * reach as zod output. A schema on both sides must read the same both ways (else throws).
 */
function components(): Record<string, JsonSchema> {
  const side = (io: 'input' | 'output', roots: z.ZodType[]) => {
    const all = z.toJSONSchema(apiSchemas, {
      io,
      uri: (id) => `${REF_PREFIX}${id}`,
      unrepresentable: 'any'
    }).schemas as Record<string, JsonSchema>;
    const keep = reachable(
      roots.map((r) => apiSchemas.get(r)!.id),
      all
    );
    return Object.fromEntries(
      [...keep].sort().map((id) => {
        const { $schema: _s, $id: _i, ...schema } = all[id]!;
        return [id, schema];
      })
    );
  };
  const requests = side('input', REQUEST_ROOTS);
  const responses = side('output', RESPONSE_ROOTS);
  for (const id of Object.keys(requests)) {
    if (id in responses && JSON.stringify(requests[id]) !== JSON.stringify(responses[id]))
      throw new Error(`schema ${id} differs between requests and responses; split it`);
  }
  const merged = { ...requests, ...responses };
  return Object.fromEntries(
    Object.keys(merged)
      .sort()
      .map((id) => [id, merged[id]!])
  );
}

const json = (schema: z.ZodType) => ({ 'application/json': { schema: ref(schema) } });
const errors = (statuses: number[], schema: z.ZodType = errorBodySchema) =>
  Object.fromEntries(
    statuses.map((s) => [
      String(s),
      { description: ERROR_TEXT[s] ?? 'error', content: json(schema) }
    ])
  );
const ERROR_TEXT: Record<number, string> = {
  400: 'invalid, unknown or unsupported field (named in message and param), or a prompt over the context (context_length_exceeded)',
  401: 'missing or wrong API key (when SHARD_API_KEYS is set)',
  404: 'unknown model (model_not_found) or resource',
  409: 'conflict',
  413: 'request body over SHARD_MAX_BODY_BYTES',
  415: 'content-type is not JSON',
  429: 'rate limited (Retry-After)',
  503: 'queue full, no model loaded or shutting down (Retry-After)'
};
const header = (description: string) => ({ description, schema: { type: 'string' } });
const START_HEADERS = {
  'x-request-id': header('The completion id.'),
  'x-shard-model': header('The served model id.'),
  'x-shard-speculation': header('The speculation choice: auto, off or on (streams too).')
};
const FINAL_HEADERS = {
  'x-shard-inference-mode': header(
    'standard | speculative (whole replies only; streams: final chunk `shard`).'
  ),
  'x-shard-draft-source': header('Draft source name or `none` (whole replies only).'),
  'x-shard-drafted': header('Draft tokens proposed (whole replies only).'),
  'x-shard-accepted': header('Draft tokens accepted (whole replies only).')
};
const sse = (description: string, event: z.ZodType) => ({
  'text/event-stream': {
    schema: { type: 'string', description },
    'x-shard-event-schema': ref(event)
  }
});

/** A generating POST route (chat or completions): JSON or SSE, Shard headers. */
function generatingOperation(
  summary: string,
  request: z.ZodType,
  reply: z.ZodType,
  chunk: z.ZodType
) {
  return {
    post: {
      summary,
      security: KEYED,
      requestBody: { required: true, content: json(request) },
      responses: {
        '200': {
          description: 'The reply (stream: false) or its chunks (stream: true).',
          headers: { ...START_HEADERS, ...FINAL_HEADERS },
          content: {
            ...json(reply),
            ...sse(
              '`data: <chunk JSON>` events, the last one with `shard`, then `data: [DONE]`.',
              chunk
            )
          }
        },
        ...errors([400, 401, 404, 413, 415, 429, 503])
      }
    }
  };
}

/** Security of /v1/* and /metrics: a key when SHARD_API_KEYS is set (no key otherwise). */
const KEYED = [{ bearer: [] }, { apiKey: [] }, {}];

const get = (summary: string, schema: z.ZodType, extra: Record<string, unknown> = {}) => ({
  get: {
    summary,
    security: KEYED,
    ...extra,
    responses: { '200': { description: 'OK', content: json(schema) }, ...errors([401, 404, 429]) }
  }
});

const idParam = {
  name: 'id',
  in: 'path',
  required: true,
  schema: { type: 'string', pattern: '^exec-[0-9a-f-]{36}$' }
};
const query = (name: string, schema: JsonSchema, description: string) => ({
  name,
  in: 'query',
  required: false,
  schema,
  description
});

/** Paths of the workflow surface; their errors are EnvelopeError. */
function workflowPaths() {
  const wf = (summary: string, schema: z.ZodType, extra: Record<string, unknown> = {}) => ({
    get: {
      summary,
      security: KEYED,
      parameters: [idParam],
      ...extra,
      responses: {
        '200': { description: 'OK', content: json(schema) },
        ...errors([400, 401, 404, 429], envelopeErrorSchema)
      }
    }
  });
  return {
    '/v1/agents/tasks': {
      post: {
        summary:
          'Submit a research_brief (202), or run it and wait (?wait=true: 201 ok, 200 failed)',
        security: KEYED,
        parameters: [
          query(
            'wait',
            { enum: ['true', '1', 'false'] },
            'Wait for the end and answer the bundle.'
          ),
          {
            name: 'Idempotency-Key',
            in: 'header',
            required: false,
            schema: { type: 'string', maxLength: 200 }
          }
        ],
        requestBody: { required: true, content: json(agentTaskRequestSchema) },
        responses: {
          '200': {
            description: 'Finished, not ok (wait=true)',
            content: json(executionBundleSchema)
          },
          '201': { description: 'Finished ok (wait=true)', content: json(executionBundleSchema) },
          '202': {
            description: 'Accepted (or still running elsewhere: a bundle)',
            content: {
              'application/json': {
                schema: { oneOf: [ref(agentTaskAcceptedSchema), ref(executionBundleSchema)] }
              }
            }
          },
          ...errors([400, 401, 409, 413, 415, 429, 503], envelopeErrorSchema)
        }
      }
    },
    '/v1/executions': {
      get: {
        summary: 'List executions, newest first',
        security: KEYED,
        parameters: [
          query('limit', { type: 'integer', minimum: 1, maximum: 500 }, 'Default 50.'),
          query('status', { enum: ['running', 'completed', 'failed', 'orphaned'] }, 'Filter.')
        ],
        responses: {
          '200': { description: 'OK', content: json(executionListSchema) },
          ...errors([400, 401, 429], envelopeErrorSchema)
        }
      }
    },
    '/v1/executions/{id}': wf('Execution summary', executionResponseSchema),
    '/v1/executions/{id}/receipts': {
      get: {
        ...wf(
          'Receipts (format=json), W3C PROV-JSON (prov) or OpenTelemetry spans (otel)',
          receiptListSchema
        ).get,
        parameters: [idParam, query('format', { enum: ['json', 'prov', 'otel'] }, 'Default json.')],
        responses: {
          '200': {
            description: 'OK',
            content: {
              'application/json': {
                schema: {
                  oneOf: [ref(receiptListSchema), ref(otelSpansSchema), ref(provJsonSchema)]
                }
              }
            }
          },
          ...errors([400, 401, 404, 429], envelopeErrorSchema)
        }
      }
    },
    '/v1/executions/{id}/receipts/verify': wf(
      'Recompute the hash chain and signatures',
      chainVerificationSchema
    ),
    '/v1/executions/{id}/provenance': wf('Provenance graph', provenanceResponseSchema),
    '/v1/executions/{id}/events': {
      get: {
        summary: 'SSE: `receipt` events (past, then live), then one `end` event (the summary)',
        security: KEYED,
        parameters: [idParam],
        responses: {
          '200': {
            description: 'Event stream',
            content: { 'text/event-stream': { schema: { type: 'string' } } }
          },
          ...errors([401, 404, 429], envelopeErrorSchema)
        }
      }
    },
    '/v1/executions/{id}/cancel': {
      post: {
        summary: 'Cancel a running execution (409 when not running)',
        security: KEYED,
        parameters: [idParam],
        responses: {
          '202': { description: 'Cancelled', content: json(cancelResponseSchema) },
          ...errors([401, 404, 409, 429], envelopeErrorSchema)
        }
      }
    },
    '/v1/capabilities': {
      get: {
        summary: 'Candidates of the capacity registry',
        security: KEYED,
        responses: {
          '200': { description: 'OK', content: json(capabilitiesSchema) },
          ...errors([401, 429], envelopeErrorSchema)
        }
      }
    }
  };
}

/** Paths of the OpenAI-compatible surface, health, metrics and this document. */
function openAiPaths() {
  return {
    '/v1/chat/completions': generatingOperation(
      'Chat completion',
      chatCompletionRequestSchema,
      chatCompletionSchema,
      chatCompletionChunkSchema
    ),
    '/v1/completions': generatingOperation(
      'Legacy text completion',
      completionRequestSchema,
      completionSchema,
      completionChunkSchema
    ),
    '/v1/embeddings': {
      post: {
        summary: 'Embeddings of one or more texts',
        security: KEYED,
        requestBody: { required: true, content: json(embeddingRequestSchema) },
        responses: {
          '200': { description: 'OK', content: json(embeddingListSchema) },
          ...errors([400, 401, 404, 413, 415, 429, 503])
        }
      }
    },
    '/v1/models': get('The served model', modelListSchema),
    '/v1/models/{id}': get('One model (its id or `default`)', modelSchema, {
      parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }]
    }),
    '/v1/system/peers': get('Mesh peers', peersSchema),
    '/v1/system/topology': get('This oracle’s place in the mesh', topologySchema),
    '/health': {
      get: {
        summary: 'Health (open)',
        security: [{}],
        responses: { '200': { description: 'OK', content: json(healthSchema) } }
      }
    },
    '/v1/system/health': {
      get: {
        summary: 'Same as /health (open)',
        security: [{}],
        responses: { '200': { description: 'OK', content: json(healthSchema) } }
      }
    },
    '/metrics': {
      get: {
        summary:
          'Prometheus metrics (text exposition format 0.0.4); behind the API key when keys are set',
        security: KEYED,
        responses: {
          '200': {
            description: 'Metrics',
            content: { 'text/plain': { schema: { type: 'string' } } }
          },
          ...errors([401, 404, 429])
        }
      }
    },
    '/openapi.json': {
      get: {
        summary: 'This document (open)',
        security: [{}],
        responses: {
          '200': {
            description: 'OpenAPI 3.1',
            content: { 'application/json': { schema: { type: 'object' } } }
          }
        }
      }
    }
  };
}

const describeRule = (rule: string | ((v: unknown) => string | undefined)) =>
  typeof rule === 'string' ? rule : 'refused for some values (see the message)';

/** The field policy, as the document's description and vendor fields. */
function fieldPolicy() {
  const unsupported = (rules: typeof CHAT_UNSUPPORTED) =>
    Object.fromEntries(Object.entries(rules).map(([k, r]) => [k, describeRule(r)]));
  return {
    'x-shard-accepted-ignored-fields': ACCEPTED_IGNORED_FIELDS,
    'x-shard-unsupported-fields': {
      chat: unsupported(CHAT_UNSUPPORTED),
      completions: unsupported(COMPLETION_UNSUPPORTED)
    }
  };
}

/** Builds the document (deterministic). Throws when a shared schema reads differently per side. */
export function buildOpenApiDocument(): Record<string, unknown> {
  return {
    openapi: '3.1.0',
    info: {
      title: 'Shard oracle API',
      version: API_VERSION,
      description:
        'OpenAI-compatible chat, completions and embeddings, receipt-first workflows, health and metrics. ' +
        'Every request field is honoured or refused with a 400 naming it (`param`): unknown fields get ' +
        '`unknown_parameter`, OpenAI fields this oracle cannot honour `unsupported_parameter` ' +
        '(x-shard-unsupported-fields), and a few are accepted without effect for a stated reason ' +
        '(x-shard-accepted-ignored-fields). `model` must be the served id or `default`.'
    },
    ...fieldPolicy(),
    paths: { ...openAiPaths(), ...workflowPaths() },
    components: {
      schemas: components(),
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', description: 'One of SHARD_API_KEYS' },
        apiKey: {
          type: 'apiKey',
          in: 'header',
          name: 'x-api-key',
          description: 'One of SHARD_API_KEYS'
        }
      }
    }
  };
}

/** Registers `GET /openapi.json` (open: call before the API-key guard). */
export function registerOpenApiRoute(router: Router): void {
  let document: Record<string, unknown> | undefined;
  router.get('/openapi.json', () => jsonResponse((document ??= buildOpenApiDocument())));
}
