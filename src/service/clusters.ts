// Use cases for clusters: each records intent (and reserves or releases quota)
// in one transaction, wakes the reconciler, and returns at once.
import { clusterConvergence, type Convergence, type ConvergenceTarget } from '../domain/convergence.ts';
import { conflict, invalidField, notFound, quotaExceeded } from '../domain/errors.ts';
import { checkWholeList, pageToRead } from '../domain/paging.ts';
import { add, available, clusterDemand, demandOf, perInstanceExtras, quotaExceededMessage, ZERO, type ExposureShape, type Resources } from '../domain/quota.ts';
import { clusterNamespace, instanceName } from '../domain/naming.ts';
import { coresToMilli, gibToMib, milliToCores, mibToGib } from '../domain/units.ts';
import * as clusters from '../store/clusters.ts';
import type { Queryable } from '../store/db.ts';
import { isUniqueViolation } from '../store/errors.ts';
import * as instances from '../store/instances.ts';
import * as snapshots from '../store/snapshots.ts';
import * as keptDisks from '../store/keptDisks.ts';
import { setExpiry } from '../store/schedules.ts';
import { checkExpiry } from '../domain/expiry.ts';
import { instanceDisks } from '../domain/render.ts';
import { refreshStatus } from './status.ts';
import * as users from '../store/users.ts';
import { checkClusterInput, type CreateClusterInput } from './clusterInput.ts';
import { rootDiskSize } from '../domain/images.ts';
import { resolveClusterImage } from './images.ts';
import { ownerScope, requireAllClusters, type Principal, type Services } from './context.ts';
import { recordChange } from './history.ts';
import { clusterView, clusterWithInstancesView } from './views.ts';

/** What decides a cluster's storage and load balancers, from its row. */
export const shapeOf = (row: Pick<clusters.ClusterRow, 'volume_size_gb' | 'disk_size_gb' | 'service_type' | 'expose' | 'ports'>): ExposureShape => ({
  volumeSizeGb: row.volume_size_gb,
  diskSizeGb: row.disk_size_gb,
  serviceType: row.service_type,
  expose: row.expose,
  portCount: row.ports.length,
});

/** Reserves `demand` of the user's quota, or refuses (403) naming what was asked and what is left. */
export async function reserveOrExplain(tx: Queryable, userId: number, demand: Resources) {
  const reserved = await users.reserveQuota(tx, userId, demand);
  if (reserved) return;
  const u = await users.findUserById(tx, userId);
  if (!u) throw notFound('User');
  throw quotaExceeded(quotaExceededMessage(demand, available(users.userTotals(u), users.userUsage(u))));
}

async function addInstances(tx: Queryable, clusterId: number, clusterName: string, from: number, count: number) {
  const entries = Array.from({ length: count }, (_, k) => ({ ordinal: from + k, name: instanceName(clusterName, from + k) }));
  return instances.insertInstances(tx, clusterId, entries);
}

/** A VM's persistent root disk for a create: the size asked, or the image's default; a problem when a disk image has none. */
export function rootDiskOf(input: CreateClusterInput, image: { image: string; source: string; defaultDiskGb: number | null }): { gb: number | null } | { problem: string } {
  return input.instance_type === 'vm' ? rootDiskSize({ diskSizeGb: input.disk_size }, { ...image, name: image.image }) : { gb: null };
}

/** The row a create inserts (all but what the database gives it), with the image resolved and the root disk sized. */
export function newClusterOf(ownerId: number, input: CreateClusterInput, image: { image: string; source: string }, diskGb: number | null) {
  return {
    owner_id: ownerId,
    name: input.name,
    instance_type: input.instance_type,
    cpu_milli: coresToMilli(input.cpu_per_instance),
    memory_mib: gibToMib(input.memory_per_instance),
    instance_count: input.instance_count,
    image: image.image,
    image_source: image.source,
    ports: (input.ports ?? []).map((port) => ({ ...port, protocol: port.protocol ?? ('TCP' as const) })),
    service_type: input.service_type ?? 'ClusterIP',
    expose: input.expose ?? 'instances',
    volume_size_gb: input.volume_size ?? null,
    disk_size_gb: diskGb,
    env: input.env ?? {},
    ssh_keys: input.ssh_keys ?? [],
    user_data: input.user_data ?? null,
  } satisfies clusters.NewCluster;
}

export async function createCluster(s: Services, p: Principal, input: CreateClusterInput) {
  requireAllClusters(p, 'create clusters');
  checkClusterInput(s.config, input);
  const expiry = checkExpiry(input, new Date());
  const cpuMilli = coresToMilli(input.cpu_per_instance);
  const memoryMib = gibToMib(input.memory_per_instance);
  const nameTaken = () => conflict(`Cluster with name '${input.name}' already exists`);
  try {
    const created = await s.db.transaction(async (tx) => {
      if (await clusters.activeClusterNamed(tx, p.userId, input.name)) throw nameTaken();
      const image = await resolveClusterImage(tx, s.config, { kind: input.instance_type, image: input.image, cpuMilli, memoryMib });
      const disk = rootDiskOf(input, image);
      if ('problem' in disk) throw invalidField('disk_size', disk.problem);
      const fields = newClusterOf(p.userId, input, image, disk.gb);
      let row = await clusters.insertCluster(tx, fields, (id) => clusterNamespace(s.config.namespacePrefix, id, input.name));
      if (expiry) {
        await setExpiry(tx, row.id, expiry);
        row = { ...row, expires_at: expiry.at, expire_action: expiry.action };
      }
      const inst = await addInstances(tx, row.id, row.name, 1, input.instance_count);
      await recordChange(tx, p, row.id, `created cluster '${row.name}': ${input.instance_count} ${input.instance_type === 'vm' ? 'VM' : 'container'} instance(s) of ${input.cpu_per_instance} CPU, ${input.memory_per_instance} GB`, {
        instance_count: input.instance_count,
        image: row.image,
      });
      // The quota last: its row lock serialises one tenant's creates, so it is held
      // only from here to the commit, not through the inserts (a refusal rolls them back).
      await reserveOrExplain(tx, p.userId, clusterDemand(cpuMilli, memoryMib, input.instance_count, shapeOf(fields)));
      return { row, inst };
    });
    s.wake();
    return clusterWithInstancesView(created.row, created.inst, s.config.expiryWarningSeconds);
  } catch (err) {
    if (isUniqueViolation(err, 'clusters_owner_name')) throw nameTaken();
    throw err;
  }
}

/**
 * Visibility of a cluster being deleted: its owner sees it gone from the moment
 * the delete is accepted, as with the Python service; `includeDeleting` shows it
 * (status 'deleting') until its teardown is done, for clients that follow it.
 */
export type Visibility = { includeDeleting?: boolean };

const clusterNotFound = (id: number) => notFound(`Cluster with id ${id}`);

/** A page of the caller's clusters, or all of them (bounded: src/domain/paging.ts) when no limit is given. */
export async function listClusters(s: Services, p: Principal, query: { limit?: number; offset?: number } & Visibility) {
  const page = pageToRead(query.limit, query.offset);
  // A listed cluster shows a status summarised from its instances' statuses, not the instances themselves.
  const { rows, total } = await clusters.listClusters(s.db, ownerScope(p), page, { activeOnly: !query.includeDeleting });
  checkWholeList(page, rows.length, total, 'clusters');
  return { items: rows.map((r) => clusterView(r, r.instance_statuses, s.config.expiryWarningSeconds)), total };
}

export async function getCluster(s: Services, p: Principal, id: number, v: Visibility = {}) {
  const row = await clusters.findCluster(s.db, id, ownerScope(p), { activeOnly: !v.includeDeleting });
  if (!row) throw clusterNotFound(id);
  return clusterWithInstancesView(row, await instances.listInstancesOf(s.db, [id]), s.config.expiryWarningSeconds);
}

/** The cluster, locked, if it is live: one being deleted is not found (a second DELETE answers 404). */
async function lockLiveCluster(tx: Queryable, p: Principal, id: number) {
  const row = await clusters.findCluster(tx, id, ownerScope(p), { lock: true, activeOnly: true });
  if (!row) throw clusterNotFound(id);
  return row;
}

/**
 * The delete of a live cluster, locked by the caller: its instances marked
 * deleted and its quota released. A DELETE and the scheduler (an expiry) share it.
 */
export async function markClusterDeleted(tx: Queryable, row: clusters.ClusterRow) {
  const id = row.id;
  const count = (await instances.markInstancesDeleted(tx, id, 'all')).length;
  // Every live instance's share, what the cluster itself held (its own LoadBalancer), its instances' snapshots and the disks scale-ins kept.
  const snapshotGb = await snapshots.markSnapshotsOfDeletedInstances(tx, id);
  const keptGb = await keptDisks.keptStorageOf(tx, id);
  const released = add(clusterDemand(row.cpu_milli, row.memory_mib, count, shapeOf(row)), { ...ZERO, storageGb: snapshotGb + keptGb });
  await users.releaseQuota(tx, row.owner_id, released);
  await clusters.touchCluster(tx, id, { state: 'deleting' });
  return {
    instances_deleted: count,
    namespace_deleted: row.namespace,
    cpu_released: milliToCores(released.cpuMilli),
    memory_released: mibToGib(released.memoryMib),
    instances_released: released.instances,
    storage_released: released.storageGb,
    load_balancers_released: released.loadBalancers,
  };
}

export async function deleteCluster(s: Services, p: Principal, id: number) {
  const out = await s.db.transaction(async (tx) => {
    const row = await lockLiveCluster(tx, p, id);
    const detail = await markClusterDeleted(tx, row);
    await recordChange(tx, p, id, `deleted cluster '${row.name}'`, { instances_deleted: detail.instances_deleted });
    return { row, detail };
  });
  s.wake();
  return { message: `Cluster '${out.row.name}' is being deleted`, detail: out.detail };
}

/** Why `keep_disks` does not apply to a scale of `delta` instances of this cluster, or null. */
export function keepDisksProblem(row: clusters.ClusterRow, delta: number): string | null {
  if (row.instance_type !== 'vm' || !(row.disk_size_gb || row.volume_size_gb)) return 'only VMs with a persistent disk (disk_size or volume_size) have disks to keep';
  if (delta >= 0) return 'applies to a scale-in only (an instance_count below the present one)';
  return null;
}

/** `keepDisks`: a scale-in keeps the removed VMs' disks in the namespace (they keep their storage of the quota). */
export async function scaleCluster(s: Services, p: Principal, id: number, instanceCount: number, keepDisks = false) {
  if (instanceCount > s.config.maxInstancesPerCluster) {
    throw invalidField('instance_count', `must be at most ${s.config.maxInstancesPerCluster}`);
  }
  const out = await s.db.transaction(async (tx) => {
    const row = await lockLiveCluster(tx, p, id);
    const live = (await instances.listInstancesOf(tx, [id])).filter((i) => i.desired !== 'deleted');
    const delta = instanceCount - live.length;
    const keepProblem = keepDisks ? keepDisksProblem(row, delta) : null;
    if (keepProblem) throw invalidField('keep_disks', keepProblem);
    let kept = 0;
    if (delta > 0) {
      await reserveOrExplain(tx, row.owner_id, demandOf(row.cpu_milli, row.memory_mib, delta, perInstanceExtras(shapeOf(row))));
      await addInstances(tx, id, row.name, (await instances.maxOrdinal(tx, id)) + 1, delta);
    } else if (delta < 0) {
      const removed = await instances.markInstancesDeleted(tx, id, -delta, { keepDisks });
      // The removed instances' snapshots go with them; disks kept stay, and keep holding their storage.
      const snapshotGb = await snapshots.markSnapshotsOfDeletedInstances(tx, id);
      const disks = keepDisks ? removed.flatMap((i) => instanceDisks(shapeOf(row), { name: i.name, rootDisk: i.root_disk, dataClaim: i.data_claim })) : [];
      await keptDisks.keepDisks(tx, id, row.owner_id, disks.map((d) => ({ instance_name: d.instanceName, kind: d.kind, object_name: d.objectName, size_gb: d.sizeGb })));
      kept = disks.length;
      const keptGb = disks.reduce((a, d) => a + d.sizeGb, 0);
      await users.releaseQuota(tx, row.owner_id, add(demandOf(row.cpu_milli, row.memory_mib, -delta, perInstanceExtras(shapeOf(row))), { ...ZERO, storageGb: snapshotGb - keptGb }));
    }
    if (delta !== 0) {
      await clusters.touchCluster(tx, id, { instanceCount });
      await recordChange(tx, p, id, `scaled '${row.name}' from ${live.length} to ${instanceCount} instances${kept > 0 ? `, keeping ${kept} disk(s)` : ''}`, { from: live.length, to: instanceCount, ...(keepDisks ? { disks_kept: kept } : {}) });
    }
    return { previous: live.length, delta, kept };
  });
  if (out.delta !== 0) s.wake();
  return {
    cluster: await getCluster(s, p, id),
    detail: {
      previous_count: out.previous,
      instance_count: instanceCount,
      added: Math.max(0, out.delta),
      removed: Math.max(0, -out.delta),
      ...(keepDisks ? { disks_kept: out.kept } : {}),
    },
  };
}

/** suspend: running → suspended; resume: suspended → running. Others are skipped. */
export async function suspendOrResume(s: Services, p: Principal, id: number, action: 'suspend' | 'resume') {
  const [from, to] = action === 'suspend' ? (['running', 'suspended'] as const) : (['suspended', 'running'] as const);
  const out = await s.db.transaction(async (tx) => {
    const row = await lockLiveCluster(tx, p, id);
    const live = (await instances.listInstancesOf(tx, [id])).filter((i) => i.desired !== 'deleted');
    let acted = 0;
    for (const i of instances.inIdOrder(live)) {
      if (i.desired !== from) continue;
      await instances.setDesired(tx, i.id, to, i.status);
      await refreshStatus(tx, i.id);
      acted++;
    }
    if (acted > 0) await recordChange(tx, p, id, `${action === 'suspend' ? 'suspended' : 'resumed'} '${row.name}': ${acted} instance(s)`, { [action === 'suspend' ? 'suspended' : 'resumed']: acted });
    return { row, acted, skipped: live.length - acted };
  });
  if (out.acted > 0) s.wake();
  const verb = action === 'suspend' ? 'suspended' : 'resumed';
  return {
    message: `Cluster '${out.row.name}' ${action} accepted: ${out.acted} instance(s) ${verb}`,
    // The Python service's keys and types: counts. Nothing fails at once here
    // (Kubernetes is converged in the background), so failed is always 0.
    detail: { cluster_id: id, total_instances: out.acted + out.skipped, [verb]: out.acted, failed: 0, skipped: out.skipped },
  };
}

/** For ?wait: the cluster as it is now, judged by src/domain/convergence.ts (the CLI's --wait judges the same way). */
export async function clusterConverged(s: Services, id: number, target: ConvergenceTarget): Promise<Convergence> {
  const row = await clusters.findCluster(s.db, id, null);
  if (!row) return clusterConvergence(null, target);
  const all = await instances.listInstancesOf(s.db, [id]);
  return clusterConvergence({ state: row.state, instance_count: row.instance_count, instances: all, rollout: row.rollout_state }, target);
}

