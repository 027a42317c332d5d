// What the watches saw, written back to instance rows, and the row reads and
// writes the status is recomputed with (src/service/status.ts: under the row
// lock, in one transaction). An observation is one statement of its own: it
// answers the row as it left it, so the caller opens a transaction only when
// the stored status no longer follows from it.
import type { InstanceStatus } from '../domain/lifecycle.ts';
import type { DiskObservation, Observation } from '../domain/observations.ts';
import type { Db, Queryable, Tx } from './db.ts';
import { HISTORY_COLUMNS, historyValues, type HistoryEntry } from './history.ts';
import type { InstanceRow, InstanceWithCluster } from './instances.ts';

/**
 * An instance row as an observation left it, with what its status derives
 * from, and its version (`xmin`, the transaction that wrote it last): a status
 * derived from it may be stored without the lock only while the row is still
 * that version (`setStatusIfUnchanged`).
 */
export type ObservedRow = InstanceRow & { instance_type: 'vm' | 'container'; row_version: string };

/** The row an observation statement answers: the one it updated, or else the one it locked unchanged, with its cluster's kind. */
const AS_LEFT = `SELECT r.*, c.instance_type
     FROM (SELECT * FROM upd UNION ALL SELECT * FROM cur WHERE NOT EXISTS (SELECT 1 FROM upd)) r
     JOIN clusters c ON c.id = r.cluster_id`;

/** An instance with what its status derives from, locked until the transaction ends (null: the row is gone). */
export async function lockInstanceForStatus(tx: Tx, id: number): Promise<InstanceWithCluster | null> {
  const rows = await tx.query<InstanceWithCluster>(
    `SELECT i.*, c.owner_id, c.instance_type FROM instances i JOIN clusters c ON c.id = i.cluster_id
      WHERE i.id = $1 FOR UPDATE OF i`,
    [id],
  );
  return rows[0] ?? null;
}

export async function setInstanceStatus(tx: Tx, id: number, status: InstanceStatus): Promise<void> {
  await tx.query('UPDATE instances SET status = $2, updated_at = now() WHERE id = $1', [id, status]);
}

/**
 * Stores `status`, derived from `row` as an observation left it, and its
 * history entry, in one statement without a transaction of its own: only if
 * the row is still that version (nothing wrote it since). False: it moved on,
 * and the status must be derived again under the row lock.
 */
export async function setStatusIfUnchanged(q: Queryable, row: Pick<ObservedRow, 'id' | 'row_version'>, status: InstanceStatus, entry: HistoryEntry): Promise<boolean> {
  const rows = await q.query(
    `WITH upd AS (
       UPDATE instances SET status = $3, updated_at = now() WHERE id = $1 AND xmin = $2::text::xid RETURNING id)
     INSERT INTO cluster_history (${HISTORY_COLUMNS}) SELECT $4, $5, $6, $7, $8, $9, $10 FROM upd RETURNING id`,
    [row.id, row.row_version, status, ...historyValues(entry)],
  );
  return rows.length > 0;
}

/**
 * Stores what Kubernetes says about an instance's pod or VM, under the row
 * lock; an observation equal to the stored one is not written again. Returns
 * the row as it left it (its newest version: one committed while this waited
 * for the lock included), or null when the row is gone.
 */
export async function writeObservation(q: Queryable, instanceId: number, o: Observation): Promise<ObservedRow | null> {
  const rows = await q.query<ObservedRow>(
    `WITH cur AS (SELECT *, xmin::text AS row_version FROM instances WHERE id = $1 FOR UPDATE),
     next AS (
       SELECT i.id, $2::boolean AS present, $3::text AS phase, $5::text AS vm_status,
              CASE WHEN $11::int IS NOT NULL AND $11::int < i.restart_count THEN false ELSE $4::boolean END AS ready,
              CASE WHEN $10 THEN $6::text ELSE i.ip END AS ip, CASE WHEN $10 THEN $7::text ELSE i.node END AS node,
              COALESCE($8::text, i.message) AS message, COALESCE($9::jsonb, i.conditions) AS conditions
         FROM cur i),
     upd AS (
       UPDATE instances i SET obs_present = n.present, obs_phase = n.phase, obs_vm_status = n.vm_status, obs_ready = n.ready,
              ip = n.ip, node = n.node, message = n.message, conditions = n.conditions
         FROM next n
        WHERE i.id = n.id AND (i.obs_present, i.obs_phase, i.obs_vm_status, i.obs_ready, i.ip, i.node, i.message, i.conditions)
              IS DISTINCT FROM (n.present, n.phase, n.vm_status, n.ready, n.ip, n.node, n.message, n.conditions)
        RETURNING i.*, i.xmin::text AS row_version)
     ${AS_LEFT}`,
    [
      instanceId,
      o.present,
      o.phase ?? null,
      o.ready,
      o.vmStatus ?? null,
      o.ip ?? null,
      o.node ?? null,
      o.message ?? null,
      o.conditions ? JSON.stringify(o.conditions) : null,
      // VM observations carry no address (it is on the VMI): keep the one recorded.
      o.ip !== undefined || o.node !== undefined,
      o.restartCount ?? null,
    ],
  );
  return rows[0] ?? null;
}

/**
 * A root disk's import onto its instance. `dataVolume`: the DataVolume seen;
 * one that is not the instance's root disk now (the one a restore from a
 * snapshot replaced) changes nothing. Null: no DataVolume at all was seen.
 */
export async function writeDiskObservation(q: Queryable, instanceId: number, o: DiskObservation, dataVolume: string | null): Promise<boolean> {
  const rows = await q.query(
    `UPDATE instances SET obs_disk_phase = $2, obs_disk_progress = $3, obs_disk_message = $4, updated_at = now()
      WHERE id = $1 AND (obs_disk_phase, obs_disk_progress, obs_disk_message) IS DISTINCT FROM ($2, $3::real, $4)
        AND ($5::text IS NULL OR COALESCE(root_disk, name || '-root') = $5)
      RETURNING id`,
    [instanceId, o.phase, o.progress, o.message, dataVolume],
  );
  return rows.length > 0;
}

/** Instances whose rows still hold a root disk observation, of this installation's VMs. */
export async function instancesWithDiskObserved(q: Db): Promise<number[]> {
  const rows = await q.query<{ id: number }>('SELECT id FROM instances WHERE obs_disk_phase IS NOT NULL');
  return rows.map((r) => r.id);
}

/**
 * What a VM's VirtualMachineInstance says: address, node and whether it is
 * paused, and the restart generation it was made for, under the row lock.
 * Returns the row as it left it (null: no such row).
 */
export async function writeVmiObservation(
  q: Queryable,
  instanceId: number,
  o: { ip: string | null; node: string | null; paused: boolean; restart: number | null },
): Promise<ObservedRow | null> {
  const rows = await q.query<ObservedRow>(
    `WITH cur AS (SELECT *, xmin::text AS row_version FROM instances WHERE id = $1 FOR UPDATE),
     upd AS (
       UPDATE instances i SET ip = $2, node = $3, obs_paused = $4, obs_vmi_restart = $5, updated_at = now()
         FROM cur WHERE i.id = cur.id AND (i.ip, i.node, i.obs_paused, i.obs_vmi_restart) IS DISTINCT FROM ($2, $3, $4, $5::int)
        RETURNING i.*, i.xmin::text AS row_version)
     ${AS_LEFT}`,
    [instanceId, o.ip, o.node, o.paused, o.restart],
  );
  return rows[0] ?? null;
}

/** Instances of one kind whose rows say their pod or VM exists (to find those a relist no longer shows). */
export async function instancesObservedPresent(db: Db, kind: 'container' | 'vm'): Promise<number[]> {
  const rows = await db.query<{ id: number }>(
    'SELECT i.id FROM instances i JOIN clusters c ON c.id = i.cluster_id WHERE c.instance_type = $1 AND i.obs_present',
    [kind],
  );
  return rows.map((r) => r.id);
}
