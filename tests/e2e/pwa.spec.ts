/**
 * The built PWA in Debian's Chromium: it loads, its service worker takes control, a reload while
 * offline still shows the app shell, and the manifest and icons make it installable.
 */
import { chromium, expect, test, type Page } from '@playwright/test';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serveApp, type ServedApp } from './helpers/serve.js';

const ARTIFACTS = 'tests/artifacts';
let app: ServedApp;

test.beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  app = await serveApp();
});

test.afterAll(async () => {
  await app?.close();
});

/** Resolves once a service worker controls the page (after clients.claim()). */
async function waitForControl(page: Page): Promise<void> {
  await page.waitForFunction(() => navigator.serviceWorker.controller !== null, undefined, {
    timeout: 30_000
  });
}

/** Width and height from a PNG's IHDR chunk. */
function pngSize(bytes: Buffer): { width: number; height: number } {
  expect(bytes.subarray(1, 4).toString('ascii')).toBe('PNG');
  return { width: bytes.readUInt32BE(16), height: bytes.readUInt32BE(20) };
}

test('the app shell loads, is controlled by the service worker and reloads offline', async ({
  context,
  page
}) => {
  await page.goto(`${app.url}/`);
  await expect(page.getByRole('heading', { level: 1 })).toContainText(
    'Run language models together'
  );
  await expect(page.getByRole('navigation', { name: 'Main' }).getByRole('link')).toHaveText([
    'Home',
    'Chat',
    'Network',
    'Scout',
    'Provenance'
  ]);
  expect(await page.evaluate(() => crossOriginIsolated)).toBe(true);

  await waitForControl(page);
  await expect(page.getByTestId('net-state')).toContainText('Works offline');

  await context.setOffline(true);
  await page.reload();
  await expect(page.getByRole('heading', { level: 1 })).toContainText(
    'Run language models together'
  );
  await expect(page.getByTestId('net-state')).toContainText('Offline');
  // A client-side route that was never visited also opens offline from the cached shell.
  await page.goto(`${app.url}/scout`);
  await expect(page.getByRole('heading', { level: 1, name: 'Scout' })).toBeVisible();
  await context.setOffline(false);
});

test('offline, a route never visited and not precached opens from the cached shell (navigation fallback)', async ({
  context,
  page
}) => {
  await page.goto(`${app.url}/`);
  await waitForControl(page);
  // Neither URL is in the precache: one has a query the precache does not ignore, the other is a
  // path with no page. Only the service worker's navigation fallback can answer them offline.
  const precached = await page.evaluate(async () => {
    const keys = await Promise.all(
      (await caches.keys()).map(async (name) =>
        (await (await caches.open(name)).keys()).map((r) => r.url)
      )
    );
    return keys.flat().map((u) => new URL(u).pathname + new URL(u).search);
  });
  expect(precached).not.toContain('/provenance?execution_id=exec-never-seen');
  expect(precached.some((u) => u.startsWith('/no-such-page'))).toBe(false);

  await context.setOffline(true);
  try {
    await page.goto(`${app.url}/provenance?execution_id=exec-never-seen`);
    await expect(page.getByRole('heading', { level: 1, name: 'Provenance' })).toBeVisible();
    await page.goto(`${app.url}/no-such-page`);
    // The shell's layout renders the client-side "not found" page, not the browser's offline error.
    await expect(page.getByRole('navigation', { name: 'Main' })).toBeVisible();
    await expect(page.getByText('404')).toBeVisible();
  } finally {
    await context.setOffline(false);
  }
});

test('the oracle health card reports what /health says', async ({ page }) => {
  await page.goto(`${app.url}/`);
  const health = (await (await page.request.get(`${app.url}/health`)).json()) as {
    status: string;
  };
  // Served without an engine, the oracle is degraded and the card must show it.
  expect(health.status).toBe('degraded');
  await expect(page.getByTestId('oracle-status')).toHaveText('degraded');
});

test('the manifest and icons make the app installable', async ({ page }) => {
  await page.goto(`${app.url}/`);
  const manifestHref = await page.locator('link[rel="manifest"]').getAttribute('href');
  expect(manifestHref).toBeTruthy();
  const res = await page.request.get(new URL(manifestHref!, app.url).href);
  expect(res.ok()).toBe(true);
  expect(res.headers()['content-type']).toContain('application/manifest+json');
  const manifest = (await res.json()) as {
    name: string;
    short_name: string;
    start_url: string;
    scope: string;
    display: string;
    theme_color: string;
    background_color: string;
    icons: { src: string; sizes: string; type: string; purpose?: string }[];
  };
  expect(manifest).toMatchObject({
    short_name: 'Shard',
    start_url: '/',
    scope: '/',
    display: 'standalone'
  });
  expect(manifest.name).toContain('Shard');
  expect(manifest.theme_color).toMatch(/^#[0-9a-f]{6}$/i);
  expect(manifest.background_color).toMatch(/^#[0-9a-f]{6}$/i);

  for (const size of [192, 512]) {
    for (const purpose of ['any', 'maskable']) {
      const icon = manifest.icons.find(
        (i) => i.sizes === `${size}x${size}` && (i.purpose ?? 'any') === purpose
      );
      expect(icon, `${purpose} icon ${size}x${size}`).toBeDefined();
      const png = await page.request.get(new URL(icon!.src, app.url).href);
      expect(png.headers()['content-type']).toBe('image/png');
      expect(pngSize(await png.body())).toEqual({ width: size, height: size });
    }
  }
  const touchHref = await page.locator('link[rel="apple-touch-icon"]').getAttribute('href');
  const touch = await page.request.get(new URL(touchHref!, app.url).href);
  expect(pngSize(await touch.body())).toEqual({ width: 180, height: 180 });
  await expect(page.locator('meta[name="theme-color"]')).toHaveAttribute(
    'content',
    manifest.theme_color
  );
  await expect(page.locator('meta[name="viewport"]')).toHaveAttribute(
    'content',
    /width=device-width/
  );
});

test('Chromium itself finds the app installable', async () => {
  // Incognito contexts are never installable, so this check runs in a persistent profile.
  const profile = mkdtempSync(join(tmpdir(), 'shard-e2e-profile-'));
  const context = await chromium.launchPersistentContext(profile, {
    ...test.info().project.use.launchOptions
  });
  try {
    const page = await context.newPage();
    await page.goto(`${app.url}/`);
    await waitForControl(page);
    const cdp = await context.newCDPSession(page);
    const { installabilityErrors } = (await cdp.send('Page.getInstallabilityErrors')) as {
      installabilityErrors: { errorId: string }[];
    };
    expect(installabilityErrors.map((e) => e.errorId)).toEqual([]);
  } finally {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  }
});

test('screenshots at desktop and phone sizes, with no horizontal overflow on the phone', async ({
  page
}) => {
  await page.setViewportSize({ width: 1280, height: 800 });
  await page.goto(`${app.url}/`);
  await expect(page.getByTestId('oracle-status')).toBeVisible();
  await page.screenshot({ path: `${ARTIFACTS}/home-desktop.png`, fullPage: true });

  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto(`${app.url}/`);
  await expect(page.getByTestId('oracle-status')).toBeVisible();
  const overflow = await page.evaluate(
    () => document.documentElement.scrollWidth - window.innerWidth
  );
  expect(overflow).toBeLessThanOrEqual(0);
  await expect(page.getByRole('link', { name: 'Become a scout' })).toBeInViewport();
  await page.screenshot({ path: `${ARTIFACTS}/home-mobile.png`, fullPage: true });
});
