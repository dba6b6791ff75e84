export interface paths {
  '/v1/chat/completions': {
    parameters: {
      query?: never;
      header?: never;
      path?: never;
      cookie?: never;
    };
    get?: never;
    put?: never;
    /** Chat completion */
    post: {
      parameters: {
        query?: never;
        header?: never;
        path?: never;
        cookie?: never;
      };
      requestBody: {
        content: {
          'application/json': components['schemas']['ChatCompletionRequest'];
        };
      };
      responses: {
        /** @description The reply (stream: false) or its chunks (stream: true). */
        200: {
          headers: {
            /** @description The completion id. */
            'x-request-id'?: string;
            /** @description The served model id. */
            'x-shard-model'?: string;
            /** @description The speculation choice: auto, off or on (streams too). */
            'x-shard-speculation'?: string;
            /** @description standard | speculative (whole replies only; streams: final chunk `shard`). */
            'x-shard-inference-mode'?: string;
            /** @description Draft source name or `none` (whole replies only). */
            'x-shard-draft-source'?: string;
            /** @description Draft tokens proposed (whole replies only). */
            'x-shard-drafted'?: string;
            /** @description Draft tokens accepted (whole replies only). */
            'x-shard-accepted'?: string;
            [name: string]: unknown;
          };
          content: {
            'application/json': components['schemas']['ChatCompletion'];
            'text/event-stream': string;
          };
        };
        /** @description invalid, unknown or unsupported field (named in message and param), or a prompt over the context (context_length_exceeded) */
        400: {
          headers: {
            [name: string]: unknown;
          };
          content: {
            'application/json': components['schemas']['Error'];
          };
        };
        /** @description missing or wrong API key (when SHARD_API_KEYS is set) */
        401: {
          headers: {
            [name: string]: unknown;
          };
          content: {
            'application/json': components['schemas']['Error'];
          };
        };
        /** @description unknown model (model_not_found) or resource */
        404: {
          headers: {
            [name: string]: unknown;
          };
          content: {
            'application/json': components['schemas']['Error'];
          };
        };
        /** @description request body over SHARD_MAX_BODY_BYTES */
        413: {
          headers: {
            [name: string]: unknown;
          };
          content: {
            'application/json': components['schemas']['Error'];
          };
        };
        /** @description content-type is not JSON */
        415: {
          headers: {
            [name: string]: unknown;
          };
          content: {
            'application/json': components['schemas']['Error'];
          };
        };
        /** @description rate limited (Retry-After) */
        429: {
          headers: {
            [name: string]: unknown;
          };
          content: {
            'application/json': components['schemas']['Error'];
          };
        };
        /** @description queue full, no model loaded or shutting down (Retry-After) */
        503: {
          headers: {
            [name: string]: unknown;
          };
          content: {
            'application/json': components['schemas']['Error'];
          };
        };
      };
    };
    delete?: never;
    options?: never;
    head?: never;
    patch?: never;
    trace?: never;
  };
  '/v1/completions': {
    parameters: {
      query?: never;
      header?: never;
      path?: never;
      cookie?: never;
    };
    get?: never;
    put?: never;
    /** Legacy text completion */
    post: {
      parameters: {
        query?: never;
        header?: never;
        path?: never;
        cookie?: never;
      };
      requestBody: {
        content: {
          'application/json': components['schemas']['CompletionRequest'];
        };
      };
      responses: {
        /** @description The reply (stream: false) or its chunks (stream: true). */
        200: {
          headers: {
            /** @description The completion id. */
            'x-request-id'?: string;
            /** @description The served model id. */
            'x-shard-model'?: string;
            /** @description The speculation choice: auto, off or on (streams too). */
            'x-shard-speculation'?: string;
            /** @description standard | speculative (whole replies only; streams: final chunk `shard`). */
            'x-shard-inference-mode'?: string;
            /** @description Draft source name or `none` (whole replies only). */
            'x-shard-draft-source'?: string;
            /** @description Draft tokens proposed (whole replies only). */
            'x-shard-drafted'?: string;
            /** @description Draft tokens accepted (whole replies only). */
            'x-shard-accepted'?: string;
            [name: string]: unknown;
          };
          content: {
            'application/json': components['schemas']['Completion'];
            'text/event-stream': string;
          };
        };
        /** @description invalid, unknown or unsupported field (named in message and param), or a prompt over the context (context_length_exceeded) */
        400: {
          headers: {
            [name: string]: unknown;
          };
          content: {
            'application/json': components['schemas']['Error'];
          };
        };
        /** @description missing or wrong API key (when SHARD_API_KEYS is set) */
        401: {
          headers: {
            [name: string]: unknown;
          };
          content: {
            'application/json': components['schemas']['Error'];
          };
        };
        /** @description unknown model (model_not_found) or resource */
        404: {
          headers: {
            [name: string]: unknown;
          };
          content: {
            'application/json': components['schemas']['Error'];
          };
        };
        /** @description request body over SHARD_MAX_BODY_BYTES */
        413: {
          headers: {
            [name: string]: unknown;
          };
          content: {
            'application/json': components['schemas']['Error'];
          };
        };
        /** @description content-type is not JSON */
        415: {
          headers: {
            [name: string]: unknown;
          };
          content: {
            'application/json': components['schemas']['Error'];
          };
        };
        /** @description rate limited (Retry-After) */
        429: {
          headers: {
            [name: string]: unknown;
          };
          content: {
            'application/json': components['schemas']['Error'];
          };
        };
        /** @description queue full, no model loaded or shutting down (Retry-After) */
        503: {
          headers: {
            [name: string]: unknown;
          };
          content: {
            'application/json': components['schemas']['Error'];
          };
        };
      };
    };
    delete?: never;
    options?: never;
    head?: never;
    patch?: never;
    trace?: never;
  };
  '/v1/embeddings': {
    parameters: {
      query?: never;
      header?: never;
      path?: never;
      cookie?: never;
    };
    get?: never;
    put?: never;
    /** Embeddings of one or more texts */
    post: {
      parameters: {
        query?: never;
        header?: never;
        path?: never;
        cookie?: never;
      };
      requestBody: {
        content: {
          'application/json': components['schemas']['EmbeddingRequest'];
        };
      };
      responses: {
        /** @description OK */
        200: {
          headers: {
            [name: string]: unknown;
          };
          content: {
            'application/json': components['schemas']['EmbeddingList'];
          };
        };
        /** @description invalid, unknown or unsupported field (named in message and param), or a prompt over the context (context_length_exceeded) */
        400: {
          headers: {
            [name: string]: unknown;
          };
          content: {
            'application/json': components['schemas']['Error'];
          };
        };
        /** @description missing or wrong API key (when SHARD_API_KEYS is set) */
        401: {
          headers: {
            [name: string]: unknown;
          };
          content: {
            'application/json': components['schemas']['Error'];
          };
        };
        /** @description unknown model (model_not_found) or resource */
        404: {
          headers: {
            [name: string]: unknown;
          };
          content: {
            'application/json': components['schemas']['Error'];
          };
        };
        /** @description request body over SHARD_MAX_BODY_BYTES */
        413: {
          headers: {
            [name: string]: unknown;
          };
          content: {
            'application/json': components['schemas']['Error'];
          };
        };
        /** @description content-type is not JSON */
        415: {
          headers: {
            [name: string]: unknown;
          };
          content: {
            'application/json': components['schemas']['Error'];
          };
        };
        /** @description rate limited (Retry-After) */
        429: {
          headers: {
            [name: string]: unknown;
          };
          content: {
            'application/json': components['schemas']['Error'];
          };
        };
        /** @description queue full, no model loaded or shutting down (Retry-After) */
        503: {
          headers: {
            [name: string]: unknown;
          };
          content: {
            'application/json': components['schemas']['Error'];
          };
        };
      };
    };
    delete?: never;
    options?: never;
    head?: never;
    patch?: never;
    trace?: never;
  };
  '/v1/models': {
    parameters: {
      query?: never;
      header?: never;
      path?: never;
      cookie?: never;
    };
    /** The served model */
    get: {
      parameters: {
        query?: never;
        header?: never;
        path?: never;
        cookie?: never;
      };
      requestBody?: never;
      responses: {
        /** @description OK */
        200: {
          headers: {
            [name: string]: unknown;
          };
          content: {
            'application/json': components['schemas']['ModelList'];
          };
        };
        /** @description missing or wrong API key (when SHARD_API_KEYS is set) */
        401: {
          headers: {
            [name: string]: unknown;
          };
          content: {
            'application/json': components['schemas']['Error'];
          };
        };
        /** @description unknown model (model_not_found) or resource */
        404: {
          headers: {
            [name: string]: unknown;
          };
          content: {
            'application/json': components['schemas']['Error'];
          };
        };
        /** @description rate limited (Retry-After) */
        429: {
          headers: {
            [name: string]: unknown;
          };
          content: {
            'application/json': components['schemas']['Error'];
          };
        };
      };
    };
    put?: never;
    post?: never;
    delete?: never;
    options?: never;
    head?: never;
    patch?: never;
    trace?: never;
  };
  '/v1/models/{id}': {
    parameters: {
      query?: never;
      header?: never;
      path?: never;
      cookie?: never;
    };
    /** One model (its id or `default`) */
    get: {
      parameters: {
        query?: never;
        header?: never;
        path: {
          id: string;
        };
        cookie?: never;
      };
      requestBody?: never;
      responses: {
        /** @description OK */
        200: {
          headers: {
            [name: string]: unknown;
          };
          content: {
            'application/json': components['schemas']['Model'];
          };
        };
        /** @description missing or wrong API key (when SHARD_API_KEYS is set) */
        401: {
          headers: {
            [name: string]: unknown;
          };
          content: {
            'application/json': components['schemas']['Error'];
          };
        };
        /** @description unknown model (model_not_found) or resource */
        404: {
          headers: {
            [name: string]: unknown;
          };
          content: {
            'application/json': components['schemas']['Error'];
          };
        };
        /** @description rate limited (Retry-After) */
        429: {
          headers: {
            [name: string]: unknown;
          };
          content: {
            'application/json': components['schemas']['Error'];
          };
        };
      };
    };
    put?: never;
    post?: never;
    delete?: never;
    options?: never;
    head?: never;
    patch?: never;
    trace?: never;
  };
  '/v1/system/peers': {
    parameters: {
      query?: never;
      header?: never;
      path?: never;
      cookie?: never;
    };
    /** Mesh peers */
    get: {
      parameters: {
        query?: never;
        header?: never;
        path?: never;
        cookie?: never;
      };
      requestBody?: never;
      responses: {
        /** @description OK */
        200: {
          headers: {
            [name: string]: unknown;
          };
          content: {
            'application/json': components['schemas']['Peers'];
          };
        };
        /** @description missing or wrong API key (when SHARD_API_KEYS is set) */
        401: {
          headers: {
            [name: string]: unknown;
          };
          content: {
            'application/json': components['schemas']['Error'];
          };
        };
        /** @description unknown model (model_not_found) or resource */
        404: {
          headers: {
            [name: string]: unknown;
          };
          content: {
            'application/json': components['schemas']['Error'];
          };
        };
        /** @description rate limited (Retry-After) */
        429: {
          headers: {
            [name: string]: unknown;
          };
          content: {
            'application/json': components['schemas']['Error'];
          };
        };
      };
    };
    put?: never;
    post?: never;
    delete?: never;
    options?: never;
    head?: never;
    patch?: never;
    trace?: never;
  };
  '/v1/system/topology': {
    parameters: {
      query?: never;
      header?: never;
      path?: never;
      cookie?: never;
    };
    /** This oracle’s place in the mesh */
    get: {
      parameters: {
        query?: never;
        header?: never;
        path?: never;
        cookie?: never;
      };
      requestBody?: never;
      responses: {
        /** @description OK */
        200: {
          headers: {
            [name: string]: unknown;
          };
          content: {
            'application/json': components['schemas']['Topology'];
          };
        };
        /** @description missing or wrong API key (when SHARD_API_KEYS is set) */
        401: {
          headers: {
            [name: string]: unknown;
          };
          content: {
            'application/json': components['schemas']['Error'];
          };
        };
        /** @description unknown model (model_not_found) or resource */
        404: {
          headers: {
            [name: string]: unknown;
          };
          content: {
            'application/json': components['schemas']['Error'];
          };
        };
        /** @description rate limited (Retry-After) */
        429: {
          headers: {
            [name: string]: unknown;
          };
          content: {
            'application/json': components['schemas']['Error'];
          };
        };
      };
    };
    put?: never;
    post?: never;
    delete?: never;
    options?: never;
    head?: never;
    patch?: never;
    trace?: never;
  };
  '/health': {
    parameters: {
      query?: never;
      header?: never;
      path?: never;
      cookie?: never;
    };
    /** Health (open) */
    get: {
      parameters: {
        query?: never;
        header?: never;
        path?: never;
        cookie?: never;
      };
      requestBody?: never;
      responses: {
        /** @description OK */
        200: {
          headers: {
            [name: string]: unknown;
          };
          content: {
            'application/json': components['schemas']['Health'];
          };
        };
      };
    };
    put?: never;
    post?: never;
    delete?: never;
    options?: never;
    head?: never;
    patch?: never;
    trace?: never;
  };
  '/v1/system/health': {
    parameters: {
      query?: never;
      header?: never;
      path?: never;
      cookie?: never;
    };
    /** Same as /health (open) */
    get: {
      parameters: {
        query?: never;
        header?: never;
        path?: never;
        cookie?: never;
      };
      requestBody?: never;
      responses: {
        /** @description OK */
        200: {
          headers: {
            [name: string]: unknown;
          };
          content: {
            'application/json': components['schemas']['Health'];
          };
        };
      };
    };
    put?: never;
    post?: never;
    delete?: never;
    options?: never;
    head?: never;
    patch?: never;
    trace?: never;
  };
  '/metrics': {
    parameters: {
      query?: never;
      header?: never;
      path?: never;
      cookie?: never;
    };
    /** Prometheus metrics (text exposition format 0.0.4); behind the API key when keys are set */
    get: {
      parameters: {
        query?: never;
        header?: never;
        path?: never;
        cookie?: never;
      };
      requestBody?: never;
      responses: {
        /** @description Metrics */
        200: {
          headers: {
            [name: string]: unknown;
          };
          content: {
            'text/plain': string;
          };
        };
        /** @description missing or wrong API key (when SHARD_API_KEYS is set) */
        401: {
          headers: {
            [name: string]: unknown;
          };
          content: {
            'application/json': components['schemas']['Error'];
          };
        };
        /** @description unknown model (model_not_found) or resource */
        404: {
          headers: {
            [name: string]: unknown;
          };
          content: {
            'application/json': components['schemas']['Error'];
          };
        };
        /** @description rate limited (Retry-After) */
        429: {
          headers: {
            [name: string]: unknown;
          };
          content: {
            'application/json': components['schemas']['Error'];
          };
        };
      };
    };
    put?: never;
    post?: never;
    delete?: never;
    options?: never;
    head?: never;
    patch?: never;
    trace?: never;
  };
  '/openapi.json': {
    parameters: {
      query?: never;
      header?: never;
      path?: never;
      cookie?: never;
    };
    /** This document (open) */
    get: {
      parameters: {
        query?: never;
        header?: never;
        path?: never;
        cookie?: never;
      };
      requestBody?: never;
      responses: {
        /** @description OpenAPI 3.1 */
        200: {
          headers: {
            [name: string]: unknown;
          };
          content: {
            'application/json': Record<string, never>;
          };
        };
      };
    };
    put?: never;
    post?: never;
    delete?: never;
    options?: never;
    head?: never;
    patch?: never;
    trace?: never;
  };
  '/v1/agents/tasks': {
    parameters: {
      query?: never;
      header?: never;
      path?: never;
      cookie?: never;
    };
    get?: never;
    put?: never;
    /** Submit a research_brief (202), or run it and wait (?wait=true: 201 ok, 200 failed) */
    post: {
      parameters: {
        query?: {
          /** @description Wait for the end and answer the bundle. */
          wait?: 'true' | '1' | 'false';
        };
        header?: {
          'Idempotency-Key'?: string;
        };
        path?: never;
        cookie?: never;
      };
      requestBody: {
        content: {
          'application/json': components['schemas']['AgentTaskRequest'];
        };
      };
      responses: {
        /** @description Finished, not ok (wait=true) */
        200: {
          headers: {
            [name: string]: unknown;
          };
          content: {
            'application/json': components['schemas']['ExecutionBundle'];
          };
        };
        /** @description Finished ok (wait=true) */
        201: {
          headers: {
            [name: string]: unknown;
          };
          content: {
            'application/json': components['schemas']['ExecutionBundle'];
          };
        };
        /** @description Accepted (or still running elsewhere: a bundle) */
        202: {
          headers: {
            [name: string]: unknown;
          };
          content: {
            'application/json':
              components['schemas']['AgentTaskAccepted'] | components['schemas']['ExecutionBundle'];
          };
        };
        /** @description invalid, unknown or unsupported field (named in message and param), or a prompt over the context (context_length_exceeded) */
        400: {
          headers: {
            [name: string]: unknown;
          };
          content: {
            'application/json': components['schemas']['EnvelopeError'];
          };
        };
        /** @description missing or wrong API key (when SHARD_API_KEYS is set) */
        401: {
          headers: {
            [name: string]: unknown;
          };
          content: {
            'application/json': components['schemas']['EnvelopeError'];
          };
        };
        /** @description conflict */
        409: {
          headers: {
            [name: string]: unknown;
          };
          content: {
            'application/json': components['schemas']['EnvelopeError'];
          };
        };
        /** @description request body over SHARD_MAX_BODY_BYTES */
        413: {
          headers: {
            [name: string]: unknown;
          };
          content: {
            'application/json': components['schemas']['EnvelopeError'];
          };
        };
        /** @description content-type is not JSON */
        415: {
          headers: {
            [name: string]: unknown;
          };
          content: {
            'application/json': components['schemas']['EnvelopeError'];
          };
        };
        /** @description rate limited (Retry-After) */
        429: {
          headers: {
            [name: string]: unknown;
          };
          content: {
            'application/json': components['schemas']['EnvelopeError'];
          };
        };
        /** @description queue full, no model loaded or shutting down (Retry-After) */
        503: {
          headers: {
            [name: string]: unknown;
          };
          content: {
            'application/json': components['schemas']['EnvelopeError'];
          };
        };
      };
    };
    delete?: never;
    options?: never;
    head?: never;
    patch?: never;
    trace?: never;
  };
  '/v1/executions': {
    parameters: {
      query?: never;
      header?: never;
      path?: never;
      cookie?: never;
    };
    /** List executions, newest first */
    get: {
      parameters: {
        query?: {
          /** @description Default 50. */
          limit?: number;
          /** @description Filter. */
          status?: 'running' | 'completed' | 'failed' | 'orphaned';
        };
        header?: never;
        path?: never;
        cookie?: never;
      };
      requestBody?: never;
      responses: {
        /** @description OK */
        200: {
          headers: {
            [name: string]: unknown;
          };
          content: {
            'application/json': components['schemas']['ExecutionList'];
          };
        };
        /** @description invalid, unknown or unsupported field (named in message and param), or a prompt over the context (context_length_exceeded) */
        400: {
          headers: {
            [name: string]: unknown;
          };
          content: {
            'application/json': components['schemas']['EnvelopeError'];
          };
        };
        /** @description missing or wrong API key (when SHARD_API_KEYS is set) */
        401: {
          headers: {
            [name: string]: unknown;
          };
          content: {
            'application/json': components['schemas']['EnvelopeError'];
          };
        };
        /** @description rate limited (Retry-After) */
        429: {
          headers: {
            [name: string]: unknown;
          };
          content: {
            'application/json': components['schemas']['EnvelopeError'];
          };
        };
      };
    };
    put?: never;
    post?: never;
    delete?: never;
    options?: never;
    head?: never;
    patch?: never;
    trace?: never;
  };
  '/v1/executions/{id}': {
    parameters: {
      query?: never;
      header?: never;
      path?: never;
      cookie?: never;
    };
    /** Execution summary */
    get: {
      parameters: {
        query?: never;
        header?: never;
        path: {
          id: string;
        };
        cookie?: never;
      };
      requestBody?: never;
      responses: {
        /** @description OK */
        200: {
          headers: {
            [name: string]: unknown;
          };
          content: {
            'application/json': components['schemas']['ExecutionResponse'];
          };
        };
        /** @description invalid, unknown or unsupported field (named in message and param), or a prompt over the context (context_length_exceeded) */
        400: {
          headers: {
            [name: string]: unknown;
          };
          content: {
            'application/json': components['schemas']['EnvelopeError'];
          };
        };
        /** @description missing or wrong API key (when SHARD_API_KEYS is set) */
        401: {
          headers: {
            [name: string]: unknown;
          };
          content: {
            'application/json': components['schemas']['EnvelopeError'];
          };
        };
        /** @description unknown model (model_not_found) or resource */
        404: {
          headers: {
            [name: string]: unknown;
          };
          content: {
            'application/json': components['schemas']['EnvelopeError'];
          };
        };
        /** @description rate limited (Retry-After) */
        429: {
          headers: {
            [name: string]: unknown;
          };
          content: {
            'application/json': components['schemas']['EnvelopeError'];
          };
        };
      };
    };
    put?: never;
    post?: never;
    delete?: never;
    options?: never;
    head?: never;
    patch?: never;
    trace?: never;
  };
  '/v1/executions/{id}/receipts': {
    parameters: {
      query?: never;
      header?: never;
      path?: never;
      cookie?: never;
    };
    /** Receipts (format=json), W3C PROV-JSON (prov) or OpenTelemetry spans (otel) */
    get: {
      parameters: {
        query?: {
          /** @description Default json. */
          format?: 'json' | 'prov' | 'otel';
        };
        header?: never;
        path: {
          id: string;
        };
        cookie?: never;
      };
      requestBody?: never;
      responses: {
        /** @description OK */
        200: {
          headers: {
            [name: string]: unknown;
          };
          content: {
            'application/json':
              | components['schemas']['ReceiptList']
              | components['schemas']['OtelSpans']
              | components['schemas']['ProvJson'];
          };
        };
        /** @description invalid, unknown or unsupported field (named in message and param), or a prompt over the context (context_length_exceeded) */
        400: {
          headers: {
            [name: string]: unknown;
          };
          content: {
            'application/json': components['schemas']['EnvelopeError'];
          };
        };
        /** @description missing or wrong API key (when SHARD_API_KEYS is set) */
        401: {
          headers: {
            [name: string]: unknown;
          };
          content: {
            'application/json': components['schemas']['EnvelopeError'];
          };
        };
        /** @description unknown model (model_not_found) or resource */
        404: {
          headers: {
            [name: string]: unknown;
          };
          content: {
            'application/json': components['schemas']['EnvelopeError'];
          };
        };
        /** @description rate limited (Retry-After) */
        429: {
          headers: {
            [name: string]: unknown;
          };
          content: {
            'application/json': components['schemas']['EnvelopeError'];
          };
        };
      };
    };
    put?: never;
    post?: never;
    delete?: never;
    options?: never;
    head?: never;
    patch?: never;
    trace?: never;
  };
  '/v1/executions/{id}/receipts/verify': {
    parameters: {
      query?: never;
      header?: never;
      path?: never;
      cookie?: never;
    };
    /** Recompute the hash chain and signatures */
    get: {
      parameters: {
        query?: never;
        header?: never;
        path: {
          id: string;
        };
        cookie?: never;
      };
      requestBody?: never;
      responses: {
        /** @description OK */
        200: {
          headers: {
            [name: string]: unknown;
          };
          content: {
            'application/json': components['schemas']['ChainVerification'];
          };
        };
        /** @description invalid, unknown or unsupported field (named in message and param), or a prompt over the context (context_length_exceeded) */
        400: {
          headers: {
            [name: string]: unknown;
          };
          content: {
            'application/json': components['schemas']['EnvelopeError'];
          };
        };
        /** @description missing or wrong API key (when SHARD_API_KEYS is set) */
        401: {
          headers: {
            [name: string]: unknown;
          };
          content: {
            'application/json': components['schemas']['EnvelopeError'];
          };
        };
        /** @description unknown model (model_not_found) or resource */
        404: {
          headers: {
            [name: string]: unknown;
          };
          content: {
            'application/json': components['schemas']['EnvelopeError'];
          };
        };
        /** @description rate limited (Retry-After) */
        429: {
          headers: {
            [name: string]: unknown;
          };
          content: {
            'application/json': components['schemas']['EnvelopeError'];
          };
        };
      };
    };
    put?: never;
    post?: never;
    delete?: never;
    options?: never;
    head?: never;
    patch?: never;
    trace?: never;
  };
  '/v1/executions/{id}/provenance': {
    parameters: {
      query?: never;
      header?: never;
      path?: never;
      cookie?: never;
    };
    /** Provenance graph */
    get: {
      parameters: {
        query?: never;
        header?: never;
        path: {
          id: string;
        };
        cookie?: never;
      };
      requestBody?: never;
      responses: {
        /** @description OK */
        200: {
          headers: {
            [name: string]: unknown;
          };
          content: {
            'application/json': components['schemas']['ProvenanceResponse'];
          };
        };
        /** @description invalid, unknown or unsupported field (named in message and param), or a prompt over the context (context_length_exceeded) */
        400: {
          headers: {
            [name: string]: unknown;
          };
          content: {
            'application/json': components['schemas']['EnvelopeError'];
          };
        };
        /** @description missing or wrong API key (when SHARD_API_KEYS is set) */
        401: {
          headers: {
            [name: string]: unknown;
          };
          content: {
            'application/json': components['schemas']['EnvelopeError'];
          };
        };
        /** @description unknown model (model_not_found) or resource */
        404: {
          headers: {
            [name: string]: unknown;
          };
          content: {
            'application/json': components['schemas']['EnvelopeError'];
          };
        };
        /** @description rate limited (Retry-After) */
        429: {
          headers: {
            [name: string]: unknown;
          };
          content: {
            'application/json': components['schemas']['EnvelopeError'];
          };
        };
      };
    };
    put?: never;
    post?: never;
    delete?: never;
    options?: never;
    head?: never;
    patch?: never;
    trace?: never;
  };
  '/v1/executions/{id}/events': {
    parameters: {
      query?: never;
      header?: never;
      path?: never;
      cookie?: never;
    };
    /** SSE: `receipt` events (past, then live), then one `end` event (the summary) */
    get: {
      parameters: {
        query?: never;
        header?: never;
        path: {
          id: string;
        };
        cookie?: never;
      };
      requestBody?: never;
      responses: {
        /** @description Event stream */
        200: {
          headers: {
            [name: string]: unknown;
          };
          content: {
            'text/event-stream': string;
          };
        };
        /** @description missing or wrong API key (when SHARD_API_KEYS is set) */
        401: {
          headers: {
            [name: string]: unknown;
          };
          content: {
            'application/json': components['schemas']['EnvelopeError'];
          };
        };
        /** @description unknown model (model_not_found) or resource */
        404: {
          headers: {
            [name: string]: unknown;
          };
          content: {
            'application/json': components['schemas']['EnvelopeError'];
          };
        };
        /** @description rate limited (Retry-After) */
        429: {
          headers: {
            [name: string]: unknown;
          };
          content: {
            'application/json': components['schemas']['EnvelopeError'];
          };
        };
      };
    };
    put?: never;
    post?: never;
    delete?: never;
    options?: never;
    head?: never;
    patch?: never;
    trace?: never;
  };
  '/v1/executions/{id}/cancel': {
    parameters: {
      query?: never;
      header?: never;
      path?: never;
      cookie?: never;
    };
    get?: never;
    put?: never;
    /** Cancel a running execution (409 when not running) */
    post: {
      parameters: {
        query?: never;
        header?: never;
        path: {
          id: string;
        };
        cookie?: never;
      };
      requestBody?: never;
      responses: {
        /** @description Cancelled */
        202: {
          headers: {
            [name: string]: unknown;
          };
          content: {
            'application/json': components['schemas']['CancelResponse'];
          };
        };
        /** @description missing or wrong API key (when SHARD_API_KEYS is set) */
        401: {
          headers: {
            [name: string]: unknown;
          };
          content: {
            'application/json': components['schemas']['EnvelopeError'];
          };
        };
        /** @description unknown model (model_not_found) or resource */
        404: {
          headers: {
            [name: string]: unknown;
          };
          content: {
            'application/json': components['schemas']['EnvelopeError'];
          };
        };
        /** @description conflict */
        409: {
          headers: {
            [name: string]: unknown;
          };
          content: {
            'application/json': components['schemas']['EnvelopeError'];
          };
        };
        /** @description rate limited (Retry-After) */
        429: {
          headers: {
            [name: string]: unknown;
          };
          content: {
            'application/json': components['schemas']['EnvelopeError'];
          };
        };
      };
    };
    delete?: never;
    options?: never;
    head?: never;
    patch?: never;
    trace?: never;
  };
  '/v1/capabilities': {
    parameters: {
      query?: never;
      header?: never;
      path?: never;
      cookie?: never;
    };
    /** Candidates of the capacity registry */
    get: {
      parameters: {
        query?: never;
        header?: never;
        path?: never;
        cookie?: never;
      };
      requestBody?: never;
      responses: {
        /** @description OK */
        200: {
          headers: {
            [name: string]: unknown;
          };
          content: {
            'application/json': components['schemas']['Capabilities'];
          };
        };
        /** @description missing or wrong API key (when SHARD_API_KEYS is set) */
        401: {
          headers: {
            [name: string]: unknown;
          };
          content: {
            'application/json': components['schemas']['EnvelopeError'];
          };
        };
        /** @description rate limited (Retry-After) */
        429: {
          headers: {
            [name: string]: unknown;
          };
          content: {
            'application/json': components['schemas']['EnvelopeError'];
          };
        };
      };
    };
    put?: never;
    post?: never;
    delete?: never;
    options?: never;
    head?: never;
    patch?: never;
    trace?: never;
  };
}
export type webhooks = Record<string, never>;
export interface components {
  schemas: {
    AgentTaskAccepted: {
      /** @constant */
      ok: true;
      execution_id: string;
      /** @enum {string} */
      status: 'running' | 'completed' | 'failed' | 'orphaned' | 'corrupted';
      is_replay: boolean;
      links: {
        self: string;
        receipts: string;
        provenance: string;
        verify: string;
      };
    } & {
      [key: string]: unknown;
    };
    AgentTaskRequest: {
      /** @constant */
      workflow_kind: 'research_brief';
      /** @description Required, at most 4000 characters. */
      question: string;
      sources: {
        /** @description Default `source-<n>`; unique within the task. */
        id?: string | null;
        title?: string | null;
        /** @description The source text (or send it as `text`). */
        content?: string;
        /** @description Alias of `content`. */
        text?: string;
      }[];
      policy?: {
        allowed_supply_tiers?: ('personal' | 'private' | 'public')[];
        /** @enum {string} */
        trust_tier?: 'local' | 'verified_mesh' | 'private_attested' | 'public_specialist';
        budget_limit?: number | null;
        step_budget_limit?: number | null;
        max_public_spend?: number | null;
        deadline_ms?: number | null;
        capability_tags?: string[];
        fallback_order?: ('personal' | 'private' | 'public')[];
        data_residency?: string | null;
        allow_fallbacks?: boolean;
        /** @default false */
        allow_generated_test_model: boolean;
        /**
         * @default {
         *       "requires_tee": false,
         *       "encrypted": false,
         *       "encryption_scheme": "none",
         *       "tee_mode": "none",
         *       "scout_floor": "reputable"
         *     }
         */
        privacy: {
          /** @default false */
          requires_tee: boolean;
          /** @default false */
          encrypted: boolean;
          /**
           * @default none
           * @enum {string}
           */
          encryption_scheme: 'none' | 'fhe';
          /**
           * @default none
           * @enum {string}
           */
          tee_mode: 'none' | 'sgx' | 'sev';
          /**
           * @default reputable
           * @enum {string}
           */
          scout_floor: 'none' | 'trusted' | 'reputable' | 'any';
        };
      } | null;
      /** @description Model id asked of the candidates that generate (recorded in receipts). */
      model?: string | null;
    };
    CancelResponse: {
      /** @constant */
      ok: true;
      execution_id: string;
      /** @constant */
      cancelled: true;
      execution: components['schemas']['ExecutionSummary'];
    } & {
      [key: string]: unknown;
    };
    Capabilities: {
      /** @constant */
      ok: true;
      count: number;
      capabilities: components['schemas']['CapabilityDescriptor'][];
      node_public_key: string;
    } & {
      [key: string]: unknown;
    };
    CapabilityDescriptor: {
      candidate_id: string;
      display_name: string;
      /** @enum {string} */
      kind?: 'local_engine' | 'remote_oracle' | 'extractive';
      /** @enum {string} */
      supply_tier: 'personal' | 'private' | 'public';
      /** @enum {string} */
      trust_tier: 'local' | 'verified_mesh' | 'private_attested' | 'public_specialist';
      capability_tier?: string | null;
      gpu_available?: boolean | null;
      public_api?: boolean | null;
      endpoint?: string | null;
      model_id?: string | null;
      queue_depth?: number | null;
      latency_ms?: number | null;
      price_per_1k_input_usd?: number | null;
      price_per_1k_output_usd?: number | null;
      score?: number | null;
      tags?: string[];
      role?: string | null;
      healthy?: boolean | null;
      selection_reason?: string | null;
    };
    ChainVerification: {
      /** @constant */
      ok: true;
      valid: boolean;
      execution_id: string | null;
      count: number;
      verified: number;
      signer_keys: string[];
      head_hash: string | null;
      head_signed: boolean;
      first_bad: {
        index: number;
        receipt_id: string | null;
        seq: number | null;
        reason: string;
        detail: string;
      } | null;
      node_public_key: string;
    } & {
      [key: string]: unknown;
    };
    ChatCompletion: {
      id: string;
      /** @constant */
      object: 'chat.completion';
      created: number;
      model: string;
      system_fingerprint: string | null;
      choices: {
        index: number;
        message: {
          /** @constant */
          role: 'assistant';
          content: string | null;
          refusal: null;
          tool_calls?: components['schemas']['ToolCall'][];
        };
        logprobs: components['schemas']['ChatLogprobs'] | null;
        /** @enum {string} */
        finish_reason: 'stop' | 'length' | 'tool_calls';
      }[];
      usage: components['schemas']['Usage'];
      shard: components['schemas']['ShardStats'];
    };
    ChatCompletionChunk: {
      id: string;
      /** @constant */
      object: 'chat.completion.chunk';
      created: number;
      model: string;
      system_fingerprint: string | null;
      choices: {
        index: number;
        delta: {
          /** @constant */
          role?: 'assistant';
          content?: string | null;
          tool_calls?: {
            index: number;
            id?: string;
            /** @constant */
            type?: 'function';
            function: {
              name?: string;
              arguments?: string;
            };
          }[];
        };
        logprobs: components['schemas']['ChatLogprobs'] | null;
        finish_reason: ('stop' | 'length' | 'tool_calls') | null;
      }[];
      usage?: components['schemas']['Usage'] | null;
      shard?: components['schemas']['ShardStats'];
    };
    ChatCompletionRequest: {
      /** @description The served model’s id (GET /v1/models) or `default`; absent means `default`. */
      model?: string | null;
      messages: components['schemas']['ChatMessage'][];
      /** @description Default 256; capped by the context left after the prompt. */
      max_tokens?: number | null;
      /** @description Same as max_tokens; wins when both are sent. */
      max_completion_tokens?: number | null;
      /** @description Only 1. */
      n?: 1 | null;
      logprobs?: boolean | null;
      top_logprobs?: number | null;
      response_format?:
        | (
            | {
                /** @constant */
                type: 'text';
              }
            | {
                /** @constant */
                type: 'json_object';
              }
            | {
                /** @constant */
                type: 'json_schema';
                json_schema: {
                  name?: string;
                  description?: string;
                  schema: {
                    [key: string]: unknown;
                  };
                  strict?: boolean | null;
                };
              }
          )
        | null;
      tools?: components['schemas']['Tool'][];
      tool_choice?: components['schemas']['ToolChoice'];
      /** @description Honoured either way: at most one tool call is generated per turn. */
      parallel_tool_calls?: boolean;
      /** @description Only ["text"]. */
      modalities?: 'text'[] | null;
      /** @description Accepted and ignored. */
      metadata?: {
        [key: string]: string;
      } | null;
      /** @description Accepted and ignored: nothing is stored. */
      store?: boolean | null;
      /** @description Accepted and ignored: one tier. */
      service_tier?: string | null;
      /** @description Accepted and ignored. */
      safety_identifier?: string | null;
      /** @description Accepted and ignored. */
      prompt_cache_key?: string | null;
      /** @description Accepted and ignored. */
      prompt_cache_retention?: string | null;
      /** @description 0..2, default 0 (greedy; OpenAI’s default is 1). */
      temperature?: number | null;
      /** @description (0, 1], default 1. */
      top_p?: number | null;
      /** @description Shard/llama.cpp extension: keep the k most likely tokens; 0 (default) is off. */
      top_k?: number | null;
      /** @description Shard/llama.cpp extension: drop tokens below min_p × the top token’s probability; default 0. */
      min_p?: number | null;
      /** @description -2..2, default 0. Subtracted from the logit of every token already in the OUTPUT once (not the prompt). */
      presence_penalty?: number | null;
      /** @description -2..2, default 0. Subtracted from the logit of every token already in the OUTPUT once per occurrence (not the prompt). */
      frequency_penalty?: number | null;
      /** @description Token id (decimal string) → bias in -100..100 added to its logit; -100 bans it. */
      logit_bias?: {
        [key: string]: number;
      } | null;
      /** @description Same seed, same settings → same text, with or without speculative drafts (position-keyed sampling). */
      seed?: number | null;
      /** @description Up to 4 stop strings; the output ends right before the first one completed. */
      stop?: (string | string[]) | null;
      stream?: boolean | null;
      stream_options?: {
        include_usage?: boolean | null;
        /** @description Accepted and ignored: this oracle never adds obfuscation padding. */
        include_obfuscation?: boolean | null;
      } | null;
      /** @description Accepted and ignored: no per-end-user tracking here (not logged, not stored). */
      user?: string;
      /** @description Shard extensions. Headers `x-shard-speculation` / `x-shard-allow-scouts` win; `x-shard-privacy` must agree with `privacy`. */
      shard?: {
        /**
         * @description `auto` lets the speculation governor decide; `off` never drafts; `on` always drafts.
         * @enum {string}
         */
        speculation?: 'auto' | 'off' | 'on';
        /** @description false: never show this prompt to mesh scouts (header x-shard-allow-scouts wins; default: the oracle’s --scout-prompts). */
        allow_scouts?: boolean;
        /** @description The privacy envelope (same as header `x-shard-privacy`; both sent must agree). `scout_floor` limits which scouts may see the prompt (`none`: no scout); `requires_tee` / `encrypted` cannot be honoured here: 400 `privacy_unsatisfiable`. */
        privacy?: {
          requires_tee?: boolean;
          encrypted?: boolean;
          /** @enum {string} */
          encryption_scheme?: 'none' | 'fhe';
          /** @enum {string} */
          tee_mode?: 'none' | 'sgx' | 'sev';
          /** @enum {string} */
          scout_floor?: 'none' | 'trusted' | 'reputable' | 'any';
        } | null;
      } | null;
    };
    ChatLogprobs: {
      content:
        | {
            token: string;
            logprob: number;
            bytes: number[] | null;
            top_logprobs: {
              token: string;
              logprob: number;
              bytes: number[] | null;
            }[];
          }[]
        | null;
      refusal: unknown[] | null;
    };
    ChatMessage:
      | {
          /**
           * @description `developer` is read as `system`.
           * @enum {string}
           */
          role: 'system' | 'developer';
          content:
            | string
            | {
                /** @constant */
                type: 'text';
                text: string;
              }[];
          /** @description Accepted and ignored: the chat template has no slot for a participant name. */
          name?: string;
        }
      | {
          /** @constant */
          role: 'user';
          content:
            | string
            | {
                /** @constant */
                type: 'text';
                text: string;
              }[];
          /** @description Accepted and ignored: the chat template has no slot for a participant name. */
          name?: string;
        }
      | {
          /** @constant */
          role: 'assistant';
          content?:
            | (
                | string
                | {
                    /** @constant */
                    type: 'text';
                    text: string;
                  }[]
              )
            | null;
          /** @description Accepted and ignored: the chat template has no slot for a participant name. */
          name?: string;
          /** @description Accepted and ignored: refusals are never generated. */
          refusal?: string | null;
          tool_calls?: components['schemas']['ToolCall'][];
        }
      | {
          /** @constant */
          role: 'tool';
          content:
            | string
            | {
                /** @constant */
                type: 'text';
                text: string;
              }[];
          tool_call_id: string;
        };
    Completion: {
      id: string;
      /** @constant */
      object: 'text_completion';
      created: number;
      model: string;
      system_fingerprint: string | null;
      choices: {
        text: string;
        index: number;
        logprobs: components['schemas']['CompletionLogprobs'] | null;
        /** @enum {string} */
        finish_reason: 'stop' | 'length';
      }[];
      usage: components['schemas']['Usage'];
      shard: components['schemas']['ShardStats'];
    };
    CompletionChunk: {
      id: string;
      /** @constant */
      object: 'text_completion';
      created: number;
      model: string;
      system_fingerprint: string | null;
      choices: {
        text: string;
        index: number;
        logprobs: components['schemas']['CompletionLogprobs'] | null;
        finish_reason: ('stop' | 'length') | null;
      }[];
      usage?: components['schemas']['Usage'] | null;
      shard?: components['schemas']['ShardStats'];
    };
    CompletionLogprobs: {
      tokens: string[];
      token_logprobs: number[];
      top_logprobs: {
        [key: string]: number;
      }[];
      text_offset: number[];
    };
    CompletionRequest: {
      /** @description The served model’s id (GET /v1/models) or `default`; absent means `default`. */
      model?: string | null;
      /** @description One text prompt (a one-element array is read as that string). */
      prompt: string | string[];
      /** @description Default 16 (as OpenAI’s). */
      max_tokens?: number | null;
      /** @description Only 1. */
      n?: 1 | null;
      /** @description Only 1. */
      best_of?: 1 | null;
      /** @description Prepend the prompt to the text (not with logprobs). */
      echo?: boolean | null;
      /** @description Report each token’s logprob and this many alternatives (0..5). */
      logprobs?: number | null;
      /** @description 0..2, default 0 (greedy; OpenAI’s default is 1). */
      temperature?: number | null;
      /** @description (0, 1], default 1. */
      top_p?: number | null;
      /** @description Shard/llama.cpp extension: keep the k most likely tokens; 0 (default) is off. */
      top_k?: number | null;
      /** @description Shard/llama.cpp extension: drop tokens below min_p × the top token’s probability; default 0. */
      min_p?: number | null;
      /** @description -2..2, default 0. Subtracted from the logit of every token already in the OUTPUT once (not the prompt). */
      presence_penalty?: number | null;
      /** @description -2..2, default 0. Subtracted from the logit of every token already in the OUTPUT once per occurrence (not the prompt). */
      frequency_penalty?: number | null;
      /** @description Token id (decimal string) → bias in -100..100 added to its logit; -100 bans it. */
      logit_bias?: {
        [key: string]: number;
      } | null;
      /** @description Same seed, same settings → same text, with or without speculative drafts (position-keyed sampling). */
      seed?: number | null;
      /** @description Up to 4 stop strings; the output ends right before the first one completed. */
      stop?: (string | string[]) | null;
      stream?: boolean | null;
      stream_options?: {
        include_usage?: boolean | null;
        /** @description Accepted and ignored: this oracle never adds obfuscation padding. */
        include_obfuscation?: boolean | null;
      } | null;
      /** @description Accepted and ignored: no per-end-user tracking here (not logged, not stored). */
      user?: string;
      /** @description Shard extensions. Header `x-shard-speculation` / `x-shard-allow-scouts` win. */
      shard?: {
        /**
         * @description `auto` lets the speculation governor decide; `off` never drafts; `on` always drafts.
         * @enum {string}
         */
        speculation?: 'auto' | 'off' | 'on';
        /** @description false: never show this prompt to mesh scouts (header x-shard-allow-scouts wins; default: the oracle’s --scout-prompts). */
        allow_scouts?: boolean;
      } | null;
    };
    EmbeddingList: {
      /** @constant */
      object: 'list';
      data: {
        /** @constant */
        object: 'embedding';
        index: number;
        embedding: number[] | string;
      }[];
      model: string;
      usage: {
        prompt_tokens: number;
        total_tokens: number;
      };
    };
    EmbeddingRequest: {
      /** @description The served model’s id (GET /v1/models) or `default`; absent means `default`. */
      model?: string | null;
      /** @description A text or 1..2048 texts (token-id arrays are refused). */
      input: string | string[];
      /** @description Default float. */
      encoding_format?: ('float' | 'base64') | null;
      /** @description Only the model’s own embedding size (shortening is not implemented). */
      dimensions?: number | null;
      /** @description Accepted and ignored (see chat). */
      user?: string;
    };
    EnvelopeError: {
      /** @constant */
      ok: false;
      detail: string;
      code: string;
      error: {
        message: string;
        type: string;
        param: string | null;
        code: string | null;
      };
    };
    Error: {
      error: {
        message: string;
        type: string;
        param: string | null;
        code: string | null;
      };
    };
    ExecutionBundle: {
      ok: boolean;
      detail?: string | null;
      execution: components['schemas']['ExecutionSummary'];
      provenance: components['schemas']['ProvenanceGraph'];
      receipts: components['schemas']['ExecutionReceipt'][];
    } & {
      [key: string]: unknown;
    };
    ExecutionList: {
      /** @constant */
      ok: true;
      count: number;
      executions: components['schemas']['ExecutionSummary'][];
    } & {
      [key: string]: unknown;
    };
    ExecutionReceipt: {
      receipt_id: string;
      execution_id: string;
      seq: number;
      step_id: string;
      attempt_id: string;
      parent_receipt_id?: string | null;
      /** @enum {string} */
      event_kind:
        | 'planned'
        | 'candidate_ranked'
        | 'dispatched'
        | 'completed'
        | 'failed'
        | 'fallback_applied'
        | 'orphaned';
      timestamp_ms: number;
      workflow_kind: string;
      step_kind?:
        | (
            | 'workflow'
            | 'planner'
            | 'summarize_source'
            | 'synthesize_brief'
            | 'workflow_result'
            | 'chat_completion'
          )
        | null;
      task_context?: {
        workflow_kind: string;
        question: string;
        source_count: number;
        source_ids: string[];
      } | null;
      policy_snapshot?: {
        allowed_supply_tiers: ('personal' | 'private' | 'public')[];
        /** @enum {string} */
        trust_tier: 'local' | 'verified_mesh' | 'private_attested' | 'public_specialist';
        budget_limit: number | null;
        step_budget_limit: number | null;
        max_public_spend: number | null;
        deadline_ms: number | null;
        capability_tags: string[];
        fallback_order: ('personal' | 'private' | 'public')[];
        data_residency: string | null;
        allow_fallbacks: boolean;
        /** @default false */
        allow_generated_test_model: boolean;
        /**
         * @default {
         *       "requires_tee": false,
         *       "encrypted": false,
         *       "encryption_scheme": "none",
         *       "tee_mode": "none",
         *       "scout_floor": "reputable"
         *     }
         */
        privacy: {
          /** @default false */
          requires_tee: boolean;
          /** @default false */
          encrypted: boolean;
          /**
           * @default none
           * @enum {string}
           */
          encryption_scheme: 'none' | 'fhe';
          /**
           * @default none
           * @enum {string}
           */
          tee_mode: 'none' | 'sgx' | 'sev';
          /**
           * @default reputable
           * @enum {string}
           */
          scout_floor: 'none' | 'trusted' | 'reputable' | 'any';
        };
      } | null;
      candidate_rankings?: components['schemas']['CapabilityDescriptor'][] | null;
      rejected_candidates?:
        | {
            candidate_id: string;
            reason: string;
          }[]
        | null;
      selected_candidate?: components['schemas']['CapabilityDescriptor'] | null;
      supply_tier?: ('personal' | 'private' | 'public') | null;
      trust_tier?: ('local' | 'verified_mesh' | 'private_attested' | 'public_specialist') | null;
      capability_match_reason?: string | null;
      estimated_cost_usd?: number | null;
      actual_cost_usd?: number | null;
      latency_ms?: number | null;
      input_tokens?: number | null;
      output_tokens?: number | null;
      outcome?: string | null;
      failure_reason?: string | null;
      fallback_reason?: string | null;
      node_identity: string;
      agent_identity?: string | null;
      model_metadata?: {
        model_id?: string | null;
        inference_mode?: string | null;
        served_by?: string | null;
        mesh_forwarded?: boolean | null;
        mesh_forward_target?: string | null;
        mesh_target_tier?: string | null;
        mesh_detail?: string | null;
        overflow_routed?: boolean | null;
        overflow_destination?: string | null;
        constrained?: string | null;
        attestation?: {
          signer_pubkey_hex: string;
          request_sha256: string;
          output_sha256: string;
          model: string;
          signature_hex: string;
        };
      } | null;
      summary?: string | null;
      result?: {
        brief: string | null;
        planner_notes?: string | null;
        sub_questions: {
          question: string;
          relevant_source_ids: string[];
        }[];
        selected_source_ids: string[];
        source_summaries: {
          source_id: string;
          title?: string | null;
          summary: string;
        }[];
        partial?: boolean;
      } | null;
      chat?: {
        model: string;
        stream: boolean;
        speculation: string;
        /** @enum {string} */
        mode: 'standard' | 'speculative';
        draft_source: string | null;
        drafted: number;
        accepted: number;
        rounds: number;
        prompt_tokens: number;
        completion_tokens: number;
        finish_reason: string;
        queue_ms: number;
        first_token_ms: number | null;
        total_ms: number;
        privacy: {
          /** @default false */
          requires_tee: boolean;
          /** @default false */
          encrypted: boolean;
          /**
           * @default none
           * @enum {string}
           */
          encryption_scheme: 'none' | 'fhe';
          /**
           * @default none
           * @enum {string}
           */
          tee_mode: 'none' | 'sgx' | 'sev';
          /**
           * @default reputable
           * @enum {string}
           */
          scout_floor: 'none' | 'trusted' | 'reputable' | 'any';
        };
        messages_sha256: string;
        output_sha256: string;
      };
      prev_hash: string | null;
      signature: string;
    };
    ExecutionResponse: {
      /** @constant */
      ok: true;
      execution: components['schemas']['ExecutionSummary'];
    } & {
      [key: string]: unknown;
    };
    ExecutionSummary: {
      execution_id: string;
      workflow_kind: string;
      /** @enum {string} */
      status: 'running' | 'completed' | 'failed' | 'orphaned' | 'corrupted';
      integrity_problem?: string | null;
      created_at_ms: number;
      updated_at_ms: number;
      current_step?: string | null;
      question?: string | null;
      source_count: number;
      latest_summary?: string | null;
      result?: {
        brief: string | null;
        planner_notes?: string | null;
        sub_questions: {
          question: string;
          relevant_source_ids: string[];
        }[];
        selected_source_ids: string[];
        source_summaries: {
          source_id: string;
          title?: string | null;
          summary: string;
        }[];
        partial?: boolean;
      } | null;
      receipt_count: number;
      observed_cost_usd: number;
    };
    Health: {
      /** @enum {string} */
      status: 'ok' | 'degraded';
      readiness_reason: string;
      ready_for_inference: boolean;
      model: string | null;
      tokenizer_fingerprint: string | null;
      uptime_ms: number;
      peers: number;
      queue: {
        active: number;
        queued: number;
        max_concurrent: number;
        max_queued: number;
      };
      chat: {
        completed: number;
        aborted: number;
        failed: number;
      };
    } & {
      [key: string]: unknown;
    };
    Model: {
      id: string;
      /** @constant */
      object: 'model';
      created: number;
      owned_by: string;
      shard: {
        tokenizer_fingerprint: string;
        max_concurrent: number;
        model_is_generated_test_model: boolean;
      };
    };
    ModelList: {
      /** @constant */
      object: 'list';
      data: components['schemas']['Model'][];
    };
    OtelSpans: {
      /** @constant */
      ok: true;
      count: number;
      spans: {
        trace_id: string;
        span_id: string;
        parent_span_id: string | null;
        name: string;
        /** @enum {string} */
        kind: 'INTERNAL' | 'CLIENT';
        start_time_unix_nano: string;
        end_time_unix_nano: string;
        status: {
          /** @enum {string} */
          code: 'OK' | 'ERROR' | 'UNSET';
          message?: string;
        };
        attributes: {
          [key: string]: string | number | boolean;
        };
      }[];
    };
    Peers: {
      peers: ({
        peer_id: string;
      } & {
        [key: string]: unknown;
      })[];
      count: number;
    };
    /** @description W3C PROV-JSON document (prefix, entity, activity, agent and relations). */
    ProvJson: {
      [key: string]: unknown;
    };
    ProvenanceGraph: {
      execution_id: string;
      root_receipt_id?: string | null;
      nodes: {
        receipt_id: string;
        parent_receipt_id?: string | null;
        step_id: string;
        attempt_id: string;
        /** @enum {string} */
        event_kind:
          | 'planned'
          | 'candidate_ranked'
          | 'dispatched'
          | 'completed'
          | 'failed'
          | 'fallback_applied'
          | 'orphaned';
        timestamp_ms: number;
        seq: number;
        step_kind?: string | null;
        label: string;
        supply_tier?: ('personal' | 'private' | 'public') | null;
        trust_tier?: ('local' | 'verified_mesh' | 'private_attested' | 'public_specialist') | null;
        latency_ms?: number | null;
        estimated_cost_usd?: number | null;
        actual_cost_usd?: number | null;
        failure_reason?: string | null;
        fallback_reason?: string | null;
        summary?: string | null;
        selected_candidate?: components['schemas']['CapabilityDescriptor'] | null;
        model_metadata?: {
          model_id?: string | null;
          inference_mode?: string | null;
          served_by?: string | null;
          mesh_forwarded?: boolean | null;
          mesh_forward_target?: string | null;
          mesh_target_tier?: string | null;
          mesh_detail?: string | null;
          overflow_routed?: boolean | null;
          overflow_destination?: string | null;
          constrained?: string | null;
          attestation?: {
            signer_pubkey_hex: string;
            request_sha256: string;
            output_sha256: string;
            model: string;
            signature_hex: string;
          };
        } | null;
        /** @enum {string} */
        branch: 'main' | 'fallback' | 'failed' | 'orphaned';
      }[];
      edges: {
        from_receipt_id: string;
        to_receipt_id: string;
        is_fallback: boolean;
      }[];
      incomplete: boolean;
      fallback_paths: string[][];
      missing_parent_ids: string[];
    };
    ProvenanceResponse: {
      /** @constant */
      ok: true;
      provenance: components['schemas']['ProvenanceGraph'];
    } & {
      [key: string]: unknown;
    };
    ReceiptList: {
      /** @constant */
      ok: true;
      count: number;
      receipts: components['schemas']['ExecutionReceipt'][];
    } & {
      [key: string]: unknown;
    };
    ShardStats: {
      /** @enum {string} */
      mode: 'standard' | 'speculative';
      draft_source: string | null;
      drafted: number;
      accepted: number;
      acceptance_rate: number;
      rounds: number;
      duration_ms: number;
      /** @description Rounds that verified other scouts' diverging drafts beside the main one in the same batched pass (present only when one ran). */
      branch_rounds?: number;
      /** @description Of branch_rounds, those where an alternative draft was committed. */
      branch_wins?: number;
      governor: {
        is_speculating: boolean;
        predicted_speedup: number | null;
        /** @description Measured speed of the source's recent speculative rounds over plain decoding; null before any (the governor keeps drafting off below its floor, 0.97). */
        realized_speedup: number | null;
        reason: string;
      };
      /** @description Chat only: where the signed receipt of this answer is (also header `x-shard-receipt` on whole replies); null when it could not be written. */
      receipt?: {
        execution_id: string;
        receipt_id: string;
        links: {
          self: string;
          receipts: string;
          provenance: string;
          verify: string;
        };
      } | null;
      /** @description How the request was admitted: its class, its place in the queue on arrival (0 = a slot was free) and how many requests were admitted while it waited. */
      queue?: {
        /** @enum {string} */
        class: 'contributor' | 'consumer';
        position: number;
        waited_admissions: number;
        identity?: string;
        credit?: number;
      };
      /** @description Present when the request asked with `x-shard-attest: 1`: this node signs the request and output hashes with its receipt key. */
      attestation?: {
        signer_pubkey_hex: string;
        request_sha256: string;
        output_sha256: string;
        model: string;
        signature_hex: string;
      };
    };
    Tool: {
      /** @constant */
      type: 'function';
      function: {
        name: string;
        description?: string;
        /** @description JSON schema of the arguments; absent means no arguments ({}). */
        parameters?: {
          [key: string]: unknown;
        };
        /** @description Accepted; calls always follow the schema (grammar-constrained) for required/named. */
        strict?: boolean | null;
      };
    };
    ToolCall: {
      id: string;
      /** @constant */
      type: 'function';
      function: {
        name: string;
        /** @description The arguments as a JSON text. */
        arguments: string;
      };
    };
    ToolChoice:
      | ('none' | 'auto' | 'required')
      | {
          /** @constant */
          type: 'function';
          function: {
            name: string;
          };
        };
    Topology: {
      status: string;
    } & {
      [key: string]: unknown;
    };
    Usage: {
      prompt_tokens: number;
      completion_tokens: number;
      total_tokens: number;
    };
  };
  responses: never;
  parameters: never;
  requestBodies: never;
  headers: never;
  pathItems: never;
}
export type $defs = Record<string, never>;
export type operations = Record<string, never>;
