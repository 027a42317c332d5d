// Token-bucket arithmetic, shared by the buckets in process memory
// (src/service/rateLimiter.ts) and those in the database (src/store/rateBuckets.ts,
// where the same refill is written in SQL): a bucket holds up to `burst`
// tokens, refills at `perSecond`, and a request takes one.

export type Limit = { perSecond: number; burst: number };

/** What a bucket holding `tokens` holds `elapsedSeconds` later: refilled, never past its burst. */
export function refill(tokens: number, elapsedSeconds: number, limit: Limit): number {
  return Math.min(limit.burst, tokens + elapsedSeconds * limit.perSecond);
}

/** Whole seconds (at least 1) until a bucket holding `tokens` has one to give. */
export function secondsUntilToken(tokens: number, limit: Limit): number {
  return Math.max(1, Math.ceil((1 - tokens) / limit.perSecond));
}
