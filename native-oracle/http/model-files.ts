/**
 * Serves the generated model files read-only at `GET /models/<name>.gguf` so browser scouts can
 * download the draft model from the oracle's origin. Only plain `*.gguf` names that exist inside
 * the models dir are served (no path traversal, symlinks must stay inside the dir); single-range
 * `Range` requests get 206 so downloads can resume.
 */
import { createReadStream, realpathSync, statSync } from 'node:fs';
import { join, resolve, sep } from 'node:path';
import { Readable } from 'node:stream';
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

/** Registers `GET|HEAD /models/:name` serving files from `modelsDir`; the route is open. */
export function registerModelFileRoutes(router: Router, options: { modelsDir: string }): void {
  const base = resolve(options.modelsDir);
  router.get('/models/:name', (c) => {
    const name = c.req.param('name');
    const { file, size, mtimeMs } = locateModelFile(base, name);
    const etag = `"${size.toString(16)}-${Math.floor(mtimeMs).toString(16)}"`;
    const common: Record<string, string> = {
      'accept-ranges': 'bytes',
      'content-type': 'application/octet-stream',
      'cache-control': 'no-cache',
      etag,
      'last-modified': new Date(mtimeMs).toUTCString()
    };
    if (c.req.header('if-none-match') === etag) {
      return new Response(null, { status: 304, headers: common });
    }
    const range = parseRange(c.req.header('range'), size);
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
    const status = range ? 206 : 200;
    // HEAD and empty files: no stream is opened (an unread one would hold a file descriptor).
    if (c.req.method === 'HEAD' || size === 0) return new Response(null, { status, headers });
    // The adapter cancels the stream (closing the file) when the client goes away.
    const body = Readable.toWeb(createReadStream(file, { start, end })) as ReadableStream;
    return new Response(body, { status, headers });
  });
}

/**
 * Resolves `name` to a regular file inside `base`. Throws BadRequestError for a name that is
 * not a plain `*.gguf` name, NotFoundError when no such file is inside the dir (symlinks that
 * leave it count as absent).
 */
function locateModelFile(
  base: string,
  name: string
): { file: string; size: number; mtimeMs: number } {
  if (!MODEL_NAME.test(name) || name.includes('..')) {
    throw new BadRequestError(
      `invalid model file name "${name.slice(0, 80)}": expected <name>.gguf with letters, digits, '.', '_' or '-'`,
      'invalid_model_name'
    );
  }
  try {
    const realBase = realpathSync(base);
    const file = realpathSync(join(base, name));
    if (!file.startsWith(realBase + sep)) throw new Error('outside models dir');
    const st = statSync(file);
    if (!st.isFile()) throw new Error('not a file');
    return { file, size: st.size, mtimeMs: st.mtimeMs };
  } catch {
    throw new NotFoundError(`model file not found: ${name} (run \`npm run models\`)`);
  }
}
