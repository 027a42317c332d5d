// Disks kept when a scale-in removed their VMs (table kept_disks, migration
// 018). Each holds its size of the owner's storage quota until its delete is
// accepted; the cluster row carries their total (kept_storage_gb,
// kept_claims) for its namespace's ResourceQuota, changed in the same
// transaction, which also makes the cluster due.
import type { Queryable } from './db.ts';

export type KeptDiskKind = 'root' | 'data';

export type KeptDiskRow = {
  id: number;
  cluster_id: number;
  owner_id: number;
  instance_name: string;
  kind: KeptDiskKind;
  /** The DataVolume (root) or PersistentVolumeClaim (data) in the cluster's namespace. */
  object_name: string;
  size_gb: number;
  desired: 'kept' | 'deleted';
  created_at: Date;
};

export type NewKeptDisk = Pick<KeptDiskRow, 'instance_name' | 'kind' | 'object_name' | 'size_gb'>;

/** Records disks kept by a scale-in, and adds them to the cluster's kept totals. */
export async function keepDisks(q: Queryable, clusterId: number, ownerId: number, disks: NewKeptDisk[]): Promise<void> {
  if (disks.length === 0) return;
  await q.query(
    `INSERT INTO kept_disks (cluster_id, owner_id, instance_name, kind, object_name, size_gb)
     SELECT $1, $2, n, k, o, g FROM unnest($3::text[], $4::text[], $5::text[], $6::int[]) AS x(n, k, o, g)`,
    [clusterId, ownerId, disks.map((d) => d.instance_name), disks.map((d) => d.kind), disks.map((d) => d.object_name), disks.map((d) => d.size_gb)],
  );
  await adjustKept(q, clusterId, disks.reduce((a, d) => a + d.size_gb, 0), disks.length);
}

async function adjustKept(q: Queryable, clusterId: number, gb: number, claims: number): Promise<void> {
  await q.query(
    `UPDATE clusters SET kept_storage_gb = kept_storage_gb + $2, kept_claims = kept_claims + $3,
            desired_gen = desired_gen + 1, next_attempt_at = now(), attempts = 0, updated_at = now()
      WHERE id = $1`,
    [clusterId, gb, claims],
  );
}

export async function listKeptDisks(q: Queryable, clusterId: number): Promise<KeptDiskRow[]> {
  return q.query<KeptDiskRow>('SELECT * FROM kept_disks WHERE cluster_id = $1 ORDER BY id', [clusterId]);
}

/** Marks a kept disk for deletion and takes it off the cluster's totals; returns it (null: none kept with that id). */
export async function markKeptDiskDeleted(q: Queryable, clusterId: number, id: number): Promise<KeptDiskRow | null> {
  const rows = await q.query<KeptDiskRow>(`UPDATE kept_disks SET desired = 'deleted' WHERE id = $1 AND cluster_id = $2 AND desired = 'kept' RETURNING *`, [id, clusterId]);
  const row = rows[0];
  if (row) await adjustKept(q, clusterId, -row.size_gb, -1);
  return row ?? null;
}

/** Storage the cluster's kept disks hold (released with the cluster). */
export async function keptStorageOf(q: Queryable, clusterId: number): Promise<number> {
  const rows = await q.query<{ gb: number | null }>(`SELECT sum(size_gb)::int AS gb FROM kept_disks WHERE cluster_id = $1 AND desired = 'kept'`, [clusterId]);
  return rows[0]?.gb ?? 0;
}

/** Kept disks whose delete was accepted, for the cluster's reconcile to remove. */
export async function keptDisksToRemove(q: Queryable, clusterId: number): Promise<KeptDiskRow[]> {
  return q.query<KeptDiskRow>(`SELECT * FROM kept_disks WHERE cluster_id = $1 AND desired = 'deleted' ORDER BY id`, [clusterId]);
}

export async function deleteKeptDiskRow(q: Queryable, id: number): Promise<void> {
  await q.query(`DELETE FROM kept_disks WHERE id = $1 AND desired = 'deleted'`, [id]);
}
