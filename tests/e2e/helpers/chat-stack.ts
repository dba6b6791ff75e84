/**
 * An oracle for the chat page's browser tests, in this process: the real target engine
 * (llama.cpp on the generated target model) drafting with the generated draft model, so replies
 * are speculative and carry real stats, behind the oracle's real HTTP server serving build/.
 *
 * The engine is wrapped so a test can see every generation (tokens produced, whether it ended
 * and how) and can pace it: with `paceMs` each generation event is held back that long, so a
 * reply lasts long enough for a person (or a test) to press Stop. Pacing delays events, it does
 * not change them, and the abort path is the oracle's own (its chat route returns the generator
 * when the client disconnects, which ends the wrapped one).
 */
import '../../../src/lib/server/node-compat.js';
import { delegateEngine } from '../../../native-oracle/engine/delegate.js';
import { setTimeout as sleep } from 'node:timers/promises';
import { dirname, resolve } from 'node:path';
import {
  createDraftModelSource,
  createTargetEngine,
  type DraftModelSource,
  type GenerationEvent,
  type TargetEngine
} from '../../../native-oracle/engine/index.js';
import { createOracleServer, type OracleServer } from '../../../native-oracle/server.js';
import { workflowPlugin } from '../../../native-oracle/workflows/index.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureTestModels } from '../../helpers/models.js';

/** What the test can see of one generation. */
export interface GenerationRecord {
  maxTokens: number | undefined;
  /** Tokens the engine produced so far. */
  tokens: number;
  /** True once the generation finished or was ended early. */
  isEnded: boolean;
  /** True when the engine reached its `done` event (not stopped early). */
  isDone: boolean;
}

export interface ChatStack {
  url: string;
  /** The unwrapped engine (model id, tokenizer fingerprint). */
  engine: TargetEngine;
  server: OracleServer;
  /** Every generation since start, oldest first. */
  generations: GenerationRecord[];
  /** Holds each generation event back this long from now on; 0 (the default) for full speed. */
  setPaceMs(ms: number): void;
  close(): Promise<void>;
}

/** `engine` with its generations recorded and optionally paced; everything else delegated. */
function observed(
  engine: TargetEngine,
  generations: GenerationRecord[],
  pace: { ms: number }
): TargetEngine {
  return delegateEngine(engine, {
    generate(options) {
      // Called synchronously so the engine's synchronous throws stay synchronous.
      const inner = engine.generate(options);
      const record: GenerationRecord = {
        maxTokens: options.maxTokens,
        tokens: 0,
        isEnded: false,
        isDone: false
      };
      generations.push(record);
      return (async function* (): AsyncGenerator<GenerationEvent> {
        try {
          for await (const event of inner) {
            if (event.type === 'tokens') record.tokens += event.tokens.length;
            else record.isDone = true;
            if (pace.ms > 0) await sleep(pace.ms);
            yield event;
          }
        } finally {
          record.isEnded = true;
        }
      })();
    }
  });
}

/** Server settings a test may change. */
export interface ChatStackOptions {
  /** `SHARD_API_KEYS`; default none. */
  apiKeys?: string[];
  /** `SHARD_ALLOWED_HOSTS`; default none. */
  allowedHosts?: string[];
}

/**
 * Starts the engine pair and the server on 127.0.0.1 and a free port, with the workflow plugin's
 * receipt store (a temporary data dir) so every chat answer gets its signed receipt.
 */
export async function startChatStack(options: ChatStackOptions = {}): Promise<ChatStack> {
  const models = await ensureTestModels();
  let draft: DraftModelSource | null = null;
  let engine: TargetEngine | null = null;
  try {
    draft = await createDraftModelSource({ modelPath: models.draftPath, threads: 1 });
    engine = await createTargetEngine({
      modelPath: models.targetPath,
      threads: 1,
      defaultDraftSource: draft
    });
    const generations: GenerationRecord[] = [];
    const pace = { ms: 0 };
    const dataDir = mkdtempSync(join(tmpdir(), 'shard-e2e-chat-'));
    const server = createOracleServer({
      ...(options.apiKeys ? { apiKeys: options.apiKeys } : {}),
      ...(options.allowedHosts ? { allowedHosts: options.allowedHosts } : {}),
      plugins: [
        (router, ctx) =>
          workflowPlugin({
            dataDir,
            config: {},
            onReady: (service) => ctx.setReceiptStore(service.store)
          })(router, ctx)
      ],
      engine: observed(engine, generations, pace),
      host: '127.0.0.1',
      port: 0,
      staticDir: resolve('build'),
      modelsDir: dirname(models.draftPath),
      rateLimitPerMinute: 0,
      shutdownGraceMs: 500,
      // The generated target: health says so, and the app shows its word-salad notice.
      isGeneratedTestModel: true
    });
    await server.start();
    const started = engine;
    const draftModel = draft;
    return {
      url: server.url,
      engine: started,
      server,
      generations,
      setPaceMs: (ms) => (pace.ms = ms),
      async close() {
        await server.stop();
        await started.dispose();
        await draftModel.dispose();
        rmSync(dataDir, { recursive: true, force: true });
      }
    };
  } catch (err) {
    await engine?.dispose().catch(() => undefined);
    await draft?.dispose().catch(() => undefined);
    throw err;
  }
}
