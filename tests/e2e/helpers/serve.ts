/**
 * Serves the built PWA (build/) for browser tests on 127.0.0.1 and a free port, through the
 * oracle's real server when it exists (native-oracle/server.ts), otherwise through the production
 * static handler (native-oracle/http/static.ts) on a bare node:http server.
 */
import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import { createStaticHandler } from '../../../native-oracle/http/static.js';

export interface ServedApp {
  /** Origin of the served app, e.g. http://127.0.0.1:41234 */
  readonly url: string;
  /** Which server answered: the oracle's or the bare static handler. */
  readonly kind: 'oracle' | 'static';
  close(): Promise<void>;
}

const BUILD_DIR = resolve('build');

function listen(server: Server): Promise<string> {
  return new Promise((resolveUrl, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      resolveUrl(`http://127.0.0.1:${port}`);
    });
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise((done) => {
    server.closeAllConnections();
    server.close(() => done());
  });
}

/** Serves build/ with the bare production static handler (no API routes). */
export async function serveStaticBuild(): Promise<ServedApp> {
  if (!existsSync(BUILD_DIR)) throw new Error('build/ is missing: run `npm run build` first');
  const serveStatic = createStaticHandler(BUILD_DIR);
  const server = createServer((req, res) => {
    if (!serveStatic(req, res)) {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found');
    }
  });
  const url = await listen(server);
  return { url, kind: 'static', close: () => closeServer(server) };
}

/**
 * Serves build/ through the oracle's HTTP server without an engine when native-oracle/server.ts
 * is present, so /health is the oracle's; falls back to the static build otherwise.
 */
export async function serveApp(): Promise<ServedApp> {
  const oraclePath = resolve('native-oracle/server.ts');
  if (!existsSync(oraclePath)) return serveStaticBuild();
  const mod = (await import(oraclePath)) as {
    createOracleServer?: (options: Record<string, unknown>) => Promise<unknown> | unknown;
  };
  if (typeof mod.createOracleServer !== 'function') return serveStaticBuild();
  const oracle = (await mod.createOracleServer({
    engine: null,
    host: '127.0.0.1',
    port: 0,
    staticDir: BUILD_DIR
  })) as {
    url?: string;
    port?: number;
    start?: () => Promise<unknown>;
    close?: () => Promise<void>;
    stop?: () => Promise<void>;
  };
  if (typeof oracle.start === 'function') await oracle.start();
  const url = oracle.url ?? `http://127.0.0.1:${oracle.port}`;
  return {
    url,
    kind: 'oracle',
    close: async () => {
      if (oracle.stop) await oracle.stop();
      else if (oracle.close) await oracle.close();
    }
  };
}
