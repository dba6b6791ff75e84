import { describe, expect, it } from 'vitest';
import { createAdmissionQueue } from '../../native-oracle/admission/queue.js';

describe('admission queue', () => {
  it('admits up to maxConcurrent at once and queues the rest in FIFO order', async () => {
    const q = createAdmissionQueue({ maxConcurrent: 2, maxQueued: 3 });
    const r1 = await q.acquire();
    const r2 = await q.acquire();
    const order: number[] = [];
    const waiting = [3, 4, 5].map((n) => q.acquire().then((release) => (order.push(n), release)));
    expect(q.snapshot()).toEqual({ active: 2, queued: 3, maxConcurrent: 2, maxQueued: 3 });
    r1();
    const r3 = await waiting[0]!;
    r2();
    const r4 = await waiting[1]!;
    r3();
    const r5 = await waiting[2]!;
    expect(order).toEqual([3, 4, 5]);
    r4();
    r5();
    expect(q.snapshot()).toMatchObject({ active: 0, queued: 0 });
  });

  it('a newcomer never overtakes a waiter (no starvation)', async () => {
    const q = createAdmissionQueue({ maxConcurrent: 1, maxQueued: 4 });
    const first = await q.acquire();
    const order: string[] = [];
    const waiter = q.acquire().then((r) => (order.push('waiter'), r));
    first();
    // The slot was handed to the waiter at release time; this newcomer must queue behind it.
    const newcomer = q.acquire().then((r) => (order.push('newcomer'), r));
    (await waiter)();
    (await newcomer)();
    expect(order).toEqual(['waiter', 'newcomer']);
  });

  it('rejects with QueueFullError and a Retry-After when the queue is full', async () => {
    const q = createAdmissionQueue({ maxConcurrent: 1, maxQueued: 1 });
    const held = await q.acquire();
    const queued = q.acquire();
    const err = (await q.acquire().catch((e: unknown) => e)) as Error & { retryAfterS: number };
    expect(err).toMatchObject({ name: 'QueueFullError' });
    expect(err.message).toMatch(/queue limit 1/);
    expect(err.retryAfterS).toBeGreaterThanOrEqual(1);
    held();
    (await queued)();
  });

  it('maxQueued 0 rejects whenever all slots are busy', async () => {
    const q = createAdmissionQueue({ maxConcurrent: 1, maxQueued: 0 });
    const held = await q.acquire();
    await expect(q.acquire()).rejects.toMatchObject({ name: 'QueueFullError' });
    held();
    (await q.acquire())();
  });

  it('a waiter whose signal aborts leaves the queue and does not take a slot', async () => {
    const q = createAdmissionQueue({ maxConcurrent: 1, maxQueued: 2 });
    const held = await q.acquire();
    const ac = new AbortController();
    const leaving = q.acquire(ac.signal);
    const staying = q.acquire();
    expect(q.snapshot().queued).toBe(2);
    ac.abort();
    await expect(leaving).rejects.toMatchObject({ name: 'AdmissionAbortedError' });
    expect(q.snapshot().queued).toBe(1);
    held();
    const r = await staying;
    expect(q.snapshot()).toMatchObject({ active: 1, queued: 0 });
    r();
    expect(q.snapshot().active).toBe(0);
  });

  it('release is idempotent', async () => {
    const q = createAdmissionQueue({ maxConcurrent: 1, maxQueued: 1 });
    const r = await q.acquire();
    r();
    r();
    expect(q.snapshot().active).toBe(0);
    const again = await q.acquire();
    expect(q.snapshot().active).toBe(1);
    again();
  });

  it('an already-aborted signal is refused at once', async () => {
    const q = createAdmissionQueue({ maxConcurrent: 1 });
    await expect(q.acquire(AbortSignal.abort())).rejects.toMatchObject({
      name: 'AdmissionAbortedError'
    });
    expect(q.snapshot().active).toBe(0);
  });
});
