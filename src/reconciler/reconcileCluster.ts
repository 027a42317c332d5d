// Converges one cluster's namespace and its fences, or removes it all.
import { renderClusterObjects } from '../domain/render.ts';
import type { Kube } from '../kube/client.ts';
import { KubeError, toKubeError } from '../kube/errors.ts';
import type { Db } from '../store/db.ts';
import { deleteClusterRow } from '../store/clusters.ts';
import type { ClusterRow } from '../store/clusters.ts';
import { markSynced, requeue, type Claimed } from '../store/work.ts';
import { backoffMs } from './backoff.ts';
import { clusterSpecOf } from './spec.ts';

const NAMESPACE_POLL_MS = 1000;
const WAITING_FOR_NAMESPACE = 'Waiting for the namespace to terminate';

export async function reconcileCluster(db: Db, kube: Kube, installation: string, row: Claimed<ClusterRow>): Promise<void> {
  try {
    if (row.state === 'deleting') {
      const ns = { apiVersion: 'v1', kind: 'Namespace', metadata: { name: row.namespace } };
      // The DELETE is sent once (again after a failed pass); the passes that follow only look.
      if (row.message !== WAITING_FOR_NAMESPACE) await kube.remove(ns);
      if (await kube.exists(ns)) {
        // The namespace controller is emptying it; look again shortly.
        await requeue(db, 'clusters', row.id, NAMESPACE_POLL_MS, WAITING_FOR_NAMESPACE, { countAttempt: false });
        return;
      }
      await deleteClusterRow(db, row.id);
      return;
    }
    const [namespace, ...rest] = renderClusterObjects(clusterSpecOf(row, installation));
    await kube.apply(namespace!);
    await Promise.all(rest.map((obj) => kube.apply(obj)));
    await markSynced(db, 'clusters', row.id, row.claimed_gen, ', synced_at = now()');
  } catch (err) {
    const e = toKubeError(err);
    const message = e instanceof KubeError ? `Kubernetes: ${e.message}` : String(err);
    await requeue(db, 'clusters', row.id, backoffMs(row.attempts), message, { countAttempt: true, waitingOnKube: e.outage });
    throw e;
  }
}
