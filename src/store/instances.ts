// Instances: desired state, observed status, and reconcile bookkeeping.
import type { Endpoint } from '../domain/endpoints.ts';
import type { Desired, InstanceStatus } from '../domain/lifecycle.ts';
import type { RollableSpec } from '../domain/rollout.ts';
import type { Queryable } from './db.ts';
import { reachWhere, type Reach } from './clusters.ts';

export type InstanceRow = {
  id: number;
  cluster_id: number;
  ordinal: number;
  name: string;
  desired: Desired;
  status: InstanceStatus;
  restart_count: number;
  obs_present: boolean;
  obs_phase: string | null;
  obs_ready: boolean;
  obs_vm_status: string | null;
  /** The VM's VirtualMachineInstance has its Paused condition (suspend keeps a VM running, frozen). */
  obs_paused: boolean;
  /** A VM's root disk import as CDI last reported it: DataVolume phase and progress (percent); null without a root disk. */
  obs_disk_phase: string | null;
  obs_disk_progress: number | null;
  /** The restart generation of the VM's running VirtualMachineInstance (its template's annotation); null: none seen. */
  obs_vmi_restart: number | null;
  /** Why the root disk's import failed, as CDI said (only while its phase is Failed). */
  obs_disk_message: string | null;
  ip: string | null;
  node: string | null;
  /** How it is reached, as the observer last read it from its Service and the nodes. */
  endpoints: Endpoint[];
  failure: string | null;
  /** What the observer found changed behind KubeKloud's back, until the repair is applied. */
  drift: string | null;
  message: string | null;
  conditions: unknown[];
  applied: boolean;
  applied_restart_count: number;
  /** When its generation was last applied to Kubernetes (null: never). */
  synced_at: Date | null;
  desired_gen: number;
  synced_gen: number;
  attempts: number;
  claim_epoch: number;
  /** The cluster spec generation it runs (src/store/rollouts.ts). */
  spec_gen: number;
  /** The spec it keeps while a newer one has not rolled to it yet; null: the cluster's. */
  spec: RollableSpec | null;
  /** When a roll last changed it. */
  rolled_at: Date | null;
  /** A VM restored from a snapshot runs from KubeVirt's new claims: their names (null: KubeKloud's). */
  root_disk: string | null;
  data_claim: string | null;
  /** Removed by a scale-in that keeps its disks: its VM is deleted orphaning them. */
  keep_disks: boolean;
  created_at: Date;
  updated_at: Date;
};

/** Instance rows joined with what the domain needs of their cluster. */
export type InstanceWithCluster = InstanceRow & { owner_id: number; instance_type: 'vm' | 'container'; cluster_state: 'active' | 'deleting' };

export async function insertInstances(
  q: Queryable,
  clusterId: number,
  entries: { ordinal: number; name: string }[],
): Promise<InstanceRow[]> {
  if (entries.length === 0) return [];
  return q.query<InstanceRow>(
    `INSERT INTO instances (cluster_id, ordinal, name, desired, spec_gen)
     SELECT $1, o, n, 'running', (SELECT spec_gen FROM clusters WHERE id = $1) FROM unnest($2::int[], $3::text[]) AS x(o, n)
     RETURNING *`,
    [clusterId, entries.map((e) => e.ordinal), entries.map((e) => e.name)],
  );
}

export async function listInstancesOf(q: Queryable, clusterIds: number[]): Promise<InstanceRow[]> {
  if (clusterIds.length === 0) return [];
  return q.query<InstanceRow>('SELECT * FROM instances WHERE cluster_id = ANY($1::int[]) ORDER BY cluster_id, ordinal', [
    clusterIds,
  ]);
}

/** Only the statuses of these clusters' instances: all a cluster's summary in a list needs. */
export async function findInstance(
  q: Queryable,
  id: number,
  reach: Reach,
  opts: { lock?: boolean } = {},
): Promise<InstanceWithCluster | null> {
  const r = reachWhere(reach, 'c', 2);
  const rows = await q.query<InstanceWithCluster>(
    `SELECT i.*, c.owner_id, c.instance_type, c.state AS cluster_state FROM instances i JOIN clusters c ON c.id = i.cluster_id
      WHERE i.id = $1 AND ${r.sql}${opts.lock ? ' FOR UPDATE OF i' : ''}`,
    [id, ...r.params],
  );
  return rows[0] ?? null;
}

/**
 * The rows of `table` that `where` names, locked in id order: every statement
 * that locks several rows of instances (or of clusters) locks them in this
 * order (the observation and status batches too, and a replica's renewal of
 * its claims), so two transactions never wait on each other in a cycle. An
 * UPDATE … WHERE id IN (…) or … FROM a join alone locks in whatever order its
 * plan yields (a hash of the ids, the order of a list), and PostgreSQL ends
 * one side of such a cycle with a deadlock error.
 */
export function lockedInIdOrder(table: 'instances' | 'clusters', where: string): string {
  return `SELECT id FROM ${table} WHERE ${where} ORDER BY id FOR UPDATE`;
}

/** The instances `where` names, locked in id order (lockedInIdOrder). */
export const instancesLockedInIdOrder = (where: string): string => lockedInIdOrder('instances', where);

/** Rows to be written one by one in a transaction, in the order their locks must be taken (instancesLockedInIdOrder). */
export function inIdOrder<T extends { id: number }>(rows: T[]): T[] {
  return [...rows].sort((a, b) => a.id - b.id);
}

/** Records a new desired state and asks the reconciler to converge to it. */
export async function setDesired(
  q: Queryable,
  id: number,
  desired: Desired,
  status: InstanceStatus,
  opts: { restart?: boolean } = {},
): Promise<void> {
  await q.query(
    `UPDATE instances SET desired = $2, status = $3, restart_count = restart_count + $4,
            obs_ready = CASE WHEN $4 > 0 THEN false ELSE obs_ready END,
            failure = NULL, desired_gen = desired_gen + 1, next_attempt_at = now(), attempts = 0, updated_at = now()
      WHERE id = $1`,
    [id, desired, status, opts.restart ? 1 : 0],
  );
}

/**
 * Marks the `count` highest-numbered live instances of a cluster for deletion
 * (scale-in; a cluster delete marks them all), their disks kept when asked.
 * Returns those marked.
 */
export async function markInstancesDeleted(
  q: Queryable,
  clusterId: number,
  count: number | 'all',
  opts: { keepDisks?: boolean } = {},
): Promise<Pick<InstanceRow, 'id' | 'name' | 'root_disk' | 'data_claim'>[]> {
  return q.query(
    `WITH lk AS (${instancesLockedInIdOrder("id IN (SELECT id FROM instances WHERE cluster_id = $1 AND desired <> 'deleted' ORDER BY ordinal DESC LIMIT $2)")})
     UPDATE instances i SET desired = 'deleted', status = 'deleting', desired_gen = desired_gen + 1, keep_disks = $3,
            next_attempt_at = now(), attempts = 0, updated_at = now()
       FROM lk WHERE i.id = lk.id
      RETURNING i.id, i.name, i.root_disk, i.data_claim`,
    [clusterId, count === 'all' ? null : count, opts.keepDisks ?? false],
  );
}

export async function maxOrdinal(q: Queryable, clusterId: number): Promise<number> {
  const rows = await q.query<{ m: number | null }>('SELECT max(ordinal)::int AS m FROM instances WHERE cluster_id = $1', [
    clusterId,
  ]);
  return rows[0]?.m ?? 0;
}

/** Makes an instance due for the reconciler without changing what it is asked to be (a snapshot to take or delete). */
export async function touchInstance(q: Queryable, id: number): Promise<void> {
  await q.query(`UPDATE instances SET desired_gen = desired_gen + 1, next_attempt_at = now(), attempts = 0 WHERE id = $1`, [id]);
}

/**
 * A restore is done: the VM's claims as KubeVirt renamed them (null keeps
 * what it had), and the instance asked to be what it was before the restore.
 * It starts again on a new pod or VMI: its restart generation is raised (and
 * counted as applied, there being nothing running to restart), and what was
 * seen of it before no longer says it is ready, so it is not 'running' again
 * until the watches see the new one (even when they never saw it stop).
 * Fenced by the reconciler's claim; false when it no longer holds the row.
 */
export async function finishRestoreOf(
  q: Queryable,
  id: number,
  claim: { worker: string; epoch: number },
  disks: { rootDisk: string | null; dataClaim: string | null },
  resume: Desired,
): Promise<boolean> {
  const rows = await q.query(
    `UPDATE instances SET root_disk = COALESCE($4, root_disk), data_claim = COALESCE($5, data_claim), desired = $6,
            restart_count = restart_count + 1, applied_restart_count = restart_count + 1, obs_ready = false,
            desired_gen = desired_gen + 1, next_attempt_at = now(), attempts = 0, failure = NULL, message = NULL, updated_at = now()
      WHERE id = $1 AND claimed_by = $2 AND claim_epoch = $3 RETURNING id`,
    [id, claim.worker, claim.epoch, disks.rootDisk, disks.dataClaim, resume],
  );
  return rows.length > 0;
}
