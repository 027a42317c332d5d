// What the watches saw, written back to instance rows, and the user-facing
// status recomputed from it under the row lock.
import { deriveStatus, type InstanceStatus } from '../domain/lifecycle.ts';
import type { Db, Queryable } from './db.ts';
import type { InstanceWithCluster } from './instances.ts';

export type Observation = {
  present: boolean;
  phase?: string | null;
  ready: boolean;
  vmStatus?: string | null;
  ip?: string | null;
  node?: string | null;
  message?: string | null;
  conditions?: unknown[];
  /** The restart generation the pod was made for; an older pod is on its way out and never counts as ready. */
  restartCount?: number;
};

/** Recomputes and stores an instance's status; returns it (null when the row is gone). */
export async function refreshStatus(q: Queryable, id: number): Promise<InstanceStatus | null> {
  const rows = await q.query<InstanceWithCluster>(
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
    observed: { present: row.obs_present, phase: row.obs_phase, ready: row.obs_ready, vmStatus: row.obs_vm_status },
  });
  if (status !== row.status) {
    await q.query('UPDATE instances SET status = $2, updated_at = now() WHERE id = $1', [id, status]);
  }
  return status;
}

export async function recordObservation(db: Db, instanceId: number, o: Observation): Promise<InstanceStatus | null> {
  return db.transaction(async (tx) => {
    const updated = await tx.query(
      `UPDATE instances SET obs_present = $2, obs_phase = $3, obs_vm_status = $5,
              obs_ready = CASE WHEN $11::int IS NOT NULL AND $11::int < restart_count THEN false ELSE $4 END,
              ip = CASE WHEN $10 THEN $6 ELSE ip END, node = CASE WHEN $10 THEN $7 ELSE node END, message = COALESCE($8, message), conditions = COALESCE($9, conditions)
        WHERE id = $1 RETURNING id`,
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
    if (updated.length === 0) return null;
    return refreshStatus(tx, instanceId);
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
