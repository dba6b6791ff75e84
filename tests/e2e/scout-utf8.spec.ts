/**
 * wllama's UTF-8 bug, met by a live browser scout: the draft model emits a token whose bytes are
 * not valid UTF-8, wllama throws, and the scout reports it in plain words and keeps scouting;
 * the oracle's output is unaffected. The token is the draft model's own first greedy token for
 * PROMPT, corrupted (same length, 0xFF bytes) in both the target and the draft file so their
 * vocabularies, and fingerprints, still match.
 */
import { expect, test } from '@playwright/test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getLlama } from 'node-llama-cpp';
import type { GenerateOptions } from '../../native-oracle/engine/index.js';
import { ensureTestModels } from '../helpers/models.js';
import { copyWithCorruptToken } from './helpers/corrupt-token.js';
import { startScouting } from './helpers/scout-page.js';
import { startMeshStack, type MeshStack } from './helpers/stack.js';

const PROMPT = 'The quick brown fox said that the river';
const OTHER_PROMPT = 'hello there my friend';
let stack: MeshStack;
let dir: string;

/** The draft model's first greedy token after BOS + PROMPT, computed with llama.cpp in Node. */
async function firstDraftToken(draftPath: string): Promise<number> {
  const llama = await getLlama({ gpu: false, maxThreads: 1 });
  const model = await llama.loadModel({ modelPath: draftPath });
  try {
    const context = await model.createContext({ threads: 1, contextSize: 256 });
    const tokens = [model.tokens.bos!, ...model.tokenize(PROMPT, false)];
    for await (const token of context.getSequence().evaluate(tokens, { temperature: 0 }))
      return token;
    throw new Error('the draft model generated nothing');
  } finally {
    await model.dispose();
  }
}

async function generate(prompt: string, speculation: GenerateOptions['speculation']) {
  const draftSource = speculation === 'on' ? stack.mesh.scoutDraftSource() : undefined;
  let text = '';
  let drafted = 0;
  for await (const event of stack.engine.generate({
    prompt,
    maxTokens: 24,
    speculation,
    draftSource
  })) {
    if (event.type === 'done') {
      text = event.text;
      drafted = event.stats.drafted;
    }
  }
  draftSource?.end();
  return { text, drafted };
}

test.beforeAll(async () => {
  const models = await ensureTestModels();
  const tokenId = await firstDraftToken(models.draftPath);
  dir = mkdtempSync(join(tmpdir(), 'shard-utf8-'));
  const targetPath = join(dir, 'target.gguf');
  const draftPath = join(dir, 'draft.gguf');
  copyWithCorruptToken(models.targetPath, targetPath, tokenId);
  copyWithCorruptToken(models.draftPath, draftPath, tokenId);
  // No golden tickets here, and every welcomed scout may draft (floor `any`): the corrupted
  // token makes an honest wllama scout skip drafts (the bug under test), so it would fail tickets
  // scored against this reference and never become reputable. Trust has its own tests.
  stack = await startMeshStack({
    models: { targetPath, draftPath },
    mesh: { draftModelPath: null, scoutFloor: 'any' }
  });
});

test.afterAll(async () => {
  await stack?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('a draft that hits the UTF-8 bug is reported and the scout keeps drafting', async ({
  page
}) => {
  await startScouting(page, stack.url);
  await expect(page.getByTestId('engine-in-use')).toContainText('wllama');
  await stack.mesh.waitForScouts(1, AbortSignal.timeout(30_000));

  const plain = await generate(PROMPT, 'off');
  const speculative = await generate(PROMPT, 'on');
  expect(speculative.text).toBe(plain.text);
  await expect(page.getByTestId('scout-log')).toContainText(
    'the draft model produced an incomplete UTF-8 byte token; this draft was skipped'
  );
  await expect(page.getByTestId('scout-phase')).toHaveText('Scouting');
  expect(stack.mesh.scoutCount()).toBe(1);

  // The engine survived: the same scout drafts for the next generation.
  const next = await generate(OTHER_PROMPT, 'on');
  expect(next.text).toBe((await generate(OTHER_PROMPT, 'off')).text);
  expect(next.drafted).toBeGreaterThan(0);
});
