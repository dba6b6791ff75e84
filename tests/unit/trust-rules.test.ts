/**
 * Trust rules on their own: a golden ticket's scoring against the reference distribution (drift
 * tolerated, cheating not), the ban rules and their predicted detection times, the SQLite
 * ledger (bans survive reopening the file and expire on time), and signed ban announcements.
 */
import { generateKeyPair } from '@libp2p/crypto/keys';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { NEAR_TIE_MARGIN } from '../../native-oracle/mesh/constants.js';
import {
  banReason,
  mulberry32,
  predictTicketsToBan,
  recordTicket,
  simulateTicketsToBan,
  type TicketRecord
} from '../../native-oracle/mesh/trust/detection.js';
import { createTrustLedger } from '../../native-oracle/mesh/trust/index.js';
import {
  isTokenCorrect,
  scoreRound,
  scoreTicket,
  type ReferenceStep
} from '../../native-oracle/mesh/trust/scoring.js';
import { openBan, signBan, type ScoutBanPayload } from '../../src/lib/protocol/mesh.js';

const RULE = { reputationThreshold: 0.7, minAttemptsBeforeBan: 3 };
const step = (top: Array<[number, number]>): ReferenceStep => ({ token: top[0][0], top });

describe('golden ticket scoring', () => {
  it('accepts the argmax, and a near-tie runner-up within the margin; rejects anything else', () => {
    const tie = step([
      [5, 0.45],
      [9, 0.45 - NEAR_TIE_MARGIN / 2],
      [3, 0.05]
    ]);
    expect(isTokenCorrect(tie, 5)).toBe(true);
    expect(isTokenCorrect(tie, 9)).toBe(true);
    expect(isTokenCorrect(tie, 3)).toBe(false);
    expect(isTokenCorrect(tie, 77)).toBe(false);
    const clear = step([
      [5, 0.9],
      [9, 0.05]
    ]);
    expect(isTokenCorrect(clear, 9)).toBe(false);
  });

  it('a round stops scoring after the first non-argmax token; accepted counts the matching prefix', () => {
    const ref = [1, 2, 3, 4].map((t) => step([[t, 0.9]]));
    expect(scoreRound([1, 2, 3, 4], ref)).toEqual({ scored: 4, correct: 4, accepted: 4 });
    expect(scoreRound([1, 2, 7, 4], ref)).toEqual({ scored: 3, correct: 2, accepted: 2 });
    expect(scoreRound([], ref)).toEqual({ scored: 0, correct: 0, accepted: 0 });
  });

  it('a ticket passes at half its scored tokens correct; a silent one fails', () => {
    expect(scoreTicket([{ scored: 4, correct: 2, accepted: 2 }]).isPassed).toBe(true);
    expect(scoreTicket([{ scored: 4, correct: 1, accepted: 1 }]).isPassed).toBe(false);
    expect(scoreTicket([{ scored: 0, correct: 0, accepted: 0 }]).isPassed).toBe(false);
    expect(scoreTicket([]).isPassed).toBe(false);
  });

  it('property: an honest drafter with drift inside the margin always passes (seeded)', () => {
    const random = mulberry32(7);
    for (let trial = 0; trial < 500; trial++) {
      const ref = Array.from({ length: 9 }, () => {
        const p1 = 0.2 + random() * 0.7;
        const p2 = Math.max(0, p1 - random() * 0.3);
        return step([
          [1, p1],
          [2, p2],
          [3, 0.01]
        ]);
      });
      // Drift: where the reference nearly tied, the honest backend may pick the runner-up.
      const drafts = ref.map((s) => (s.top[0][1] - s.top[1][1] < NEAR_TIE_MARGIN / 2 ? 2 : 1));
      expect(scoreTicket([scoreRound(drafts, ref)]).isPassed).toBe(true);
    }
  });
});

describe('ban rules', () => {
  const after = (outcomes: boolean[]) =>
    outcomes.reduce<TicketRecord>((r, ok) => recordTicket(r, ok, RULE), {
      attempts: 0,
      correct: 0,
      cusum: 0
    });

  it('threshold rule: three failures ban at the third ticket, not before', () => {
    expect(banReason(after([false, false]), RULE)).toBeNull();
    expect(banReason(after([false, false, false]), RULE)).toMatch(/0\/3 passed/);
  });

  it('CUSUM: a scout failing every fifth ticket after a long honest record is still banned', () => {
    const honest = Array<boolean>(500).fill(true);
    const record = after(honest);
    expect(record.cusum).toBe(0);
    let r = record;
    let n = 0;
    while (!banReason(r, RULE) && n < 1000) {
      r = recordTicket(r, n % 5 !== 0, RULE);
      n++;
    }
    expect(banReason(r, RULE)).toMatch(/cusum/);
    expect(n).toBeLessThan(100);
  });

  it('an honest scout that fails 1% of tickets is not banned in 1,000 tickets (seeded runs)', () => {
    const random = mulberry32(3);
    let bans = 0;
    for (let trial = 0; trial < 200; trial++)
      if (simulateTicketsToBan(0.01, RULE, random, 1000) !== Infinity) bans++;
    // 1 - 0.99^3 ≈ 3% fail once in their first three tickets (the threshold rule's price).
    expect(bans / 200).toBeLessThan(0.06);
  });

  it('predicted tickets to ban: 3 at 100% cheating, a handful at 50%, tens at 20%', () => {
    expect(predictTicketsToBan(1, RULE, { trials: 2000 })).toEqual({ mean: 3, p50: 3, p99: 3 });
    expect(predictTicketsToBan(0.5, RULE, { trials: 2000 }).p99).toBeLessThanOrEqual(20);
    const low = predictTicketsToBan(0.2, RULE, { trials: 2000 });
    expect(low.p99).toBeLessThan(100);
    expect(low.mean).toBeGreaterThan(5);
  });
});

describe('trust ledger (SQLite file)', () => {
  it('records tickets, bans on the rules, and the ban survives reopening the file and expires on time', () => {
    const path = join(mkdtempSync(join(tmpdir(), 'shard-trust-')), 'scout-trust.sqlite');
    const clock = { now: 1_000_000 };
    const open = () =>
      createTrustLedger({ path, ...RULE, banDurationHours: 24, now: () => clock.now });
    const ledger = open();
    expect(ledger.recordTicket('scout-a', false).ban).toBeNull();
    expect(ledger.recordTicket('scout-a', false).ban).toBeNull();
    const third = ledger.recordTicket('scout-a', false);
    expect(third.ban).toMatchObject({
      peer_id: 'scout-a',
      failed_attempts: 3,
      ban_duration_hours: 24
    });
    ledger.recordAcceptance('scout-b', 10, 7);
    ledger.close();
    const reopened = open();
    expect(reopened.isBanned('scout-a')).toBe(true);
    expect(reopened.get('scout-a')).toMatchObject({ golden_attempts: 3, golden_correct: 0 });
    expect(reopened.acceptance('scout-b')).toEqual({ sessions: 1, drafted: 10, accepted: 7 });
    expect(reopened.bans().map((b) => b.peer_id)).toEqual(['scout-a']);
    clock.now += 24 * 3_600_000 - 1;
    expect(reopened.isBanned('scout-a')).toBe(true);
    clock.now += 2;
    expect(reopened.isBanned('scout-a')).toBe(false);
    expect(reopened.bans()).toEqual([]);
    reopened.ban({ peerId: 'scout-c', reason: 'operator', hours: 0 });
    clock.now += 1e12;
    expect(reopened.isBanned('scout-c')).toBe(true);
    reopened.close();
  });
});

describe('signed ban announcements', () => {
  it('open a ban signed by the named oracle; reject another key or an edited payload', async () => {
    const key = await generateKeyPair('Ed25519');
    const other = await generateKeyPair('Ed25519');
    const oracle = peerIdFromPrivateKey(key).toString();
    const payload: ScoutBanPayload = {
      oraclePeerId: oracle,
      scoutPeerId: 'scout-x',
      reason: 'golden tickets',
      bannedAtMs: 1,
      durationHours: 24,
      failedAttempts: 3
    };
    const verifyFor = (id: string) => {
      const pub = id === oracle ? key.publicKey : null;
      return pub ? (d: Uint8Array, s: Uint8Array) => pub.verify(d, s) : null;
    };
    const signed = await signBan(payload, (d) => key.sign(d));
    expect(await openBan(signed, verifyFor)).toEqual(payload);
    const forged = await signBan(payload, (d) => other.sign(d));
    await expect(openBan(forged, verifyFor)).rejects.toMatchObject({ reason: 'bad-signature' });
    const edited = { ...signed, payload: signed.payload.replace('scout-x', 'scout-y') };
    await expect(openBan(edited, verifyFor)).rejects.toMatchObject({ reason: 'bad-signature' });
  });
});
