// Token buckets in process memory, for the request limit per token: it
// protects each replica's own CPU, so each replica keeps its own. The limits
// that must hold across replicas (writes per user, failed authentications per
// address) are buckets in the database (src/store/rateBuckets.ts).
import { refill, secondsUntilToken, type Limit } from '../domain/rateLimit.ts';

type Bucket = { tokens: number; at: number };

export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  constructor(
    private readonly limit: Limit,
    private readonly now: () => number = () => Date.now(),
  ) {}

  /** Takes one token; returns 0 when allowed, else the seconds to wait. */
  take(key: string): number {
    const t = this.now();
    const b = this.buckets.get(key) ?? { tokens: this.limit.burst, at: t };
    b.tokens = refill(b.tokens, (t - b.at) / 1000, this.limit);
    b.at = t;
    if (b.tokens >= 1) {
      b.tokens -= 1;
      this.buckets.set(key, b);
      if (this.buckets.size > 50_000) this.sweep(t);
      return 0;
    }
    this.buckets.set(key, b);
    return secondsUntilToken(b.tokens, this.limit);
  }

  /** How many buckets are kept (full ones are dropped now and then). */
  get size(): number {
    return this.buckets.size;
  }

  /** Full buckets carry no state worth keeping. */
  private sweep(t: number) {
    for (const [k, b] of this.buckets) {
      if (refill(b.tokens, (t - b.at) / 1000, this.limit) >= this.limit.burst) this.buckets.delete(k);
    }
  }
}
