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
  // Diagnosed: the page did start here, but crypto.randomUUID (secure contexts only) threw while
  // /chat hydrated (a blank page) and on /scout (the leader election); Web Locks are missing too.
  test('every page says it is not a secure context, what breaks and how to fix it', async ({
    page
  }) => {
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    const port = new URL(stack.url).port;
    for (const path of ['/', '/chat', '/network', '/scout', '/provenance']) {
      await page.goto(`http://oracle.test:${port}${path}`);
      expect(await page.evaluate(() => window.isSecureContext)).toBe(false);
      const banner = page.getByTestId('insecure-context');
      await expect(banner).toContainText('not a secure context');
      await expect(banner).toContainText('service worker');
      await expect(banner).toContainText('HTTPS');
      await expect(banner).toContainText('crypto.randomUUID');
      await expect(banner).toContainText('Phones on your LAN');
      await expect(page.getByRole('heading', { level: 1 })).toBeVisible();
    }
    // Scouting says plainly that it cannot run here; chat still works.
    await page.goto(`http://oracle.test:${port}/scout`);
    await expect(page.getByTestId('scout-error')).toContainText('not a secure context');
    await page.goto(`http://oracle.test:${port}/chat`);
    await page.getByLabel('Message', { exact: true }).fill('Tell me about the river.');
    await page.getByTestId('send').click();
    await page.getByTestId('api-key-input').fill(KEY);
    await page.getByTestId('api-key-save').click();
    await page.getByLabel('Message', { exact: true }).fill('Tell me about the river.');
    await page.getByTestId('send').click();
    await expect(page.getByTestId('turn-assistant').last().getByTestId('stat-mode')).toBeVisible({
      timeout: 30_000
    });
    expect(errors).toEqual([]);
  });

  test('the home page shows the address to open on a phone, with its QR code', async ({ page }) => {
    const port = new URL(stack.url).port;
    const expected = `http://oracle.test:${port}/`;
    await page.goto(`http://oracle.test:${port}/`);
    await expect(page.getByTestId('phone-url')).toHaveText(expected);
    const qr = page.getByTestId('phone-qr');
    await expect(qr).toHaveAttribute('data-url', expected);
    await expect(qr).toHaveAttribute('aria-label', `QR code for ${expected}`);
    // A drawn code: an SVG with its modules as a path of many segments, laid out at a real size.
    const path = await qr.locator('svg path').last().getAttribute('d');
    expect(path?.length ?? 0).toBeGreaterThan(200);
    expect((await qr.locator('svg').boundingBox())?.width ?? 0).toBeGreaterThan(50);
    await expect(page.getByTestId('phone-not-https')).toContainText('--tls-cert');

    // Opened as localhost there is nothing a phone could open: the page says what to do instead.
    await page.goto(`${stack.url.replace('127.0.0.1', 'localhost')}/`);
    await expect(page.getByTestId('phone-loopback')).toContainText('--host 0.0.0.0');
    await expect(page.getByTestId('phone-qr')).toHaveCount(0);
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

test.describe('with the key entered once, every page reaches the keyed oracle', () => {
  /** Enters the key through the header's button, the way a user who has one would. */
  async function enterKey(page: import('@playwright/test').Page): Promise<void> {
    await page.goto(`${stack.url}/`);
    await page.getByRole('button', { name: 'API key' }).click();
    await page.getByTestId('api-key-input').fill(KEY);
    await page.getByTestId('api-key-save').click();
  }

  test('/network shows the health and the peers (sent with the key)', async ({ page }) => {
    await enterKey(page);
    const peers = page.waitForResponse((r) => r.url().endsWith('/v1/system/peers'));
    await page.goto(`${stack.url}/network`);
    const res = await peers;
    expect(res.request().headers()['authorization']).toBe(`Bearer ${KEY}`);
    expect(res.status()).toBe(200);
    await expect(page.getByTestId('network-oracle-status')).toHaveText('ok');
    await expect(page.getByTestId('network-peers')).toBeVisible();
    await expect(page.getByTestId('network-peers').getByRole('alert')).toHaveCount(0);
    await expect(page.getByTestId('api-key-dialog')).toHaveCount(0);
  });

  test('/provenance runs a brief and streams its receipts (the stream carries the key)', async ({
    page
  }) => {
    await enterKey(page);
    await page.goto(`${stack.url}/provenance`);
    const form = page.getByTestId('task-form');
    await form.getByTestId('question').fill('Is green tea safe in the evening?');
    const sources = [
      ['tea-evening', 'Evening caffeine', 'Green tea has a third of the caffeine of coffee.'],
      ['tea-focus', 'Tea and attention', 'L-theanine helped sustained attention in a trial.']
    ];
    for (const [i, [id, title, content]] of sources.entries()) {
      await form.getByLabel('source id').nth(i).fill(id);
      await form.getByLabel('source title').nth(i).fill(title);
      await form.getByLabel('source content').nth(i).fill(content);
    }
    const events = page.waitForResponse((r) => /\/v1\/executions\/[^/]+\/events$/.test(r.url()));
    await form.getByTestId('submit').click();
    const res = await events;
    expect(res.request().headers()['authorization']).toBe(`Bearer ${KEY}`);
    expect(res.status()).toBe(200);
    await expect(page.getByTestId('status')).toHaveText(/completed|failed/, { timeout: 90_000 });
    expect(await page.getByTestId('receipts').locator('tbody tr').count()).toBeGreaterThan(1);
    await expect(page.getByTestId('api-key-dialog')).toHaveCount(0);
  });

  test('/scout downloads the draft model with the key (the oracle keeps it behind the key)', async ({
    page
  }) => {
    // This stack does not publish the draft with --public-models: without the key it is refused.
    expect((await fetch(`${stack.url}/models/draft.gguf`)).status).toBe(401);
    await enterKey(page);
    const model = page.context().waitForEvent('response', {
      predicate: (r) => r.url().endsWith('/models/draft.gguf'),
      timeout: 60_000
    });
    await page.goto(`${stack.url}/scout`);
    const override = page.getByTestId('double-dip').getByRole('checkbox');
    if ((await override.count()) > 0 && !(await override.isChecked())) await override.check();
    await page.getByTestId('scout-toggle').click();
    const res = await model;
    expect(res.request().headers()['authorization']).toBe(`Bearer ${KEY}`);
    expect(res.status()).toBe(200);
    await expect(page.getByTestId('scout-log')).toContainText(
      'Draft model loaded from the oracle',
      {
        timeout: 90_000
      }
    );
  });
});
