// Disks a scale-in kept when it removed their VMs: listed with the cluster,
// deleted one by one (their storage released at once; the cluster's
// reconcile removes the DataVolume or claim). The cluster's delete takes the
// rest with its namespace.
import { notFound } from '../domain/errors.ts';
import * as clusters from '../store/clusters.ts';
import * as keptDisks from '../store/keptDisks.ts';
import * as users from '../store/users.ts';
import { ZERO } from '../domain/quota.ts';
import { ownerScope, type Principal, type Services } from './context.ts';
import { recordChange } from './history.ts';
import { keptDiskView } from './views.ts';

const clusterNotFound = (id: number) => notFound(`Cluster with id ${id}`);

export async function listKeptDisks(s: Services, p: Principal, clusterId: number) {
  const row = await clusters.findCluster(s.db, clusterId, ownerScope(p), { activeOnly: true });
  if (!row) throw clusterNotFound(clusterId);
  const rows = await keptDisks.listKeptDisks(s.db, clusterId);
  return { items: rows.map(keptDiskView), total: rows.length };
}

export async function deleteKeptDisk(s: Services, p: Principal, clusterId: number, id: number) {
  const out = await s.db.transaction(async (tx) => {
    const row = await clusters.findCluster(tx, clusterId, ownerScope(p), { lock: true, activeOnly: true });
    if (!row) throw clusterNotFound(clusterId);
    const disk = await keptDisks.markKeptDiskDeleted(tx, clusterId, id);
    if (!disk) throw notFound(`Kept disk with id ${id}`);
    await users.releaseQuota(tx, disk.owner_id, { ...ZERO, storageGb: disk.size_gb });
    await recordChange(tx, p, clusterId, `deleted the kept ${disk.kind} disk of '${disk.instance_name}' (${disk.object_name})`, { disk_id: id });
    return disk;
  });
  s.wake();
  return {
    message: `The ${out.kind} disk of '${out.instance_name}' (${out.object_name}) is being deleted`,
    detail: { disk_id: id, storage_released: out.size_gb },
  };
}
