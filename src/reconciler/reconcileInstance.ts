// Converges one instance: its workload (StatefulSet or VirtualMachine), its
// Service and data volume, or their removal on scale-in.
import { renderInstanceObjects, renderVmDataVolume } from '../domain/render.ts';
import type { Kube } from '../kube/client.ts';
import { toKubeError } from '../kube/errors.ts';
import { findCluster } from '../store/clusters.ts';
import type { Db } from '../store/db.ts';
import { refreshStatus } from '../store/observations.ts';
import { deleteInstanceRow, markSynced, requeue, type ClaimedInstance } from '../store/work.ts';
import { backoffMs } from './backoff.ts';
import { clusterSpecOf, instanceSpecOf } from './spec.ts';

export async function reconcileInstance(db: Db, kube: Kube, installation: string, row: ClaimedInstance): Promise<void> {
  const clusterRow = await findCluster(db, row.cluster_id, null);
  if (!clusterRow) return; // the cluster is gone; its rows went with it
  const cluster = clusterSpecOf(clusterRow, installation);
  const instance = instanceSpecOf(row);
  const objects = renderInstanceObjects(cluster, instance);
  const volume = renderVmDataVolume(cluster, instance);
  try {
    if (row.desired === 'deleted') {
      for (const obj of [...objects, ...(volume ? [volume] : [])]) await kube.remove(obj);
      await deleteInstanceRow(db, row.id);
      return;
    }
    if (volume) await kube.apply(volume);
    for (const obj of objects) await kube.apply(obj);
    if (cluster.kind === 'vm' && row.restart_count > row.applied_restart_count) {
      // Without virt-api, a VM restarts by deleting its instance; runStrategy Always brings it back.
      await kube.remove({ apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachineInstance', metadata: { name: row.name, namespace: cluster.namespace } });
    }
    await markSynced(db, 'instances', row.id, row.claimed_gen, `, applied = true, failure = NULL, applied_restart_count = ${row.restart_count}`);
    await refreshStatus(db, row.id);
  } catch (err) {
    const e = toKubeError(err);
    // A rejection will not pass by itself: show it as a failure (with the
    // Kubernetes reason) while we keep retrying slowly in case the cause is fixed.
    const failure = e.transient ? undefined : `Kubernetes rejected the ${cluster.kind === 'vm' ? 'VirtualMachine' : 'StatefulSet'}: ${e.message}`;
    await requeue(db, 'instances', row.id, backoffMs(row.attempts), `Kubernetes: ${e.message}`, { countAttempt: true, failure, waitingOnKube: e.outage });
    await refreshStatus(db, row.id);
    throw e;
  }
}
