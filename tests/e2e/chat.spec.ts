/**
 * The chat page against a real oracle (llama.cpp on the generated target model, drafting with
 * the generated draft model), at laptop and phone sizes: a reply streams in, Stop ends it and
 * the oracle stops generating, each answer shows the stats the oracle sent, conversations
 * survive a reload and open offline, rename and delete work, and the page says the generated
 * test model talks word salad.
 */
import { expect, test, type Page, type Response } from '@playwright/test';
import { mkdirSync } from 'node:fs';
import { startChatStack, type ChatStack } from './helpers/chat-stack.js';
import {
  expectNoHorizontalOverflow,
  VIEWPORTS,
  waitForServiceWorkerControl,
  type ViewportName
} from './helpers/layout.js';
import { GENERATED_VOCABULARY_FINGERPRINT } from '../../src/lib/chat/test-model.js';

const ARTIFACTS = 'tests/artifacts';
const PROMPT = 'Tell me about the river and the old bridge.';

let stack: ChatStack;

test.beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  stack = await startChatStack();
});

test.afterAll(async () => {
  await stack?.close();
});

test.afterEach(() => stack.setPaceMs(0));

interface ShardStats {
  mode: string;
  draft_source: string | null;
  drafted: number;
  accepted: number;
  acceptance_rate: number;
  governor: { is_speculating: boolean; predicted_speedup: number | null; reason: string };
}

/**
 * Records, in the page, the bytes of every chat response as they arrive, on a tee of the body
 * (CDP's getResponseBody does not reliably keep the body of a streamed fetch). The app reads its
 * own branch as usual.
 */
async function recordChatStreams(page: Page): Promise<void> {
  await page.addInitScript(() => {
    const streams: { text: string; isDone: boolean }[] = [];
    (window as unknown as { chatStreams: typeof streams }).chatStreams = streams;
    const original = window.fetch.bind(window);
    window.fetch = async (input, init) => {
      const res = await original(input, init);
      const url = input instanceof Request ? input.url : String(input);
      if (!url.includes('/v1/chat/completions') || !res.body) return res;
      const [recorded, forApp] = res.body.tee();
      const entry = { text: '', isDone: false };
      streams.push(entry);
      void (async () => {
        const reader = recorded.pipeThrough(new TextDecoderStream()).getReader();
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          entry.text += value;
        }
        entry.isDone = true;
      })();
      return new Response(forApp, { status: res.status, headers: res.headers });
    };
  });
}

/** The last streamed reply as the oracle sent it: text, and the `shard` object of its last chunk. */
async function lastStream(page: Page): Promise<{ text: string; shard: ShardStats }> {
  await page.waitForFunction(
    () => (window as unknown as { chatStreams: { isDone: boolean }[] }).chatStreams.at(-1)?.isDone
  );
  const raw = await page.evaluate(
    () => (window as unknown as { chatStreams: { text: string }[] }).chatStreams.at(-1)!.text
  );
  const payloads = raw
    .split(/\r?\n/)
    .filter((line) => line.startsWith('data: ') && line !== 'data: [DONE]')
    .map(
      (line) =>
        JSON.parse(line.slice(6)) as {
          choices: { delta: { content?: string } }[];
          shard?: ShardStats;
        }
    );
  const text = payloads.map((p) => p.choices[0]?.delta.content ?? '').join('');
  const shard = payloads.find((p) => p.shard)?.shard;
  expect(shard, 'the last chunk carries shard stats').toBeDefined();
  return { text, shard: shard! };
}

async function setReplyLength(page: Page, tokens: number): Promise<void> {
  await page.getByLabel('Reply length').fill(String(tokens));
  await page.getByLabel('Reply length').dispatchEvent('change');
}

/** Types `text` and sends it; resolves with the oracle's response (headers in). */
async function send(page: Page, text: string): Promise<Response> {
  const response = page.waitForResponse((r) => r.url().endsWith('/v1/chat/completions'));
  await page.getByLabel('Message', { exact: true }).fill(text);
  await page.getByTestId('send').click();
  return response;
}

const lastAnswer = (page: Page) => page.getByTestId('turn-assistant').last();

async function chatHealth(page: Page): Promise<{ completed: number; aborted: number }> {
  const res = await page.request.get(`${stack.url}/health`);
  return ((await res.json()) as { chat: { completed: number; aborted: number } }).chat;
}

for (const name of Object.keys(VIEWPORTS) as ViewportName[]) {
  test.describe(`chat at ${name} size`, () => {
    test.use({ viewport: VIEWPORTS[name] });

    test('a reply streams in, says how it was made, and the test model is named', async ({
      page
    }) => {
      // The page recognises generated models by their shared vocabulary: keep it in step.
      expect(stack.engine.tokenizerFingerprint).toBe(GENERATED_VOCABULARY_FINGERPRINT);
      await recordChatStreams(page);
      await page.goto(`${stack.url}/chat`);
      await expect(page.getByTestId('test-model-notice')).toContainText(
        'This oracle runs a generated test model'
      );
      await expect(page.getByTestId('test-model-notice')).toContainText('word salad');
      await setReplyLength(page, 64);

      stack.setPaceMs(60);
      await send(page, PROMPT);
      const answer = lastAnswer(page);
      // Streaming: text shows while the reply is still running (Stop offered, no stats yet).
      await expect(answer.getByTestId('turn-text')).not.toBeEmpty();
      await expect(page.getByTestId('stop')).toBeVisible();
      await expect(answer.getByTestId('stat-mode')).toHaveCount(0);

      await expect(page.getByTestId('send')).toBeVisible({ timeout: 60_000 });
      const sent = await lastStream(page);
      await expect(answer.getByTestId('turn-text')).toHaveText(sent.text);
      expect(sent.shard.mode).toBe('speculative');
      expect(sent.shard.drafted).toBeGreaterThan(0);
      await expect(answer.getByTestId('stat-mode')).toHaveAttribute('data-value', sent.shard.mode);
      await expect(answer.getByTestId('stat-draft-source')).toHaveText(
        sent.shard.draft_source ?? 'none'
      );
      await expect(answer.getByTestId('stat-drafted')).toHaveText(String(sent.shard.drafted));
      await expect(answer.getByTestId('stat-accepted')).toHaveText(String(sent.shard.accepted));
      await expect(answer.getByTestId('stat-acceptance-rate')).toHaveAttribute(
        'data-value',
        String(sent.shard.acceptance_rate)
      );
      await expect(answer.getByTestId('stat-governor')).toContainText(
        sent.shard.governor.is_speculating ? 'drafting on' : 'drafting off'
      );
      await expect(answer.getByTestId('stat-governor-reason')).toHaveText(
        sent.shard.governor.reason
      );

      // A second turn goes out with the first one and the system prompt.
      const second = page.waitForRequest((r) => r.url().endsWith('/v1/chat/completions'));
      await send(page, 'And the fields?');
      const body = (await second).postDataJSON() as { messages: { role: string }[] };
      expect(body.messages.map((m) => m.role)).toEqual(['system', 'user', 'assistant', 'user']);
      await expect(page.getByTestId('send')).toBeVisible({ timeout: 60_000 });

      await expectNoHorizontalOverflow(page);
      await page.screenshot({ path: `${ARTIFACTS}/chat-${name}.png`, fullPage: true });
    });

    test('Stop ends the reply and the oracle stops generating', async ({ page }) => {
      await page.goto(`${stack.url}/chat`);
      await setReplyLength(page, 2000);
      const before = await chatHealth(page);
      const generationsBefore = stack.generations.length;

      stack.setPaceMs(50);
      await send(page, PROMPT);
      const answer = lastAnswer(page);
      await expect(answer.getByTestId('turn-text')).not.toBeEmpty();
      await page.getByTestId('stop').click();
      await expect(answer.getByTestId('turn-status')).toHaveText(/^Stopped/);
      await expect(page.getByTestId('send')).toBeVisible();

      // The oracle saw the client leave and ended the generation well short of 2000 tokens.
      const generation = stack.generations[generationsBefore];
      await expect.poll(() => generation.isEnded, { timeout: 10_000 }).toBe(true);
      expect(generation.isDone).toBe(false);
      expect(generation.tokens).toBeLessThan(2000);
      await expect.poll(async () => (await chatHealth(page)).aborted).toBe(before.aborted + 1);
      const stoppedText = await answer.getByTestId('turn-text').textContent();

      // The next request is served at once: no generation is left holding the engine.
      stack.setPaceMs(0);
      await setReplyLength(page, 16);
      await send(page, 'Shorter, please.');
      await expect(lastAnswer(page).getByTestId('stat-mode')).toBeVisible({ timeout: 15_000 });
      expect(await chatHealth(page)).toMatchObject({ completed: before.completed + 1 });
      // The stopped answer keeps its text.
      await expect(page.getByTestId('turn-assistant').first().getByTestId('turn-text')).toHaveText(
        stoppedText ?? ''
      );
    });

    test('conversations survive a reload, open offline, and can be renamed and deleted', async ({
      context,
      page
    }) => {
      await page.goto(`${stack.url}/chat`);
      await setReplyLength(page, 24);
      await send(page, PROMPT);
      await expect(lastAnswer(page).getByTestId('stat-mode')).toBeVisible({ timeout: 30_000 });
      const answerText = await lastAnswer(page).getByTestId('turn-text').textContent();
      const drafted = await lastAnswer(page).getByTestId('stat-drafted').textContent();

      await page.reload();
      const items = page.getByTestId('conversation-item');
      await expect(items).toHaveCount(1);
      await expect(items.getByTestId('conversation-title')).toHaveText(PROMPT);
      await expect(page.getByTestId('turn-user')).toHaveText(/Tell me about the river/);
      await expect(lastAnswer(page).getByTestId('turn-text')).toHaveText(answerText ?? '');
      await expect(lastAnswer(page).getByTestId('stat-drafted')).toHaveText(drafted ?? '');

      // Offline: the cached app opens and the conversation is read from this device.
      await waitForServiceWorkerControl(page);
      await context.setOffline(true);
      try {
        await page.reload();
        await expect(page.getByTestId('oracle-unreachable')).toContainText('You are offline');
        await expect(lastAnswer(page).getByTestId('turn-text')).toHaveText(answerText ?? '');
        await page.getByTestId('new-conversation').click();
        await expect(page.getByTestId('turn-assistant')).toHaveCount(0);
        await items.getByTestId('conversation-open').click();
        await expect(lastAnswer(page).getByTestId('turn-text')).toHaveText(answerText ?? '');

        // Sending offline fails beside the Send button, in plain words.
        await page.getByLabel('Message', { exact: true }).fill('Are you there?');
        await page.getByTestId('send').click();
        await expect(page.getByTestId('send-error')).toContainText('You are offline');

        await items.getByRole('button', { name: /^Rename/ }).click();
        await items.getByLabel(/^New name/).fill('River notes');
        await items.getByRole('button', { name: 'Save' }).click();
        await expect(items.getByTestId('conversation-title')).toHaveText('River notes');
        await page.reload();
        await expect(items.getByTestId('conversation-title')).toHaveText('River notes');
        if (name === 'phone') {
          await page.screenshot({ path: `${ARTIFACTS}/chat-${name}-offline.png`, fullPage: true });
        }

        await items.getByRole('button', { name: /^Delete/ }).click();
        await items.getByRole('button', { name: /^Confirm: delete/ }).click();
        await expect(items).toHaveCount(0);
        await page.reload();
        await expect(page.getByTestId('conversation-list')).toBeAttached();
        await expect(items).toHaveCount(0);
        await expect(page.getByTestId('turn-user')).toHaveCount(0);
      } finally {
        await context.setOffline(false);
      }
    });
  });
}

test('each answer shows its signed receipt, verified in this browser, kept after a reload; a changed receipt is a warning', async ({
  page
}) => {
  await page.goto(`${stack.url}/chat`);
  await setReplyLength(page, 16);
  await send(page, PROMPT);
  const receipt = lastAnswer(page).getByTestId('turn-receipt');
  await expect(receipt).toHaveAttribute('data-receipt-status', 'verified', { timeout: 30_000 });
  await expect(receipt).toContainText('Receipt verified');
  await expect(receipt).toContainText('matches this question and answer');

  // Kept with the conversation in IndexedDB.
  await page.reload();
  await expect(lastAnswer(page).getByTestId('turn-receipt')).toHaveAttribute(
    'data-receipt-status',
    'verified'
  );

  // A receipt changed on the way (one signed field edited) fails its signature check.
  await page.route('**/v1/executions/*/receipts', async (route) => {
    const res = await route.fetch();
    const json = (await res.json()) as { receipts: { chat: { completion_tokens: number } }[] };
    json.receipts[0]!.chat.completion_tokens += 1;
    await route.fulfill({ response: res, json });
  });
  await send(page, 'And the fields?');
  const changed = lastAnswer(page).getByTestId('turn-receipt');
  await expect(changed).toHaveAttribute('data-receipt-status', 'warning', { timeout: 30_000 });
  await expect(changed).toContainText('Receipt not verified');
});
