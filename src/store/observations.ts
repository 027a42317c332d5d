// What the watches saw, written back to instance rows, and the row reads and
// writes the status is recomputed with (src/service/status.ts: under the row
// lock, in one transaction).
import type { InstanceStatus } from '../domain/lifecycle.ts';
import type { DiskObservation, Observation } from '../domain/observations.ts';
import type { Db, Tx } from './db.ts';
import type { InstanceWithCluster } from './instances.ts';

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
 * Stores what Kubernetes says about an instance's pod or VM, under the row lock
 * (kept until the transaction ends); an observation equal to the stored one is
 * not written again. Returns whether the row exists.
 */
export async function writeObservation(tx: Tx, instanceId: number, o: Observation): Promise<boolean> {
  const found = await tx.query<{ changed: boolean }>(
    `WITH next AS (
       SELECT i.id, $2::boolean AS present, $3::text AS phase, $5::text AS vm_status,
              CASE WHEN $11::int IS NOT NULL AND $11::int < i.restart_count THEN false ELSE $4::boolean END AS ready,
              CASE WHEN $10 THEN $6::text ELSE i.ip END AS ip, CASE WHEN $10 THEN $7::text ELSE i.node END AS node,
              COALESCE($8::text, i.message) AS message, COALESCE($9::jsonb, i.conditions) AS conditions
         FROM instances i WHERE i.id = $1 FOR UPDATE),
     upd AS (
       UPDATE instances i SET obs_present = n.present, obs_phase = n.phase, obs_vm_status = n.vm_status, obs_ready = n.ready,
              ip = n.ip, node = n.node, message = n.message, conditions = n.conditions
         FROM next n
        WHERE i.id = n.id AND (i.obs_present, i.obs_phase, i.obs_vm_status, i.obs_ready, i.ip, i.node, i.message, i.conditions)
              IS DISTINCT FROM (n.present, n.phase, n.vm_status, n.ready, n.ip, n.node, n.message, n.conditions)
        RETURNING i.id)
     SELECT EXISTS (SELECT 1 FROM upd) AS changed FROM next`,
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
  return found.length > 0;
}

/** Stores a VM's root disk import under the row lock; returns whether it changed (false also when the row is gone). */
/**
 * A root disk's import onto its instance. `dataVolume`: the DataVolume seen;
 * one that is not the instance's root disk now (the one a restore from a
 * snapshot replaced) changes nothing. Null: no DataVolume at all was seen.
 */
export async function writeDiskObservation(tx: Tx, instanceId: number, o: DiskObservation, dataVolume: string | null): Promise<boolean> {
  const rows = await tx.query(
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
 * Returns the row's desired state and generations (null: no such row), and
 * whether what the status derives from (pause, generation) changed.
 */
export async function writeVmiObservation(
  tx: Tx,
  instanceId: number,
  o: { ip: string | null; node: string | null; paused: boolean; restart: number | null },
): Promise<{ desired: string; desired_gen: number; synced_gen: number; status_inputs_changed: boolean } | null> {
  const rows = await tx.query<{ desired: string; desired_gen: number; synced_gen: number; was_paused: boolean; was_restart: number | null }>(
    `WITH old AS (SELECT id, obs_paused, obs_vmi_restart FROM instances WHERE id = $1 FOR UPDATE)
     UPDATE instances i SET ip = $2, node = $3, obs_paused = $4, obs_vmi_restart = $5,
            updated_at = CASE WHEN (i.ip, i.node, i.obs_paused) IS DISTINCT FROM ($2, $3, $4) THEN now() ELSE i.updated_at END
       FROM old WHERE i.id = old.id
     RETURNING i.desired, i.desired_gen, i.synced_gen, old.obs_paused AS was_paused, old.obs_vmi_restart AS was_restart`,
    [instanceId, o.ip, o.node, o.paused, o.restart],
  );
  const r = rows[0];
  return r
    ? { desired: r.desired, desired_gen: r.desired_gen, synced_gen: r.synced_gen, status_inputs_changed: r.was_paused !== o.paused || r.was_restart !== o.restart }
    : null;
}

/** Instances of one kind whose rows say their pod or VM exists (to find those a relist no longer shows). */
export async function instancesObservedPresent(db: Db, kind: 'container' | 'vm'): Promise<number[]> {
  const rows = await db.query<{ id: number }>(
    'SELECT i.id FROM instances i JOIN clusters c ON c.id = i.cluster_id WHERE c.instance_type = $1 AND i.obs_present',
    [kind],
  );
  return rows.map((r) => r.id);
}
