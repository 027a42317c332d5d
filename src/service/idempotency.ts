// Idempotency keys on mutating requests: the first answer is stored and
// replayed to any retry with the same key and the same request; the same key
// with a different request is refused. The write itself marks the key applied
// in its own transaction, so a request is applied at most once: a retry of one
// still in flight is refused as in progress, of one applied whose answer was
// lost (its server died) refused saying so, and of one that never committed
// runs again after a minute.
import { DomainError, invalid } from '../domain/errors.ts';
import type { Db } from '../store/db.ts';
import * as keys from '../store/idempotencyKeys.ts';
import type { KeyRef } from '../store/idempotencyKeys.ts';
import { endingEachWrite, type Services } from './context.ts';

export type { KeyRef };

/** A key reserved by a request that never committed is taken over after this. */
export const ABANDONED_AFTER_SECONDS = 60;
/** Answers are replayed for this long. */
export const KEEP_HOURS = 24;
/** The share of requests that also delete expired keys. */
const PURGE_CHANCE = 0.01;

/** What to do with a request under a key: run it (the key is now its own), or answer it with the stored answer. */
export type Begun = { outcome: 'run' } | { outcome: 'replay'; statusCode: number; response: string | null };

/**
 * Claims `ref` for the request hashed `requestHash`. Throws `invalid` when the
 * key was used for a different request, and `in_progress` while another
 * attempt holds it or when it was applied but its answer was lost.
 */
export async function beginRequest(db: Db, ref: KeyRef, requestHash: string, opts: { purge?: boolean } = {}): Promise<Begun> {
  if (opts.purge ?? Math.random() < PURGE_CHANCE) await keys.purgeOlderThan(db, KEEP_HOURS);
  if (await keys.reserveKey(db, ref, requestHash)) return { outcome: 'run' };
  const row = await keys.findKey(db, ref);
  if (row && row.request_hash !== requestHash) {
    throw invalid([{ loc: ['header', 'idempotency-key'], msg: 'was already used for a different request', type: 'value_error.idempotency_key_reused' }]);
  }
  if (row && row.status_code !== null) return { outcome: 'replay', statusCode: row.status_code, response: row.response };
  if (row?.applied) {
    throw new DomainError('in_progress', 'This request was applied, but its answer was lost; read the resource to see its state');
  }
  if (!(await keys.takeOverAbandoned(db, ref, ABANDONED_AFTER_SECONDS))) {
    throw new DomainError('in_progress', 'A request with this Idempotency-Key is still in progress; retry shortly');
  }
  return { outcome: 'run' };
}

/**
 * Records how a request that ran under `ref` ended: its answer, kept for
 * retries; or, on a server error, the key is forgotten so a retry runs again —
 * unless the database says its write was applied (the error came after the
 * commit, or the commit's acknowledgement was lost): then a retry is told so.
 * `body` gives the answer's body; it is asked for only when the answer is kept.
 */
export async function finishRequest(db: Db, ref: KeyRef, statusCode: number, body: () => string): Promise<void> {
  if (statusCode >= 500) {
    await keys.forgetKey(db, ref).catch(() => {});
    return;
  }
  await keys.storeAnswer(db, ref, statusCode, body());
}

/**
 * The services a request under `ref` should use: each write transaction also
 * marks the key applied. If another attempt already did (a retry that took
 * over), this one rolls back instead of applying twice.
 */
export function servicesUnderKey(s: Services, ref: KeyRef): Services {
  return endingEachWrite(s, async (tx) => {
    if (!(await keys.markApplied(tx, ref))) throw new DomainError('in_progress', 'A request with this Idempotency-Key was already applied');
  });
}
