/**
 * Downloads a model file with progress. The request goes through the service worker, which
 * keeps /models/*.gguf cache-first, so a returning scout loads its model without the network.
 */

/** The model could not be downloaded (network, HTTP status, or aborted). */
export class ModelDownloadError extends Error {
  override name = 'ModelDownloadError';
}

export interface DownloadProgress {
  loadedBytes: number;
  /** null when the server sent no length. */
  totalBytes: number | null;
}

/**
 * Fetches `url` into a Blob, reporting progress at most every PROGRESS_STEP_BYTES.
 * Throws ModelDownloadError with a plain-words message; honours `signal`.
 */
export async function downloadModel(
  url: string,
  options: { onProgress?(p: DownloadProgress): void; signal?: AbortSignal } = {}
): Promise<Blob> {
  const PROGRESS_STEP_BYTES = 256 * 1024;
  let res: Response;
  try {
    res = await fetch(url, { signal: options.signal });
  } catch (cause) {
    throw new ModelDownloadError(
      `the model at ${url} could not be fetched (offline or the oracle is down)`,
      { cause }
    );
  }
  if (!res.ok || !res.body) {
    throw new ModelDownloadError(`the model at ${url} answered HTTP ${res.status}`);
  }
  const lengthHeader = res.headers.get('content-length');
  const totalBytes = lengthHeader ? Number(lengthHeader) : null;
  const chunks: Uint8Array[] = [];
  let loadedBytes = 0;
  let reportedAt = 0;
  const reader = res.body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      loadedBytes += value.byteLength;
      if (loadedBytes - reportedAt >= PROGRESS_STEP_BYTES) {
        reportedAt = loadedBytes;
        options.onProgress?.({ loadedBytes, totalBytes });
      }
    }
  } catch (cause) {
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
  options.onProgress?.({ loadedBytes, totalBytes: totalBytes ?? loadedBytes });
  return new Blob(chunks as BlobPart[], { type: 'application/octet-stream' });
}
