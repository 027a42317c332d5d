// What the watches saw, written back to instance rows, and the user-facing
// status recomputed from it under the row lock, in the same transaction.
import { deriveStatus, type InstanceStatus } from '../domain/lifecycle.ts';
import type { Observation } from '../domain/observations.ts';
import type { Db, Tx } from './db.ts';
import type { InstanceWithCluster } from './instances.ts';

/**
 * Recomputes and stores an instance's status; returns it (null when the row is
 * gone). It reads the row `FOR UPDATE` and writes in the same transaction, so an
 * observation committed meanwhile cannot be overwritten with an older status.
 */
export async function refreshStatus(tx: Tx, id: number): Promise<InstanceStatus | null> {
  const rows = await tx.query<InstanceWithCluster>(
    `SELECT i.*, c.owner_id, c.instance_type FROM instances i JOIN clusters c ON c.id = i.cluster_id
      WHERE i.id = $1 FOR UPDATE OF i`,
    [id],
  );
  const row = rows[0];
  if (!row) return null;
  const status = deriveStatus({
    kind: row.instance_type,
    desired: row.desired,
    applied: row.applied,
    failure: row.failure,
    drift: row.drift,
    observed: { present: row.obs_present, phase: row.obs_phase, ready: row.obs_ready, vmStatus: row.obs_vm_status },
  });
  if (status !== row.status) {
    await tx.query('UPDATE instances SET status = $2, updated_at = now() WHERE id = $1', [id, status]);
  }
  return status;
}

/**
 * Stores what Kubernetes says about an instance's pod or VM, and its status. An
 * observation equal to the stored one is not written again. Returns whether the
 * row exists (false: the instance is gone).
 */
export async function recordObservation(db: Db, instanceId: number, o: Observation): Promise<boolean> {
  return db.transaction(async (tx) => {
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
    if (found.length === 0) return false;
    // Even when the observation is unchanged: a status that went stale is put right.
    await refreshStatus(tx, instanceId);
    return true;
  });
}

/** A VM's address and node live on its VirtualMachineInstance, not on the VM. */
export async function recordAddress(db: Db, instanceId: number, ip: string | null, node: string | null): Promise<void> {
  await db.query('UPDATE instances SET ip = $2, node = $3, updated_at = now() WHERE id = $1 AND (ip IS DISTINCT FROM $2 OR node IS DISTINCT FROM $3)', [
    instanceId,
    ip,
    node,
  ]);
}

/** Instances of one kind whose rows say their pod or VM exists (to find those a relist no longer shows). */
export async function instancesObservedPresent(db: Db, kind: 'container' | 'vm'): Promise<number[]> {
  const rows = await db.query<{ id: number }>(
    'SELECT i.id FROM instances i JOIN clusters c ON c.id = i.cluster_id WHERE c.instance_type = $1 AND i.obs_present',
    [kind],
  );
  return rows.map((r) => r.id);
}
