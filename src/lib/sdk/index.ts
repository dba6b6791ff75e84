/**
 * The Shard TypeScript SDK: `new ShardClient({ baseUrl })` talks to an oracle's HTTP API.
 * Framework-free (fetch, zod, noble): runs in browsers, workers, Node 20+ and Deno.
 *
 *   client.chat.completions.create({ messages, stream? })   OpenAI-shaped chat (SSE when streaming)
 *   client.workflows.submit / wait / run / receipts / provenance / verifyReceipts
 *   client.contribution.createSession() → setParticipation / registerNode / heartbeat / deregisterNode
 *
 * Every response is validated against the protocol schemas (src/lib/protocol/*); HTTP errors
 * throw ShardApiError with the oracle's status, code and detail.
 */
import { createChat } from './chat.js';
import { createContribution } from './contribution.js';
import { createHttp, type Http } from './http.js';
import { createWorkflows } from './workflows.js';

export { ShardApiError, ShardResponseError, ShardTimeoutError } from './errors.js';
export type { ChatCompletion, ChatCompletionRequest, ChatMessage } from './chat.js';
export type { Contributor } from './contribution.js';
export type { ExecutionBundle, WorkflowTask } from './workflows.js';

export interface ShardClientOptions {
  /** The oracle, e.g. `http://localhost:9091`. */
  baseUrl: string;
  /** Sent as `Authorization: Bearer` when the oracle requires an API key; default none. */
  apiKey?: string;
  /**
   * A contributor key (32-byte Ed25519 secret): every request then carries a signed
   * `x-shard-contributor` header so the oracle can credit and prioritise it; default none.
   */
  contributorKey?: Uint8Array;
  /** Default the global fetch. */
  fetch?: typeof fetch;
}

export class ShardClient {
  readonly chat: ReturnType<typeof createChat>;
  readonly workflows: ReturnType<typeof createWorkflows>;
  readonly contribution: ReturnType<typeof createContribution>;
  readonly #http: Http;

  constructor(options: ShardClientOptions) {
    this.#http = createHttp({
      baseUrl: options.baseUrl,
      fetch: options.fetch ?? ((...args) => globalThis.fetch(...args)),
      ...(options.apiKey ? { apiKey: options.apiKey } : {}),
      ...(options.contributorKey ? { contributorKey: options.contributorKey } : {})
    });
    this.chat = createChat(this.#http);
    this.workflows = createWorkflows(this.#http);
    this.contribution = createContribution(this.#http);
  }

  /** The oracle's base URL (no trailing slash). */
  get baseUrl(): string {
    return this.#http.baseUrl;
  }
}
