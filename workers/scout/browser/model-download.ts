/**
 * Downloads a model file with progress and keeps it in Cache Storage (`MODEL_CACHE_NAME`), so a
 * returning scout loads its model without the network. The worker manages this cache itself:
 * a dedicated worker started before the service worker took control of the page is not
 * controlled by it, and the model must still be kept. The service worker serves the same cache
 * cache-first to any other client.
 */

/** Cache Storage name for model files; shared with the service worker. */
export const MODEL_CACHE_NAME = 'shard-models-v1';

/**
 * Largest draft model a scout accepts by default: 2 GiB. Draft models are small by design; a
 * larger file would only exhaust the tab's memory (the whole file is held in a Blob).
 */
export const DEFAULT_MAX_MODEL_BYTES = 2 * 1024 ** 3;

/** The model could not be downloaded (network, HTTP status, too large, or aborted). */
export class ModelDownloadError extends Error {
  override name = 'ModelDownloadError';
}

export interface DownloadProgress {
  loadedBytes: number;
  /** null when the server sent no length. */
  totalBytes: number | null;
  /** True when the bytes come from this device's cache. */
  isFromCache: boolean;
}

async function openModelCache(): Promise<Cache | null> {
  try {
    return 'caches' in globalThis ? await caches.open(MODEL_CACHE_NAME) : null;
  } catch {
    // Storage can be unavailable (private mode, quota); the model is then downloaded each time.
    return null;
  }
}

/**
 * Fetches `url` into a Blob, reporting progress at most every PROGRESS_STEP_BYTES.
 * Throws ModelDownloadError with a plain-words message; honours `signal`.
 */
export async function downloadModel(
  url: string,
  options: {
    onProgress?(p: DownloadProgress): void;
    signal?: AbortSignal;
    /** Refuse files larger than this; default DEFAULT_MAX_MODEL_BYTES. */
    maxBytes?: number;
    /** Request headers, e.g. the API key as `authorization: Bearer <key>`; default none. */
    headers?: Record<string, string>;
  } = {}
): Promise<{ blob: Blob; isFromCache: boolean }> {
  const cache = await openModelCache();
  const cached = await cache?.match(url).catch(() => undefined);
  if (cached) {
    try {
      return { blob: await readBody(url, cached, true, options), isFromCache: true };
    } catch {
      // A damaged cache entry: drop it and download again.
      await cache?.delete(url).catch(() => undefined);
    }
  }
  let res: Response;
  try {
    res = await fetch(url, { signal: options.signal, headers: options.headers });
  } catch (cause) {
    throw new ModelDownloadError(
      `the model at ${url} could not be fetched (offline or the oracle is down)`,
      { cause }
    );
  }
  if (!res.ok || !res.body) {
    throw new ModelDownloadError(
      res.status === 401
        ? `the oracle wants an API key for the model at ${url} (enter it with the "API key" button)`
        : `the model at ${url} answered HTTP ${res.status}`
    );
  }
  const blob = await readBody(url, res, false, options);
  if (cache && !(await cache.match(url).catch(() => undefined))) {
    const headers = {
      'content-type': 'application/octet-stream',
      'content-length': String(blob.size)
    };
    await cache.put(url, new Response(blob, { headers })).catch(() => undefined);
  }
  return { blob, isFromCache: false };
}

/** Reads a response body into a Blob, reporting progress at most every PROGRESS_STEP_BYTES. */
async function readBody(
  url: string,
  res: Response,
  isFromCache: boolean,
  options: { onProgress?(p: DownloadProgress): void; signal?: AbortSignal; maxBytes?: number }
): Promise<Blob> {
  const PROGRESS_STEP_BYTES = 256 * 1024;
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_MODEL_BYTES;
  const declaredTooLarge = (bytes: number) =>
    new ModelDownloadError(
      `the model at ${url} is ${formatMiB(bytes)}; a scout accepts draft models up to ${formatMiB(maxBytes)}`
    );
  if (!res.body) throw new ModelDownloadError(`the model at ${url} has no body`);
  const lengthHeader = res.headers.get('content-length');
  const totalBytes = lengthHeader ? Number(lengthHeader) : null;
  if (totalBytes !== null && totalBytes > maxBytes) {
    await res.body.cancel().catch(() => undefined);
    throw declaredTooLarge(totalBytes);
  }
  const chunks: Uint8Array[] = [];
  let loadedBytes = 0;
  let reportedAt = 0;
  const reader = res.body.getReader();
  try {
    for (;;) {
      options.signal?.throwIfAborted();
      const { done, value } = await reader.read();
      if (done) break;
      loadedBytes += value.byteLength;
      // A server that sent no length (or a wrong one) is cut off at the limit.
      if (loadedBytes > maxBytes) {
        await reader.cancel().catch(() => undefined);
        throw new ModelDownloadError(
          `the model at ${url} is larger than the ${formatMiB(maxBytes)} a scout accepts for a draft model (stopped after ${loadedBytes} bytes)`
        );
      }
      chunks.push(value);
      if (loadedBytes - reportedAt >= PROGRESS_STEP_BYTES) {
        reportedAt = loadedBytes;
        options.onProgress?.({ loadedBytes, totalBytes, isFromCache });
      }
    }
  } catch (cause) {
    if (cause instanceof ModelDownloadError) throw cause;
    throw new ModelDownloadError(
      `the model download from ${url} was interrupted after ${loadedBytes} bytes`,
      { cause }
    );
  }
  if (totalBytes !== null && loadedBytes !== totalBytes) {
    throw new ModelDownloadError(
      `the model download from ${url} ended at ${loadedBytes} of ${totalBytes} bytes`
    );
  }
  options.onProgress?.({ loadedBytes, totalBytes: totalBytes ?? loadedBytes, isFromCache });
  return new Blob(chunks as BlobPart[], { type: 'application/octet-stream' });
}

function formatMiB(bytes: number): string {
  return `${(bytes / 1024 ** 2).toFixed(1)} MiB`;
}
