/**
 * Checks the provenance and scout browser tests share: nothing sticks out sideways at a phone's
 * width, and screenshots at the two sizes every page must work at.
 */
import { expect, type Page } from '@playwright/test';

/** A laptop and a phone (iPhone 12-15 class CSS size). */
export const SIZES = {
  desktop: { width: 1280, height: 800 },
  phone: { width: 390, height: 844 }
} as const;

/**
 * Fails when the page scrolls sideways or any element reaches past the viewport's right edge,
 * naming the elements (a canvas inside a box that clips it is allowed to be wider).
 */
export async function expectNoHorizontalOverflow(page: Page): Promise<void> {
  const report = await page.evaluate(() => {
    const width = window.innerWidth;
    const isClipped = (el: Element): boolean => {
      for (let p = el.parentElement; p && p !== document.body; p = p.parentElement) {
        const style = getComputedStyle(p);
        if (style.overflowX !== 'visible' && p.getBoundingClientRect().right <= width + 0.5)
          return true;
      }
      return false;
    };
    const sticking = [...document.querySelectorAll('body *')]
      .filter((el) => el.getBoundingClientRect().right > width + 0.5 && !isClipped(el))
      .map(
        (el) =>
          `${el.tagName.toLowerCase()}.${[...el.classList].join('.')} ${Math.round(el.getBoundingClientRect().right)}px`
      );
    return { scrollWidth: document.documentElement.scrollWidth, width, sticking };
  });
  expect(report.sticking, 'elements past the right edge').toEqual([]);
  expect(report.scrollWidth, 'page width').toBeLessThanOrEqual(report.width);
}

/**
 * Full-page screenshots at desktop and phone size as `<dir>/<name>-desktop.png` and
 * `-phone.png`, checking the phone one for horizontal overflow first.
 */
export async function screenshotBothSizes(page: Page, dir: string, name: string): Promise<void> {
  await page.setViewportSize(SIZES.desktop);
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: `${dir}/${name}-desktop.png`, fullPage: true });
  await page.setViewportSize(SIZES.phone);
  await expectNoHorizontalOverflow(page);
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: `${dir}/${name}-phone.png`, fullPage: true });
}
