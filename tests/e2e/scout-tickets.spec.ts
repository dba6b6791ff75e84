/**
 * An honest browser scout under audit without end: the stack's oracle runs golden tickets at
 * `goldenTicketRate: 1` (every session a ticket, back to back), scored against the draft model it
 * serves at /models/draft.gguf (the real reference, run in the oracle by node-llama-cpp), while a
 * Chromium /scout tab drafts with wllama (llama.cpp in WASM) on that same GGUF. Over 200 tickets
 * the scout clears probation and is never banned; the figures (pass rate, tokens and tickets
 * that passed only through the scoring's near-tie tolerance, i.e. measured backend drift) are
 * printed as JSON and attached to the report.
 */
import { expect, test } from '@playwright/test';
import { startScouting } from './helpers/scout-page.js';
import { startMeshStack, type MeshStack } from './helpers/stack.js';

/** Tickets the scout must have answered. */
const TICKETS = 200;
/** Bound on the whole wait: about 0.5 s a ticket on two busy cores, with room to spare. */
const TICKETS_TIMEOUT_MS = 480_000;

let stack: MeshStack;

test.beforeAll(async () => {
  stack = await startMeshStack({ mesh: { goldenTicketRate: 1 } });
});

test.afterAll(async () => {
  await stack?.close();
});

test('an honest wllama scout passes 200+ golden tickets and is never banned', async ({
  page
}, testInfo) => {
  test.setTimeout(TICKETS_TIMEOUT_MS + 180_000);
  const startedAt = performance.now();
  await startScouting(page, stack.url);
  await expect(page.getByTestId('engine-in-use')).toContainText('wllama · draft.gguf');
  const scoutId = (await page.getByTestId('scout-id').textContent())?.trim();
  expect(scoutId).toBeTruthy();
  // Probation: three passed tickets make the scout reputable under the default floor.
  await stack.mesh.waitForScouts(1, AbortSignal.timeout(60_000));
  const entry = () => stack.mesh.reputation().find((r) => r.peer_id === scoutId);
  await expect
    .poll(() => entry()?.golden_attempts ?? 0, {
      timeout: TICKETS_TIMEOUT_MS,
      intervals: [2_000]
    })
    .toBeGreaterThanOrEqual(TICKETS);

  const record = entry()!;
  const stats = stack.mesh.ticketStats();
  const report = {
    scout: scoutId,
    tickets_answered: record.golden_attempts,
    tickets_passed: record.golden_correct,
    pass_rate: record.golden_correct / record.golden_attempts,
    near_tie_tokens: stats.nearTieTokens,
    passed_only_by_near_tie: stats.passedByNearTie,
    void_tickets: stats.void,
    protocol_offences: record.protocol_offences,
    mean_ticket_cost_ms: Math.round(stats.meanCostMs),
    run_seconds: Math.round((performance.now() - startedAt) / 1000)
  };
  console.log(JSON.stringify({ scoutTickets: report }));
  await testInfo.attach('scout-tickets.json', {
    body: JSON.stringify(report, null, 2),
    contentType: 'application/json'
  });

  expect(stack.mesh.bans()).toEqual([]);
  expect(record.is_banned).toBe(false);
  expect(record.protocol_offences).toBe(0);
  // Rule A's threshold, held over the whole run, not only at the end.
  expect(record.accuracy).toBeGreaterThanOrEqual(0.7);
  // Probation cleared (waitForScouts above saw it reputable) and never lost.
  expect(record.golden_correct).toBeGreaterThanOrEqual(3);
  await page.getByTestId('scout-toggle').click();
  await expect(page.getByTestId('scout-phase')).toHaveText('Not scouting');
});
