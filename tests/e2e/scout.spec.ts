/**
 * The browser scout end to end in Debian's Chromium: the /scout page downloads the generated draft
 * model from the oracle, runs wllama in its worker, joins the oracle through the relay, and an
 * OpenAI-client completion on the oracle uses its drafts. A second tab does not become a second
 * scout and takes over when the first closes.
 */
import { expect, test, type Page } from '@playwright/test';
import { mkdirSync } from 'node:fs';
import { startScouting } from './helpers/scout-page.js';
import { chatWithStats } from './helpers/chat.js';
import { startMeshStack, type MeshStack } from './helpers/stack.js';

const ARTIFACTS = 'tests/artifacts';
let stack: MeshStack;

test.beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  stack = await startMeshStack();
});

test.afterAll(async () => {
  await stack?.close();
});

/** Numeric value of a stat tile. */
async function stat(page: Page, testid: string): Promise<number> {
  return Number((await page.getByTestId(testid).textContent())?.trim());
}

const chat = (maxTokens: number, speculation: 'on' | 'off') =>
  chatWithStats(stack, maxTokens, speculation);

test('a /scout tab drafts with wllama for the oracle and a completion uses its drafts', async ({
  page
}) => {
  await startScouting(page, stack.url);
  await expect(page.getByTestId('engine-in-use')).toContainText('wllama · draft.gguf');
  await expect(page.getByTestId('benchmark')).toContainText('tok/s');
  await stack.mesh.waitForScouts(1, AbortSignal.timeout(30_000));

  const plain = await chat(32, 'off');
  const drafted = await chat(32, 'on');
  // Drafts never change the answer: every committed token is the target's own.
  expect(drafted.text).toBe(plain.text);
  expect(drafted.draftSource).toMatch(/^scout:/);
  expect(drafted.drafted).toBeGreaterThan(0);
  expect(drafted.accepted).toBeGreaterThan(0);

  // The page shows what the oracle verified.
  await expect.poll(() => stat(page, 'stat-accepted'), { timeout: 15_000 }).toBeGreaterThan(0);
  // Both numbers from one rendering: the counts update every second, so two separate reads can
  // straddle an update.
  const shown = await page.evaluate(() => ({
    drafted: Number(document.querySelector('[data-testid="stat-drafted"]')?.textContent),
    accepted: Number(document.querySelector('[data-testid="stat-accepted"]')?.textContent)
  }));
  expect(shown.accepted).toBeGreaterThan(0);
  expect(shown.drafted).toBeGreaterThanOrEqual(shown.accepted);
  await expect(page.getByTestId('stat-rate')).toHaveText(/%$/);
  // The oracle knows this browser as a verified scout under the peer id the page shows.
  const scoutId = (await page.getByTestId('scout-id').textContent())?.trim();
  const browserPeer = stack.mesh.peers().find((p) => p.peer_id === scoutId);
  expect(browserPeer).toMatchObject({ role: 'scout', verified: true });
  await expect(page.getByTestId('wake-lock')).toHaveText('Yes, while scouting');

  await page.setViewportSize({ width: 1280, height: 900 });
  await page.screenshot({ path: `${ARTIFACTS}/scout-desktop.png`, fullPage: true });
  await page.setViewportSize({ width: 390, height: 844 });
  // Elements wider than the phone screen, named so a failure says what to fix.
  const overflowing = await page.evaluate(() =>
    [...document.querySelectorAll('body *')]
      .filter((el) => el.getBoundingClientRect().right > window.innerWidth + 0.5)
      .map(
        (el) =>
          `${el.tagName.toLowerCase()}.${el.className} ${Math.round(el.getBoundingClientRect().right)}px`
      )
  );
  expect(overflowing).toEqual([]);
  await page.screenshot({ path: `${ARTIFACTS}/scout-mobile.png`, fullPage: true });

  await page.getByTestId('scout-toggle').click();
  await expect(page.getByTestId('scout-phase')).toHaveText('Not scouting');
});

test('one scout per browser: a second tab follows, takes over when the first closes, and can stop it', async ({
  context
}) => {
  // Whether the oracle counts as "on this device" depends on a timing probe in each tab; the
  // user's "scout anyway" choice (shared by all tabs) makes every tab's decision the same.
  await context.addInitScript(() => localStorage.setItem('shard.scout.ignore-local-oracle', '1'));
  const first = await context.newPage();
  await startScouting(first, stack.url);
  const scoutId = (await first.getByTestId('scout-id').textContent())?.trim();
  // A new identity drafts for real prompts once it passed probation (3 golden tickets).
  await stack.mesh.waitForScouts(1, AbortSignal.timeout(30_000));

  const second = await context.newPage();
  await second.goto(`${stack.url}/scout`);
  await expect(second.getByTestId('scout-role')).toHaveText(/Another tab is the scout/);
  await expect(second.getByTestId('scout-phase')).toHaveText('Scouting');
  await expect(second.getByTestId('scout-id')).toHaveText(scoutId!);
  expect(stack.mesh.scoutCount()).toBe(1);

  // The leader's tab closes: the follower is elected and resumes scouting by itself.
  await first.close();
  await expect(second.getByTestId('scout-role')).toHaveText(/This tab is the scout/);
  await expect(second.getByTestId('scout-phase')).toHaveText('Scouting', { timeout: 120_000 });
  await expect(second.getByTestId('conn-oracles')).toContainText('1 accepted', { timeout: 60_000 });
  // Same browser, same identity: the key is kept in IndexedDB.
  await expect(second.getByTestId('scout-id')).toHaveText(scoutId!);
  await expect.poll(() => stack.mesh.scoutCount(), { timeout: 30_000 }).toBe(1);
  const drafted = await chat(24, 'on');
  expect(drafted.draftSource).toMatch(/^scout:/);
  expect(drafted.drafted).toBeGreaterThan(0);

  // A follower's Stop reaches the leader.
  const third = await context.newPage();
  await third.goto(`${stack.url}/scout`);
  await expect(third.getByTestId('scout-role')).toHaveText(/Another tab is the scout/);
  await expect(third.getByTestId('scout-phase')).toHaveText('Scouting');
  await third.getByTestId('scout-toggle').click();
  await expect(second.getByTestId('scout-phase')).toHaveText('Not scouting');
  await expect(third.getByTestId('scout-phase')).toHaveText('Not scouting');
});

test('the engine choice can be overridden: prompt lookup drafts with no model', async ({
  page
}) => {
  await page.goto(`${stack.url}/scout`);
  await expect(page.getByTestId('scout-role')).toHaveText(/This tab is the scout/);
  await page.getByTestId('engine-select').selectOption('prompt-lookup');
  await startScouting(page, stack.url);
  await expect(page.getByTestId('engine-in-use')).toContainText('prompt-lookup');
  await expect(page.getByTestId('engine-in-use')).toContainText('your choice');
  await stack.mesh.waitForScouts(1, AbortSignal.timeout(30_000));

  // Prompt lookup often has nothing to offer; without the governor each such round waits for
  // the scout, so this completion is kept short.
  const plain = await chat(16, 'off');
  const drafted = await chat(16, 'on');
  expect(drafted.text).toBe(plain.text);
  expect(drafted.draftSource).toMatch(/^scout:/);
  expect(drafted.drafted).toBeGreaterThan(0);
  await expect.poll(() => stat(page, 'stat-drafted'), { timeout: 15_000 }).toBeGreaterThan(0);
  await page.getByTestId('scout-toggle').click();
  await expect(page.getByTestId('scout-phase')).toHaveText('Not scouting');
});

test('a returning scout loads its draft model offline and says plainly why it cannot scout', async ({
  context,
  page
}) => {
  await startScouting(page, stack.url);
  await page.getByTestId('scout-toggle').click();
  await expect(page.getByTestId('scout-phase')).toHaveText('Not scouting');

  await context.setOffline(true);
  await page.reload();
  await expect(page.getByTestId('scout-role')).toHaveText(/This tab is the scout/);
  await page.getByTestId('scout-toggle').click();
  // The model comes from the service worker's cache: the engine loads and is benchmarked.
  await expect(page.getByTestId('benchmark')).toContainText('tok/s', { timeout: 60_000 });
  await expect(page.getByTestId('engine-in-use')).toContainText('wllama · draft.gguf');
  await expect(page.getByTestId('scout-log')).toContainText('Draft model loaded from this device.');
  await expect(page.getByTestId('scout-error')).toContainText('The oracle cannot be reached');
  await expect(page.getByTestId('scout-phase')).toHaveText('Stopped by an error');
  await context.setOffline(false);
});
