// A cluster's history: one row per thing that happened to it, appended in the
// transaction of the change it records (see migration 020).
import type { Queryable } from './db.ts';
import { pageNewestFirst } from './logTables.ts';

export type HistoryKind = 'change' | 'status' | 'repair' | 'schedule';

export type HistoryEntry = {
  clusterId: number;
  kind: HistoryKind;
  message: string;
  actor?: string | null;
  instanceId?: number | null;
  instanceName?: string | null;
  detail?: Record<string, unknown> | null;
};

export type HistoryRow = {
  id: number;
  at: Date;
  cluster_id: number;
  instance_id: number | null;
  instance_name: string | null;
  kind: HistoryKind;
  actor: string | null;
  message: string;
  detail: Record<string, unknown> | null;
};

/** The columns an entry is written to, in the order of `historyValues`. */
export const HISTORY_COLUMNS = 'cluster_id, kind, message, actor, instance_id, instance_name, detail';

/** An entry's values for HISTORY_COLUMNS. */
export const historyValues = (e: HistoryEntry) => [
  e.clusterId,
  e.kind,
  e.message,
  e.actor ?? null,
  e.instanceId ?? null,
  e.instanceName ?? null,
  e.detail ? JSON.stringify(e.detail) : null,
];

export async function insertHistory(q: Queryable, e: HistoryEntry): Promise<void> {
  await q.query(`INSERT INTO cluster_history (${HISTORY_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)`, historyValues(e));
}

/** An entry about an instance, its cluster and name read from its row; nothing when the row is gone. */
export async function insertInstanceHistory(q: Queryable, instanceId: number, e: Omit<HistoryEntry, 'clusterId' | 'instanceId' | 'instanceName'>): Promise<void> {
  await q.query(
    `INSERT INTO cluster_history (cluster_id, kind, message, actor, instance_id, instance_name, detail)
     SELECT cluster_id, $2, $3, $4, id, name, $5 FROM instances WHERE id = $1`,
    [instanceId, e.kind, e.message, e.actor ?? null, e.detail ? JSON.stringify(e.detail) : null],
  );
}

/** A cluster's entries, newest first, of `kinds` when given, with how many there are in all. */
export async function listHistory(
  q: Queryable,
  clusterId: number,
  f: { kinds?: HistoryKind[]; since?: Date },
  page: { limit: number; offset: number },
): Promise<{ rows: HistoryRow[]; total: number }> {
  const params: unknown[] = [clusterId];
  const param = (v: unknown) => `$${params.push(v)}`;
  const terms = ['cluster_id = $1'];
  if (f.kinds) terms.push(`kind = ANY(${param(f.kinds)}::text[])`);
  if (f.since) terms.push(`at >= ${param(f.since)}`);
  return pageNewestFirst<HistoryRow>(q, 'cluster_history', terms.join(' AND '), params, page);
}
