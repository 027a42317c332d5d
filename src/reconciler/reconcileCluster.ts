// Converges one cluster's namespace and its fences (and removes the disks
// scale-ins kept whose delete was accepted), or removes it all.
import { renderClusterObjects } from '../domain/render.ts';
import type { Kube } from '../kube/client.ts';
import { KubeError } from '../kube/errors.ts';
import type { Db } from '../store/db.ts';
import { deleteClaimedRow, markClusterSynced, requeue, type ClaimedCluster, type SyncedMark } from '../store/work.ts';
import { backoffMs } from './backoff.ts';
import { LostClaim, type Claim } from './claims.ts';
import { ensureObject } from './ensure.ts';
import { clusterSpecOf } from '../service/spec.ts';
import { deleteKeptDiskRow, keptDisksToRemove, type KeptDiskRow } from '../store/keptDisks.ts';

/** A kept disk's object: a root disk's DataVolume (its claim goes with it), a data disk's claim. */
const keptDiskObject = (namespace: string, d: KeptDiskRow) =>
  d.kind === 'root'
    ? { apiVersion: 'cdi.kubevirt.io/v1beta1', kind: 'DataVolume', metadata: { name: d.object_name, namespace } }
    : { apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name: d.object_name, namespace } };

const WAITING_FOR_NAMESPACE = 'Waiting for the namespace to terminate';

export type ReconcileContext = {
  db: Db;
  kube: Kube;
  installation: string;
  /** While a deleted cluster's namespace terminates: when to look again, unless the observer sees it go first and wakes the row (default 10 s). */
  namespacePollMs?: number;
  /** Marks one reconciled instance synced with others that finish at about the same time (`markSynced`); answers whether its claim held. Unset: alone. */
  markSynced?: (mark: SyncedMark) => Promise<boolean>;
};

const held = (ok: boolean, claim: Claim, what: string) => {
  if (!ok) throw new LostClaim(claim.table, claim.id, `${what} matched no row held with epoch ${claim.epoch}`);
};

export async function reconcileCluster(ctx: ReconcileContext, row: ClaimedCluster, claim: Claim): Promise<void> {
  const { db, kube } = ctx;
  try {
    if (row.state === 'deleting') {
      const ns = { apiVersion: 'v1', kind: 'Namespace', metadata: { name: row.namespace } };
      // The DELETE is sent once (again after a failed pass); the passes that follow only look.
      if (row.message !== WAITING_FOR_NAMESPACE) await kube.remove(ns, { timeoutMs: claim.timeoutMs() });
      if (await kube.exists(ns, { timeoutMs: claim.timeoutMs() })) {
        // The namespace controller is emptying it. The observer's Namespace watch
        // makes the row due the moment it is gone; the poll is the safety net.
        held(await requeue(db, 'clusters', row.id, claim, ctx.namespacePollMs ?? 10_000, WAITING_FOR_NAMESPACE, { countAttempt: false }), claim, 'requeue');
        return;
      }
      held(await deleteClaimedRow(db, 'clusters', row.id, claim), claim, 'delete');
      return;
    }
    const [namespace, ...rest] = renderClusterObjects(clusterSpecOf(row, ctx.installation));
    await ensureObject(kube, namespace!, claim);
    await Promise.all(rest.map((obj) => ensureObject(kube, obj, claim)));
    // Kept disks whose delete was accepted: their objects, then their rows.
    for (const d of await keptDisksToRemove(db, row.id)) {
      await kube.remove(keptDiskObject(row.namespace, d), { timeoutMs: claim.timeoutMs() });
      await deleteKeptDiskRow(db, d.id);
    }
    held(await markClusterSynced(db, row.id, claim, row.claimed_gen), claim, 'mark synced');
  } catch (err) {
    // A lost claim is dropped; a database failure leaves the claim to run out and the row to be tried again.
    if (!(err instanceof KubeError)) throw err;
    held(
      await requeue(db, 'clusters', row.id, claim, backoffMs(row.attempts), `Kubernetes: ${err.message}`, { countAttempt: true, waitingOnKube: err.outage }),
      claim,
      'requeue',
    );
    throw err;
  }
}
