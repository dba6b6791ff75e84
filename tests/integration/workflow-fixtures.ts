/* eslint-disable @typescript-eslint/no-explicit-any -- HTTP JSON bodies are asserted field by field; typing each response adds nothing here */
/**
 * Shared fixtures of the workflow integration tests: an oracle with the workflow plugin on a
 * free loopback port, fault-injecting upstream servers (real HTTP, misbehaving on purpose), and
 * small fetch helpers.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TargetEngine } from '../../native-oracle/engine/index.js';
import { createOracleServer, type OracleServer } from '../../native-oracle/server.js';
import {
  workflowPlugin,
  type RegisteredCandidate,
  type WorkflowConfigInput,
  type WorkflowService
} from '../../native-oracle/workflows/index.js';

export const SOURCES = [
  {
    id: 'coffee',
    title: 'Coffee and the heart',
    content:
      'Moderate coffee intake of two to three cups a day was associated with a lower risk of heart disease. However, the cohort study was observational and cannot prove cause. Unfiltered coffee raised LDL cholesterol slightly.'
  },
  {
    id: 'sleep',
    title: 'Caffeine and sleep',
    content:
      'Caffeine taken six hours before bed reduced total sleep time by about one hour. Sleep quality may drop with high doses. Tea contains less caffeine than coffee.'
  }
];
export const QUESTION = 'Is coffee good for heart health, and does it affect sleep?';

export function task(extra: Record<string, unknown> = {}) {
  return { workflow_kind: 'research_brief', question: QUESTION, sources: SOURCES, ...extra };
}

export function tempDir(prefix = 'shard-wf-'): { dir: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface WorkflowOracle {
  url: string;
  server: OracleServer;
  service: WorkflowService;
  stop(): Promise<void>;
}

/** Starts an oracle (createOracleServer + workflowPlugin) on 127.0.0.1:0. */
export async function startWorkflowOracle(options: {
  dataDir: string;
  config?: WorkflowConfigInput;
  engine?: TargetEngine | null;
  extraCandidates?: RegisteredCandidate[];
  /** Passed to workflowPlugin when given (its default is false). */
  isGeneratedTestModel?: boolean;
}): Promise<WorkflowOracle> {
  let service!: WorkflowService;
  const server = createOracleServer({
    engine: options.engine ?? null,
    host: '127.0.0.1',
    port: 0,
    rateLimitPerMinute: 0,
    shutdownGraceMs: 2_000,
    plugins: [
      workflowPlugin({
        dataDir: options.dataDir,
        config: options.config ?? {},
        extraCandidates: options.extraCandidates ?? [],
        ...(options.isGeneratedTestModel !== undefined
          ? { isGeneratedTestModel: options.isGeneratedTestModel }
          : {}),
        onReady: (s) => (service = s)
      })
    ]
  });
  await server.start();
  return { url: server.url, server, service, stop: () => server.stop() };
}

export type FaultMode = 'status500' | 'hang' | 'canned';

export interface FaultServer {
  url: string;
  /** Number of chat requests received so far. */
  readonly requests: number;
  /** The headers of every chat request received so far, in order. */
  readonly requestHeaders: ReadonlyArray<IncomingMessage['headers']>;
  /** Resolves at the next chat request (an event, not a sleep). */
  nextRequest(): Promise<void>;
  close(): Promise<void>;
}

/**
 * An upstream "oracle" that misbehaves on purpose: `status500` answers 500, `hang` never answers,
 * `canned` answers a fixed OpenAI-style completion with usage (a stand-in where no engine is needed).
 */
export async function startFaultServer(
  mode: FaultMode,
  cannedText = 'Canned remote answer about coffee and sleep.'
): Promise<FaultServer> {
  let requests = 0;
  const requestHeaders: Array<IncomingMessage['headers']> = [];
  let waiters: Array<() => void> = [];
  const held: ServerResponse[] = [];
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    req.resume();
    req.on('end', () => {
      requests += 1;
      requestHeaders.push(req.headers);
      const w = waiters;
      waiters = [];
      w.forEach((f) => f());
      if (mode === 'status500') {
        res
          .writeHead(500, { 'content-type': 'application/json' })
          .end('{"error":{"message":"boom"}}');
      } else if (mode === 'hang') {
        held.push(res);
      } else {
        const body = {
          id: 'chatcmpl-canned',
          object: 'chat.completion',
          model: 'canned-remote',
          choices: [
            { index: 0, message: { role: 'assistant', content: cannedText }, finish_reason: 'stop' }
          ],
          usage: { prompt_tokens: 100, completion_tokens: 20, total_tokens: 120 }
        };
        res
          .writeHead(200, {
            'content-type': 'application/json',
            'x-shard-served-by': 'canned-node'
          })
          .end(JSON.stringify(body));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    get requests() {
      return requests;
    },
    requestHeaders,
    nextRequest: () => new Promise<void>((resolve) => waiters.push(resolve)),
    close: () =>
      new Promise<void>((resolve) => {
        for (const r of held) r.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      })
  };
}

/** A remote candidate entry for the workflow config. */
export function remote(id: string, url: string, extra: Record<string, unknown> = {}) {
  return {
    candidate_id: id,
    endpoint: url,
    supply_tier: 'personal' as const,
    trust_tier: 'verified_mesh' as const,
    tags: ['planning', 'summarization', 'synthesis', 'reasoning'],
    price_per_1k_input_usd: 0,
    price_per_1k_output_usd: 0,
    latency_ms: 100,
    quality: 0.9,
    ...extra
  };
}

export async function postJson(url: string, body: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body)
  });
  return {
    status: res.status,
    headers: res.headers,
    json: (await res.json()) as Record<string, any>
  };
}

export async function getJson(url: string) {
  const res = await fetch(url);
  return { status: res.status, json: (await res.json()) as Record<string, any> };
}

/** `step_id:event_kind` of each receipt, in order. */
export function events(receipts: ReadonlyArray<Record<string, any>>): string[] {
  return receipts.map((r) => `${r.step_id}:${r.event_kind}`);
}
