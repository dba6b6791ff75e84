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
import { modelsDir } from '../src/lib/server/data-dir.js';
import { createLogger, setLogLevel } from '../src/lib/server/log.js';
import { ConfigError, oracleUsage, parseOracleConfig, type OracleConfig } from './config.js';
import type { DraftSource, TargetEngine } from './engine/index.js';
import { manifestSha256For, verifyModelFile } from './models/integrity.js';
import {
  createOracleServer,
  type OraclePlugin,
  type OracleServer,
  type OracleServerOptions
} from './server.js';
import { contributionPlugin } from './contribution/index.js';
import { workflowPlugin } from './workflows/index.js';

const log = createLogger('shard:oracle');

/** Plugins wired into the CLI's server (workflow routes, mesh); each unit adds its own here. */
function basePlugins(config: OracleConfig, isGeneratedTestModel: boolean): OraclePlugin[] {
  return [
    // Receipt-first workflows: data in $SHARD_DATA_DIR, candidates from SHARD_WORKFLOW_CONFIG(_JSON).
    workflowPlugin({ retentionDays: config.receiptRetentionDays, isGeneratedTestModel }),
    // Contributor control plane (/v1/contribution/*): $SHARD_DATA_DIR/contribution.sqlite.
    contributionPlugin()
  ];
}

/** The server's security, limit and model settings from the config. */
async function serverSettings(
  config: OracleConfig,
  hasEngine: boolean
): Promise<Omit<OracleServerOptions, 'engine' | 'plugins'>> {
  // A target listed in a generated-models manifest is a test model: its text is word salad.
  const isGeneratedTestModel = hasEngine && (await manifestSha256For(config.modelPath)) !== null;
  return {
    host: config.host,
    port: config.port,
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

  let engine: TargetEngine | null = null;
  let draftModel: { dispose(): Promise<void> } | null = null;
  let draftName = 'none';
  let defaultDraftSource: DraftSource | null = null;
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
  } else {
    try {
      // A user model is checked against --model-sha256 before llama.cpp sees it (generated
      // models are checked against their manifest inside the loader).
      if (config.modelSha256)
        await verifyModelFile({ path: config.modelPath, expectedSha256: config.modelSha256 });
      // Loaded lazily so --help and --allow-no-model never load llama.cpp.
      const { createTargetEngine, createPromptLookupSource, createDraftModelSource } =
        await import('./engine/index.js');
      const isDraftModelWanted =
        config.draft === 'model' || (config.draft === 'auto' && existsSync(config.draftModelPath));
      if (isDraftModelWanted) {
        const source = await createDraftModelSource({
          modelPath: config.draftModelPath,
          threads: config.threads,
          ...(config.contextSize !== undefined ? { contextSize: config.contextSize } : {}),
          ...(config.maxConcurrent !== undefined ? { sequences: config.maxConcurrent } : {})
        });
        draftModel = source;
        defaultDraftSource = source;
      } else if (config.draft !== 'none') {
        defaultDraftSource = createPromptLookupSource();
      }
      engine = await createTargetEngine({
        modelPath: config.modelPath,
        threads: config.threads,
        defaultDraftSource,
        ...(config.contextSize !== undefined ? { contextSize: config.contextSize } : {}),
        ...(config.maxConcurrent !== undefined ? { maxConcurrent: config.maxConcurrent } : {})
      });
      draftName = defaultDraftSource?.name ?? 'none';
      log.info('model loaded', { model: engine.modelId, draft: draftName });
    } catch (err) {
      await draftModel?.dispose().catch(() => undefined);
      process.stderr.write(`shard oracle: could not load the models: ${(err as Error).message}\n`);
      return 1;
    }
  }

  let server: OracleServer;
  try {
    // The scout mesh joins when relays are given (loaded lazily: libp2p is heavy).
    const settings = await serverSettings(config, engine !== null);
    const plugins: OraclePlugin[] = basePlugins(config, settings.isGeneratedTestModel === true);
    if (config.relays.length > 0) {
      if (!engine) {
        log.warn('not joining the mesh: scouts draft for a target model, and none is loaded');
      } else {
        const { createOracleMesh } = await import('./mesh/index.js');
        const { meshPlugin } = await import('./mesh/plugin.js');
        const mesh = await createOracleMesh({ engine, relays: config.relays });
        const fallback = defaultDraftSource;
        const isDefaultShareable = config.scoutPrompts === 'allow';
        plugins.push(
          meshPlugin(mesh, {
            fallback: () => fallback,
            isPromptShareable: (request) => request.allowScouts ?? isDefaultShareable
          })
        );
      }
    }
    server = createOracleServer({
      engine,
      plugins,
      ...settings
    });
    await server.start();
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why =
      e.code === 'EADDRINUSE'
        ? `cannot listen on ${config.host}:${config.port}: the port is already in use (try --port 0)`
        : e.code === 'EADDRNOTAVAIL' || e.code === 'EACCES'
          ? `cannot listen on ${config.host}:${config.port}: ${e.message}`
          : `could not start: ${e.message}`;
    process.stderr.write(`shard oracle: ${why}\n`);
    await engine?.dispose();
    await draftModel?.dispose();
    return 1;
  }
  process.stdout.write(
    `Shard oracle ready: ${server.url}\n` +
      `  open ${server.url}/ in a browser; OpenAI API at ${server.url}/v1` +
      `${engine ? ` (model ${engine.modelId}, draft ${draftName})` : ' (no model loaded)'}\n`
  );

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
          await engine?.dispose();
          await draftModel?.dispose();
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
