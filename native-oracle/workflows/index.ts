/**
 * Receipt-first workflows on the oracle: the capacity registry (local engine, remote oracles,
 * extractive engine), policy-driven ranking with recorded fallbacks, the research_brief runner,
 * the signed append-only receipt store and the HTTP routes — wired together as one oracle plugin.
 *
 * Usage: `createOracleServer({ engine, host, port, plugins: [workflowPlugin({ dataDir })] })`;
 * pass `isGeneratedTestModel: true` when the engine serves a generated test model.
 * On creation the plugin opens `<dataDir>/receipts.sqlite` and the node key
 * `<dataDir>/receipt-signing-key.json`, marks executions interrupted by a crash as orphaned,
 * and registers the routes listed in routes.ts. `stop()` cancels running executions (each ends
 * with a final `failed` receipt) and closes the store.
 */
import { join } from 'node:path';
import { dataDir as defaultDataDir } from '../../src/lib/server/data-dir.js';
import type { TargetEngine } from '../engine/index.js';
import type { HealthProbe } from '../api/system.js';
import type { Router } from '../http/router.js';
import {
  createReceiptStore,
  loadOrCreateNodeSigner,
  type ReceiptStore
} from '../receipts/index.js';
import type { ReceiptSigner } from '../../src/lib/protocol/receipt-chain.js';
import {
  createCapacityRegistry,
  loadWorkflowConfig,
  parseWorkflowConfig,
  type ContributedCapacity,
  type RegisteredCandidate,
  type WorkflowConfigInput
} from './registry.js';
import { registerWorkflowRoutes } from './routes.js';
import { createWorkflowService, type WorkflowService } from './service.js';

export { createCapacityRegistry, parseWorkflowConfig } from './registry.js';
export type {
  CapacityRegistry,
  RegisteredCandidate,
  WorkflowConfig,
  WorkflowConfigInput
} from './registry.js';
export type { WorkflowService } from './service.js';
export { runResearchBrief } from './research-brief.js';
export type { StepExecutor, StepRequest, StepResult } from './executors.js';
export { WorkflowConfigError } from './errors.js';

export interface WorkflowRuntimeOptions {
  /** Where receipts.sqlite and the key live; default SHARD_DATA_DIR or `<cwd>/.shard`. */
  dataDir?: string;
  /** Candidate config; default loadWorkflowConfig(env) (SHARD_WORKFLOW_CONFIG / _JSON). */
  config?: WorkflowConfigInput;
  env?: NodeJS.ProcessEnv;
  /**
   * True when the engine serves a generated test model (random weights: its text is meaningless
   * by design). Steps then run on the extractive engine unless a request's policy sets
   * allow_generated_test_model, and receipts say why. Default false (a real model).
   */
  isGeneratedTestModel?: boolean;
  /** Candidates added after the configured ones (tests, mesh discovery). */
  extraCandidates?: RegisteredCandidate[];
  /** Signer override; default the persisted node key of dataDir. */
  signer?: ReceiptSigner;
  /** Called with the service once it exists. */
  onReady?: (service: WorkflowService) => void;
  /**
   * Days the receipts of ended executions are kept (the oracle's validated
   * SHARD_RECEIPT_RETENTION_DAYS); default null, forever.
   */
  retentionDays?: number | null;
  /** The store file's size limit in pages (receipts/store.ts `maxPageCount`); default none. */
  maxStorePages?: number;
  /**
   * The contributor control plane: its live verifier/oracle nodes become candidates (ranked
   * with their registered tier, trust and prices), and verified steps they serve earn credit.
   * Default none.
   */
  contribution?: ContributedCapacity;
}

interface WorkflowRuntime {
  service: WorkflowService;
  store: ReceiptStore;
  /** Cancels running executions, then closes the store. */
  close(): Promise<void>;
}

/**
 * Opens the store (repairing orphans), builds the registry and the service. Throws
 * WorkflowConfigError / NodeKeyError on bad configuration.
 */
function createWorkflowRuntime(
  engine: TargetEngine | null,
  options: WorkflowRuntimeOptions = {}
): WorkflowRuntime {
  const env = options.env ?? process.env;
  const dir = options.dataDir ?? defaultDataDir(env);
  const config =
    options.config !== undefined
      ? parseWorkflowConfig(options.config, env)
      : loadWorkflowConfig(env);
  const signer = options.signer ?? loadOrCreateNodeSigner(dir);
  const store = createReceiptStore({
    path: join(dir, 'receipts.sqlite'),
    signer,
    retentionDays: options.retentionDays ?? null,
    ...(options.maxStorePages !== undefined ? { maxPageCount: options.maxStorePages } : {})
  });
  store.repairOrphans();
  const registry = createCapacityRegistry({
    config,
    engine,
    env,
    isGeneratedTestModel: options.isGeneratedTestModel ?? false,
    ...(options.contribution ? { contribution: options.contribution } : {})
  });
  for (const c of options.extraCandidates ?? []) registry.add(c);
  const service = createWorkflowService({ store, registry });
  options.onReady?.(service);
  return {
    service,
    store,
    async close() {
      await service.stop();
      store.close();
    }
  };
}

/**
 * The oracle plugin: `workflowPlugin(options)` returns `(router, ctx) => handle` for
 * createOracleServer's `plugins`. It uses `ctx.engine` (the admitted engine, sharing the chat
 * queue) as the local candidate, learns its own URL in `start`, and closes the store in `stop`.
 */
export function workflowPlugin(options: WorkflowRuntimeOptions = {}) {
  return (
    router: Router,
    ctx: { engine: TargetEngine | null; addHealthProbe?: (probe: HealthProbe) => void }
  ) => {
    const runtime = createWorkflowRuntime(ctx.engine, options);
    registerWorkflowRoutes(router, runtime.service);
    // A full disk shows on /health (`degraded`, `disk_full`) until a later write succeeds.
    ctx.addHealthProbe?.(() => runtime.store.writeProblem());
    return {
      start(info: { url: string }) {
        runtime.service.registry.setLocalEndpoint(info.url);
      },
      stop: () => runtime.close()
    };
  };
}
