/**
 * Token-bucket rate limiting per client identity (API key or client address). Each bucket holds
 * up to `perMinute` tokens and refills continuously at `perMinute / 60` tokens per second, so a
 * client may burst `perMinute` requests and then sustain `perMinute` per minute.
 */

export interface RateLimiterOptions {
  /** Sustained requests per minute and bucket capacity; 0 disables limiting. Default 60. */
  perMinute?: number;
  /** Clock in milliseconds; default Date.now (tests inject a fake clock). */
  now?: () => number;
  /** Buckets kept at most; idle full buckets are evicted first. Default 10 000. */
  maxBuckets?: number;
}

export type RateDecision =
  { isAllowed: true; remaining: number } | { isAllowed: false; retryAfterS: number };

export interface RateLimiter {
  readonly perMinute: number;
  /** Takes one token from `key`'s bucket; returns whether the request may proceed. */
  take(key: string): RateDecision;
  /** Whether `key`'s bucket holds a token now, without taking it. */
  peek(key: string): RateDecision;
}

/** Default requests per minute when SHARD_RATE_LIMIT_PER_MINUTE is not set. */
export const DEFAULT_RATE_LIMIT_PER_MINUTE = 60;

interface Bucket {
  tokens: number;
  updatedMs: number;
}

/** Creates a rate limiter. */
export function createRateLimiter(options: RateLimiterOptions = {}): RateLimiter {
  const perMinute = Math.max(0, options.perMinute ?? DEFAULT_RATE_LIMIT_PER_MINUTE);
  const now = options.now ?? Date.now;
  const maxBuckets = options.maxBuckets ?? 10_000;
  const refillPerMs = perMinute / 60_000;
  const buckets = new Map<string, Bucket>();

  const refill = (b: Bucket, t: number) => {
    b.tokens = Math.min(perMinute, b.tokens + (t - b.updatedMs) * refillPerMs);
    b.updatedMs = t;
  };

  const evict = (t: number) => {
    for (const [key, b] of buckets) {
      refill(b, t);
      if (b.tokens >= perMinute) buckets.delete(key);
    }
    // Still too many active clients: drop the oldest entries (Map keeps insertion order).
    while (buckets.size >= maxBuckets) {
      const oldest = buckets.keys().next().value as string;
      buckets.delete(oldest);
    }
  };

  return {
    perMinute,
    take(key: string): RateDecision {
      if (perMinute === 0) return { isAllowed: true, remaining: Infinity };
      const t = now();
      let b = buckets.get(key);
      if (!b) {
        if (buckets.size >= maxBuckets) evict(t);
        b = { tokens: perMinute, updatedMs: t };
        buckets.set(key, b);
      } else {
        refill(b, t);
      }
      if (b.tokens >= 1) {
        b.tokens -= 1;
        return { isAllowed: true, remaining: Math.floor(b.tokens) };
      }
      const retryAfterS = Math.max(1, Math.ceil((1 - b.tokens) / refillPerMs / 1000));
      return { isAllowed: false, retryAfterS };
    },
    peek(key: string): RateDecision {
      const b = buckets.get(key);
      if (perMinute === 0 || !b) return { isAllowed: true, remaining: perMinute || Infinity };
      refill(b, now());
      if (b.tokens >= 1) return { isAllowed: true, remaining: Math.floor(b.tokens) };
      return {
        isAllowed: false,
        retryAfterS: Math.max(1, Math.ceil((1 - b.tokens) / refillPerMs / 1000))
      };
    }
  };
}
