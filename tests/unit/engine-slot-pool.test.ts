/**
 * The engine's sequence pool (native-oracle/engine/slot-pool.ts) with in-memory sequences: a new
 * generation gets the free sequence whose cache shares the longest prefix with its prompt, a full
 * pool answers EngineBusyError, release is idempotent, and dispose's wait ends when the last
 * lease is released (or at its timeout).
 */
import { describe, expect, it } from 'vitest';
import { EngineBusyError } from '../../native-oracle/engine/errors.js';
import { SlotPool } from '../../native-oracle/engine/slot-pool.js';

const sequence = (contextTokens: number[]) => ({ contextTokens });

describe('slot pool', () => {
  it('hands out the free sequence with the longest shared cached prefix', () => {
    const a = sequence([1, 2, 9]);
    const b = sequence([1, 2, 3, 4]);
    const c = sequence([]);
    const pool = new SlotPool([a, b, c]);
    expect(pool.acquire([1, 2, 3, 5]).sequence).toBe(b);
    expect(pool.acquire([1, 2, 3, 5]).sequence).toBe(a);
    expect(pool.acquire(null).sequence).toBe(c);
  });

  it('throws EngineBusyError when every sequence is leased; release frees one once', () => {
    const pool = new SlotPool([sequence([]), sequence([])]);
    const first = pool.acquire(null);
    pool.acquire(null);
    expect(pool.hasFree).toBe(false);
    expect(() => pool.acquire(null)).toThrow(EngineBusyError);
    first.release();
    first.release();
    expect(pool.hasFree).toBe(true);
    pool.acquire(null);
    expect(() => pool.acquire(null)).toThrow(EngineBusyError);
  });

  it('abortAll aborts leased signals; waitIdle resolves when the last lease is released', async () => {
    const pool = new SlotPool([sequence([]), sequence([])]);
    const a = pool.acquire(null);
    const b = pool.acquire(null);
    const reason = new Error('disposed');
    pool.abortAll(reason);
    expect(a.signal.reason).toBe(reason);
    expect(b.signal.aborted).toBe(true);
    let isIdle = false;
    const idle = pool.waitIdle(60_000).then(() => (isIdle = true));
    a.release();
    await Promise.resolve();
    expect(isIdle).toBe(false);
    b.release();
    await idle;
    expect(isIdle).toBe(true);
    await pool.waitIdle(60_000); // already idle: returns at once
  });
});
