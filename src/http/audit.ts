// The audit log (src/service/audit.ts): who made a mutating request, on what, and how it ended.
import type { FastifyReply, FastifyRequest } from 'fastify';
import * as audit from '../service/audit.ts';
import type { Services } from '../service/context.ts';

export async function recordAudit(s: Services, req: FastifyRequest, reply: FastifyReply): Promise<void> {
  const params = (req.params ?? {}) as Record<string, unknown>;
  await audit.recordAudit(s.db, {
    actorId: req.principal?.userId ?? null,
    actor: req.principal?.username ?? null,
    method: req.method,
    route: req.routeOptions.url ?? req.url,
    target: params.id !== undefined ? String(params.id) : null,
    statusCode: reply.statusCode,
    requestId: req.id,
  });
}
