// The observer's watches, one small function each: every kind KubeKloud owns
// (judged for drift and strays; VirtualMachines also observed), pods
// (container instances' status), VirtualMachineInstances (VM addresses), root
// disks' DataVolumes and snapshots.
import type { LiveObject } from '../domain/drift.ts';
import { ABSENT, instanceIdOf, NO_DISK, observeDataVolume, observePod, observeVm, rootDiskInstanceId, type Observation } from '../domain/observations.ts';
import { managedSelector } from '../domain/render.ts';
import type { Kube } from '../kube/client.ts';
import { inTurn, startListWatch, type ListWatchHandle, type ListWatchOptions, type RelistReason, type WatchedObject } from '../kube/listWatch.ts';
import { collectionPath } from '../kube/rest.ts';
import { listClustersAfter } from '../store/clusters.ts';
import type { Db } from '../store/db.ts';
import { listInstancesOf, type InstanceRow } from '../store/instances.ts';
import { readySnapshotIds, recordSnapshotPhase } from '../store/snapshots.ts';
import { databaseTime, hurryDeletedCluster } from '../store/work.ts';
import { observeSnapshot, snapshotIdOf } from '../domain/snapshots.ts';
import { recordDiskObservation } from '../service/status.ts';
import { instancesObservedPresent, instancesWithDiskObserved, type ObservedRow, type VmiObservation } from '../store/observations.ts';
import type { Endpoints } from './endpoints.ts';
import { clusterIdOf, expectedObjects, instanceIdOfObject, judgeObject, objectKey, pendingWorkRenders, type Expected } from './judge.ts';
import { observeVmi } from './pauses.ts';
import type { Repairs } from './repairs.ts';

export type WatchDeps = {
  db: Db;
  kube: Kube;
  installation: string;
  leading: () => boolean;
  onError: (err: Error, context: string) => void;
  onRelist?: (kind: string, reason: RelistReason) => void;
  /** Hurries the reconciler (a repair was asked for). */
  wake?: () => void;
  /** Told of every Service and of where each instance runs, to keep endpoints current. */
  endpoints?: Endpoints;
  /** Stores what a pod or VM says about its instance, with the status (src/reconciler/observer.ts: by group commit). False: no such instance. */
  observe: (id: number, o: Observation) => Promise<boolean>;
  /** The same for what a VMI says; answers the row as it left it (null: no such instance). */
  observeVmi: (id: number, o: VmiObservation) => Promise<ObservedRow | null>;
};

const common = (d: WatchDeps, apiVersion: string, kind: string) => ({
  apiVersion,
  kind,
  path: collectionPath(apiVersion, kind),
  labelSelector: managedSelector(d.installation),
  onError: d.onError,
});


/** Clusters read at a time when a list is checked for what it is missing. */
const ROWS_PAGE = 100;

/** Instances whose rows say their object exists but which a full list did not show are recorded absent. */
async function recordUnseenAbsent(d: WatchDeps, kind: 'container' | 'vm', seen: Set<number>): Promise<void> {
  if (!d.leading()) return;
  const gone = (await instancesObservedPresent(d.db, kind)).filter((id) => !seen.has(id));
  await Promise.all(gone.map((id) => d.observe(id, ABSENT))); // together (group commit)
  if (kind === 'container') for (const id of gone) await d.endpoints?.instanceOn(id, null, null);
}

/**
 * What settled rows render of `kind` that a full list did not show (`seen`
 * holds the list's keys), a page of clusters at a time: what the list held is
 * what is remembered, never the whole database nor every rendered object at
 * once. Rows applied after `since` (the database's time once the list's first
 * page was in hand) are left out: their objects may be newer than the list, and
 * the watch after it sees them come. Each one yielded costs a GET to confirm,
 * so mid-convergence a list must not count thousands of fresh rows as missing.
 */
export async function* unlisted(db: Db, installation: string, kind: string, seen: Set<string>, since: Date): AsyncGenerator<Expected[]> {
  const appliedSince = (t: Date | null) => t !== null && new Date(t) > since;
  for (let after = 0; ; ) {
    const clusters = await listClustersAfter(db, after, ROWS_PAGE);
    if (clusters.length === 0) return;
    after = clusters[clusters.length - 1]!.id;
    const byCluster = new Map<number, InstanceRow[]>();
    for (const i of await listInstancesOf(db, clusters.map((c) => c.id))) {
      const list = byCluster.get(i.cluster_id);
      if (list) list.push(i);
      else byCluster.set(i.cluster_id, [i]);
    }
    const missing: Expected[] = [];
    for (const c of clusters) {
      const instances = (byCluster.get(c.id) ?? []).filter((i) => !appliedSince(i.synced_at));
      for (const [key, e] of expectedObjects(c, instances, installation)) {
        if (e.obj.kind !== kind || seen.has(key)) continue;
        if (e.owner.table === 'clusters' && appliedSince(c.synced_at)) continue;
        missing.push(e);
      }
    }
    if (missing.length > 0) yield missing;
  }
}

/** A kind KubeKloud owns: every object judged against its rows; what a settled row renders but no list shows is missing. */
export function watchOwned(d: WatchDeps, repairs: Repairs, apiVersion: string, kind: string): ListWatchHandle {
  const seen = new Set<string>();
  const observedVms = new Set<number>();
  // The database's time once a list's first page was in hand: rows applied after
  // it rendered objects that list could not show (the watch after it sees them).
  let listedAt: Date | null = null;
  const keyOf = (o: LiveObject) => objectKey(o.kind ?? kind, o.metadata?.namespace, o.metadata?.name ?? '');
  const observeIfVm = async (obj: WatchedObject, type: 'ADDED' | 'MODIFIED' | 'DELETED') => {
    const id = instanceIdOf(obj);
    if (kind !== 'VirtualMachine' || id === null || !d.leading()) return;
    const o = type === 'DELETED' ? ABSENT : observeVm(obj);
    await d.observe(id, o);
    if (o.present) observedVms.add(id);
  };
  return startListWatch(d.kube, {
    ...common(d, apiVersion, kind),
    onRelist: (reason) => {
      seen.clear();
      observedVms.clear();
      listedAt = null;
      if (kind === 'Service') d.endpoints?.servicesRelisting();
      d.onRelist?.(kind, reason);
    },
    onListPage: async (items) => {
      listedAt ??= await databaseTime(d.db);
      const ids = items.map(clusterIdOf).filter((x): x is number => x !== null);
      const rows = await repairs.rowsOf(ids, items.map(instanceIdOfObject));
      const none = { cluster: null, instances: [], issued: { cluster: 0, instance: 0 } };
      const live = items.map((item) => ({ ...item, kind, apiVersion })); // list items carry no kind
      await Promise.all(live.map((o) => observeIfVm(o, 'ADDED'))); // the page's VMs together (group commit)
      await inTurn(live, async (obj) => {
        seen.add(keyOf(obj));
        if (kind === 'Service') await d.endpoints?.service(obj, false);
        const id = clusterIdOf(obj);
        await repairs.act(obj, judgeObject(obj, (id !== null && rows.get(id)) || none, d.installation));
      });
    },
    onListDone: async () => {
      const since = listedAt ?? (await databaseTime(d.db));
      for await (const missing of unlisted(d.db, d.installation, kind, seen, since)) await inTurn(missing, (e) => repairs.confirmMissing(e));
      if (kind === 'VirtualMachine') await recordUnseenAbsent(d, 'vm', observedVms);
      if (kind === 'Service') await d.endpoints?.servicesListed();
      seen.clear();
      observedVms.clear();
    },
    onEvent: async (type, obj) => {
      await observeIfVm(obj, type);
      if (kind === 'Service') await d.endpoints?.service(obj, type === 'DELETED');
      if (type === 'DELETED') {
        repairs.forget(obj);
        const clusterId = clusterIdOf(obj);
        if (clusterId === null) return;
        if (kind === 'Namespace' && (await hurryDeletedCluster(d.db, clusterId))) {
          d.wake?.(); // a deleted cluster's namespace is gone: its row can go now
          return;
        }
        const rows = await repairs.rowsFor(clusterId);
        const e = rows.cluster && expectedObjects(rows.cluster, rows.instances, d.installation).get(keyOf(obj));
        if (e) await repairs.confirmMissing(e);
        // Work pending renders it: it may put it back, or may have applied it before this delete.
        else if (pendingWorkRenders(keyOf(obj), rows, d.installation)) repairs.defer(obj);
        return;
      }
      if (repairs.unchanged(obj)) return; // a status update: nothing of ours changed
      await repairs.act(obj, await repairs.judge(obj));
    },
  });
}

/** Pods of container instances: their phase, readiness, address and node onto the instance rows. */
export function watchPods(d: WatchDeps): ListWatchHandle {
  const seen = new Set<number>();
  // VM launcher pods carry the instance label too; only container pods are observed here.
  const containerInstance = (p: WatchedObject) => (p.metadata?.labels?.['kubevirt.io'] ? null : instanceIdOf(p));
  return startListWatch(d.kube, {
    ...common(d, 'v1', 'Pod'),
    onRelist: (reason) => {
      seen.clear();
      d.onRelist?.('Pod', reason);
    },
    onListPage: async (items) => {
      if (!d.leading()) return;
      const pods = items.flatMap((p) => {
        const id = containerInstance(p);
        return id === null ? [] : [{ id, clusterId: clusterIdOf(p), o: observePod(p) }];
      });
      for (const p of pods) seen.add(p.id);
      await Promise.all(pods.map((p) => d.observe(p.id, p.o))); // the page together (group commit)
      await inTurn(pods, async (p) => d.endpoints?.instanceOn(p.id, p.clusterId, p.o.node ?? null));
    },
    onListDone: async () => {
      await recordUnseenAbsent(d, 'container', seen);
      seen.clear();
    },
    onEvent: async (type, pod) => {
      const id = containerInstance(pod);
      if (id === null || !d.leading()) return;
      const o = type === 'DELETED' ? ABSENT : observePod(pod);
      await d.observe(id, o);
      await d.endpoints?.instanceOn(id, clusterIdOf(pod), o.node ?? null);
    },
  });
}

/**
 * DataVolumes of VMs' root disks (CDI, created by KubeVirt from the VM's
 * dataVolumeTemplates with the template's labels): the import's phase,
 * progress and failure onto the instance row.
 */
export function watchRootDisks(d: WatchDeps): ListWatchHandle {
  const seen = new Set<number>();
  const record = async (dv: WatchedObject, gone: boolean) => {
    const id = rootDiskInstanceId(dv);
    if (id === null || !d.leading()) return;
    if (!gone) seen.add(id);
    await recordDiskObservation(d.db, id, gone ? NO_DISK : observeDataVolume(dv), dv.metadata?.name ?? null);
  };
  return startListWatch(d.kube, {
    ...common(d, 'cdi.kubevirt.io/v1beta1', 'DataVolume'),
    onRelist: (reason) => {
      seen.clear();
      d.onRelist?.('DataVolume', reason);
    },
    onListPage: async (items) => {
      await inTurn(items, (dv) => record(dv, false));
    },
    onListDone: async () => {
      if (d.leading()) for (const id of await instancesWithDiskObserved(d.db)) if (!seen.has(id)) await recordDiskObservation(d.db, id, NO_DISK, null);
      seen.clear();
    },
    onEvent: (type, dv) => record(dv, type === 'DELETED'),
  });
}

/** VirtualMachineInstances: a running VM's address, node and pause onto its instance row (src/reconciler/pauses.ts). */
export function watchVmis(d: WatchDeps): ListWatchHandle {
  const observe = async (vmi: WatchedObject, gone: boolean) => {
    const id = instanceIdOf(vmi);
    if (id === null || !d.leading()) return null;
    const a = await observeVmi({ db: d.db, record: d.observeVmi, wake: d.wake }, id, vmi, gone);
    return { id, clusterId: clusterIdOf(vmi), node: a.node };
  };
  const place = async (x: { id: number; clusterId: number | null; node: string | null } | null) => {
    if (x) await d.endpoints?.instanceOn(x.id, x.clusterId, x.node);
  };
  return startListWatch(d.kube, {
    ...common(d, 'kubevirt.io/v1', 'VirtualMachineInstance'),
    onRelist: (reason) => d.onRelist?.('VirtualMachineInstance', reason),
    onListPage: async (items) => {
      const seen = await Promise.all(items.map((vmi) => observe(vmi, false))); // the page together (group commit)
      await inTurn(seen, place);
    },
    onListDone: async () => {},
    onEvent: async (type, vmi) => place(await observe(vmi, type === 'DELETED')),
  });
}

/**
 * Snapshots (KubeVirt's VirtualMachineSnapshots of VMs, VolumeSnapshots of
 * container volumes), by their kubekloud.io/snapshot label: ready, failed or
 * still being made onto the snapshot's row; one deleted behind KubeKloud's
 * back is lost (it is not made again: it would be a different moment).
 */
export function watchSnapshots(d: WatchDeps, kind: 'VirtualMachineSnapshot' | 'VolumeSnapshot'): ListWatchHandle {
  const apiVersion = kind === 'VirtualMachineSnapshot' ? 'snapshot.kubevirt.io/v1beta1' : 'snapshot.storage.k8s.io/v1';
  const rowKind = kind === 'VirtualMachineSnapshot' ? 'vm' : 'volume';
  const seen = new Set<number>();
  const record = async (obj: WatchedObject, gone: boolean) => {
    const id = snapshotIdOf(obj);
    if (id === null || !d.leading()) return;
    if (gone) {
      await recordSnapshotPhase(d.db, id, 'lost', `the ${kind} was deleted outside KubeKloud`);
      return;
    }
    seen.add(id);
    const o = observeSnapshot(obj);
    await recordSnapshotPhase(d.db, id, o.phase, o.message);
  };
  return startListWatch(d.kube, {
    ...common(d, apiVersion, kind),
    onRelist: (reason) => {
      seen.clear();
      d.onRelist?.(kind, reason);
    },
    onListPage: async (items) => {
      await inTurn(items, (obj) => record(obj, false));
    },
    onListDone: async () => {
      if (d.leading()) for (const id of await readySnapshotIds(d.db, rowKind)) if (!seen.has(id)) await recordSnapshotPhase(d.db, id, 'lost', `the ${kind} was deleted outside KubeKloud`);
      seen.clear();
    },
    onEvent: (type, obj) => record(obj, type === 'DELETED'),
  });
}
