/**
 * Model file integrity: the sha256 a model file must have, and the check, streamed with progress
 * (a multi-GB file takes a while to hash). Generated models carry their expected hash in the
 * manifest beside them (`models.json`, `bench-models.json`); other models get one from the
 * operator (`--model-sha256` / SHARD_MODEL_SHA256). Without an expected hash nothing is checked.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { createLogger } from '../../src/lib/server/log.js';

const log = createLogger('shard:oracle:models');

/** Log a progress line at most this often while hashing a large file. */
export const HASH_PROGRESS_INTERVAL_MS = 2_000;
/** Files smaller than this are hashed without progress lines (well under a second). */
const PROGRESS_MIN_BYTES = 256 * 1024 * 1024;

/** A model file does not have the sha256 it is expected to have. */
export class ModelIntegrityError extends Error {
  override name = 'ModelIntegrityError';
}

/** sha256 (hex) of a file, streamed; `onProgress(bytesRead, totalBytes)` as it goes. */
export async function sha256File(
  path: string,
  onProgress?: (bytesRead: number, totalBytes: number) => void
): Promise<string> {
  const total = onProgress ? (await stat(path)).size : 0;
  const hash = createHash('sha256');
  let read = 0;
  for await (const chunk of createReadStream(path, { highWaterMark: 1024 * 1024 })) {
    hash.update(chunk as Buffer);
    read += (chunk as Buffer).length;
    onProgress?.(read, total);
  }
  return hash.digest('hex');
}

/**
 * The sha256 a generated-models manifest beside `modelPath` lists for that file, with the
 * manifest's path; null when no manifest in the folder names the file.
 */
export async function manifestSha256For(
  modelPath: string
): Promise<{ sha256: string; manifestPath: string } | null> {
  const dir = dirname(modelPath);
  const file = basename(modelPath);
  const names = await readdir(dir).catch(() => [] as string[]);
  for (const name of names.filter((n) => n.endsWith('models.json'))) {
    const manifestPath = join(dir, name);
    let manifest: { target?: { file?: string; sha256?: string }; draft?: typeof manifest.target };
    try {
      manifest = JSON.parse(await readFile(manifestPath, 'utf8')) as typeof manifest;
    } catch {
      continue;
    }
    for (const info of [manifest.target, manifest.draft]) {
      if (info?.file === file && typeof info.sha256 === 'string')
        return { sha256: info.sha256.toLowerCase(), manifestPath };
    }
  }
  return null;
}

/** Verified files by path, size and mtime: a process loading the same file twice hashes it once. */
const verified = new Map<string, string>();

/**
 * Checks `path` against `expectedSha256` (hex), or when that is undefined against the manifest
 * beside it; does nothing when neither gives a hash. Logs progress for large files. Throws
 * ModelIntegrityError naming the file, both hashes and what to do.
 */
export async function verifyModelFile(options: {
  path: string;
  expectedSha256?: string | null;
}): Promise<void> {
  const fromManifest =
    options.expectedSha256 === undefined ? await manifestSha256For(options.path) : null;
  const expected = (options.expectedSha256 ?? fromManifest?.sha256)?.toLowerCase();
  if (!expected) return;
  const source = fromManifest ? fromManifest.manifestPath : '--model-sha256 / SHARD_MODEL_SHA256';
  const st = await stat(options.path);
  const cacheKey = `${options.path}\0${st.size}\0${st.mtimeMs}`;
  if (verified.get(cacheKey) === expected) return;
  const startedAt = Date.now();
  let lastLogAt = startedAt;
  const actual = await sha256File(options.path, (read, total) => {
    const now = Date.now();
    if (total < PROGRESS_MIN_BYTES || now - lastLogAt < HASH_PROGRESS_INTERVAL_MS) return;
    lastLogAt = now;
    log.info('checking model sha256', {
      file: options.path,
      percent: Math.floor((read / total) * 100),
      mib_read: Math.floor(read / 1048576),
      mib_total: Math.floor(total / 1048576)
    });
  });
  if (actual !== expected) {
    throw new ModelIntegrityError(
      `model file ${options.path} is corrupt or not the expected file: its sha256 is ${actual}, ` +
        `expected ${expected} (from ${source}). Regenerate it (npm run models) or download it ` +
        'again; if you replaced the model on purpose, give its sha256 with --model-sha256.'
    );
  }
  verified.set(cacheKey, expected);
  log.info('model sha256 verified', { file: options.path, ms: Date.now() - startedAt });
}
