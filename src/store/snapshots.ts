// Snapshots of instances' disks and their restores (tables snapshots and
// snapshot_restores, migration 017). A snapshot holds its size of the owner's
// storage quota from its request until its delete is accepted; the row stays
// (desired 'deleted') until the reconciler has removed its object.
import type { Desired } from '../domain/lifecycle.ts';
import type { Queryable } from './db.ts';

export type SnapshotKind = 'vm' | 'volume';
export type SnapshotPhase = 'creating' | 'ready' | 'failed' | 'lost';
export type RestorePhase = 'stopping' | 'restoring' | 'done' | 'failed';

export type SnapshotRow = {
  id: number;
  instance_id: number;
  owner_id: number;
  name: string;
  /** The VirtualMachineSnapshot's or VolumeSnapshot's name in the cluster's namespace. */
  object_name: string;
  kind: SnapshotKind;
  size_gb: number;
  desired: 'present' | 'deleted';
  phase: SnapshotPhase;
  message: string | null;
  created_at: Date;
  ready_at: Date | null;
};

export type RestoreRow = {
  id: number;
  snapshot_id: number;
  instance_id: number;
  phase: RestorePhase;
  /** The instance's desired state before the restore, given back when it is done. */
  resume: Desired;
  message: string | null;
  created_at: Date;
  finished_at: Date | null;
};

/** A restore as read through to_jsonb (its timestamps are strings there). */
export type RestoreJson = Omit<RestoreRow, 'created_at' | 'finished_at'> & { created_at: string; finished_at: string | null };

/** A snapshot with its latest restore, if any (for the API's view). */
export type SnapshotWithRestore = SnapshotRow & { last_restore: RestoreJson | null };

const WITH_LAST_RESTORE = `SELECT s.*, (SELECT to_jsonb(r) FROM snapshot_restores r WHERE r.snapshot_id = s.id ORDER BY r.id DESC LIMIT 1) AS last_restore FROM snapshots s`;

/** The object name a snapshot row gets: its instance's name and its id, unique in the namespace. */
export async function insertSnapshot(
  q: Queryable,
  s: { instanceId: number; ownerId: number; name: string | null; instanceName: string; kind: SnapshotKind; sizeGb: number },
): Promise<SnapshotRow | null> {
  const rows = await q.query<SnapshotRow>(
    `WITH n AS (SELECT nextval(pg_get_serial_sequence('snapshots', 'id'))::int AS id)
     INSERT INTO snapshots (id, instance_id, owner_id, name, object_name, kind, size_gb)
     SELECT n.id, $1, $2, COALESCE($3, 'snap-' || n.id), $4 || '-snap-' || n.id, $5, $6 FROM n
     ON CONFLICT (instance_id, name) DO NOTHING RETURNING *`,
    [s.instanceId, s.ownerId, s.name, s.instanceName, s.kind, s.sizeGb],
  );
  return rows[0] ?? null;
}

/** The snapshots of an instance its owner sees (being deleted included), newest first. */
export async function listSnapshotsOf(q: Queryable, instanceId: number): Promise<SnapshotWithRestore[]> {
  return q.query<SnapshotWithRestore>(`${WITH_LAST_RESTORE} WHERE s.instance_id = $1 ORDER BY s.id DESC`, [instanceId]);
}

export async function findSnapshot(q: Queryable, instanceId: number, id: number, opts: { lock?: boolean } = {}): Promise<SnapshotWithRestore | null> {
  const sql = opts.lock
    ? 'SELECT s.*, NULL::jsonb AS last_restore FROM snapshots s WHERE s.instance_id = $1 AND s.id = $2 FOR UPDATE'
    : `${WITH_LAST_RESTORE} WHERE s.instance_id = $1 AND s.id = $2`;
  const rows = await q.query<SnapshotWithRestore>(sql, [instanceId, id]);
  return rows[0] ?? null;
}

/** Marks a snapshot for deletion; returns it as it was (null: none live). */
export async function markSnapshotDeleted(q: Queryable, id: number): Promise<SnapshotRow | null> {
  const rows = await q.query<SnapshotRow>(`UPDATE snapshots SET desired = 'deleted' WHERE id = $1 AND desired = 'present' RETURNING *`, [id]);
  return rows[0] ?? null;
}

/**
 * Marks for deletion every live snapshot of a cluster's instances that are
 * being deleted (a scale-in or the cluster's delete). Returns the storage (GB) they held: the
 * cluster owner's, as every snapshot of its instances is.
 */
export async function markSnapshotsOfDeletedInstances(q: Queryable, clusterId: number): Promise<number> {
  const rows = await q.query<{ gb: number | null }>(
    `WITH m AS (UPDATE snapshots s SET desired = 'deleted' FROM instances i
                 WHERE s.instance_id = i.id AND i.cluster_id = $1 AND i.desired = 'deleted' AND s.desired = 'present'
                 RETURNING s.size_gb)
     SELECT sum(size_gb)::int AS gb FROM m`,
    [clusterId],
  );
  return rows[0]?.gb ?? 0;
}

/** Storage (GB) the live snapshots of these instances hold (what removing them would release). */
export async function liveSnapshotStorageOf(q: Queryable, instanceIds: number[]): Promise<number> {
  if (instanceIds.length === 0) return 0;
  const rows = await q.query<{ gb: number | null }>(`SELECT sum(size_gb)::int AS gb FROM snapshots WHERE instance_id = ANY($1::int[]) AND desired = 'present'`, [instanceIds]);
  return rows[0]?.gb ?? 0;
}

/** The reconciler's view of an instance's snapshots: every row, to create, delete or leave. */
export async function snapshotsToSettle(q: Queryable, instanceId: number): Promise<SnapshotRow[]> {
  return q.query<SnapshotRow>(`SELECT * FROM snapshots WHERE instance_id = $1 AND (desired = 'deleted' OR phase = 'creating') ORDER BY id`, [instanceId]);
}

export async function deleteSnapshotRow(q: Queryable, id: number): Promise<void> {
  await q.query(`DELETE FROM snapshots WHERE id = $1 AND desired = 'deleted'`, [id]);
}

/**
 * What the observer saw of a snapshot's object. Only a change is written; a
 * snapshot being deleted is left as it is. Returns whether it changed.
 */
export async function recordSnapshotPhase(q: Queryable, id: number, phase: SnapshotPhase, message: string | null): Promise<boolean> {
  const rows = await q.query(
    `UPDATE snapshots SET phase = $2, message = $3, ready_at = CASE WHEN $2 = 'ready' THEN COALESCE(ready_at, now()) ELSE ready_at END
      WHERE id = $1 AND desired = 'present' AND (phase <> $2 OR message IS DISTINCT FROM $3) AND NOT (phase = 'lost')
      RETURNING id`,
    [id, phase, message],
  );
  return rows.length > 0;
}

/** Ready snapshots of a kind, which a full list of their objects must show (one it does not was deleted behind KubeKloud's back). */
export async function readySnapshotIds(q: Queryable, kind: SnapshotKind): Promise<number[]> {
  const rows = await q.query<{ id: number }>(`SELECT id FROM snapshots WHERE desired = 'present' AND phase = 'ready' AND kind = $1`, [kind]);
  return rows.map((r) => r.id);
}

// --- restores ---------------------------------------------------------------

export async function insertRestore(q: Queryable, r: { snapshotId: number; instanceId: number; phase: RestorePhase; resume: Desired }): Promise<RestoreRow> {
  const rows = await q.query<RestoreRow>(
    `INSERT INTO snapshot_restores (snapshot_id, instance_id, phase, resume) VALUES ($1, $2, $3, $4) RETURNING *`,
    [r.snapshotId, r.instanceId, r.phase, r.resume],
  );
  return rows[0]!;
}

/** The restore under way on an instance, if any. */
export async function activeRestore(q: Queryable, instanceId: number): Promise<(RestoreRow & { object_name: string; snapshot_kind: SnapshotKind }) | null> {
  const rows = await q.query<RestoreRow & { object_name: string; snapshot_kind: SnapshotKind }>(
    `SELECT r.*, s.object_name, s.kind AS snapshot_kind FROM snapshot_restores r JOIN snapshots s ON s.id = r.snapshot_id
      WHERE r.instance_id = $1 AND r.phase IN ('stopping', 'restoring')`,
    [instanceId],
  );
  return rows[0] ?? null;
}

export async function setRestorePhase(q: Queryable, id: number, phase: RestorePhase, message: string | null): Promise<void> {
  await q.query(
    `UPDATE snapshot_restores SET phase = $2, message = $3, finished_at = CASE WHEN $2 IN ('done', 'failed') THEN now() ELSE NULL END WHERE id = $1`,
    [id, phase, message],
  );
}

/** Whether a restore is under way on any instance of a cluster (a live change waits for none). */
export async function restoringInCluster(q: Queryable, clusterId: number): Promise<boolean> {
  const rows = await q.query(
    `SELECT 1 FROM snapshot_restores r JOIN instances i ON i.id = r.instance_id WHERE i.cluster_id = $1 AND r.phase IN ('stopping', 'restoring') LIMIT 1`,
    [clusterId],
  );
  return rows.length > 0;
}
