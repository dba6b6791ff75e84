/**
 * Issue #10, model files: a generated model whose tensor data was corrupted (same length, so the
 * GGUF structure still parses) must not load, and the error names the file; a user model is
 * checked against the sha256 the operator gives. Real llama.cpp on the generated models.
 */
import {
  copyFileSync,
  mkdtempSync,
  openSync,
  rmSync,
  statSync,
  writeSync,
  closeSync
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModel } from '../../native-oracle/engine/load-model.js';
import { sha256File, verifyModelFile } from '../../native-oracle/models/index.js';
import { ensureTestModels } from '../helpers/models.js';

let dir: string;
let goodTarget: string;
beforeAll(async () => {
  const models = await ensureTestModels();
  goodTarget = models.targetPath;
  dir = mkdtempSync(join(tmpdir(), 'shard-model-integrity-'));
  copyFileSync(models.targetPath, join(dir, 'target.gguf'));
  copyFileSync(models.draftPath, join(dir, 'draft.gguf'));
  copyFileSync(join(models.targetPath, '..', 'models.json'), join(dir, 'models.json'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Overwrites 4 KiB near the end of the file (inside the last tensor's data). */
function corruptTensorData(path: string): void {
  const fd = openSync(path, 'r+');
  writeSync(fd, Buffer.alloc(4096, 0x7f), 0, 4096, statSync(path).size - 8192);
  closeSync(fd);
}

describe('model integrity', () => {
  it('loads an intact generated model (checked against its manifest)', async () => {
    const loaded = await loadModel({
      modelPath: join(dir, 'draft.gguf'),
      threads: 1,
      contextSize: 128,
      sequences: 1
    });
    await loaded.context.dispose();
    await loaded.model.dispose();
    await loaded.llama.dispose();
  });

  it('refuses a generated model whose weights were corrupted, naming the file', async () => {
    const path = join(dir, 'target.gguf');
    corruptTensorData(path);
    const load = loadModel({ modelPath: path, threads: 1, contextSize: 128, sequences: 1 });
    await expect(load).rejects.toMatchObject({ name: 'ModelLoadError' });
    await expect(
      loadModel({ modelPath: path, threads: 1, contextSize: 128, sequences: 1 })
    ).rejects.toThrow(new RegExp(`${path} is corrupt.*expected .*models\\.json`));
  });

  it('checks a user model against the sha256 given for it', async () => {
    const actual = await sha256File(goodTarget);
    await expect(verifyModelFile({ path: goodTarget, expectedSha256: actual })).resolves.toBe(
      undefined
    );
    await expect(
      verifyModelFile({ path: goodTarget, expectedSha256: '0'.repeat(64) })
    ).rejects.toMatchObject({
      name: 'ModelIntegrityError',
      message: expect.stringContaining(goodTarget)
    });
  });
});
