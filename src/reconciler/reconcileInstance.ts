// Converges one instance: its workload (StatefulSet or VirtualMachine), its
// Service and data volume, its snapshots and a restore under way
// (src/reconciler/snapshots.ts), or their removal on scale-in.
import { vmShouldRun } from '../domain/lifecycle.ts';
import { renderInstanceObjects, renderVmDataVolume } from '../domain/render.ts';
import { KubeError } from '../kube/errors.ts';
import { restartVm } from '../kube/virtApi.ts';
import { findCluster } from '../store/clusters.ts';
import { refreshStatus, storeStatusesOf } from '../service/status.ts';
import type { Db } from '../store/db.ts';
import { deleteClaimedRow, markInstancesSynced, releaseClaim, requeue, type ClaimedInstance, type SyncedMark } from '../store/work.ts';
import { backoffMs } from './backoff.ts';
import { LostClaim, type Claim } from './claims.ts';
import { ensureObject } from './ensure.ts';
import { settlePause } from './pauses.ts';
import { holdsWorkload, removeSnapshotObjects, RESTORE_POLL_MS, settleSnapshots, stepRestore } from './snapshots.ts';
import { activeRestore } from '../store/snapshots.ts';
import type { ReconcileContext } from './reconcileCluster.ts';
import { clusterSpecOf, instanceSpecOf } from '../service/spec.ts';

export async function reconcileInstance(ctx: ReconcileContext, row: ClaimedInstance, claim: Claim): Promise<void> {
  const { db, kube } = ctx;
  // Independent reads, side by side: each round trip costs most on a busy machine.
  // The claim said whether there is a restore to read (most reconciles have none).
  const [clusterRow, restore] = await Promise.all([findCluster(db, row.cluster_id, null), row.restoring ? activeRestore(db, row.id) : null]);
  if (!clusterRow) {
    await releaseClaim(db, 'instances', row.id, claim); // the cluster is gone; its rows go with it
    return;
  }
  const cluster = clusterSpecOf(clusterRow, ctx.installation, row);
  const instance = instanceSpecOf(row);
  const objects = renderInstanceObjects(cluster, instance);
  const volume = renderVmDataVolume(cluster, instance);
  try {
    if (row.desired === 'deleted') {
      if (row.snapshot_work) await removeSnapshotObjects(ctx, cluster, instance, claim);
      if (row.keep_disks && cluster.kind === 'vm') {
        // Its disks stay: the VM goes orphaning them (its DataVolume, a restored claim), and its running instance after it.
        const t = { timeoutMs: claim.timeoutMs() };
        await kube.remove(objects[0]!, { ...t, propagation: 'Orphan' });
        await kube.remove({ apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachineInstance', metadata: { name: row.name, namespace: cluster.namespace } }, t);
        for (const obj of objects.slice(1)) await kube.remove(obj, t);
      } else {
        for (const obj of [...objects, ...(volume ? [volume] : [])]) await kube.remove(obj, { timeoutMs: claim.timeoutMs() });
      }
      if (!(await deleteClaimedRow(db, 'instances', row.id, claim))) throw new LostClaim('instances', row.id, 'the delete matched no row it held');
      return;
    }
    if (!holdsWorkload(cluster, restore)) {
      if (volume) await ensureObject(kube, volume, claim);
      for (const obj of objects) await ensureObject(kube, obj, claim);
      if (cluster.kind === 'vm') await settlePause(kube, cluster.namespace, row, claim.timeoutMs());
      if (cluster.kind === 'vm' && vmShouldRun(row.desired) && row.restart_count > row.applied_restart_count) {
        // KubeVirt's restart, not a delete of the VMI: the VM's controller makes the next VMI from the VM it
        // saw with the request, so from the template just applied (after a delete it may use an older copy).
        // A VM that runs no VMI starts on the template as applied.
        await restartVm(kube.config, cluster.namespace, row.name, claim.timeoutMs());
      }
    }
    if (row.snapshot_work) await settleSnapshots(ctx, cluster, instance, claim);
    const step = restore ? await stepRestore(ctx, cluster, instance, restore, claim) : null;
    if (step?.kind === 'wait') {
      // Kubernetes works on the restore: back soon, without counting it as a failed attempt.
      await db.transaction(async (tx) => {
        if (!(await requeue(tx, 'instances', row.id, claim, RESTORE_POLL_MS, `Restoring from a snapshot: ${step.why}`, { countAttempt: false }))) {
          throw new LostClaim('instances', row.id, 'the requeue matched no row it held');
        }
        await refreshStatus(tx, row.id);
      });
      return;
    }
    // A restore that just finished asked for the instance as it was: the row stays due for that.
    const mark = { id: row.id, claim, gen: row.claimed_gen, appliedRestartCount: row.restart_count };
    const held = ctx.markSynced ? await ctx.markSynced(mark) : (await markSynced(db, [mark]))[0];
    if (!held) throw new LostClaim('instances', row.id, 'marking it synced matched no row it held');
  } catch (err) {
    // A lost claim is dropped; a database failure leaves the claim to run out and the row to be tried again.
    if (!(err instanceof KubeError)) throw err;
    // A rejection will not pass by itself: show it as a failure (with the
    // Kubernetes reason) while we keep retrying slowly in case the cause is fixed.
    const failure = err.transient ? undefined : `Kubernetes rejected the ${cluster.kind === 'vm' ? 'VirtualMachine' : 'StatefulSet'}: ${err.message}`;
    await db.transaction(async (tx) => {
      const requeued = await requeue(tx, 'instances', row.id, claim, backoffMs(row.attempts), `Kubernetes: ${err.message}`, {
        countAttempt: true,
        failure,
        waitingOnKube: err.outage,
      });
      if (!requeued) throw new LostClaim('instances', row.id, 'the requeue matched no row it held');
      await refreshStatus(tx, row.id);
    });
    throw err;
  }
}

/**
 * Marks reconciled instances synced and stores their statuses, in one
 * transaction: a status left behind by a failure in between would stay wrong
 * until the instance is observed again. Two statements however many instances
 * (the reconciler joins those that finish together: `ReconcileContext.markSynced`).
 * Answers, for each, whether its claim still held.
 */
export async function markSynced(db: Db, marks: SyncedMark[]): Promise<boolean[]> {
  return db.transaction(async (tx) => {
    const rows = await markInstancesSynced(tx, marks);
    await storeStatusesOf(tx, [...rows.values()]);
    return marks.map((m) => rows.has(m.id));
  });
}
