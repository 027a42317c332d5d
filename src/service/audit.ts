// The audit log: every mutating request, who made it, on what, and how it ended.
import type { Db } from '../store/db.ts';
import { insertAuditEntry, type AuditEntry, type AuditOutcome } from '../store/audit.ts';

/** 2xx and 3xx succeeded, 4xx were refused, 5xx failed. */
export const outcomeOf = (statusCode: number): AuditOutcome => (statusCode < 400 ? 'success' : statusCode < 500 ? 'rejected' : 'error');

export async function recordAudit(db: Db, entry: Omit<AuditEntry, 'outcome'>): Promise<void> {
  await insertAuditEntry(db, { ...entry, outcome: outcomeOf(entry.statusCode) });
}
