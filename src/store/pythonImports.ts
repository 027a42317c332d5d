// The KubeKloud side of `import-python`: which Python rows were brought across
// (table python_imports), the rows they became, and the import's own claims on
// them. An imported row is inserted already claimed by the import, so no
// replica reconciles it before the import takes it over in its own order (one
// container at a time); the import then claims it by id like any reconciler.
import type { Resources } from '../domain/quota.ts';
import type { Desired } from '../domain/lifecycle.ts';
import type { ClusterRow } from './clusters.ts';
import type { Queryable } from './db.ts';
import type { InstanceRow } from './instances.ts';
import { CLAIMED_INSTANCE, type ClaimedCluster, type ClaimedInstance, type WorkTable } from './work.ts';

export type ImportKind = 'user' | 'cluster' | 'instance';

/** Python id → KubeKloud id of every row imported so far (empty before the first import's migration). */
export async function importedIds(q: Queryable): Promise<Record<ImportKind, Map<number, number>>> {
  const out: Record<ImportKind, Map<number, number>> = { user: new Map(), cluster: new Map(), instance: new Map() };
  const exists = await q.query<{ t: string | null }>("SELECT to_regclass('python_imports')::text AS t");
  if (!exists[0]?.t) return out;
  const rows = await q.query<{ kind: ImportKind; python_id: number; target_id: number }>('SELECT kind, python_id, target_id FROM python_imports');
  for (const r of rows) out[r.kind].set(r.python_id, r.target_id);
  return out;
}

export async function recordImport(q: Queryable, kind: ImportKind, pythonId: number, targetId: number): Promise<void> {
  await q.query('INSERT INTO python_imports (kind, python_id, target_id) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING', [kind, pythonId, targetId]);
}

/** Whether the tables exist (a database no server has started on yet has none). */
export async function hasSchema(q: Queryable): Promise<boolean> {
  const rows = await q.query<{ t: string | null }>("SELECT to_regclass('users')::text AS t");
  return Boolean(rows[0]?.t);
}

export async function usernamesTaken(q: Queryable, names: string[]): Promise<Set<string>> {
  if (names.length === 0 || !(await hasSchema(q))) return new Set();
  const rows = await q.query<{ username: string }>('SELECT username FROM users WHERE username = ANY($1::text[])', [names]);
  return new Set(rows.map((r) => r.username));
}

export async function tokenHashesTaken(q: Queryable, hashes: string[]): Promise<Set<string>> {
  if (hashes.length === 0 || !(await hasSchema(q))) return new Set();
  const rows = await q.query<{ token_hash: string }>('SELECT token_hash FROM tokens WHERE token_hash = ANY($1::text[])', [hashes]);
  return new Set(rows.map((r) => r.token_hash));
}

export async function namespacesTaken(q: Queryable, namespaces: string[]): Promise<Set<string>> {
  if (namespaces.length === 0 || !(await hasSchema(q))) return new Set();
  const rows = await q.query<{ namespace: string }>('SELECT namespace FROM clusters WHERE namespace = ANY($1::text[])', [namespaces]);
  return new Set(rows.map((r) => r.namespace));
}

/** A user with its quota and, already, the usage of the clusters it brings. */
export async function insertImportedUser(q: Queryable, u: { username: string; quota: Resources; usage: Resources }): Promise<number> {
  const rows = await q.query<{ id: number }>(
    `INSERT INTO users (username, role, quota_cpu_milli, quota_memory_mib, quota_instances, used_cpu_milli, used_memory_mib, used_instances)
     VALUES ($1, 'user', $2, $3, $4, $5, $6, $7) RETURNING id`,
    [u.username, u.quota.cpuMilli, u.quota.memoryMib, u.quota.instances, u.usage.cpuMilli, u.usage.memoryMib, u.usage.instances],
  );
  return rows[0]!.id;
}

export async function insertImportedInstance(
  q: Queryable,
  i: { clusterId: number; ordinal: number; name: string; desired: Desired },
): Promise<InstanceRow> {
  const rows = await q.query<InstanceRow>('INSERT INTO instances (cluster_id, ordinal, name, desired) VALUES ($1, $2, $3, $4) RETURNING *', [
    i.clusterId,
    i.ordinal,
    i.name,
    i.desired,
  ]);
  return rows[0]!;
}

/** Marks rows as held by the import (`worker`) for `leaseSeconds`: no reconciler claims them meanwhile. */
export async function holdForImport(q: Queryable, table: WorkTable, ids: number[], worker: string, leaseSeconds: number): Promise<void> {
  if (ids.length === 0) return;
  await q.query(
    `UPDATE ${table} SET claimed_by = $1, claimed_until = now() + make_interval(secs => $2), claim_epoch = claim_epoch + 1
      WHERE id = ANY($3::int[])`,
    [worker, leaseSeconds, ids],
  );
}

/**
 * Claims one row by id for the import, if it has work due and no one else holds
 * it (the import's own earlier hold excepted). Null: nothing to do, or held.
 */
export async function claimCluster(q: Queryable, id: number, worker: string, leaseSeconds: number): Promise<ClaimedCluster | null> {
  const rows = await q.query<ClaimedCluster>(
    `UPDATE clusters SET claimed_by = $2, claimed_until = now() + make_interval(secs => $3), claim_epoch = claim_epoch + 1
      WHERE id = $1 AND desired_gen > synced_gen AND state = 'active'
        AND (claimed_until IS NULL OR claimed_until < now() OR claimed_by = $2)
      RETURNING *, desired_gen AS claimed_gen`,
    [id, worker, leaseSeconds],
  );
  return rows[0] ?? null;
}

export async function claimInstance(q: Queryable, id: number, worker: string, leaseSeconds: number): Promise<ClaimedInstance | null> {
  const rows = await q.query<ClaimedInstance>(
    `UPDATE instances i SET claimed_by = $2, claimed_until = now() + make_interval(secs => $3), claim_epoch = i.claim_epoch + 1
      WHERE i.id = $1 AND i.desired_gen > i.synced_gen
        AND (i.claimed_until IS NULL OR i.claimed_until < now() OR i.claimed_by = $2)
      RETURNING ${CLAIMED_INSTANCE}`,
    [id, worker, leaseSeconds],
  );
  return rows[0] ?? null;
}

export async function importedClusters(q: Queryable, ids: number[]): Promise<ClusterRow[]> {
  if (ids.length === 0) return [];
  return q.query<ClusterRow>('SELECT * FROM clusters WHERE id = ANY($1::int[]) ORDER BY id', [ids]);
}

export async function importedInstances(q: Queryable, ids: number[]): Promise<InstanceRow[]> {
  if (ids.length === 0) return [];
  return q.query<InstanceRow>('SELECT * FROM instances WHERE id = ANY($1::int[]) ORDER BY cluster_id, ordinal', [ids]);
}

/** Adds what a cluster imported for an already imported user uses (it runs already: no quota check). */
export async function addUsage(q: Queryable, userId: number, r: Resources): Promise<void> {
  await q.query(
    `UPDATE users SET used_cpu_milli = used_cpu_milli + $2, used_memory_mib = used_memory_mib + $3,
            used_instances = used_instances + $4, updated_at = now() WHERE id = $1`,
    [userId, r.cpuMilli, r.memoryMib, r.instances],
  );
}
