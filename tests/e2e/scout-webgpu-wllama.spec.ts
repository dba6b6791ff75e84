/**
 * wllama's WebGPU path in headless Chromium with `--enable-unsafe-webgpu`, where the only
 * adapter is SwiftShader (a CPU emulation of a GPU) without `shader-f16`. llama.cpp's WebGPU
 * backend in wllama 3.8 needs shader-f16 (and subgroups), so the model cannot run on this
 * adapter: the scout must say so in plain words, draft on the CPU, and still pass probation and
 * have its drafts accepted. Also: the "Keep wllama on the CPU" setting, and an adapter that
 * claims shader-f16 but cannot create the device, where the GPU load really fails inside
 * llama.cpp and the scout reloads on the CPU, saying why.
 */
import { expect, test, type BrowserContext, type Page } from '@playwright/test';
import { CHROMIUM_ARGS, CHROMIUM_PATH } from './../helpers/chromium.js';
import { chatWithStats } from './helpers/chat.js';
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

/** The backend line on /scout: its kind (`webgpu`/`cpu`) and text. */
async function backendShown(page: Page): Promise<{ kind: string | null; text: string }> {
  const line = page.getByTestId('engine-backend');
  await expect(line).toBeVisible();
  return { kind: await line.getAttribute('data-kind'), text: (await line.textContent()) ?? '' };
}

test('SwiftShader lacks shader-f16: wllama says so, drafts on the CPU, passes probation, drafts accepted', async ({
  page
}) => {
  await startScouting(page, stack.url);
  const adapter = await page.evaluate(async () => {
    type Gpu = { requestAdapter(): Promise<{ features: Set<string> } | null> };
    const a = await (navigator as Navigator & { gpu?: Gpu }).gpu?.requestAdapter();
    return a ? { hasShaderF16: a.features.has('shader-f16') } : null;
  });
  expect(adapter).toEqual({ hasShaderF16: false });

  const shown = await backendShown(page);
  expect(shown.kind).toBe('cpu');
  expect(shown.text).toContain('CPU (WASM)');
  expect(shown.text).toContain('lacks shader-f16');
  const wllamaRow = page.getByTestId('benchmark').getByRole('row').filter({ hasText: 'wllama' });
  await expect(wllamaRow).toContainText('on the CPU (WASM');
  await expect(wllamaRow).toContainText('tok/s');

  // Probation: the default trust floor leases a scout only after 3 passed golden tickets.
  await stack.mesh.waitForScouts(1, AbortSignal.timeout(90_000));
  const scoutId = (await page.getByTestId('scout-id').textContent())?.trim();
  const record = stack.mesh.reputation().find((r) => r.peer_id === scoutId);
  console.log(
    JSON.stringify({
      wllamaSwiftShader: {
        backend: shown.text,
        tickets_answered: record?.golden_attempts,
        tickets_passed: record?.golden_correct,
        near_tie_tokens: stack.mesh.ticketStats().nearTieTokens
      }
    })
  );
  expect(record?.golden_correct).toBeGreaterThanOrEqual(3);
  expect(record?.golden_attempts).toBe(record?.golden_correct);

  const plain = await chatWithStats(stack, 32, 'off');
  const drafted = await chatWithStats(stack, 32, 'on');
  expect(drafted.text).toBe(plain.text);
  expect(drafted.draftSource).toMatch(/^scout:/);
  expect(drafted.drafted).toBeGreaterThan(0);
  expect(drafted.accepted).toBeGreaterThan(0);
  await page.getByTestId('scout-toggle').click();
  await expect(page.getByTestId('scout-phase')).toHaveText('Not scouting');
});

test('“Keep wllama on the CPU” keeps it there and says it was the user’s choice', async ({
  page
}) => {
  await page.goto(`${stack.url}/scout`);
  await expect(page.getByTestId('scout-role')).toHaveText(/This tab is the scout/);
  await page.getByTestId('wllama-cpu').check();
  await startScouting(page, stack.url);
  await expect(page.getByTestId('wllama-cpu')).toBeChecked();
  const shown = await backendShown(page);
  expect(shown.kind).toBe('cpu');
  expect(shown.text).toContain('you chose the CPU for wllama');
  await page.getByTestId('scout-toggle').click();
  await expect(page.getByTestId('scout-phase')).toHaveText('Not scouting');
});

/**
 * Makes every WebGPU adapter in the scout worker, and in the worker wllama starts inside it,
 * claim `shader-f16`, which SwiftShader cannot grant: llama.cpp's WebGPU backend then asks for a
 * device with it and fails for real. The scout worker's script is served with a prelude (same
 * URL, so the worker's location and relative fetches are unchanged); wllama's own worker is a
 * blob the prelude rewrites the same way.
 */
async function claimShaderF16(context: BrowserContext): Promise<void> {
  const patch = `(() => {
    const gpu = self.navigator.gpu;
    if (!gpu) return;
    const request = gpu.requestAdapter.bind(gpu);
    Object.defineProperty(gpu, 'requestAdapter', { value: async (o) => {
      const adapter = await request(o);
      if (!adapter) return adapter;
      const real = adapter.features;
      const claimed = new Set([...real, 'shader-f16']);
      Object.defineProperty(adapter, 'features', { value: claimed });
      return adapter;
    } });
  })();`;
  const prelude = `${patch}
  (() => {
    const Real = self.Worker;
    if (!Real) return;
    self.Worker = class extends Real {
      constructor(url, options) {
        if (String(url).startsWith('blob:')) {
          const xhr = new XMLHttpRequest();
          xhr.open('GET', url, false);
          xhr.send();
          url = URL.createObjectURL(new Blob([${JSON.stringify(patch)} + xhr.responseText], { type: 'text/javascript' }));
        }
        super(url, options);
      }
    };
  })();\n`;
  await context.route(/scout\.worker[^/]*\.js$/, async (route) => {
    const response = await route.fetch();
    await route.fulfill({ response, body: prelude + (await response.text()) });
  });
}

test('an adapter that claims shader-f16 but cannot grant it: the GPU load fails and wllama reloads on the CPU, saying why', async ({
  page,
  context
}) => {
  await claimShaderF16(context);
  await startScouting(page, stack.url);
  const shown = await backendShown(page);
  expect(shown.kind).toBe('cpu');
  console.log(JSON.stringify({ wllamaGpuLoadFailure: shown.text }));
  expect(shown.text).toContain('loading on WebGPU failed');
  // The reason is llama.cpp's own: the device request for shader-f16 was refused.
  expect(shown.text).toMatch(/ggml_webgpu: Failed to get a device: .*shader-f16/);
  const wllamaRow = page.getByTestId('benchmark').getByRole('row').filter({ hasText: 'wllama' });
  await expect(wllamaRow).toContainText('tok/s');
  await page.getByTestId('scout-toggle').click();
  await expect(page.getByTestId('scout-phase')).toHaveText('Not scouting');
});
