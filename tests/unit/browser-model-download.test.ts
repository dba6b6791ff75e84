/**
 * The scout's model download (workers/scout/browser/model-download.ts) against a real HTTP server
 * on loopback: a file over the size limit is refused from its declared length or cut off while
 * streaming, with a plain-words error; a file within the limit arrives whole with progress.
 * (Node has no Cache Storage, so this exercises the network path only; the e2e tests cover the
 * cached path in Chromium.)
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  downloadModel,
  ModelDownloadError,
  type DownloadProgress
} from '../../workers/scout/browser/model-download.js';

const MiB = 1024 * 1024;
let server: Server;
let base: string;

beforeAll(async () => {
  server = createServer((req, res) => {
    if (req.url === '/declared-huge.gguf') {
      // Declares 10 MiB but never sends it: the client must refuse on the header alone.
      res.writeHead(200, { 'content-length': String(10 * MiB) });
      res.write(Buffer.alloc(1024));
      return;
    }
    if (req.url === '/chunked-huge.gguf') {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      let sent = 0;
      const push = () => {
        if (res.destroyed || sent >= 8) return res.end();
        sent++;
        res.write(Buffer.alloc(512 * 1024), () => setImmediate(push));
      };
      push();
      return;
    }
    if (req.url === '/small.gguf') {
      const body = Buffer.alloc(300 * 1024, 7);
      res.writeHead(200, { 'content-length': String(body.length) });
      res.end(body);
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

describe('scout model download limits', () => {
  it('refuses a file whose declared length is over the limit, without reading it', async () => {
    const err = await downloadModel(`${base}/declared-huge.gguf`, { maxBytes: MiB }).catch(
      (e: unknown) => e
    );
    expect(err).toBeInstanceOf(ModelDownloadError);
    expect((err as Error).message).toMatch(
      /is 10\.0 MiB; a scout accepts draft models up to 1\.0 MiB/
    );
  });

  it('cuts off a stream without a length once it passes the limit', async () => {
    const err = await downloadModel(`${base}/chunked-huge.gguf`, { maxBytes: MiB }).catch(
      (e: unknown) => e
    );
    expect(err).toBeInstanceOf(ModelDownloadError);
    expect((err as Error).message).toMatch(/larger than the 1\.0 MiB a scout accepts/);
    // It stopped reading just past the limit, not after the whole 4 MiB stream.
    const read = Number(/stopped after (\d+) bytes/.exec((err as Error).message)?.[1]);
    expect(read).toBeGreaterThan(MiB);
    expect(read).toBeLessThan(2 * MiB);
  });

  it('downloads a file within the limit whole, reporting progress to the end', async () => {
    const progress: DownloadProgress[] = [];
    const { blob, isFromCache } = await downloadModel(`${base}/small.gguf`, {
      maxBytes: MiB,
      onProgress: (p) => progress.push(p)
    });
    expect(isFromCache).toBe(false);
    expect(blob.size).toBe(300 * 1024);
    expect(new Uint8Array(await blob.arrayBuffer())[1234]).toBe(7);
    expect(progress.at(-1)).toMatchObject({ loadedBytes: 300 * 1024, totalBytes: 300 * 1024 });
  });

  it('says plainly when the server answers with an error status', async () => {
    await expect(downloadModel(`${base}/missing.gguf`)).rejects.toThrow(/answered HTTP 404/);
  });
});
