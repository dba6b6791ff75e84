/**
 * The oracle CLI (`npm run oracle`): loads the target model with llama.cpp, then serves the
 * OpenAI-compatible API, health, the generated model files and the built app on one origin.
 * Run with --help for every flag, environment variable and default.
 *
 * Exit codes: 0 after a clean shutdown or --help, 1 when the model is missing or cannot be
 * loaded, the port cannot be bound or a plugin (workflows, mesh) cannot start, 2 for bad flags
 * or environment values.
 */
import '../src/lib/server/node-compat.js';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { dataDir, modelsDir } from '../src/lib/server/data-dir.js';
import { createLogger, setLogLevel } from '../src/lib/server/log.js';
import {
  ConfigError,
  defaultGpu,
  oracleUsage,
  parseOracleConfig,
  type OracleConfig
} from './config.js';
import type { DraftSource, TargetEngine } from './engine/index.js';
import { manifestSha256For, verifyModelFile } from './models/integrity.js';
import {
  createOracleServer,
  type OraclePlugin,
  type OracleServer,
  type OracleServerOptions
} from './server.js';
import { createContributorWiring, type ContributorWiring } from './contribution/wiring.js';
import { workflowPlugin } from './workflows/index.js';

const log = createLogger('shard:oracle');

/** The mesh's libp2p key in the data dir: the peer id other oracles trust stays the same. */
const MESH_KEY_FILE = 'mesh.key';

/** Plugins wired into the CLI's server (workflow routes, mesh); each unit adds its own here. */
function basePlugins(
  config: OracleConfig,
  isGeneratedTestModel: boolean,
  contributors: ContributorWiring
): OraclePlugin[] {
  return [
    // Receipt-first workflows: data in $SHARD_DATA_DIR, candidates from SHARD_WORKFLOW_CONFIG(_JSON).
    // Chat answers write their signed receipts to the same store.
    (router, ctx) =>
      workflowPlugin({
        retentionDays: config.receiptRetentionDays,
        isGeneratedTestModel,
        // Live contributed nodes join the candidates; verified steps earn their credit.
        contribution: contributors.service,
        onReady: (service) => ctx.setReceiptStore(service.store)
      })(router, ctx),
    // Contributor control plane (/v1/contribution/*): $SHARD_DATA_DIR/contribution.sqlite.
    contributors.plugin
  ];
}

/** The server's security, limit and model settings from the config. */
function serverSettings(
  config: OracleConfig,
  isGeneratedTestModel: boolean
): Omit<OracleServerOptions, 'engine' | 'plugins'> {
  return {
    host: config.host,
    port: config.port,
    ...(config.tls ? { tls: { cert: config.tls.cert, key: config.tls.key } } : {}),
    staticDir: config.staticDir,
    modelsDir: config.modelsDir,
    apiKeys: config.apiKeys,
    operatorKeys: config.operatorKeys,
    corsOrigins: config.corsOrigins,
    publicModels: config.publicModels,
    rateLimitPerMinute: config.rateLimitPerMinute,
    maxPromptChars: config.maxPromptChars,
    maxBodyBytes: config.maxBodyBytes,
    queueMax: config.queueMax,
    clientQueueMax: config.clientQueueMax,
    ...(config.clientMaxConcurrent !== undefined
      ? { clientMaxConcurrent: config.clientMaxConcurrent }
      : {}),
    maxTokensLimit: config.maxTokensLimit,
    allowedHosts: config.allowedHosts,
    isGeneratedTestModel
  };
}

/** The loaded models, or the exit code when they could not be loaded. */
interface LoadedModels {
  engine: TargetEngine | null;
  draftModel: { dispose(): Promise<void> } | null;
  defaultDraftSource: DraftSource | null;
  /** Whether the target is one `npm run models` generated (word salad; cpu by default). */
  isGeneratedTestModel: boolean;
}

/**
 * Loads the target (and the draft model when --draft wants it) on the --gpu backend, whose
 * default is `cpu` for the generated test models and `auto` for a model the user gave.
 * Returns an exit code (1) after printing why when the model is missing or does not load.
 */
async function loadModels(config: OracleConfig): Promise<LoadedModels | number> {
  const none = { engine: null, draftModel: null, defaultDraftSource: null };
  if (!existsSync(config.modelPath)) {
    if (!config.allowNoModel) {
      process.stderr.write(
        `shard oracle: model file not found: ${config.modelPath}\n` +
          `  Generate the test models with \`npm run models\`, or pass --model <path to a .gguf>.\n` +
          `  To start without a model (health "degraded", chat answers 503), pass --allow-no-model.\n`
      );
      return 1;
    }
    log.warn('starting without a model', { modelPath: config.modelPath });
    return { ...none, isGeneratedTestModel: false };
  }
  let draftModel: { dispose(): Promise<void> } | null = null;
  try {
    // A target listed in a generated-models manifest is a test model: its text is word salad.
    const isGeneratedTestModel = (await manifestSha256For(config.modelPath)) !== null;
    const gpu = config.gpu ?? defaultGpu(isGeneratedTestModel);
    // A user model is checked against --model-sha256 before llama.cpp sees it (generated
    // models are checked against their manifest inside the loader).
    if (config.modelSha256)
      await verifyModelFile({ path: config.modelPath, expectedSha256: config.modelSha256 });
    // Loaded lazily so --help and --allow-no-model never load llama.cpp.
    const { createTargetEngine, createPromptLookupSource, createDraftModelSource } =
      await import('./engine/index.js');
    const sizes = {
      ...(config.contextSize !== undefined ? { contextSize: config.contextSize } : {})
    };
    let defaultDraftSource: DraftSource | null = null;
    const isDraftModelWanted =
      config.draft === 'model' || (config.draft === 'auto' && existsSync(config.draftModelPath));
    if (isDraftModelWanted) {
      const source = await createDraftModelSource({
        modelPath: config.draftModelPath,
        threads: config.threads,
        gpu,
        ...sizes,
        ...(config.maxConcurrent !== undefined ? { sequences: config.maxConcurrent } : {})
      });
      draftModel = source;
      defaultDraftSource = source;
    } else if (config.draft !== 'none') {
      defaultDraftSource = createPromptLookupSource();
    }
    const engine = await createTargetEngine({
      modelPath: config.modelPath,
      threads: config.threads,
      defaultDraftSource,
      gpu,
      ...sizes,
      ...(config.maxConcurrent !== undefined ? { maxConcurrent: config.maxConcurrent } : {})
    });
    log.info('model loaded', {
      model: engine.modelId,
      draft: defaultDraftSource?.name ?? 'none',
      backend: engine.backend
    });
    return { engine, draftModel, defaultDraftSource, isGeneratedTestModel };
  } catch (err) {
    await draftModel?.dispose().catch(() => undefined);
    process.stderr.write(`shard oracle: could not load the models: ${(err as Error).message}\n`);
    return 1;
  }
}

/**
 * The scout mesh's plugin when relays are given and a target is loaded (libp2p loads lazily).
 * The mesh keeps its identity in `<data>/mesh.key` and its reputation ledger in the data dir,
 * and scores golden tickets against the draft model served at /models/draft.gguf.
 */
async function meshPluginFor(
  config: OracleConfig,
  models: LoadedModels,
  contributors: ContributorWiring
): Promise<OraclePlugin | null> {
  if (config.relays.length === 0) return null;
  const { engine, defaultDraftSource } = models;
  if (!engine) {
    log.warn('not joining the mesh: scouts draft for a target model, and none is loaded');
    return null;
  }
  const { createOracleMesh } = await import('./mesh/index.js');
  const { meshPlugin } = await import('./mesh/plugin.js');
  const data = dataDir(process.env);
  const servedDraft = join(config.modelsDir, 'draft.gguf');
  const mesh = await createOracleMesh({
    engine,
    relays: config.relays,
    keyFile: join(data, MESH_KEY_FILE),
    dataDir: data,
    draftModelPath: existsSync(servedDraft) ? servedDraft : null,
    scoutFloor: config.scoutFloor,
    goldenTicketRate: config.goldenTicketRate,
    reputationThreshold: config.reputationThreshold,
    minAttemptsBeforeBan: config.minAttemptsBeforeBan,
    banDurationHours: config.banDurationHours,
    trustedOracles: config.trustedOracles,
    trustedScouts: config.trustedScouts,
    // Scouts earn credit for verified work (accepted drafts, passed tickets) under their key.
    credit: (identity, kind, amount, evidence) =>
      contributors.service.credit(identity, kind, amount, evidence),
    // Signed control messages over the mesh too (/shard/contribution/1.0.0), same dispatch.
    contribution: contributors.service
  });
  return meshPlugin(mesh, {
    fallback: () => defaultDraftSource,
    // The oracle's floor (--scout-floor; --scout-prompts deny = none) applies to requests that
    // say nothing. `allow_scouts: false` is `none`; `allow_scouts: true` opts a request in on
    // an oracle whose floor is `none` (what --scout-prompts deny always allowed), at `reputable`.
    isPromptShareable: (request) => request.allowScouts !== false,
    scoutFloor: (request) =>
      request.allowScouts === true && config.scoutFloor === 'none' ? 'reputable' : undefined
  });
}

/** Why the server could not start, in the CLI's words. */
function startFailure(config: OracleConfig, err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  return e.code === 'EADDRINUSE'
    ? `cannot listen on ${config.host}:${config.port}: the port is already in use (try --port 0)`
    : e.code === 'EADDRNOTAVAIL' || e.code === 'EACCES'
      ? `cannot listen on ${config.host}:${config.port}: ${e.message}`
      : `could not start: ${e.message}`;
}

/** Resolves with the exit code once SIGINT/SIGTERM has stopped the server and freed the models. */
function untilSignal(server: OracleServer, models: LoadedModels): Promise<number> {
  return new Promise<number>((resolve) => {
    let isShuttingDown = false;
    const shutdown = (signal: NodeJS.Signals) => {
      if (isShuttingDown) {
        process.stderr.write(`shard oracle: second ${signal}, exiting now\n`);
        process.exit(1);
      }
      isShuttingDown = true;
      process.stdout.write(`shard oracle: ${signal} received, shutting down\n`);
      void (async () => {
        try {
          await server.stop();
          await models.engine?.dispose();
          await models.draftModel?.dispose();
          resolve(0);
        } catch (err) {
          log.error('shutdown failed', { err });
          resolve(1);
        }
      })();
    };
    process.once('SIGINT', shutdown);
    process.once('SIGTERM', shutdown);
  });
}

async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseOracleConfig({ argv, env: process.env });
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`shard oracle: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  if (parsed.kind === 'help') {
    process.stdout.write(oracleUsage(process.env) + '\n');
    return 0;
  }
  if (parsed.kind === 'rotate-receipt-key') return rotateReceiptKey(parsed.dataDir);
  const config = parsed.config;
  setLogLevel(config.logLevel);
  modelsDir(process.env);

  const models = await loadModels(config);
  if (typeof models === 'number') return models;
  const { engine } = models;
  let server: OracleServer;
  try {
    const settings = serverSettings(config, models.isGeneratedTestModel && engine !== null);
    // Contributors: control plane, earned priority, contributed capacity (--trusted-contributors,
    // --contributor-keys).
    const contributors = createContributorWiring(config.contributors, process.env);
    const plugins: OraclePlugin[] = basePlugins(
      config,
      settings.isGeneratedTestModel === true,
      contributors
    );
    const mesh = await meshPluginFor(config, models, contributors);
    if (mesh) plugins.push(mesh);
    server = createOracleServer({ engine, plugins, ...settings, ...contributors.serverOptions });
    await server.start();
  } catch (err) {
    process.stderr.write(`shard oracle: ${startFailure(config, err)}\n`);
    await engine?.dispose();
    await models.draftModel?.dispose();
    return 1;
  }
  const draftName = models.defaultDraftSource?.name ?? 'none';
  process.stdout.write(
    `Shard oracle ready: ${server.url}\n` +
      `  open ${server.url}/ in a browser; OpenAI API at ${server.url}/v1` +
      `${engine ? ` (model ${engine.modelId}, draft ${draftName}, ${engine.backend})` : ' (no model loaded)'}\n`
  );
  return untilSignal(server, models);
}

/** `--rotate-receipt-key`: retires the signing key (kept in the keyring), creates a new one. */
async function rotateReceiptKey(dataDir: string): Promise<number> {
  const { rotateNodeKey } = await import('./receipts/index.js');
  try {
    const { previousPublicKeyHex, publicKeyHex } = rotateNodeKey(dataDir);
    process.stdout.write(
      `shard oracle: receipt signing key rotated in ${dataDir}\n` +
        `  retired ${previousPublicKeyHex} (kept in the keyring: its receipts still verify)\n` +
        `  current ${publicKeyHex}\n`
    );
    return 0;
  } catch (err) {
    process.stderr.write(`shard oracle: ${(err as Error).message}\n`);
    return 1;
  }
}

main(process.argv.slice(2)).then(
  // Exit explicitly: llama.cpp handles may keep the event loop alive after dispose.
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`shard oracle: fatal: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exit(1);
  }
);
