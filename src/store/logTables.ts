// What the append-only logs (audit_log, cluster_history) share: a page read
// newest first with how many rows match in all, and pruning by age in batches.
import type { Queryable } from './db.ts';

export type LogTable = 'audit_log' | 'cluster_history';

/**
 * Rows of `table` matching `where` (its parameters `params`, numbered from $1),
 * newest first, with how many match in all, whatever the page.
 */
export async function pageNewestFirst<T>(
  q: Queryable,
  table: LogTable,
  where: string,
  params: unknown[],
  page: { limit: number; offset: number },
): Promise<{ rows: T[]; total: number }> {
  const n = params.length;
  const rows = await q.query<T & { total: number }>(
    `SELECT *, count(*) OVER ()::int AS total FROM ${table} WHERE ${where} ORDER BY id DESC LIMIT $${n + 1} OFFSET $${n + 2}`,
    [...params, page.limit, page.offset],
  );
  if (rows.length > 0 || page.offset === 0) return { rows, total: rows[0]?.total ?? 0 };
  const count = await q.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table} WHERE ${where}`, params);
  return { rows: [], total: count[0]?.n ?? 0 };
}

/** Deletes up to `batch` rows of `table` older than `days` days; returns how many. */
export async function pruneOlderThan(q: Queryable, table: LogTable, days: number, batch: number): Promise<number> {
  const rows = await q.query(
    `DELETE FROM ${table} WHERE id IN (SELECT id FROM ${table} WHERE at < now() - make_interval(days => $1) ORDER BY id LIMIT $2) RETURNING id`,
    [days, batch],
  );
  return rows.length;
}
