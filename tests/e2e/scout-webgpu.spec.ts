/**
 * The browser scout on a browser with a WebGPU adapter (Chromium's SwiftShader, no shader-f16):
 * web-llm is probed first and the scout falls back to wllama with the reason shown.
 */
import { expect, test } from '@playwright/test';
import { CHROMIUM_ARGS, CHROMIUM_PATH } from '../helpers/chromium.js';
import { startScouting } from './helpers/scout-page.js';
import { startMeshStack, type MeshStack } from './helpers/stack.js';

test.use({
  launchOptions: {
    executablePath: CHROMIUM_PATH,
    args: [...CHROMIUM_ARGS, '--enable-unsafe-webgpu']
  }
});

let stack: MeshStack;

test.beforeAll(async () => {
  stack = await startMeshStack();
});

test.afterAll(async () => {
  await stack?.close();
});

test('web-llm is probed first and the scout falls back to wllama with the reason shown', async ({
  page
}) => {
  await startScouting(page, stack.url);
  // The launch flag gives this page a (SwiftShader) adapter.
  const hasAdapter = await page.evaluate(async () => {
    const gpu = (navigator as Navigator & { gpu?: { requestAdapter(): Promise<unknown> } }).gpu;
    return (await gpu?.requestAdapter()) != null;
  });
  expect(hasAdapter).toBe(true);
  const webLlmRow = page.getByTestId('benchmark').getByRole('row').filter({ hasText: 'web-llm' });
  await expect(webLlmRow).toContainText('WebGPU works here');
  await expect(webLlmRow).toContainText('no shader-f16');
  await expect(page.getByTestId('engine-in-use')).toContainText('wllama');
  await page.getByTestId('scout-toggle').click();
  await expect(page.getByTestId('scout-phase')).toHaveText('Not scouting');
});
