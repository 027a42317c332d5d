// The audit log: one row per mutating request, appended and never changed.
import type { Queryable } from './db.ts';

export type AuditOutcome = 'success' | 'rejected' | 'error';

export type AuditEntry = {
  actorId: number | null;
  actor: string | null;
  method: string;
  route: string;
  /** The id the request named (a cluster, an instance, a user…), if any. */
  target: string | null;
  statusCode: number;
  outcome: AuditOutcome;
  requestId: string;
  /** What else the entry records (a console session's kind, duration and bytes). */
  detail?: Record<string, unknown>;
};

export async function insertAuditEntry(q: Queryable, e: AuditEntry): Promise<void> {
  await q.query(
    `INSERT INTO audit_log (actor_id, actor, method, route, target, status_code, outcome, request_id, detail)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
    [e.actorId, e.actor, e.method, e.route, e.target, e.statusCode, e.outcome, e.requestId, e.detail ? JSON.stringify(e.detail) : null],
  );
}
