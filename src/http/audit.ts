// The audit log (src/service/audit.ts): who made a mutating request, on what,
// and how it ended. A request that changes something writes its entry in the
// change's transaction (servicesFor); any other is recorded once answered.
import type { FastifyReply, FastifyRequest } from 'fastify';
import * as audit from '../service/audit.ts';
import type { Services } from '../service/context.ts';

declare module 'fastify' {
  interface FastifyRequest {
    audit?: audit.AuditState;
  }
}

/** The request's entry, as answered with `statusCode`. */
function entryOf(req: FastifyRequest, statusCode: number): audit.AuditRecord {
  const params = (req.params ?? {}) as Record<string, unknown>;
  return {
    actorId: req.principal?.userId ?? null,
    actor: req.principal?.username ?? null,
    method: req.method,
    route: req.routeOptions.url ?? req.url,
    target: params.id !== undefined ? String(params.id) : params.name !== undefined ? String(params.name) : null,
    statusCode,
    requestId: req.id,
  };
}

/**
 * The status a route answers when its change succeeds: the highest 2xx its
 * schema lists (a create's 201 beside the 200 of its quote), 200 when none.
 */
function successCodeOf(req: FastifyRequest): number {
  const response = (req.routeOptions.schema?.response ?? {}) as Record<string, unknown>;
  const codes = Object.keys(response).map(Number).filter((c) => c >= 200 && c < 300);
  return codes.length > 0 ? Math.max(...codes) : 200;
}

/** Services whose first write transaction also writes this request's audit entry. */
export function servicesAuditing(s: Services, req: FastifyRequest): Services {
  req.audit ??= { written: false };
  return audit.servicesAudited(s, req.audit, () => entryOf(req, successCodeOf(req)));
}

/** After the answer: the entry of a request whose change did not write one (refused, failed, or nothing to change). */
export async function recordAudit(s: Services, req: FastifyRequest, reply: FastifyReply): Promise<void> {
  if (req.audit?.written && reply.statusCode < 400) return;
  await audit.recordAudit(s.db, entryOf(req, reply.statusCode));
}
