/**
 * Serves the built PWA (adapter-static output in `build/`) from the oracle's origin, with
 * COOP/COEP so the page is cross-origin isolated (WASM threads), a no-cache service worker, and
 * an SPA fallback to index.html for client-side routes.
 */
import { createReadStream, existsSync, statSync } from 'node:fs';
import { extname, join, normalize, resolve, sep } from 'node:path';
import { Readable } from 'node:stream';

/** Headers that make every response usable from a cross-origin-isolated page. */
export const ISOLATION_HEADERS: Record<string, string> = {
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-embedder-policy': 'require-corp',
  'cross-origin-resource-policy': 'same-origin'
};

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.webmanifest': 'application/manifest+json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.wasm': 'application/wasm',
  '.gguf': 'application/octet-stream',
  '.txt': 'text/plain; charset=utf-8'
};

/**
 * Returns a function that answers GET/HEAD of a file under `root` (or the app shell for a
 * client-side route), or undefined when it has nothing to serve there.
 */
export function createStaticHandler(root: string) {
  const base = resolve(root);
  return function serveStatic(method: string, pathname: string): Response | undefined {
    if (method !== 'GET' && method !== 'HEAD') return undefined;
    if (!existsSync(base)) return undefined;
    let rel: string;
    try {
      rel = normalize(decodeURIComponent(pathname));
    } catch {
      return undefined;
    }
    let file = join(base, rel);
    if (!file.startsWith(base + sep) && file !== base) return undefined;
    if (existsSync(file) && statSync(file).isDirectory()) file = join(file, 'index.html');
    if (!existsSync(file) && existsSync(file + '.html')) file = file + '.html';
    if (!existsSync(file)) {
      // Client-side routes fall back to the app shell; asset-looking paths 404.
      if (extname(rel) !== '') return undefined;
      file = join(base, 'index.html');
      if (!existsSync(file)) return undefined;
    }
    const type = TYPES[extname(file)] ?? 'application/octet-stream';
    const isImmutable = file.includes(`${sep}_app${sep}immutable${sep}`);
    const headers: Record<string, string> = {
      ...ISOLATION_HEADERS,
      'content-type': type,
      'content-length': String(statSync(file).size),
      'cache-control': isImmutable ? 'public, max-age=31536000, immutable' : 'no-cache'
    };
    if (file.endsWith('service-worker.js')) headers['service-worker-allowed'] = '/';
    if (method === 'HEAD') return new Response(null, { status: 200, headers });
    // A file removed between stat and open errors the stream: the adapter drops the response.
    return new Response(Readable.toWeb(createReadStream(file)) as ReadableStream, {
      status: 200,
      headers
    });
  };
}
