// The audit log: every mutating request, who made it, on what, and how it ended.
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Db } from '../store/db.ts';

export async function recordAudit(db: Db, req: FastifyRequest, reply: FastifyReply): Promise<void> {
  const params = (req.params ?? {}) as Record<string, unknown>;
  await db.query(
    `INSERT INTO audit_log (actor_id, actor, method, route, target, status_code, outcome, request_id)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
    [
      req.principal?.userId ?? null,
      req.principal?.username ?? null,
      req.method,
      req.routeOptions.url ?? req.url,
      params.id !== undefined ? String(params.id) : null,
      reply.statusCode,
      reply.statusCode < 400 ? 'success' : reply.statusCode < 500 ? 'rejected' : 'error',
      req.id,
    ],
  );
}
