/**
 * The relay's small read-only HTTP API: GET /health, /topology (listen addresses for browser
 * auto-discovery) and /peers. CORS-open and CORP cross-origin, because the PWA reads /topology
 * from another origin while cross-origin isolated.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Relay } from './index.js';

export interface RelayHttp {
  readonly server: Server;
  /** The bound port (useful with port 0). */
  readonly port: number;
  close(): Promise<void>;
}

/** Starts the HTTP API on `host:port` (port 0 = any free port). */
export async function startRelayHttp(
  relay: Relay,
  opts: { host: string; port: number }
): Promise<RelayHttp> {
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://relay').pathname;
    const headers = {
      'content-type': 'application/json',
      'access-control-allow-origin': '*',
      'cross-origin-resource-policy': 'cross-origin',
      'cache-control': 'no-store'
    };
    if (req.method === 'OPTIONS') {
      res.writeHead(204, { ...headers, 'access-control-allow-methods': 'GET' }).end();
      return;
    }
    if (req.method !== 'GET') {
      res
        .writeHead(405, { ...headers, allow: 'GET' })
        .end(JSON.stringify({ error: 'method not allowed; use GET' }));
      return;
    }
    let body: unknown;
    if (path === '/health') body = relay.health();
    else if (path === '/topology') body = relay.topology();
    else if (path === '/peers') {
      const peers = relay.peers();
      body = { peers, count: peers.length };
    } else {
      res
        .writeHead(404, headers)
        .end(JSON.stringify({ error: `no route ${path}; try /health, /topology, /peers` }));
      return;
    }
    res.writeHead(200, headers).end(JSON.stringify(body));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => resolve());
  });
  return {
    server,
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      })
  };
}
