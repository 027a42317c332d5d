// Idempotency-Key on mutating requests: the first answer is stored and
// replayed to any retry with the same key and the same request; the same key
// with a different request is refused. The write itself marks the key applied
// in its own transaction, so a request is applied at most once: a retry of one
// still in flight answers 409, of one applied whose answer was lost (its server
// died) 409 saying so, and of one that never committed runs again after a minute.
import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { DomainError, invalid } from '../domain/errors.ts';
import type { Db, Queryable } from '../store/db.ts';
import type { Services } from '../service/context.ts';
import { principalOf } from './auth.ts';

const KEY = /^[\x21-\x7e]{1,200}$/;
const ABANDONED_AFTER_SECONDS = 60;
const KEEP_HOURS = 24;

declare module 'fastify' {
  interface FastifyRequest {
    idempotency?: { userId: number; key: string };
  }
}

const requestHash = (req: FastifyRequest) =>
  createHash('sha256').update(`${req.method} ${req.url}\n${JSON.stringify(req.body ?? null)}`).digest('hex');

/** Adds the hooks to a route plugin; call after its authentication hook. */
export function useIdempotencyKeys(app: FastifyInstance, db: Db) {
  app.addHook('preHandler', async (req, reply) => {
    const raw = req.headers['idempotency-key'];
    if (raw === undefined || req.method === 'GET') return;
    const key = Array.isArray(raw) ? raw[0]! : raw;
    if (!KEY.test(key)) {
      throw invalid([{ loc: ['header', 'idempotency-key'], msg: 'must be 1 to 200 printable characters', type: 'value_error' }]);
    }
    const userId = principalOf(req).userId;
    const hash = requestHash(req);
    if (Math.random() < 0.01) {
      await db.query(`DELETE FROM idempotency_keys WHERE created_at < now() - make_interval(hours => $1)`, [KEEP_HOURS]);
    }
    const inserted = await db.query(
      'INSERT INTO idempotency_keys (user_id, key, request_hash) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING RETURNING key',
      [userId, key, hash],
    );
    if (inserted.length === 0) {
      const [row] = await db.query<{ request_hash: string; status_code: number | null; response: string | null; applied: boolean }>(
        'SELECT request_hash, status_code, response, applied FROM idempotency_keys WHERE user_id = $1 AND key = $2',
        [userId, key],
      );
      if (row && row.request_hash !== hash) {
        throw invalid([{ loc: ['header', 'idempotency-key'], msg: 'was already used for a different request', type: 'value_error.idempotency_key_reused' }]);
      }
      if (row && row.status_code !== null) {
        return reply.code(row.status_code).header('idempotent-replayed', 'true').type('application/json').send(row.response);
      }
      if (row?.applied) {
        throw new DomainError('in_progress', 'This request was applied, but its answer was lost; read the resource to see its state');
      }
      const takenOver = await db.query(
        `UPDATE idempotency_keys SET created_at = now() WHERE user_id = $1 AND key = $2 AND status_code IS NULL
            AND NOT applied AND created_at < now() - make_interval(secs => $3) RETURNING key`,
        [userId, key, ABANDONED_AFTER_SECONDS],
      );
      if (takenOver.length === 0) throw new DomainError('in_progress', 'A request with this Idempotency-Key is still in progress; retry shortly');
    }
    req.idempotency = { userId, key };
  });

  app.addHook('onSend', async (req, reply, payload) => {
    const idem = req.idempotency;
    if (!idem || reply.getHeader('idempotent-replayed')) return payload;
    if (reply.statusCode >= 500) {
      // Nothing was applied (or we cannot tell): let a retry run again.
      await db.query('DELETE FROM idempotency_keys WHERE user_id = $1 AND key = $2', [idem.userId, idem.key]).catch(() => {});
      return payload;
    }
    await db.query('UPDATE idempotency_keys SET status_code = $3, response = $4 WHERE user_id = $1 AND key = $2', [
      idem.userId,
      idem.key,
      reply.statusCode,
      typeof payload === 'string' ? payload : JSON.stringify(payload ?? null),
    ]);
    return payload;
  });
}

/**
 * The services a request's handler should use: under an Idempotency-Key, each
 * write transaction also marks the key applied. If another attempt already did
 * (a retry that took over), this one rolls back instead of applying twice.
 */
export function servicesFor(s: Services, req: FastifyRequest): Services {
  const idem = req.idempotency;
  if (!idem) return s;
  const markApplied = async (tx: Queryable) => {
    const marked = await tx.query('UPDATE idempotency_keys SET applied = true WHERE user_id = $1 AND key = $2 AND NOT applied RETURNING key', [
      idem.userId,
      idem.key,
    ]);
    if (marked.length === 0) throw new DomainError('in_progress', 'A request with this Idempotency-Key was already applied');
  };
  const db: Db = {
    ...s.db,
    transaction: (fn) =>
      s.db.transaction(async (tx) => {
        const out = await fn(tx);
        await markApplied(tx);
        return out;
      }),
  };
  return { ...s, db };
}
