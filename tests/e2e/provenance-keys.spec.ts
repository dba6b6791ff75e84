/**
 * Signer pinning on /provenance with a real key change: the oracle CLI runs a brief, is stopped,
 * has its receipt key rotated (`--rotate-receipt-key`, what an operator does, and what an
 * impostor at the same address would look like to the browser), and is started again at the same
 * origin. The page must warn, keep verifying earlier receipts with the pinned key, refuse to trust
 * receipts of the new key until the user accepts it, and trust them after.
 */
import { expect, test } from '@playwright/test';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  freePort,
  rotateReceiptKey,
  startOracleAt,
  type RunningOracle
} from './helpers/provenance-keys.js';

const ARTIFACTS = 'tests/artifacts';
let dataDir: string;
let oracle: RunningOracle | null = null;

test.beforeAll(() => {
  mkdirSync(ARTIFACTS, { recursive: true });
  dataDir = mkdtempSync(join(tmpdir(), 'shard-keys-e2e-'));
});

test.afterAll(async () => {
  await oracle?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

test('a changed oracle signing key is flagged; its receipts are not trusted until accepted', async ({
  page
}) => {
  const port = await freePort();
  oracle = await startOracleAt(dataDir, port);
  const url = oracle.url;
  await page.goto(`${url}/provenance`);
  await page.getByTestId('submit').click();
  await expect(page.getByTestId('status')).toHaveText('completed', { timeout: 60_000 });
  const firstId = new URL(page.url()).searchParams.get('execution_id')!;
  await expect(page.getByTestId('verification')).toHaveClass(/\bok\b/);
  await expect(page.getByTestId('signer-warning')).toHaveCount(0);

  await oracle.stop();
  const newKey = await rotateReceiptKey(dataDir);
  oracle = await startOracleAt(dataDir, port);
  expect(oracle.url).toBe(url);

  // The earlier execution still verifies, with the key pinned on the first visit...
  await page.goto(`${url}/provenance?execution_id=${encodeURIComponent(firstId)}`);
  const warning = page.getByTestId('signer-warning');
  await expect(warning).toContainText("The oracle's signing key changed.");
  await expect(warning).toContainText(newKey.slice(0, 8));
  await expect(page.getByTestId('signer-key')).toHaveAttribute('data-pin', 'changed');
  await expect(page.getByTestId('verification')).toHaveClass(/\bok\b/);

  // ...but a brief signed by the new key is not trusted.
  await page.getByTestId('submit').click();
  await expect(page.getByTestId('status')).toHaveText('completed', { timeout: 60_000 });
  const verification = page.getByTestId('verification');
  await expect(verification).toContainText('Verification FAILED at receipt #0');
  await expect(verification).toContainText('untrusted_signer');
  await expect(verification).toHaveClass(/\bbad\b/);
  await page.setViewportSize({ width: 1280, height: 800 });
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: `${ARTIFACTS}/provenance-key-changed.png`, fullPage: true });

  // The user accepts the new key: the warning goes and the new receipts verify.
  await warning.getByTestId('accept-key').click();
  await expect(warning).toHaveCount(0);
  await expect(verification).toHaveClass(/\bok\b/);
  await expect(page.getByTestId('signer-key')).toHaveAttribute('data-pin', 'match');
});
