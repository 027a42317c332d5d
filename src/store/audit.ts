// The audit log: one row per mutating request, appended and never changed.
import type { Queryable } from './db.ts';
import { pageNewestFirst } from './logTables.ts';

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
  /** `<resource>.<verb>` (src/domain/audit.ts). */
  action: string;
  requestId: string;
  /** What else the entry records (a console session's kind, duration and bytes). */
  detail?: Record<string, unknown>;
};

export async function insertAuditEntry(q: Queryable, e: AuditEntry): Promise<void> {
  await q.query(
    `INSERT INTO audit_log (actor_id, actor, method, route, target, status_code, outcome, request_id, detail, action)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
    [e.actorId, e.actor, e.method, e.route, e.target, e.statusCode, e.outcome, e.requestId, e.detail ? JSON.stringify(e.detail) : null, e.action],
  );
}

export type AuditRow = {
  id: number;
  at: Date;
  actor_id: number | null;
  actor: string | null;
  method: string;
  route: string;
  target: string | null;
  status_code: number;
  outcome: AuditOutcome;
  request_id: string | null;
  detail: Record<string, unknown> | null;
  action: string | null;
};

export type AuditFilter = {
  actorId?: number;
  actor?: string;
  action?: string;
  /** Requests on routes under this prefix, on this target when given. */
  resource?: { routePrefix: string; target: string | null };
  outcome?: AuditOutcome;
  since?: Date;
  until?: Date;
};

/** Entries matching `f`, newest first, with how many match in all. */
export async function listAudit(q: Queryable, f: AuditFilter, page: { limit: number; offset: number }): Promise<{ rows: AuditRow[]; total: number }> {
  const terms: string[] = [];
  const params: unknown[] = [];
  const param = (v: unknown) => `$${params.push(v)}`;
  if (f.actorId !== undefined) terms.push(`actor_id = ${param(f.actorId)}`);
  if (f.actor !== undefined) terms.push(`actor = ${param(f.actor)}`);
  if (f.action !== undefined) terms.push(`action = ${param(f.action)}`);
  if (f.resource) {
    terms.push(`(route = ${param(f.resource.routePrefix)} OR route LIKE ${param(`${f.resource.routePrefix}/%`)})`);
    if (f.resource.target !== null) terms.push(`target = ${param(f.resource.target)}`);
  }
  if (f.outcome !== undefined) terms.push(`outcome = ${param(f.outcome)}`);
  if (f.since) terms.push(`at >= ${param(f.since)}`);
  if (f.until) terms.push(`at < ${param(f.until)}`);
  return pageNewestFirst<AuditRow>(q, 'audit_log', terms.length > 0 ? terms.join(' AND ') : 'TRUE', params, page);
}
