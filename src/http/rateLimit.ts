// Token buckets in process memory, for the request limit per token: it
// protects each replica's own CPU, so each replica keeps its own. The limits
// that must hold across replicas (writes per user, failed authentications per
// address) are buckets in the database (src/store/rateBuckets.ts).
import { secondsUntilToken, type Limit } from '../store/rateBuckets.ts';

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
    b.tokens = Math.min(this.limit.burst, b.tokens + ((t - b.at) / 1000) * this.limit.perSecond);
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

  /** Full buckets carry no state worth keeping. */
  private sweep(t: number) {
    for (const [k, b] of this.buckets) {
      if (b.tokens + ((t - b.at) / 1000) * this.limit.perSecond >= this.limit.burst) this.buckets.delete(k);
    }
  }
}
