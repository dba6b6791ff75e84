/**
 * The scout page on an emulated phone: the device counts as mobile (smaller duty cycle, one
 * session at a time) and the page fits the screen.
 */
import { devices, expect, test } from '@playwright/test';
import { mkdirSync } from 'node:fs';
import { serveApp, type ServedApp } from './helpers/serve.js';

const { defaultBrowserType: _browser, ...pixel } = devices['Pixel 7'];
test.use(pixel);

let app: ServedApp;

test.beforeAll(async () => {
  mkdirSync('tests/artifacts', { recursive: true });
  app = await serveApp();
});

test.afterAll(async () => {
  await app?.close();
});

test('a phone is detected as mobile and drafts at a smaller duty cycle', async ({ page }) => {
  await page.goto(`${app.url}/scout`);
  await expect(page.getByTestId('device-kind')).toHaveText(/^Mobile \(mobile browser/);
  await expect(page.getByTestId('duty-cycle')).toHaveText('50% of the time');
  const overflowing = await page.evaluate(() =>
    [...document.querySelectorAll('body *')]
      .filter((el) => el.getBoundingClientRect().right > window.innerWidth + 0.5)
      .map((el) => el.tagName.toLowerCase())
  );
  expect(overflowing).toEqual([]);
  await page.screenshot({ path: 'tests/artifacts/scout-phone.png', fullPage: true });
});
