/**
 * Shared checks of the chat and network browser tests: the two screen sizes every page must
 * work at, "nothing sticks out sideways", and waiting for the service worker's control.
 */
import { expect, type Page } from '@playwright/test';

/** A laptop and a phone (iPhone 12-15 class CSS size). */
export const VIEWPORTS = {
  desktop: { width: 1280, height: 800 },
  phone: { width: 390, height: 844 }
} as const;

export type ViewportName = keyof typeof VIEWPORTS;

/**
 * Fails when the page scrolls sideways or any element reaches past the viewport's right edge
 * (elements inside a horizontally scrolling box of their own are allowed).
 */
export async function expectNoHorizontalOverflow(page: Page): Promise<void> {
  const report = await page.evaluate(() => {
    const width = window.innerWidth;
    const insideScroller = (el: Element): boolean => {
      for (let p = el.parentElement; p && p !== document.body; p = p.parentElement) {
        const style = getComputedStyle(p);
        if (style.overflowX === 'auto' || style.overflowX === 'scroll') return true;
      }
      return false;
    };
    const sticking = [...document.querySelectorAll('body *')]
      .filter((el) => el.getBoundingClientRect().right > width + 0.5 && !insideScroller(el))
      .map((el) => `${el.tagName.toLowerCase()}.${[...el.classList].join('.')}`);
    return { scrollWidth: document.documentElement.scrollWidth, width, sticking };
  });
  expect(report.sticking, 'elements past the right edge').toEqual([]);
  expect(report.scrollWidth, 'page width').toBeLessThanOrEqual(report.width);
}

/** Resolves once a service worker controls the page (after its clients.claim()). */
export async function waitForServiceWorkerControl(page: Page): Promise<void> {
  await page.waitForFunction(() => navigator.serviceWorker.controller !== null, undefined, {
    timeout: 30_000
  });
}
