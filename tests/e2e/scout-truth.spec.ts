/**
 * /scout tells the truth on the quick start's setup (oracle and browser on one machine): the
 * double-dip decision is explained on the Start card, "Scout anyway" starts scouting on the
 * first run, the wording follows the real state, and the counts agree with one another (and
 * cover what the oracle reported for an answer) under the one definition: acceptance rate = accepted / drafted.
 */
import { expect, test, type Page } from '@playwright/test';
import { mkdirSync } from 'node:fs';
import { chatWithStats } from './helpers/chat.js';
import { screenshotBothSizes } from './helpers/page-fit.js';
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

const count = async (page: Page, testid: string) =>
  Number((await page.getByTestId(testid).textContent())?.trim());

test('on the oracle’s own machine, "Scout anyway" on the Start card starts scouting, and the counts agree', async ({
  page
}) => {
  await page.goto(`${stack.url}/scout`);
  await expect(page.getByTestId('scout-role')).toHaveText(/This tab is the scout/);
  // The decision sits on the Start button's own card, and offers the choice as the button.
  const card = page.getByTestId('start-card');
  const decision = card.getByTestId('double-dip');
  await expect(decision).toHaveAttribute('data-kind', 'local-oracle');
  await expect(decision).toContainText('The oracle runs on this device');
  await expect(decision).toContainText('this browser does not draft');
  const toggle = card.getByTestId('scout-toggle');
  await expect(toggle).toHaveText('Scout anyway');
  await expect(toggle).toBeEnabled();

  await toggle.click();
  await expect(page.getByTestId('scout-phase')).toHaveText('Scouting', { timeout: 120_000 });
  await expect(page.getByTestId('conn-oracles')).toContainText('1 accepted', { timeout: 60_000 });
  // While scouting, the card says so, never "does not draft".
  await expect(decision).toContainText('this browser is drafting for it now');
  await expect(decision).not.toContainText('does not draft');
  await expect(toggle).toHaveText('Stop scouting');
  await stack.mesh.waitForScouts(1, AbortSignal.timeout(30_000));

  const chat = await chatWithStats(stack, 32, 'on');
  expect(chat.draftSource).toMatch(/^scout:/);
  expect(chat.drafted).toBeGreaterThan(0);
  // The page counts what oracles verified and kept: at least what this answer reports (the
  // oracle's spot checks of the scout look like any other session and count too).
  await expect
    .poll(() => count(page, 'stat-drafted'), { timeout: 15_000 })
    .toBeGreaterThanOrEqual(chat.drafted);
  await expect
    .poll(() => count(page, 'stat-accepted'), { timeout: 15_000 })
    .toBeGreaterThanOrEqual(chat.accepted);
  const drafted = await count(page, 'stat-drafted');
  const accepted = await count(page, 'stat-accepted');
  const sent = await count(page, 'stat-sent');
  expect(accepted).toBeLessThanOrEqual(drafted);
  expect(sent).toBeGreaterThanOrEqual(drafted);
  await expect(page.getByTestId('stat-rate')).toHaveText(
    `${((accepted / drafted) * 100).toFixed(1)}%`
  );
  await expect(page.getByTestId('counts-glossary')).toContainText('Accepted ÷ drafted');

  await screenshotBothSizes(page, ARTIFACTS, 'scout-anyway');
  await page.setViewportSize({ width: 1280, height: 800 });
  await toggle.click();
  await expect(page.getByTestId('scout-phase')).toHaveText('Not scouting');
  await expect(decision).toContainText('You chose to scout anyway: Start drafts here.');
  await expect(toggle).toHaveText('Start scouting');
});
