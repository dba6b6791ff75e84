import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createRateLimiter } from '../../native-oracle/admission/rate-limit.js';

describe('token-bucket rate limiter', () => {
  it('admits a burst of perMinute requests, then refuses with a Retry-After until a token refills', () => {
    let t = 1_000_000;
    const limiter = createRateLimiter({ perMinute: 6, now: () => t });
    for (let i = 0; i < 6; i++) expect(limiter.take('a').isAllowed).toBe(true);
    const refused = limiter.take('a');
    expect(refused).toEqual({ isAllowed: false, retryAfterS: 10 });
    t += 9_999;
    expect(limiter.take('a').isAllowed).toBe(false);
    t += 1;
    expect(limiter.take('a').isAllowed).toBe(true);
  });

  it('keeps separate buckets per key', () => {
    const t = 0;
    const limiter = createRateLimiter({ perMinute: 1, now: () => t });
    expect(limiter.take('a').isAllowed).toBe(true);
    expect(limiter.take('a').isAllowed).toBe(false);
    expect(limiter.take('b').isAllowed).toBe(true);
  });

  it('perMinute 0 disables limiting', () => {
    const limiter = createRateLimiter({ perMinute: 0, now: () => 0 });
    for (let i = 0; i < 1000; i++) expect(limiter.take('a').isAllowed).toBe(true);
  });

  it('never admits more than capacity + rate * elapsed (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 120 }),
        fc.array(fc.integer({ min: 0, max: 5_000 }), { minLength: 1, maxLength: 400 }),
        (perMinute, gaps) => {
          let t = 0;
          const limiter = createRateLimiter({ perMinute, now: () => t });
          let admitted = 0;
          for (const gap of gaps) {
            t += gap;
            if (limiter.take('k').isAllowed) admitted += 1;
          }
          expect(admitted).toBeLessThanOrEqual(perMinute + Math.floor((t * perMinute) / 60_000));
        }
      ),
      { seed: 42, numRuns: 200 }
    );
  });

  it('a refused client is admitted again once Retry-After seconds have passed (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 600 }), (perMinute) => {
        let t = 0;
        const limiter = createRateLimiter({ perMinute, now: () => t });
        let decision = limiter.take('k');
        while (decision.isAllowed) decision = limiter.take('k');
        t += decision.retryAfterS * 1000;
        expect(limiter.take('k').isAllowed).toBe(true);
      }),
      { seed: 7, numRuns: 100 }
    );
  });

  it('evicts buckets beyond maxBuckets without losing active limits for new keys', () => {
    const limiter = createRateLimiter({ perMinute: 1, now: () => 0, maxBuckets: 3 });
    for (const k of ['a', 'b', 'c', 'd', 'e']) expect(limiter.take(k).isAllowed).toBe(true);
    expect(limiter.take('e').isAllowed).toBe(false);
  });
});
