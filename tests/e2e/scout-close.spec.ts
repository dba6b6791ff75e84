/**
 * A browser scout that vanishes mid-completion: a /scout tab drafts with wllama for a streamed
 * chat completion, and once the oracle has accepted some of its drafts the tab is closed. The
 * stream must carry on (the oracle falls back to its own decoding), finish normally and give
 * exactly the text the oracle gives alone; the oracle must then forget the scout.
 */
import { expect, test, type Page } from '@playwright/test';
import OpenAI from 'openai';
import { startScouting } from './helpers/scout-page.js';
import { startMeshStack, type MeshStack } from './helpers/stack.js';

const PROMPT = 'Once upon a time the old lighthouse keeper wrote in his log that';
/**
 * Long enough to span many verify rounds (the mesh asks for 8 draft tokens per round) and to
 * outlast the page's once-a-second stats refresh, so the tab closes well before the end.
 */
const MAX_TOKENS = 800;

let stack: MeshStack;

test.beforeAll(async () => {
  stack = await startMeshStack();
});

test.afterAll(async () => {
  await stack?.close();
});

/** Numeric value of a stat tile. */
async function stat(page: Page, testid: string): Promise<number> {
  return Number((await page.getByTestId(testid).textContent())?.trim());
}

function client(): OpenAI {
  return new OpenAI({ baseURL: `${stack.url}/v1`, apiKey: 'unused', maxRetries: 0 });
}

interface ShardStats {
  draft_source: string | null;
  drafted: number;
  accepted: number;
  rounds: number;
}

test('closing the scout tab mid-completion does not break the completion', async ({ context }) => {
  const page = await context.newPage();
  await startScouting(page, stack.url);
  await expect(page.getByTestId('engine-in-use')).toContainText('wllama · draft.gguf');
  await stack.mesh.waitForScouts(1, AbortSignal.timeout(30_000));
  const scoutId = (await page.getByTestId('scout-id').textContent())?.trim() ?? '';
  expect(scoutId).not.toBe('');
  expect(stack.mesh.peers().find((p) => p.peer_id === scoutId)).toMatchObject({
    role: 'scout',
    verified: true
  });

  // The oracle alone: the reference text.
  const alone = await client().chat.completions.create(
    {
      model: stack.engine.modelId,
      messages: [{ role: 'user', content: PROMPT }],
      max_tokens: MAX_TOKENS,
      temperature: 0
    },
    { headers: { 'x-shard-speculation': 'off' } }
  );
  const reference = alone.choices[0].message.content ?? '';
  expect(alone.choices[0].finish_reason).not.toBeNull();
  const acceptedBefore = await stat(page, 'stat-accepted');

  // The same request streamed with the scout's drafts.
  const stream = await client().chat.completions.create(
    {
      model: stack.engine.modelId,
      messages: [{ role: 'user', content: PROMPT }],
      max_tokens: MAX_TOKENS,
      temperature: 0,
      stream: true
    },
    { headers: { 'x-shard-speculation': 'on' } }
  );
  const seen = {
    text: '',
    chunks: 0,
    finishReason: null as string | null,
    shard: null as ShardStats | null,
    isFinished: false
  };
  const consumed = (async () => {
    for await (const chunk of stream) {
      const choice = chunk.choices[0];
      if (choice?.delta?.content) {
        seen.text += choice.delta.content;
        seen.chunks += 1;
      }
      if (choice?.finish_reason) {
        seen.finishReason = choice.finish_reason;
        seen.shard = (chunk as unknown as { shard?: ShardStats }).shard ?? null;
      }
    }
    seen.isFinished = true;
  })();
  // Surface a stream failure at once instead of as a poll timeout below.
  const failed = consumed.then(
    () => null,
    (err: unknown) => err
  );

  // 1. Wait until the stream has delivered text and the oracle's verify results have reported
  //    accepted drafts to this scout (the page shows them), then close the scout's tab.
  await expect
    .poll(
      async () => {
        if (seen.isFinished) return 'finished';
        const err = await Promise.race([failed, Promise.resolve('pending')]);
        if (err !== 'pending') return `failed: ${String(err)}`;
        return seen.chunks > 0 && (await stat(page, 'stat-accepted')) > acceptedBefore
          ? 'accepting'
          : 'waiting';
      },
      { timeout: 60_000, intervals: [50] }
    )
    .toBe('accepting');
  const chunksAtClose = seen.chunks;
  await page.close();
  // The close happened mid-completion: the stream had not finished.
  expect(seen.isFinished).toBe(false);

  // 2. The stream still completes normally, with exactly the oracle's own text.
  await consumed;
  expect(seen.finishReason).not.toBeNull();
  expect(seen.chunks).toBeGreaterThan(chunksAtClose);
  expect(seen.text).toBe(reference);
  // The scout served this completion and some of its drafts were accepted before it left.
  const shard = seen.shard;
  expect(shard).not.toBeNull();
  expect(shard!.draft_source).toBe(`scout:${scoutId.slice(-8)}`);
  expect(shard!.accepted).toBeGreaterThan(0);
  test.info().annotations.push({
    type: 'close',
    description: `tab closed after ${chunksAtClose} of ${seen.chunks} chunks; ${shard!.rounds} rounds, ${shard!.accepted} of ${shard!.drafted} drafts accepted`
  });
  console.log(test.info().annotations.at(-1)?.description);

  // 3. The oracle forgets the scout: gone from /v1/system/peers and from the eligible scouts.
  await expect
    .poll(
      async () => {
        const res = await fetch(`${stack.url}/v1/system/peers`);
        const body = (await res.json()) as { peers: { peer_id: string }[] };
        return body.peers.some((p) => p.peer_id === scoutId);
      },
      { timeout: 30_000 }
    )
    .toBe(false);
  expect(stack.mesh.scoutCount()).toBe(0);

  // 4. The oracle still serves completions without the scout.
  const after = await client().chat.completions.create(
    {
      model: stack.engine.modelId,
      messages: [{ role: 'user', content: PROMPT }],
      max_tokens: 16,
      temperature: 0
    },
    { headers: { 'x-shard-speculation': 'on' } }
  );
  expect(reference.startsWith(after.choices[0].message.content ?? '')).toBe(true);
});
