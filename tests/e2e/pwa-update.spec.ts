/**
 * Service worker updates: when a new version of the app is deployed, an open page is told that
 * it is ready, and accepting it reloads the page under the new worker.
 */
import { expect, test } from '@playwright/test';
import { appendFileSync, cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { serveApp, type ServedApp } from './helpers/serve.js';

let app: ServedApp;
let dir: string;

test.beforeAll(async () => {
  // A private copy of build/ that this test can "redeploy".
  dir = mkdtempSync(join(tmpdir(), 'shard-build-'));
  cpSync(resolve('build'), dir, { recursive: true });
  app = await serveApp({ staticDir: dir });
});

test.afterAll(async () => {
  await app?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('a deployed update is announced and applied on request', async ({ page }) => {
  await page.goto(`${app.url}/`);
  await page.waitForFunction(() => navigator.serviceWorker.controller !== null);
  const firstWorker = await page.evaluate(() => navigator.serviceWorker.controller!.scriptURL);
  await expect(page.getByText('A new version of Shard is ready.')).toHaveCount(0);

  // Deploy: any byte change to the worker script is a new version.
  appendFileSync(join(dir, 'service-worker.js'), `\n// redeployed ${Date.now()}\n`);
  await page.evaluate(async () => {
    const registration = await navigator.serviceWorker.getRegistration();
    await registration!.update();
  });
  const banner = page.getByRole('status').filter({ hasText: 'A new version of Shard is ready.' });
  await expect(banner).toBeVisible();

  await Promise.all([
    page.waitForEvent('load'),
    banner.getByRole('button', { name: 'Reload to update' }).click()
  ]);
  await page.waitForFunction(() => navigator.serviceWorker.controller !== null);
  await expect(page.getByText('A new version of Shard is ready.')).toHaveCount(0);
  const state = await page.evaluate(async () => {
    const registration = await navigator.serviceWorker.getRegistration();
    return {
      hasWaiting: registration!.waiting !== null,
      script: navigator.serviceWorker.controller!.scriptURL
    };
  });
  expect(state).toEqual({ hasWaiting: false, script: firstWorker });
});
