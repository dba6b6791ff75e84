/**
 * Serves the built PWA (build/) for browser tests through the oracle's real HTTP server
 * (native-oracle/server.ts) on 127.0.0.1 and a free port, so /health, /v1/* and /models/* are the
 * oracle's own.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import {
  createOracleServer,
  type OracleServer,
  type OracleServerOptions
} from '../../../native-oracle/server.js';

export interface ServedApp {
  /** Origin of the served app, e.g. http://127.0.0.1:41234 */
  readonly url: string;
  readonly server: OracleServer;
  close(): Promise<void>;
}

const BUILD_DIR = resolve('build');

/**
 * Starts an oracle server that serves build/; `options` override the defaults (no engine, no
 * models, short shutdown grace).
 */
export async function serveApp(options: Partial<OracleServerOptions> = {}): Promise<ServedApp> {
  if (!existsSync(BUILD_DIR)) throw new Error('build/ is missing: run `npm run build` first');
  const server = createOracleServer({
    engine: null,
    host: '127.0.0.1',
    port: 0,
    staticDir: BUILD_DIR,
    shutdownGraceMs: 500,
    ...options
  });
  await server.start();
  return { url: server.url, server, close: () => server.stop() };
}
