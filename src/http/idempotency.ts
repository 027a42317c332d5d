// The Idempotency-Key header on mutating requests (the rules are in
// src/service/idempotency.ts): reads and checks the header, hashes the
// request, and either replays the stored answer or lets the handler run with
// services whose writes mark the key applied; the answer is then handed back
// to be kept for retries.
import { createHash } from 'node:crypto';
import type { FastifyRequest, onSendAsyncHookHandler, preHandlerAsyncHookHandler } from 'fastify';
import { invalid } from '../domain/errors.ts';
import type { Services } from '../service/context.ts';
import { beginRequest, finishRequest, servicesUnderKey, type KeyRef } from '../service/idempotency.ts';
import { servicesAuditing } from './audit.ts';
import { principalOf } from './auth.ts';

const KEY = /^[\x21-\x7e]{1,200}$/;

declare module 'fastify' {
  interface FastifyRequest {
    idempotency?: KeyRef;
  }
}

import { isDryRun } from './dryRun.ts';

const requestHash = (req: FastifyRequest) =>
  createHash('sha256').update(`${req.method} ${req.url}\n${JSON.stringify(req.body ?? null)}`).digest('hex');

/**
 * The hooks for a route plugin's routes of `method`: none for GET (a read
 * has nothing to replay); else a preHandler that reads the key and replays or
 * marks the request, and an onSend that keeps the answer for retries.
 */
export function idempotencyHooks(s: Services, method: string): { preHandler: preHandlerAsyncHookHandler; onSend: onSendAsyncHookHandler<unknown> } | null {
  if (method === 'GET') return null;
  return {
    preHandler: async (req, reply) => {
      const raw = req.headers['idempotency-key'];
      // A quote changes nothing: there is nothing to replay.
      if (raw === undefined || isDryRun(req)) return;
      const key = Array.isArray(raw) ? raw[0]! : raw;
      if (!KEY.test(key)) {
        throw invalid([{ loc: ['header', 'idempotency-key'], msg: 'must be 1 to 200 printable characters', type: 'value_error' }]);
      }
      const ref: KeyRef = { userId: principalOf(req).userId, key };
      const begun = await beginRequest(s.db, ref, requestHash(req));
      if (begun.outcome === 'replay') {
        return reply.code(begun.statusCode).header('idempotent-replayed', 'true').type('application/json').send(begun.response);
      }
      req.idempotency = ref;
    },
    onSend: async (req, reply, payload) => {
      const ref = req.idempotency;
      if (!ref || reply.getHeader('idempotent-replayed')) return payload;
      await finishRequest(s.db, ref, reply.statusCode, () => (typeof payload === 'string' ? payload : JSON.stringify(payload ?? null)));
      return payload;
    },
  };
}

/**
 * The services a request's handler should use: its first write transaction
 * also writes its audit entry, and under an Idempotency-Key each marks the
 * key applied. A quote (?dry_run=true) writes nothing.
 */
export function servicesFor(s: Services, req: FastifyRequest): Services {
  const keyed = req.idempotency ? servicesUnderKey(s, req.idempotency) : s;
  return isDryRun(req) ? keyed : servicesAuditing(keyed, req);
}
