// The audit log: every mutating request, who made it, on what, and how it
// ended. A request that changes something records its entry in the change's
// own transaction (`servicesAudited`): the change and its entry commit
// together or not at all. A request that changed nothing (refused, failed, or
// answered without a transaction) is recorded once it is answered.
import { auditAction, auditResourceOf } from '../domain/audit.ts';
import { invalid, type FieldProblem } from '../domain/errors.ts';
import { pruneOlderThan, type LogTable } from '../store/logTables.ts';
import { insertAuditEntry, listAudit, type AuditEntry, type AuditFilter, type AuditOutcome } from '../store/audit.ts';
import type { Db, Queryable } from '../store/db.ts';
import { endingEachWrite, type Principal, type Services } from './context.ts';
import { auditView } from './views.ts';

const DEFAULT_PAGE = 50;

/** 2xx and 3xx succeeded, 4xx were refused, 5xx failed. */
export const outcomeOf = (statusCode: number): AuditOutcome => (statusCode < 400 ? 'success' : statusCode < 500 ? 'rejected' : 'error');

export type AuditRecord = Omit<AuditEntry, 'outcome' | 'action'>;

export async function recordAudit(q: Queryable, entry: AuditRecord): Promise<void> {
  await insertAuditEntry(q, { ...entry, outcome: outcomeOf(entry.statusCode), action: auditAction(entry.method, entry.route) });
}

/** Whether a request's entry is written yet: by its first committed write transaction, or once it is answered. */
export type AuditState = { written: boolean };

/**
 * The services a mutating request's handler uses: its first write
 * transaction also writes the request's audit entry (`entry()`: as it
 * succeeds), so the entry commits with the change.
 */
export function servicesAudited(s: Services, state: AuditState, entry: () => AuditRecord): Services {
  return endingEachWrite(s, async (tx) => {
    if (state.written) return;
    await recordAudit(tx, entry());
    state.written = true;
  });
}

const PRUNE_BATCH = 5_000;

/**
 * Deletes audit entries and history older than their retention, in batches
 * (no long lock on either table); returns how many of each went.
 */
export async function pruneRetention(db: Db, retention: { auditDays: number; historyDays: number }): Promise<{ audit: number; history: number }> {
  const prune = async (table: LogTable, days: number) => {
    let pruned = 0;
    for (let n = PRUNE_BATCH; n === PRUNE_BATCH; pruned += n) n = await pruneOlderThan(db, table, days, PRUNE_BATCH);
    return pruned;
  };
  return { audit: await prune('audit_log', retention.auditDays), history: await prune('cluster_history', retention.historyDays) };
}

export type AuditQuery = {
  user?: string;
  action?: string;
  resource?: string;
  outcome?: AuditOutcome;
  since?: string;
  until?: string;
  limit?: number;
  offset?: number;
};

/** `v` as a time, or a problem naming `field` in `problems`. */
export function timeParam(v: string | undefined, field: string, problems: FieldProblem[]): Date | undefined {
  if (v === undefined) return undefined;
  const d = new Date(v);
  if (Number.isNaN(d.getTime())) problems.push({ loc: ['query', field], msg: 'must be an RFC 3339 time, e.g. 2026-12-01T00:00:00Z', type: 'value_error.datetime' });
  return d;
}

function filterOf(q: AuditQuery): AuditFilter {
  const problems: FieldProblem[] = [];
  const resource = q.resource === undefined ? undefined : auditResourceOf(q.resource);
  if (resource === null) problems.push({ loc: ['query', 'resource'], msg: 'must be clusters, instances, users or images, optionally with /<id or name>', type: 'value_error' });
  const since = timeParam(q.since, 'since', problems);
  const until = timeParam(q.until, 'until', problems);
  if (problems.length > 0) throw invalid(problems);
  return {
    ...(q.user !== undefined ? { actor: q.user } : {}),
    ...(q.action !== undefined ? { action: q.action } : {}),
    ...(resource ? { resource } : {}),
    ...(q.outcome !== undefined ? { outcome: q.outcome } : {}),
    ...(since ? { since } : {}),
    ...(until ? { until } : {}),
  };
}

/** A page of entries, newest first: 50 unless `limit` says otherwise. */
async function page(s: Services, f: AuditFilter, q: AuditQuery) {
  const { rows, total } = await listAudit(s.db, f, { limit: q.limit ?? DEFAULT_PAGE, offset: q.offset ?? 0 });
  return { items: rows.map(auditView), total };
}

/** Every entry, filtered (admins). */
export const listAuditEntries = (s: Services, q: AuditQuery) => page(s, filterOf(q), q);

/** The caller's own entries. */
export const listMyAuditEntries = (s: Services, p: Principal, q: Omit<AuditQuery, 'user'>) => page(s, { ...filterOf(q), actorId: p.userId }, q);
