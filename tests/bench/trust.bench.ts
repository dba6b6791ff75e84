/**
 * Trust benchmark (`tsx tests/bench/trust.bench.ts`); prints one JSON object as its last line:
 *
 * - honest_false_bans: bans an honest scout earns over TRUST_BENCH_HONEST_TICKETS (default
 *   1,000) golden tickets, each a real ticket (the reference model's context and chain) answered
 *   by an independently loaded copy of the draft model drafting greedily, scored by the real
 *   rules into a real ledger. Goal 0. Also the honest ticket failure rate.
 * - jobs_to_ban: tickets to ban for cheat rates 1.0, 0.5 and 0.2, measured over
 *   TRUST_BENCH_TRIALS seeded runs (each ticket: the honest answer of one of the tickets above,
 *   or random tokens with probability f) against the prediction of the detection math
 *   (README, "Detection math").
 * - probation_seconds: from the real Node scout's ready line to its first `reputable` status,
 *   over the real mesh on loopback.
 * - oracle_ms_per_ticket: the oracle's cost to make a ticket (the reference model's run).
 */
import '../../src/lib/server/node-compat.js';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createOracleMesh } from '../../native-oracle/mesh/index.js';
import { DEFAULT_DRAFT_LENGTH } from '../../native-oracle/mesh/constants.js';
import { mulberry32, predictTicketsToBan } from '../../native-oracle/mesh/trust/detection.js';
import { createTrustLedger } from '../../native-oracle/mesh/trust/index.js';
import { loadTicketReference } from '../../native-oracle/mesh/trust/reference.js';
import { scoreRound, scoreTicket } from '../../native-oracle/mesh/trust/scoring.js';
import { createLlamaDraftEngine } from '../../workers/scout/llama-draft-engine.js';
import { spawnTsx, waitFor } from '../integration/mesh-harness.js';
import { ensureTestModels } from '../helpers/models.js';

const note = (msg: string) => process.stderr.write(`[bench:trust] ${msg}\n`);
const round = (x: number, digits = 3) => Math.round(x * 10 ** digits) / 10 ** digits;
const HONEST_TICKETS = Number(process.env.TRUST_BENCH_HONEST_TICKETS ?? 1000);
const TRIALS = Number(process.env.TRUST_BENCH_TRIALS ?? 300);
const RULE = { reputationThreshold: 0.7, minAttemptsBeforeBan: 3, banDurationHours: 24 };
const K = DEFAULT_DRAFT_LENGTH;

const models = await ensureTestModels();

/** Real tickets answered honestly: their verdicts, and the oracle's cost per ticket. */
async function honestTickets() {
  const reference = await loadTicketReference({ modelPath: models.draftPath });
  const scout = await createLlamaDraftEngine({ modelPath: models.draftPath, threads: 1 });
  const random = mulberry32(20261202);
  const ledger = createTrustLedger({ path: ':memory:', ...RULE });
  const verdicts: boolean[] = [];
  let costMs = 0;
  let bans = 0;
  for (let i = 0; i < HONEST_TICKETS; i++) {
    const ticket = await reference.makeTicket(K, random);
    costMs += ticket.costMs;
    const drafts = await scout.draft(ticket.context, Math.min(K, ticket.reference.length));
    const verdict = scoreTicket([scoreRound(drafts, ticket.reference)]).isPassed;
    verdicts.push(verdict);
    if (ledger.recordTicket('honest', verdict).ban) bans++;
    if ((i + 1) % 200 === 0)
      note(`${i + 1} honest tickets, ${verdicts.filter((v) => !v).length} failed`);
  }
  await scout.dispose();
  await reference.dispose();
  ledger.close();
  return { verdicts, bans, costMs: costMs / HONEST_TICKETS };
}

/** Tickets to ban for a cheat rate, measured over seeded runs through a real ledger. */
function measureJobsToBan(failRate: number, honest: boolean[]) {
  const random = mulberry32(7 + Math.round(failRate * 100));
  const runs: number[] = [];
  for (let t = 0; t < TRIALS; t++) {
    const ledger = createTrustLedger({ path: ':memory:', ...RULE });
    let n = 0;
    for (;;) {
      n++;
      const isCheating = random() < failRate;
      // A cheated ticket is random tokens: it passes only if they hit the reference (~1/5550).
      const verdict = isCheating ? false : honest[Math.floor(random() * honest.length)];
      if (ledger.recordTicket('cheater', verdict).ban || n > 100_000) break;
    }
    runs.push(n);
    ledger.close();
  }
  runs.sort((a, b) => a - b);
  const predicted = predictTicketsToBan(failRate, RULE, { trials: 20_000 });
  return {
    measured: {
      mean: round(runs.reduce((s, x) => s + x, 0) / runs.length, 1),
      p50: runs[Math.floor(runs.length / 2)],
      p99: runs[Math.min(runs.length - 1, Math.floor(runs.length * 0.99))]
    },
    predicted: { mean: round(predicted.mean, 1), p50: predicted.p50, p99: predicted.p99 }
  };
}

/** Seconds from the Node scout's ready line to `reputable`, over the real mesh. */
async function probationSeconds(): Promise<number> {
  const mesh = await createOracleMesh({
    engine: {
      modelId: 'target',
      tokenizerFingerprint: models.manifest.tokenizerFingerprint,
      vocabularySize: models.manifest.vocabSize
    },
    draftModelPath: models.draftPath,
    dataDir: mkdtempSync(join(tmpdir(), 'shard-bench-trust-')),
    announceSeconds: 60
  });
  await mesh.start();
  const addr = mesh.multiaddrs().find((a) => !a.includes('p2p-circuit'))!;
  const scout = await spawnTsx<{ peerId: string }>(
    'workers/scout/node-scout.ts',
    ['--oracle', addr, '--model', models.draftPath, '--threads', '1'],
    'scout:ready'
  );
  const started = performance.now();
  try {
    await waitFor(
      'reputable',
      () => mesh.peers().find((p) => p.peer_id === scout.ready.peerId)?.trust === 'reputable',
      120_000
    );
    return (performance.now() - started) / 1000;
  } finally {
    await scout.stop('SIGKILL');
    await mesh.stop();
  }
}

const probation = await probationSeconds();
note(`probation cleared in ${probation.toFixed(2)} s`);
const honest = await honestTickets();
const failed = honest.verdicts.filter((v) => !v).length;
note(`honest: ${failed}/${honest.verdicts.length} tickets failed, ${honest.bans} bans`);
const jobs: Record<string, unknown> = {};
for (const f of [1, 0.5, 0.2]) {
  jobs[String(f)] = measureJobsToBan(f, honest.verdicts);
  note(`cheat ${f}: ${JSON.stringify(jobs[String(f)])}`);
}
process.stdout.write(
  JSON.stringify({
    bench: 'trust',
    jobs_to_ban: jobs,
    honest_false_bans: honest.bans,
    honest_tickets: honest.verdicts.length,
    honest_ticket_failure_rate: round(failed / honest.verdicts.length, 4),
    probation_seconds: round(probation, 2),
    oracle_ms_per_ticket: round(honest.costMs, 1)
  }) + '\n'
);
process.exit(0);
