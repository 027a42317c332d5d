// Token buckets in the database, so every replica draws from the same bucket.
// One statement takes a token when there is one; only a refused take reads
// the bucket again to say how long to wait.
// The refill is src/domain/rateLimit.ts's, written in SQL so it runs on the
// database's clock.
import { secondsUntilToken, type Limit } from '../domain/rateLimit.ts';
import type { Queryable } from './db.ts';

/** Takes one token from the bucket `key`; returns 0 when allowed, else the seconds to wait. */
export async function takeToken(q: Queryable, key: string, limit: Limit): Promise<number> {
  const refilled = `LEAST($2::float8, b.tokens + extract(epoch FROM now() - b.at) * $3::float8)`;
  const taken = await q.query(
    `INSERT INTO rate_buckets AS b (key, tokens, at) VALUES ($1, $2::float8 - 1, now())
     ON CONFLICT (key) DO UPDATE SET tokens = ${refilled} - 1, at = now()
      WHERE ${refilled} >= 1
     RETURNING key`,
    [key, limit.burst, limit.perSecond],
  );
  if (taken.length > 0) return 0;
  const rows = await q.query<{ tokens: number }>(`SELECT ${refilled} AS tokens FROM rate_buckets b WHERE key = $1`, [key, limit.burst, limit.perSecond]);
  return secondsUntilToken(Number(rows[0]?.tokens ?? 0), limit);
}
