/**
 * The network page against the browser-test mesh (a relay process and an oracle joined to it
 * over WebSockets), at laptop and phone sizes: it shows the oracle's health, the relay and the
 * peers the oracle knows with their role and link kind, a heartbeat with a measured round trip,
 * stops polling while hidden, and shows this browser's scout when a scout tab answers.
 */
import { expect, test, type Page } from '@playwright/test';
import { mkdirSync } from 'node:fs';
import { startMeshStack, type MeshStack } from './helpers/stack.js';
import { expectNoHorizontalOverflow, VIEWPORTS, type ViewportName } from './helpers/layout.js';

const ARTIFACTS = 'tests/artifacts';
/** NetworkMonitor's HEARTBEAT_MS and NETWORK_POLL_MS. */
const HEARTBEAT_MS = 2_000;
const POLL_MS = 5_000;

let stack: MeshStack;
let relayId: string;

test.beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  stack = await startMeshStack();
  relayId = stack.relayWsAddr.split('/p2p/').pop()!;
});

test.afterAll(async () => {
  await stack?.close();
});

/** Counts the page's requests to the oracle's polled views from now on. */
function countPolls(page: Page): { total: () => number } {
  let total = 0;
  page.on('request', (r) => {
    const path = new URL(r.url()).pathname;
    if (path === '/health' || path.startsWith('/v1/system/')) total += 1;
  });
  return { total: () => total };
}

for (const name of Object.keys(VIEWPORTS) as ViewportName[]) {
  test.describe(`network at ${name} size`, () => {
    test.use({ viewport: VIEWPORTS[name] });

    test('shows the oracle, its relay and peers, and a heartbeat round trip', async ({ page }) => {
      await page.goto(`${stack.url}/`);
      await page
        .getByRole('navigation', { name: 'Main' })
        .getByRole('link', { name: 'Network' })
        .click();
      await expect(page).toHaveURL(/\/network$/);
      await expect(page.getByRole('heading', { level: 1, name: 'Network' })).toBeVisible();

      await expect(page.getByTestId('network-oracle-status')).toHaveText('ok');
      await expect(page.getByTestId('network-model')).toHaveText(stack.engine.modelId);
      await expect(page.getByTestId('relay')).toContainText(stack.relayWsAddr);

      // The oracle's connection to the relay: role from the topology, link from its address.
      const relayPeer = page.locator(`[data-testid=peer][data-role=relay]`);
      await expect(relayPeer).toHaveCount(1, { timeout: 3 * POLL_MS });
      await expect(relayPeer.locator(`[title="${relayId}"]`)).toHaveCount(1);
      await expect(relayPeer.getByTestId('peer-link')).toHaveText(/WebSockets|TCP/);
      const peers = (await (await page.request.get(`${stack.url}/v1/system/peers`)).json()) as {
        peers: unknown[];
      };
      await expect(page.getByTestId('peer')).toHaveCount(peers.peers.length);

      // Heartbeats: a measured round trip, then a median over several beats.
      const rtt = page.getByTestId('heartbeat-rtt');
      await expect(rtt).toHaveText(/^\d+(\.\d)? ms$/);
      expect(Number(await rtt.getAttribute('data-value'))).toBeGreaterThan(0);
      await expect(page.getByTestId('heartbeat')).toContainText(/over [2-9] beats/, {
        timeout: 3 * HEARTBEAT_MS
      });
      await expect(page.getByTestId('self-none')).toContainText('No scout runs in this browser');

      await expectNoHorizontalOverflow(page);
      await page.screenshot({ path: `${ARTIFACTS}/network-${name}.png`, fullPage: true });
    });

    test('polling stops while the page is hidden and resumes when shown', async ({ page }) => {
      await page.goto(`${stack.url}/network`);
      await expect(page.getByTestId('heartbeat-rtt')).toBeVisible();
      const polls = countPolls(page);
      await page.evaluate(() => {
        Object.defineProperty(document, 'hidden', { configurable: true, get: () => true });
        document.dispatchEvent(new Event('visibilitychange'));
      });
      await expect(page.getByTestId('heartbeat')).toContainText('paused while hidden');
      const atHide = polls.total();
      // Measures an absence: longer than a heartbeat and a poll period together.
      await page.waitForTimeout(POLL_MS + HEARTBEAT_MS);
      expect(polls.total()).toBe(atHide);

      const resumed = page.waitForRequest((r) => new URL(r.url()).pathname === '/health');
      await page.evaluate(() => {
        Object.defineProperty(document, 'hidden', { configurable: true, get: () => false });
        document.dispatchEvent(new Event('visibilitychange'));
      });
      await resumed;
      await expect(page.getByTestId('heartbeat')).not.toContainText('paused while hidden');
    });

    test("shows this browser's scout when a scout tab answers", async ({ context, page }) => {
      // Stands in for the /scout leader tab: answers a hello on the scout channel with its state
      // (the shape $lib/scout/leader.ts publishes), as a real leader does.
      const leader = await context.newPage();
      await leader.goto(`${stack.url}/`);
      await leader.evaluate(() => {
        const channel = new BroadcastChannel('shard-scout');
        const state = {
          phase: 'scouting',
          snapshot: {
            peerId: '12D3KooWScoutOfThisBrowser000000000000000000000000',
            engine: 'prompt-lookup',
            peers: 2,
            stats: { sessions: 3, activeSessions: 1, drafted: 120, accepted: 90, verified: 120 },
            tokensPerSecond: 250
          },
          prepared: null,
          error: null,
          isWakeLockActive: false,
          log: []
        };
        channel.onmessage = (event) => {
          if (event.data?.type === 'hello') {
            channel.postMessage({ type: 'state', from: 'leader', state });
          }
        };
        (window as unknown as { keep: unknown }).keep = channel;
      });
      await page.goto(`${stack.url}/network`);
      await expect(page.getByTestId('self-phase')).toHaveText('scouting');
      await expect(page.getByTestId('self-drafted')).toHaveText('120');
      await expect(page.getByTestId('network-self')).toContainText('90 of 120 verified (75.0 %)');

      // The leader tab closes: the page says so after it stops answering.
      await leader.close();
      await expect(page.getByTestId('self-none')).toBeVisible({ timeout: 4 * POLL_MS });
    });
  });
}
