/**
 * Serves the generated model files read-only at `GET /models/<name>.gguf` so browser scouts can
 * download the draft model from the oracle's origin. Only plain `*.gguf` names that exist inside
 * the models dir are served (no path traversal, symlinks must stay inside the dir); single-range
 * `Range` requests get 206 so downloads can resume.
 */
import { createReadStream, realpathSync, statSync } from 'node:fs';
import { join, resolve, sep } from 'node:path';
import { BadRequestError, HttpError, NotFoundError } from './errors.js';
import type { Router } from './router.js';

const MODEL_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,200}\.gguf$/;

/** Parses a `Range` header against a file size: a byte span, "unsatisfiable", or undefined (ignore). */
export function parseRange(
  header: string | undefined,
  size: number
): { start: number; end: number } | 'unsatisfiable' | undefined {
  if (!header) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  // Multiple ranges or other units: RFC 9110 allows ignoring Range and sending the whole file.
  if (!m || (m[1] === '' && m[2] === '')) return undefined;
  let start: number;
  let end: number;
  if (m[1] === '') {
    const suffix = Number(m[2]);
    if (suffix === 0) return 'unsatisfiable';
    start = Math.max(0, size - suffix);
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
    if (m[2] !== '' && Number(m[2]) < start) return undefined;
  }
  if (start >= size || size === 0) return 'unsatisfiable';
  return { start, end };
}

/** Registers `GET|HEAD /models/:name` serving files from `modelsDir`. */
export function registerModelFileRoutes(router: Router, options: { modelsDir: string }): void {
  const base = resolve(options.modelsDir);
  router.add({
    method: 'GET',
    path: '/models/:name',
    isProtected: false,
    handler: (ctx) => {
      const name = ctx.params.name!;
      if (!MODEL_NAME.test(name) || name.includes('..')) {
        throw new BadRequestError(
          `invalid model file name "${name.slice(0, 80)}": expected <name>.gguf with letters, digits, '.', '_' or '-'`,
          'invalid_model_name'
        );
      }
      let file: string;
      let size: number;
      let mtimeMs: number;
      try {
        const realBase = realpathSync(base);
        file = realpathSync(join(base, name));
        if (!file.startsWith(realBase + sep)) throw new Error('outside models dir');
        const st = statSync(file);
        if (!st.isFile()) throw new Error('not a file');
        size = st.size;
        mtimeMs = st.mtimeMs;
      } catch {
        throw new NotFoundError(`model file not found: ${name} (run \`npm run models\`)`);
      }
      const etag = `"${size.toString(16)}-${Math.floor(mtimeMs).toString(16)}"`;
      const common: Record<string, string> = {
        'accept-ranges': 'bytes',
        'content-type': 'application/octet-stream',
        'cache-control': 'no-cache',
        etag,
        'last-modified': new Date(mtimeMs).toUTCString()
      };
      const { req, res } = ctx;
      if (req.headers['if-none-match'] === etag) {
        res.writeHead(304, common);
        res.end();
        return;
      }
      const range = parseRange(req.headers.range, size);
      if (range === 'unsatisfiable') {
        throw new HttpError(
          `range not satisfiable: the file is ${size} bytes`,
          416,
          'range_not_satisfiable',
          { 'content-range': `bytes */${size}` }
        );
      }
      const start = range?.start ?? 0;
      const end = range?.end ?? size - 1;
      const headers: Record<string, string> = {
        ...common,
        'content-length': String(size === 0 ? 0 : end - start + 1)
      };
      if (range) headers['content-range'] = `bytes ${start}-${end}/${size}`;
      res.writeHead(range ? 206 : 200, headers);
      if (req.method === 'HEAD' || size === 0) {
        res.end();
        return;
      }
      const stream = createReadStream(file, { start, end });
      stream.on('error', () => res.destroy());
      ctx.signal.addEventListener('abort', () => stream.destroy(), { once: true });
      stream.pipe(res);
      return new Promise<void>((done) => res.on('close', () => done()));
    }
  });
}
