/**
 * The relay's small read-only HTTP API: GET /health, /topology (listen addresses for browser
 * auto-discovery) and /peers.
 *
 * /health and /topology are CORS-open and CORP cross-origin, because the PWA reads /topology
 * from another origin while cross-origin isolated; they name no other peer. /peers lists the
 * connected peers: it sends no CORS header (a web page on another origin cannot read it), and it
 * shows each peer's IP address and port only to a caller that presents the admin key
 * (`Authorization: Bearer <key>` or `X-Admin-Key: <key>`); without a configured key it never
 * shows them.
 */
import { timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Relay } from './index.js';

export interface RelayHttp {
  readonly server: Server;
  /** The bound port (useful with port 0). */
  readonly port: number;
  close(): Promise<void>;
}

export interface RelayHttpOptions {
  host: string;
  /** Port 0 = any free port. */
  port: number;
  /** Key that unlocks peer addresses on /peers; default none (addresses never shown). */
  adminKey?: string | null;
}

const JSON_HEADERS = { 'content-type': 'application/json', 'cache-control': 'no-store' };
const OPEN_HEADERS = {
  ...JSON_HEADERS,
  'access-control-allow-origin': '*',
  'cross-origin-resource-policy': 'cross-origin'
};

/** The key a request presents, from `Authorization: Bearer` or `X-Admin-Key`; null when none. */
function presentedKey(req: IncomingMessage): string | null {
  const auth = req.headers.authorization;
  if (auth?.toLowerCase().startsWith('bearer ')) return auth.slice(7).trim();
  const header = req.headers['x-admin-key'];
  return typeof header === 'string' ? header.trim() : null;
}

function isKeyEqual(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Starts the HTTP API on `host:port`. */
export async function startRelayHttp(relay: Relay, opts: RelayHttpOptions): Promise<RelayHttp> {
  const adminKey = opts.adminKey || null;
  const server = createServer((req, res) => {
    let path: string;
    try {
      path = new URL(req.url ?? '/', 'http://relay').pathname;
    } catch {
      // A request target that is no URL (`GET //[`) threw out of this handler and took the
      // whole relay down (found by tests/unit/fuzz-worker.test.ts, issue #10).
      res.writeHead(400, JSON_HEADERS).end(JSON.stringify({ error: 'malformed request target' }));
      return;
    }
    const isOpen = path === '/health' || path === '/topology';
    const headers = isOpen ? OPEN_HEADERS : JSON_HEADERS;
    const send = (status: number, body: unknown, extra: Record<string, string> = {}) =>
      res.writeHead(status, { ...headers, ...extra }).end(JSON.stringify(body));
    if (req.method === 'OPTIONS') {
      res
        .writeHead(204, isOpen ? { ...headers, 'access-control-allow-methods': 'GET' } : headers)
        .end();
      return;
    }
    if (req.method !== 'GET') {
      send(405, { error: 'method not allowed; use GET' }, { allow: 'GET' });
      return;
    }
    if (path === '/health') send(200, relay.health());
    else if (path === '/topology') send(200, relay.topology());
    else if (path === '/peers') {
      const key = presentedKey(req);
      if (key !== null && (adminKey === null || !isKeyEqual(key, adminKey))) {
        send(401, { error: 'wrong admin key (set with --admin-key / SHARD_RELAY_ADMIN_KEY)' });
        return;
      }
      const isAdmin = key !== null;
      const peers = relay
        .peers()
        .map(({ addrs, ...peer }) => (isAdmin ? { ...peer, addrs } : peer));
      send(200, { peers, count: peers.length, addresses_shown: isAdmin });
    } else send(404, { error: `no route ${path}; try /health, /topology, /peers` });
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
