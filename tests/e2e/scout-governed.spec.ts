/**
 * The production path with a browser scout: the mesh runs its default (governed) draft source
 * and the completion asks nothing of the speculation choice, so the engine's speculation governor
 * decides (`auto`). Every other browser test forces speculation on or turns the governor's waits
 * off; this one checks what must happen whatever the timings: the governor's first round drafts
 * from the browser scout to measure, the answer is the oracle's own, and the reported reason is
 * one of the governor's documented forms.
 */
import { expect, test } from '@playwright/test';
import OpenAI from 'openai';
import { GOVERNOR_REASON_FORMS } from '../../native-oracle/engine/governor.js';
import { SCOUT_PROMPT } from './helpers/chat.js';
import { startScouting } from './helpers/scout-page.js';
import { startMeshStack, type MeshStack } from './helpers/stack.js';

const MAX_TOKENS = 32;
let stack: MeshStack;

test.beforeAll(async () => {
  // The mesh's own default: the scout source waits within the governor's budgets.
  stack = await startMeshStack({ mesh: { isGoverned: true } });
});

test.afterAll(async () => {
  await stack?.close();
});

interface ShardStats {
  draft_source: string | null;
  drafted: number;
  accepted: number;
  rounds: number;
  governor: { is_speculating: boolean; predicted_speedup: number | null; reason: string };
}

/** A greedy chat completion; `speculation` undefined sends no choice (the server's `auto`). */
async function chat(speculation?: 'off'): Promise<{ text: string; shard: ShardStats }> {
  const client = new OpenAI({ baseURL: `${stack.url}/v1`, apiKey: 'unused' });
  const completion = await client.chat.completions.create(
    {
      model: stack.engine.modelId,
      messages: [{ role: 'user', content: SCOUT_PROMPT }],
      max_tokens: MAX_TOKENS,
      temperature: 0
    },
    speculation ? { headers: { 'x-shard-speculation': speculation } } : undefined
  );
  const shard = (completion as unknown as { shard: ShardStats }).shard;
  return { text: completion.choices[0].message.content ?? '', shard };
}

test('governor on: a browser scout drafts the measuring round, the answer is unchanged, the reason is documented', async ({
  page
}) => {
  await startScouting(page, stack.url);
  await expect(page.getByTestId('engine-in-use')).toContainText('wllama · draft.gguf');
  await stack.mesh.waitForScouts(1, AbortSignal.timeout(30_000));

  const plain = await chat('off');
  expect(plain.shard.draft_source).toBeNull();
  const governed = await chat();

  // Drafts never change the answer.
  expect(governed.text).toBe(plain.text);
  // The scout's source is new to the engine: its governor's first round drafts to measure and
  // waits long enough for a live scout to answer.
  expect(governed.shard.draft_source).toMatch(/^scout:/);
  expect(governed.shard.drafted).toBeGreaterThan(0);
  expect(governed.shard.accepted).toBeLessThanOrEqual(governed.shard.drafted);
  // What the governor decided last is said in one of its documented forms, and agrees with
  // whether it was drafting.
  const { reason, is_speculating } = governed.shard.governor;
  expect(
    GOVERNOR_REASON_FORMS.some((form) => form.test(reason)),
    `undocumented reason: ${reason}`
  ).toBe(true);
  expect(is_speculating).toBe(!reason.startsWith('drafting off'));
  // The oracle counted the browser's drafts as this scout's verified work.
  const scoutId = (await page.getByTestId('scout-id').textContent())?.trim();
  const browserPeer = () => stack.mesh.peers().find((p) => p.peer_id === scoutId);
  expect(browserPeer()).toMatchObject({ role: 'scout', verified: true });
  // Credited when the session ends, which may follow the reply.
  await expect.poll(() => browserPeer()?.drafted ?? 0, { timeout: 15_000 }).toBeGreaterThan(0);

  await page.getByTestId('scout-toggle').click();
  await expect(page.getByTestId('scout-phase')).toHaveText('Not scouting');
});
