// Idempotency keys: one row per user and key, holding the hash of the request
// it was first used for, whether that request's write was applied, and the
// answer once there is one. The rules around them are in src/service/idempotency.ts.
import type { Queryable, Tx } from './db.ts';

/** A key as a user sent it: keys are per user. */
export type KeyRef = { userId: number; key: string };

export type IdempotencyKeyRow = {
  user_id: number;
  key: string;
  request_hash: string;
  status_code: number | null;
  response: string | null;
  applied: boolean;
  created_at: Date;
};

/** Reserves the key for this request; false when the key is already there. */
export async function reserveKey(q: Queryable, ref: KeyRef, requestHash: string): Promise<boolean> {
  const rows = await q.query(
    'INSERT INTO idempotency_keys (user_id, key, request_hash) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING RETURNING key',
    [ref.userId, ref.key, requestHash],
  );
  return rows.length > 0;
}

export async function findKey(q: Queryable, ref: KeyRef): Promise<IdempotencyKeyRow | null> {
  const rows = await q.query<IdempotencyKeyRow>('SELECT * FROM idempotency_keys WHERE user_id = $1 AND key = $2', [ref.userId, ref.key]);
  return rows[0] ?? null;
}

/**
 * Takes over a key whose request was neither answered nor applied and was
 * reserved more than `olderThanSeconds` ago (its server died before
 * committing): its clock restarts. False when the key is not like that.
 */
export async function takeOverAbandoned(q: Queryable, ref: KeyRef, olderThanSeconds: number): Promise<boolean> {
  const rows = await q.query(
    `UPDATE idempotency_keys SET created_at = now() WHERE user_id = $1 AND key = $2 AND status_code IS NULL
        AND NOT applied AND created_at < now() - make_interval(secs => $3) RETURNING key`,
    [ref.userId, ref.key, olderThanSeconds],
  );
  return rows.length > 0;
}

/**
 * Marks the key's request applied, inside the transaction of its write; false
 * when it already was (another attempt applied it) or the key is gone.
 */
export async function markApplied(tx: Tx, ref: KeyRef): Promise<boolean> {
  const rows = await tx.query('UPDATE idempotency_keys SET applied = true WHERE user_id = $1 AND key = $2 AND NOT applied RETURNING key', [
    ref.userId,
    ref.key,
  ]);
  return rows.length > 0;
}

/** Keeps the answer to replay to retries. */
export async function storeAnswer(q: Queryable, ref: KeyRef, statusCode: number, response: string): Promise<void> {
  await q.query('UPDATE idempotency_keys SET status_code = $3, response = $4 WHERE user_id = $1 AND key = $2', [
    ref.userId,
    ref.key,
    statusCode,
    response,
  ]);
}

/**
 * Forgets a key whose request ended without an answer to keep, unless its
 * write was applied: a COMMIT whose acknowledgement was lost (the connection
 * dropped, the primary switched) may have committed all the same, and a retry
 * must then be told so rather than run again.
 */
export async function forgetKey(q: Queryable, ref: KeyRef): Promise<void> {
  await q.query('DELETE FROM idempotency_keys WHERE user_id = $1 AND key = $2 AND NOT applied', [ref.userId, ref.key]);
}

/** Deletes keys reserved more than `hours` ago. */
export async function purgeOlderThan(q: Queryable, hours: number): Promise<void> {
  await q.query(`DELETE FROM idempotency_keys WHERE created_at < now() - make_interval(hours => $1)`, [hours]);
}
