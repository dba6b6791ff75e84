/** Steps on the /scout page shared by the browser scout tests. */
import { expect, type Page } from '@playwright/test';

/** Opens /scout and starts scouting, passing the double-dip decision the way a user would. */
export async function startScouting(page: Page, url: string): Promise<void> {
  await page.goto(`${url}/scout`);
  await expect(page.getByTestId('scout-role')).toHaveText(/This tab is the scout/);
  const decision = page.getByTestId('double-dip');
  await expect(decision).toBeVisible();
  const toggle = page.getByTestId('scout-toggle');
  const override = decision.getByRole('checkbox');
  if ((await override.count()) > 0 && !(await override.isChecked())) {
    // The oracle runs on this machine: drafting is held back until the user overrides it.
    await expect(toggle).toBeDisabled();
    await override.check();
  }
  await expect(toggle).toBeEnabled();
  await toggle.click();
  await expect(page.getByTestId('scout-phase')).toHaveText('Scouting', { timeout: 120_000 });
  await expect(page.getByTestId('conn-oracles')).toContainText('1 accepted', { timeout: 60_000 });
}
