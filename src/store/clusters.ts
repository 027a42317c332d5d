// Clusters: the tenant's desired state plus the reconciler's bookkeeping.
// Every read of a tenant's cluster is scoped by owner in SQL (ownerScope null = admin).
import type { Queryable } from './db.ts';
import type { InstanceStatus } from '../domain/lifecycle.ts';
import type { Endpoint } from '../domain/endpoints.ts';
import type { Expose, PortSpec, ServiceType } from '../domain/model.ts';

export type ClusterRow = {
  id: number;
  owner_id: number;
  name: string;
  namespace: string;
  instance_type: 'vm' | 'container';
  cpu_milli: number;
  memory_mib: number;
  instance_count: number;
  image: string;
  /** What the workload runs: the catalogue source resolved at create, or the free-form image; null on clusters from before the catalogue (image is what they run). */
  image_source: string | null;
  ports: PortSpec[];
  service_type: ServiceType;
  expose: Expose;
  /** What the observer last read of the cluster's own Service (expose: cluster). */
  endpoints: Endpoint[];
  volume_size_gb: number | null;
  /** VMs: the persistent root disk's size (GB); null boots the image as a containerDisk. */
  disk_size_gb: number | null;
  env: Record<string, string>;
  ssh_keys: string[];
  user_data: string | null;
  state: 'active' | 'deleting';
  desired_gen: number;
  synced_gen: number;
  attempts: number;
  claim_epoch: number;
  message: string | null;
  /** What the observer found changed behind KubeKloud's back, until the repair is applied. */
  drift: string | null;
  synced_at: Date | null;
  /** The generation of its spec: a live change raises it, and its instances roll to it one at a time (src/store/rollouts.ts). */
  spec_gen: number;
  rollout_state: 'rolling' | 'done' | 'failed' | null;
  rollout_message: string | null;
  rollout_updated: number;
  rollout_total: number;
  /** While rolling: the largest CPU and memory per instance any instance renders with. */
  peak_cpu_milli: number | null;
  peak_memory_mib: number | null;
  /** Disks kept by scale-ins (src/store/keptDisks.ts): their storage and claims, which its namespace's quota leaves room for. */
  kept_storage_gb: number;
  kept_claims: number;
  /** When the cluster expires (src/store/schedules.ts), and what happens then; both null when it does not. */
  expires_at: Date | null;
  expire_action: 'stop' | 'delete' | null;
  created_at: Date;
  updated_at: Date;
};

export type NewCluster = Omit<
  ClusterRow,
  | 'id'
  | 'namespace'
  | 'image_source'
  | 'expose'
  | 'endpoints'
  | 'state'
  | 'desired_gen'
  | 'synced_gen'
  | 'attempts'
  | 'claim_epoch'
  | 'message'
  | 'drift'
  | 'synced_at'
  | 'spec_gen'
  | 'rollout_state'
  | 'rollout_message'
  | 'rollout_updated'
  | 'rollout_total'
  | 'peak_cpu_milli'
  | 'peak_memory_mib'
  | 'kept_storage_gb'
  | 'kept_claims'
  | 'expires_at'
  | 'expire_action'
  | 'created_at'
  | 'updated_at'
  | 'disk_size_gb'
> & { expose?: Expose; image_source?: string | null; disk_size_gb?: number | null };

/** Inserts the row; the namespace is derived from the id, so it is set in the same statement. */
export async function insertCluster(q: Queryable, c: NewCluster, namespaceOf: (id: number) => string): Promise<ClusterRow> {
  const [{ id }] = (await q.query<{ id: number }>("SELECT nextval('clusters_id_seq')::int AS id")) as [{ id: number }];
  const rows = await q.query<ClusterRow>(
    `INSERT INTO clusters (id, owner_id, name, namespace, instance_type, cpu_milli, memory_mib, instance_count,
                           image, ports, service_type, volume_size_gb, env, ssh_keys, user_data, expose, image_source, disk_size_gb)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18) RETURNING *`,
    [
      id,
      c.owner_id,
      c.name,
      namespaceOf(id),
      c.instance_type,
      c.cpu_milli,
      c.memory_mib,
      c.instance_count,
      c.image,
      JSON.stringify(c.ports),
      c.service_type,
      c.volume_size_gb,
      JSON.stringify(c.env),
      JSON.stringify(c.ssh_keys),
      c.user_data,
      c.expose ?? 'instances',
      c.image_source ?? null,
      c.disk_size_gb ?? null,
    ],
  );
  return rows[0]!;
}

/** Whether the owner has an active cluster of this name (a cluster being deleted no longer holds its name). */
export async function activeClusterNamed(q: Queryable, ownerId: number, name: string): Promise<boolean> {
  const rows = await q.query("SELECT 1 FROM clusters WHERE owner_id = $1 AND name = $2 AND state = 'active'", [ownerId, name]);
  return rows.length > 0;
}

/**
 * Which clusters a read reaches: one owner's (ownerId null: every owner's),
 * and of them only `clusterIds` (null: all) — a token limited to some
 * clusters. null reaches every cluster.
 */
export type Reach = { ownerId: number | null; clusterIds: number[] | null } | null;

/** The condition `reach` puts on the clusters row `alias`, its parameters numbered from $`from`. */
export function reachWhere(reach: Reach, alias: string, from: number): { sql: string; params: unknown[] } {
  const terms: string[] = [];
  const params: unknown[] = [];
  if (reach?.ownerId != null) terms.push(`${alias}.owner_id = $${from + params.push(reach.ownerId) - 1}`);
  if (reach?.clusterIds != null) terms.push(`${alias}.id = ANY($${from + params.push(reach.clusterIds) - 1}::int[])`);
  return { sql: terms.length > 0 ? terms.join(' AND ') : 'TRUE', params };
}

/** `activeOnly`: a cluster being deleted is not found (its owner sees it gone once the delete is accepted). */
export async function findCluster(
  q: Queryable,
  id: number,
  reach: Reach,
  opts: { lock?: boolean; activeOnly?: boolean } = {},
): Promise<ClusterRow | null> {
  const r = reachWhere(reach, 'c', 2);
  const rows = await q.query<ClusterRow>(
    `SELECT * FROM clusters c WHERE id = $1 AND ${r.sql}${opts.activeOnly ? " AND state = 'active'" : ''}${opts.lock ? ' FOR NO KEY UPDATE' : ''}`,
    [id, ...r.params],
  );
  return rows[0] ?? null;
}

/**
 * Clusters in id order, each with its instances' statuses (for its summary), in
 * one statement; `limit` null: all of them from `offset`. `total` counts every
 * cluster in scope, whatever the page.
 */
export async function listClusters(
  q: Queryable,
  reach: Reach,
  page: { limit: number | null; offset: number },
  opts: { activeOnly: boolean },
): Promise<{ rows: (ClusterRow & { instance_statuses: InstanceStatus[] })[]; total: number }> {
  const r = reachWhere(reach, 'c', 3);
  const where = `${r.sql}${opts.activeOnly ? " AND state = 'active'" : ''}`;
  const params = [page.limit, page.offset, ...r.params];
  const rows = await q.query<ClusterRow & { instance_statuses: InstanceStatus[]; total: number }>(
    `SELECT c.*, count(*) OVER ()::int AS total,
            ARRAY(SELECT i.status::text FROM instances i WHERE i.cluster_id = c.id) AS instance_statuses
       FROM clusters c WHERE ${where}
      ORDER BY c.id LIMIT $1 OFFSET $2`,
    params,
  );
  if (rows.length > 0) return { rows, total: rows[0]!.total };
  const counted = reachWhere(reach, 'c', 1);
  const count = await q.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM clusters c WHERE ${counted.sql}${opts.activeOnly ? " AND state = 'active'" : ''}`,
    counted.params,
  );
  return { rows: [], total: count[0]?.n ?? 0 };
}

/** Asks the reconciler to look at the cluster again. */
export async function touchCluster(q: Queryable, id: number, fields: { state?: 'deleting'; instanceCount?: number } = {}) {
  await q.query(
    `UPDATE clusters SET desired_gen = desired_gen + 1, next_attempt_at = now(), attempts = 0, updated_at = now(),
            state = COALESCE($2, state), instance_count = COALESCE($3, instance_count)
      WHERE id = $1`,
    [id, fields.state ?? null, fields.instanceCount ?? null],
  );
}

/** Clusters by id, whoever owns them (the observer's view). */
export async function findClusters(q: Queryable, ids: number[]): Promise<ClusterRow[]> {
  if (ids.length === 0) return [];
  return q.query<ClusterRow>('SELECT * FROM clusters WHERE id = ANY($1::int[])', [ids]);
}

/**
 * The highest cluster and instance ids this database has ever handed out (0:
 * none yet). An object labelled with a higher id was not made from this
 * database: it is newer than the database (restored from an older dump), or
 * the database is not the one that made it.
 */
export async function highestIssuedIds(q: Queryable): Promise<{ cluster: number; instance: number }> {
  const [row] = await q.query<{ cluster: string | number; instance: string | number }>(
    `SELECT (SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM clusters_id_seq) AS cluster,
            (SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM instances_id_seq) AS instance`,
  );
  return { cluster: Number(row?.cluster ?? 0), instance: Number(row?.instance ?? 0) };
}

/** Up to `limit` clusters with ids above `afterId`, in id order: every cluster, a page at a time (the observer's full resync). */
export async function listClustersAfter(q: Queryable, afterId: number, limit: number): Promise<ClusterRow[]> {
  return q.query<ClusterRow>('SELECT * FROM clusters WHERE id > $1 ORDER BY id LIMIT $2', [afterId, limit]);
}

/** Every cluster of the installation (the isolation fleet view). */
export async function listEveryCluster(q: Queryable): Promise<ClusterRow[]> {
  return q.query<ClusterRow>('SELECT * FROM clusters ORDER BY id');
}

/** Clusters of `ids` that `ownerId` owns (any cluster when null) and that are not being deleted. */
export async function existingClusterIds(q: Queryable, ids: number[], ownerId: number | null): Promise<number[]> {
  const rows = await q.query<{ id: number }>(
    `SELECT id FROM clusters WHERE id = ANY($1::int[]) AND state = 'active'${ownerId === null ? '' : ' AND owner_id = $2'}`,
    ownerId === null ? [ids] : [ids, ownerId],
  );
  return rows.map((r) => r.id);
}
