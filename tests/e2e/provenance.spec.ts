/**
 * The provenance page end to end in Debian's Chromium against the real oracle CLI (no model:
 * the extractive engine runs the research brief; its receipts go to a real SQLite file in a
 * temporary data dir). A brief submitted from the page is followed live until it completes; the
 * page's own (in-browser) chain verification and cytoscape graph must cover every receipt the
 * server stores. The same browser then opens it offline from IndexedDB, verified with the pinned
 * key; a graph node opens its receipt; the exports parse. Then one stored receipt is rewritten in
 * the SQLite file, as an attacker with file access could, and both the page and the server's
 * verify route must name that receipt.
 */
import { expect, test, type BrowserContext, type Page } from '@playwright/test';
import { mkdirSync, readFileSync } from 'node:fs';
import type { ChainVerification } from '../../src/lib/protocol/receipt-chain.js';
import type { ExecutionReceipt } from '../../src/lib/protocol/receipts.js';
import {
  startOracleProcess,
  tamperStoredReceipt,
  type OracleProcess
} from './helpers/provenance-stack.js';
import { expectNoHorizontalOverflow, screenshotBothSizes } from './helpers/page-fit.js';

const ARTIFACTS = 'tests/artifacts';
const QUESTION = 'Does green tea help concentration, and is it safe in the evening?';
const SOURCES = [
  {
    id: 'tea-focus',
    title: 'Green tea and attention',
    content:
      'Participants who drank green tea with L-theanine scored higher on sustained attention tasks. The trial was small and lasted two weeks.'
  },
  {
    id: 'tea-evening',
    title: 'Evening caffeine',
    content:
      'Green tea contains roughly a third of the caffeine of coffee. Evening cups delayed sleep onset by about ten minutes in sensitive adults.'
  }
];
/** Text of the tampered receipt's summary: what the attacker wants a reader to believe. */
const FORGED_SUMMARY = 'Completed on a trusted private node at no cost';

let oracle: OracleProcess;
let executionId = '';
let receiptCount = 0;
/** One browser profile for the serial tests: its IndexedDB holds the saved receipts and pin. */
let shared: BrowserContext;
let page: Page;

test.beforeAll(async ({ browser }) => {
  mkdirSync(ARTIFACTS, { recursive: true });
  oracle = await startOracleProcess();
  shared = await browser.newContext();
  page = await shared.newPage();
});

test.afterAll(async () => {
  await shared?.close();
  await oracle?.close();
});

const VERIFIED_WITH_PIN = (n: number) =>
  new RegExp(
    `^\\s*Verified in this browser: ${n} of ${n} receipts, chain and\\s+Ed25519 signatures intact, signed by the key pinned for this oracle\\.\\s*$`
  );

async function getJson<T>(path: string): Promise<T> {
  const res = await fetch(`${oracle.url}${path}`, { headers: { accept: 'application/json' } });
  expect(res.status, `GET ${path}`).toBe(200);
  return (await res.json()) as T;
}

async function storedReceipts(id: string): Promise<ExecutionReceipt[]> {
  const json = await getJson<{ ok: boolean; count: number; receipts: ExecutionReceipt[] }>(
    `/v1/executions/${encodeURIComponent(id)}/receipts`
  );
  expect(json.ok).toBe(true);
  expect(json.count).toBe(json.receipts.length);
  return json.receipts;
}

/**
 * Waits until cytoscape has drawn exactly `count` nodes (the page sets data-drawn-nodes after each
 * draw; a live run redraws per receipt, so the value is retried, not read once).
 */
async function expectDrawnNodes(page: Page, count: number): Promise<void> {
  await expect(page.getByTestId('graph')).toHaveAttribute('data-drawn-nodes', String(count));
}

test.describe.configure({ mode: 'serial' });

test('a brief submitted on /provenance completes; every receipt is verified and drawn in the browser', async () => {
  await page.goto(`${oracle.url}/provenance`);
  const form = page.getByTestId('task-form');
  await form.getByTestId('question').fill(QUESTION);
  const ids = form.getByLabel('source id');
  const titles = form.getByLabel('source title');
  const contents = form.getByLabel('source content');
  await expect(ids).toHaveCount(2);
  for (const [i, s] of SOURCES.entries()) {
    await ids.nth(i).fill(s.id);
    await titles.nth(i).fill(s.title);
    await contents.nth(i).fill(s.content);
  }
  await form.getByTestId('submit').click();

  // Completion is read from the page: the status pill turns "completed" when the SSE stream ends.
  await expect(page.getByTestId('status')).toHaveText('completed', { timeout: 60_000 });
  await expect(page.getByTestId('submit')).toBeEnabled();
  await expect(page.getByTestId('provenance-error')).toHaveCount(0);
  executionId = new URL(page.url()).searchParams.get('execution_id') ?? '';
  expect(executionId).toMatch(/^exec-/);

  const receipts = await storedReceipts(executionId);
  receiptCount = receipts.length;
  // planned, and at least a rank/dispatch/complete per step, then the result.
  expect(receiptCount).toBeGreaterThan(5);

  // The execution the page started is the one with this form's question and sources.
  const planned = receipts.find((r) => r.event_kind === 'planned');
  expect(planned?.task_context?.question).toBe(QUESTION);
  expect(planned?.task_context?.source_ids).toEqual(SOURCES.map((s) => s.id));

  // The brief shown is the server's result, and it is built from the submitted sources.
  const result = receipts.at(-1)?.result;
  expect(result?.brief ?? '').not.toBe('');
  const brief = page.getByTestId('brief');
  await expect(brief).toHaveText(result!.brief!);
  await expect(brief).toContainText(/L-theanine|third of the caffeine|sleep onset/);

  // One table row per stored receipt, in seq order.
  const rows = page.getByTestId('receipts').locator('tbody tr');
  await expect(rows).toHaveCount(receiptCount);
  await expect(rows.locator('td:first-child')).toHaveText(receipts.map((r) => String(r.seq)));
  await expect(rows.and(page.locator('.bad'))).toHaveCount(0);

  // Verified by this page's own code, signed by the key pinned on this first visit.
  const verification = page.getByTestId('verification');
  await expect(verification).toHaveText(VERIFIED_WITH_PIN(receiptCount));
  await expect(verification).toHaveClass(/\bok\b/);
  // Pinned on this first visit: the oracle's advertised key.
  const caps = await getJson<{ node_public_key: string }>('/v1/capabilities');
  const signerKey = page.getByTestId('signer-key');
  await expect(signerKey).toHaveAttribute('data-pin', /^(first-use|match)$/);
  await expect(signerKey).toContainText(caps.node_public_key.slice(0, 8));
  // The result was scrolled to: the run's card is on screen, not below the form.
  await expect(page.getByTestId('execution')).toBeInViewport();

  // One drawn node per receipt; steps are named after their sources, not "summarize_source".
  await expectDrawnNodes(page, receiptCount);
  const timeline = page.getByTestId('timeline');
  const summarized = receipts.filter((r) => r.step_id.startsWith('summarize-'));
  expect(summarized.length).toBeGreaterThan(0);
  for (const r of summarized) {
    const title = SOURCES.find((s) => `summarize-${s.id}` === r.step_id)!.title;
    await expect(timeline.locator(`li[data-step="${r.step_id}"]`)).toContainText(
      `Summarize “${title}”`
    );
  }
  await expect(timeline.getByTestId('step-duration').first()).toHaveText(/^\d+(\.\d)? m?s$/);

  await screenshotBothSizes(page, ARTIFACTS, 'provenance');
  await page.setViewportSize({ width: 1280, height: 800 });
});

test('the saved receipts open offline from IndexedDB and verify with the pinned key', async () => {
  test.skip(executionId === '', 'needs the execution of the first test');
  await page.waitForFunction(() => navigator.serviceWorker.controller !== null, undefined, {
    timeout: 30_000
  });
  await expect(page.getByTestId('saved-history')).toContainText(QUESTION);
  await shared.setOffline(true);
  try {
    // Not precached (it has a query): the service worker's navigation fallback serves the shell.
    await page.goto(`${oracle.url}/provenance?execution_id=${encodeURIComponent(executionId)}`);
    await expect(page.getByTestId('opened-from')).toContainText("Opened from this browser's copy");
    await expect(page.getByTestId('verification')).toHaveText(VERIFIED_WITH_PIN(receiptCount));
    await expect(page.getByTestId('signer-key')).toHaveAttribute('data-pin', 'pinned-offline');
    await expect(page.getByTestId('receipts').locator('tbody tr')).toHaveCount(receiptCount);
    await expectDrawnNodes(page, receiptCount);
    await expect(page.getByTestId('side-error')).toContainText('The oracle cannot be reached');
  } finally {
    await shared.setOffline(false);
  }
});

test('a graph node click opens that receipt, and the exports download as JSON, PROV and OTLP', async () => {
  test.skip(executionId === '', 'needs the execution of the first test');
  await page.goto(`${oracle.url}/provenance?execution_id=${encodeURIComponent(executionId)}`);
  await expectDrawnNodes(page, receiptCount);
  const receipts = await storedReceipts(executionId);
  const target = receipts.find((r) => r.event_kind === 'candidate_ranked')!;
  const graph = page.getByTestId('graph');
  const points = JSON.parse((await graph.getAttribute('data-node-points')) ?? '{}') as Record<
    string,
    { x: number; y: number }
  >;
  const point = points[target.receipt_id];
  expect(point, 'the ranked receipt is drawn').toBeDefined();
  await graph.click({ position: point! });
  const details = page.getByTestId('receipt-details');
  await expect(details).toContainText(`Receipt #${target.seq}`);
  await expect(details).toContainText(target.receipt_id);
  await expect(details).toContainText('candidate_ranked');

  const read = async (format: string) => {
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByTestId(`export-${format}`).click()
    ]);
    return JSON.parse(readFileSync((await download.path())!, 'utf8')) as Record<string, unknown>;
  };
  const json = await read('json');
  expect((json.receipts as ExecutionReceipt[]).map((r) => r.receipt_id)).toEqual(
    receipts.map((r) => r.receipt_id)
  );
  const prov = await read('prov');
  expect(Object.keys(prov.entity as object)).toContain(`shard:${target.receipt_id}`);
  expect(Object.keys(prov.activity as object).length).toBeGreaterThan(0);
  const otlp = await read('otel');
  const spans = (
    otlp.resourceSpans as Array<{ scopeSpans: Array<{ spans: Array<{ name: string }> }> }>
  )[0]!.scopeSpans[0]!.spans;
  expect(spans[0]!.name).toBe('invoke_agent research_brief');
  expect(spans.length).toBeGreaterThan(1);
});

test('receipts with equal timestamps are shown in sequence order (arrival reversed by a route intercept, a stand-in)', async ({
  page: fresh
}) => {
  test.skip(executionId === '', 'needs the execution of the first test');
  const receipts = await storedReceipts(executionId);
  const ties = receipts.filter((r, i) => i > 0 && r.timestamp_ms === receipts[i - 1]!.timestamp_ms);
  expect(ties.length, 'the run has receipts that share a millisecond').toBeGreaterThan(0);
  // Stand-in: the oracle's answer is served reversed by a route intercept.
  await fresh.route('**/v1/executions/*/receipts', (route) =>
    route.fulfill({ json: { ok: true, count: receipts.length, receipts: [...receipts].reverse() } })
  );
  await fresh.goto(`${oracle.url}/provenance?execution_id=${encodeURIComponent(executionId)}`);
  const rows = fresh.getByTestId('receipts').locator('tbody tr');
  await expect(rows.locator('td:first-child')).toHaveText(receipts.map((r) => String(r.seq)));
  await expect(fresh.getByTestId('verification')).toHaveClass(/\bok\b/);
});

test('a run error is shown beside Run in plain words', async ({ page: fresh }) => {
  await fresh.goto(`${oracle.url}/provenance`);
  const form = fresh.getByTestId('task-form');
  await form.getByLabel('source id').first().fill('');
  await form.getByTestId('submit').click();
  const error = form.getByTestId('form-error');
  await expect(error).toHaveText('Source 1 needs a short id, such as “coffee”.');
  // Beside the source it names, not at the top of the page.
  await expect(form.locator('fieldset.source').first().getByTestId('form-error')).toBeVisible();
  await expectNoHorizontalOverflow(fresh);
});

test('a receipt edited in the SQLite file fails verification at that receipt, in the page and on the server', async ({
  page
}) => {
  test.skip(executionId === '', 'needs the execution of the previous test');
  const before = await getJson<ChainVerification & { ok: boolean; valid: boolean }>(
    `/v1/executions/${executionId}/receipts/verify`
  );
  expect(before.valid).toBe(true);
  expect(before.verified).toBe(receiptCount);

  // A middle receipt: neither the first nor the last, so a check that only looks at the ends fails.
  const target = Math.floor(receiptCount / 2);
  const tampered = tamperStoredReceipt({
    receiptsPath: oracle.receiptsPath,
    executionId,
    seq: target,
    edit: (r) => ({ ...r, summary: FORGED_SUMMARY })
  });

  // The server now serves the forged content (the attack reached the API)...
  const served = await storedReceipts(executionId);
  expect(served).toHaveLength(receiptCount);
  expect(served[target]?.summary).toBe(FORGED_SUMMARY);
  expect(served[target]?.receipt_id).toBe(tampered.receipt_id);

  // ...and its own verification catches it at that receipt.
  const server = await getJson<
    { ok: boolean } & Omit<ChainVerification, 'ok'> & { valid: boolean }
  >(`/v1/executions/${executionId}/receipts/verify`);
  expect(server.valid).toBe(false);
  expect(server.verified).toBe(target);
  expect(server.first_bad).toMatchObject({
    index: target,
    seq: target,
    receipt_id: tampered.receipt_id,
    reason: 'bad_signature'
  });

  await page.goto(`${oracle.url}/provenance?execution_id=${encodeURIComponent(executionId)}`);
  const verification = page.getByTestId('verification');
  await expect(verification).toContainText(
    `Verification FAILED at receipt #${target} (${tampered.receipt_id}):`,
    { timeout: 30_000 }
  );
  await expect(verification).toContainText('bad_signature');
  await expect(verification).toHaveClass(/\bbad\b/);

  // The forged row is the one marked, and only it.
  const rows = page.getByTestId('receipts').locator('tbody tr');
  await expect(rows).toHaveCount(receiptCount);
  const marked = page.getByTestId('receipts').locator('tbody tr.bad');
  await expect(marked).toHaveCount(1);
  await expect(marked.locator('td').first()).toHaveText(String(target));
  await expect(marked).toContainText(FORGED_SUMMARY);

  // The graph is still drawn in full: the page shows what it was given, flagged.
  await expectDrawnNodes(page, receiptCount);

  await page.setViewportSize({ width: 1280, height: 900 });
  // From the top: the sticky header would otherwise be drawn where the page was scrolled to.
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: `${ARTIFACTS}/provenance-tampered.png`, fullPage: true });
});

test('a receipt on the live stream that is not a valid receipt is left out, with a plain-words error', async ({
  page
}) => {
  test.skip(executionId === '', 'needs the execution of the first test');
  const [first, second] = await storedReceipts(executionId);
  await page.route('**/v1/executions/*/receipts', (route) =>
    route.fulfill({ json: { ok: true, count: 1, receipts: [first] } })
  );
  await page.route('**/v1/executions/*/events', (route) =>
    route.fulfill({
      headers: { 'content-type': 'text/event-stream' },
      body:
        `event: receipt\ndata: ${JSON.stringify(first)}\n\n` +
        `event: receipt\ndata: ${JSON.stringify({ ...second, seq: 'one' })}\n\n` +
        `event: receipt\ndata: not json\n\nevent: end\ndata: {}\n\n`
    })
  );
  await page.goto(`${oracle.url}/provenance?execution_id=${encodeURIComponent(executionId)}`);
  await expect(page.getByTestId('provenance-error')).toContainText(
    'The oracle sent a receipt this page cannot read, so it is not shown'
  );
  await expect(page.getByTestId('receipts').locator('tbody tr')).toHaveCount(1);
});
