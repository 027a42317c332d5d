// Use cases for snapshots of an instance's disks: take one (its size reserved
// of the owner's storage quota, atomically with the row), list, delete (the
// storage released), and restore — a running instance is stopped first, and
// started again once restored. The reconciler does the Kubernetes side
// (src/reconciler/snapshots.ts).
import { instanceConvergence, type Convergence } from '../domain/convergence.ts';
import { busy, notFound } from '../domain/errors.ts';
import { ZERO } from '../domain/quota.ts';
import { snapshotPlan } from '../domain/snapshots.ts';
import { shouldRun } from '../domain/lifecycle.ts';
import * as clusters from '../store/clusters.ts';
import type { Queryable } from '../store/db.ts';
import * as instances from '../store/instances.ts';
import * as snapshots from '../store/snapshots.ts';
import * as users from '../store/users.ts';
import { reserveOrExplain } from './clusters.ts';
import { ownerScope, type Principal, type Services } from './context.ts';
import { recordInstanceChange } from './history.ts';
import { refreshStatus } from './status.ts';
import { restoreView, snapshotView } from './views.ts';

const instanceNotFound = (id: number) => notFound(`Instance with id ${id}`);
const snapshotNotFound = (id: number) => notFound(`Snapshot with id ${id}`);

/** The instance, if its owner (or an admin) may see it and it is not being removed. */
async function liveInstance(q: Queryable, p: Principal, id: number, lock = false) {
  const row = await instances.findInstance(q, id, ownerScope(p), { lock });
  if (!row || row.cluster_state === 'deleting' || row.desired === 'deleted') throw instanceNotFound(id);
  return row;
}

export async function createSnapshot(s: Services, p: Principal, instanceId: number, body: { name?: string }) {
  const created = await s.db.transaction(async (tx) => {
    const row = await liveInstance(tx, p, instanceId, true);
    const cluster = await clusters.findCluster(tx, row.cluster_id, null);
    if (!cluster) throw instanceNotFound(instanceId);
    const plan = snapshotPlan({ kind: cluster.instance_type, volumeSizeGb: cluster.volume_size_gb, diskSizeGb: cluster.disk_size_gb });
    if (!plan.ok) throw busy(`Instance '${row.name}' cannot be snapshotted: ${plan.reason}`);
    const restoring = await snapshots.activeRestore(tx, instanceId);
    if (restoring) throw busy(`Instance '${row.name}' is being restored from a snapshot (restore ${restoring.id}, ${restoring.phase}); take the snapshot once it is done`);
    await reserveOrExplain(tx, row.owner_id, { ...ZERO, storageGb: plan.sizeGb });
    const snap = await snapshots.insertSnapshot(tx, { instanceId, ownerId: row.owner_id, name: body.name ?? null, instanceName: row.name, kind: plan.kind, sizeGb: plan.sizeGb });
    if (!snap) throw busy(`Instance '${row.name}' already has a snapshot named '${body.name}'`);
    await instances.touchInstance(tx, instanceId);
    await recordInstanceChange(tx, p, instanceId, `took snapshot '${snap.name}' of ${row.name} (${snap.size_gb} GB)`, { snapshot_id: snap.id });
    return snap;
  });
  s.wake();
  return snapshotView({ ...created, last_restore: null });
}

export async function listSnapshots(s: Services, p: Principal, instanceId: number) {
  await liveInstance(s.db, p, instanceId);
  const rows = await snapshots.listSnapshotsOf(s.db, instanceId);
  return { items: rows.map(snapshotView), total: rows.length };
}

export async function getSnapshot(s: Services, p: Principal, instanceId: number, id: number) {
  await liveInstance(s.db, p, instanceId);
  const row = await snapshots.findSnapshot(s.db, instanceId, id);
  if (!row) throw snapshotNotFound(id);
  return snapshotView(row);
}

export async function deleteSnapshot(s: Services, p: Principal, instanceId: number, id: number) {
  const out = await s.db.transaction(async (tx) => {
    const row = await liveInstance(tx, p, instanceId, true);
    const snap = await snapshots.findSnapshot(tx, instanceId, id, { lock: true });
    if (!snap || snap.desired === 'deleted') throw snapshotNotFound(id);
    const restoring = await snapshots.activeRestore(tx, instanceId);
    if (restoring?.snapshot_id === id) throw busy(`Snapshot '${snap.name}' is being restored onto instance '${row.name}'; delete it once the restore is done`);
    await snapshots.markSnapshotDeleted(tx, id);
    await users.releaseQuota(tx, snap.owner_id, { ...ZERO, storageGb: snap.size_gb });
    await instances.touchInstance(tx, instanceId);
    await recordInstanceChange(tx, p, instanceId, `deleted snapshot '${snap.name}' of ${row.name}`, { snapshot_id: id });
    return snap;
  });
  s.wake();
  return { message: `Snapshot '${out.name}' is being deleted`, detail: { snapshot_id: id, storage_released: out.size_gb } };
}

export async function restoreSnapshot(s: Services, p: Principal, instanceId: number, id: number) {
  const out = await s.db.transaction(async (tx) => {
    const row = await liveInstance(tx, p, instanceId, true);
    const snap = await snapshots.findSnapshot(tx, instanceId, id, { lock: true });
    if (!snap || snap.desired === 'deleted') throw snapshotNotFound(id);
    if (snap.phase !== 'ready') throw busy(`Snapshot '${snap.name}' is ${snap.phase}${snap.message ? ` (${snap.message})` : ''}; only a ready snapshot can be restored`);
    const restoring = await snapshots.activeRestore(tx, instanceId);
    if (restoring) throw busy(`Instance '${row.name}' is already being restored (restore ${restoring.id}, ${restoring.phase})`);
    // A running or suspended instance is stopped first; the restore gives back the state it had.
    const wasRunning = shouldRun(row.desired);
    const restore = await snapshots.insertRestore(tx, { snapshotId: id, instanceId, phase: 'stopping', resume: row.desired });
    if (row.desired !== 'stopped') await instances.setDesired(tx, instanceId, 'stopped', row.status);
    else await instances.touchInstance(tx, instanceId);
    await recordInstanceChange(tx, p, instanceId, `restores ${row.name} from snapshot '${snap.name}'${wasRunning ? ', stopping it first' : ''}`, { snapshot_id: id, restore_id: restore.id });
    await refreshStatus(tx, instanceId);
    return { row, snap, restore, wasRunning };
  });
  s.wake();
  const { row, snap, restore, wasRunning } = out;
  return {
    message: wasRunning
      ? `Instance '${row.name}' was ${row.desired}: it is stopped for the restore of snapshot '${snap.name}', and ${row.desired === 'suspended' ? 'suspended' : 'started'} again once restored`
      : `Snapshot '${snap.name}' is being restored onto instance '${row.name}', which stays stopped`,
    detail: { instance_id: instanceId, snapshot_id: id, restore_id: restore.id, stopped_first: wasRunning, restore: restoreView(restore) },
  };
}

/** For ?wait: a restore is converged once done and its instance is back in the state it had; failed when the restore failed. */
export async function restoreSettled(s: Services, instanceId: number, snapshotId: number): Promise<Convergence> {
  const snap = await snapshots.findSnapshot(s.db, instanceId, snapshotId);
  const r = snap?.last_restore;
  if (!r || r.phase === 'failed') return 'failed';
  if (r.phase !== 'done') return 'waiting';
  return instanceConvergence(await instances.findInstance(s.db, instanceId, null));
}

/** For ?wait: a snapshot is converged once ready. */
export async function snapshotSettled(s: Services, instanceId: number, id: number): Promise<Convergence> {
  const snap = await snapshots.findSnapshot(s.db, instanceId, id);
  if (!snap || snap.phase === 'failed' || snap.phase === 'lost') return 'failed';
  return snap.phase === 'ready' ? 'converged' : 'waiting';
}
