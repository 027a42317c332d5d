// A cheap fingerprint of what a cluster's views show: every write to a
// cluster or instance row moves its updated_at, and a removed instance changes
// the count. One statement covers every cluster a process is watching.
import type { Queryable } from './db.ts';

/** Fingerprints by cluster id; a cluster that no longer exists is absent. */
export async function clusterVersions(q: Queryable, ids: number[]): Promise<Map<number, string>> {
  if (ids.length === 0) return new Map();
  const rows = await q.query<{ id: number; v: string }>(
    `SELECT c.id, concat_ws('/', c.updated_at, c.state, c.instance_count, i.n, i.last) AS v
       FROM clusters c
       LEFT JOIN LATERAL (SELECT count(*) AS n, max(updated_at) AS last FROM instances WHERE cluster_id = c.id) i ON true
      WHERE c.id = ANY($1::int[])`,
    [ids],
  );
  return new Map(rows.map((r) => [r.id, r.v]));
}
