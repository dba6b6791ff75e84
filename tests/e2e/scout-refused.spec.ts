/**
 * A scout whose draft vocabulary differs from the oracle's target is refused at the handshake,
 * and the page says so in plain words (the oracle's reason), instead of drafting uselessly.
 */
import { expect, test } from '@playwright/test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureTestModels } from '../helpers/models.js';
import { copyWithCorruptToken } from './helpers/corrupt-token.js';
import { startMeshStack, type MeshStack } from './helpers/stack.js';

let stack: MeshStack;
let dir: string;

test.beforeAll(async () => {
  const models = await ensureTestModels();
  dir = mkdtempSync(join(tmpdir(), 'shard-refused-'));
  const draftPath = join(dir, 'draft.gguf');
  // One changed token in the draft only: a different vocabulary, a different fingerprint.
  copyWithCorruptToken(models.draftPath, draftPath, 500);
  stack = await startMeshStack({ models: { targetPath: models.targetPath, draftPath } });
});

test.afterAll(async () => {
  await stack?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('a draft model with another vocabulary is refused and the page says why', async ({ page }) => {
  await page.goto(`${stack.url}/scout`);
  await expect(page.getByTestId('scout-role')).toHaveText(/This tab is the scout/);
  const override = page.getByTestId('double-dip').getByRole('checkbox');
  if ((await override.count()) > 0) await override.check();
  await page.getByTestId('scout-toggle').click();
  await expect(page.getByTestId('scout-log')).toContainText(
    'different vocabulary than the oracle',
    {
      timeout: 60_000
    }
  );
  await expect(page.getByTestId('scout-log')).toContainText(
    /refused this scout: draft tokenizer \w+ differs/,
    {
      timeout: 60_000
    }
  );
  await expect(page.getByTestId('conn-oracles')).toContainText('0 accepted');
  expect(stack.mesh.scoutCount()).toBe(0);
});
