/**
 * Every page, at a laptop's size and a phone's: axe (WCAG 2.x A and AA rules) finds nothing,
 * nothing sticks out sideways at 390 px, and a screenshot of each is kept under tests/artifacts/
 * (a11y-<page>-desktop.png, -phone.png). Real oracle (the chat stack), built PWA, real Chromium.
 */
import AxeBuilder from '@axe-core/playwright';
import { expect, test, type Page } from '@playwright/test';
import { startChatStack, type ChatStack } from './helpers/chat-stack.js';
import { expectNoHorizontalOverflow, SIZES } from './helpers/page-fit.js';

const ARTIFACTS = 'tests/artifacts';
const PAGES = [
  { path: '/', name: 'home' },
  { path: '/chat', name: 'chat' },
  { path: '/network', name: 'network' },
  { path: '/scout', name: 'scout' },
  { path: '/provenance', name: 'provenance' }
] as const;

let stack: ChatStack;
test.beforeAll(async () => {
  stack = await startChatStack();
});
test.afterAll(async () => {
  await stack?.close();
});

/** Axe's violations on the page as it stands, one line each (rule, impact, where). */
async function violations(page: Page): Promise<string[]> {
  const result = await new AxeBuilder({ page })
    .withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'])
    .analyze();
  return result.violations.map(
    (v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`
  );
}

for (const { path, name } of PAGES) {
  for (const [size, viewport] of Object.entries(SIZES)) {
    test(`${path} at ${size} size: no axe violations, fits, screenshot`, async ({ page }) => {
      await page.setViewportSize(viewport);
      await page.goto(`${stack.url}${path}`);
      await expect(page.getByRole('heading', { level: 1 })).toBeVisible();
      // The page has read the oracle (health is shown on every page's status line).
      await page.waitForLoadState('networkidle');
      expect(await violations(page)).toEqual([]);
      if (size === 'phone') await expectNoHorizontalOverflow(page);
      await page.screenshot({ path: `${ARTIFACTS}/a11y-${name}-${size}.png`, fullPage: true });
    });
  }
}
