// The observer: runs on the one replica that holds the observer lease. It
// watches every kind KubeKloud owns and brings back what it sees: pod and VM
// status onto instance rows, and drift — an object deleted, edited or added
// behind KubeKloud's back — as a repair request on the row that renders it (the
// reconciler, on any replica, then puts it back), or as a delete of a stray
// labelled object nothing renders. Every list is also a full resync, and one
// runs every KUBEKLOUD_RESYNC_SECONDS (jittered): it writes nothing when
// nothing drifted.
import { createHash } from 'node:crypto';
import { driftOf, type LiveObject } from '../domain/drift.ts';
import { managedSelector } from '../domain/render.ts';
import { FIELD_MANAGER, type Kube } from '../kube/client.ts';
import { KubeError } from '../kube/errors.ts';
import { startListWatch, type ListWatchHandle, type RelistReason, type WatchedObject } from '../kube/listWatch.ts';
import { collectionPath } from '../kube/rest.ts';
import { findClusters, listEveryCluster } from '../store/clusters.ts';
import type { Db } from '../store/db.ts';
import { listEveryInstance, listInstancesOf } from '../store/instances.ts';
import { instancesObservedPresent, recordAddress, recordObservation, refreshStatus } from '../store/observations.ts';
import { requestRepair } from '../store/work.ts';
import { clusterIdOf, expectedObjects, judgeObject, objectKey, type Expected, type OwnerRows, type Verdict } from './judge.ts';
import { ABSENT, instanceIdOf, observePod, observeVm, vmiAddress } from './observations.ts';

/** Every kind KubeKloud renders, watched for drift and strays. */
export const OWNED_KINDS = [
  { apiVersion: 'v1', kind: 'Namespace' },
  { apiVersion: 'v1', kind: 'ResourceQuota' },
  { apiVersion: 'v1', kind: 'LimitRange' },
  { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy' },
  { apiVersion: 'apps/v1', kind: 'StatefulSet' },
  { apiVersion: 'v1', kind: 'Service' },
  { apiVersion: 'v1', kind: 'PersistentVolumeClaim' },
  { apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachine' },
] as const;

export type ObserverEvent =
  | { type: 'repair'; kind: string; owner: string; why: string; inARow: number }
  | { type: 'stray'; kind: string; why: string };

export type ObserverDeps = {
  db: Db;
  kube: Kube;
  installation: string;
  /** False once this replica lost the observer lease: nothing more is written. */
  leading: () => boolean;
  wake: () => void;
  resyncSeconds: number;
  onError: (err: KubeError, context: string) => void;
  onRelist?: (kind: string, reason: RelistReason) => void;
  onAction?: (e: ObserverEvent) => void;
};

export type Observer = { stop(): Promise<void>; resync(): void; readonly synced: boolean };

/** What of an object can drift: a status update leaves it unchanged, so it is not judged again. */
function fingerprint(o: LiveObject): string {
  const writers = (o.metadata?.managedFields ?? []).filter((e) => e.subresource !== 'status').map((e) => [e.manager, e.operation, e.subresource]);
  return createHash('sha1')
    .update(JSON.stringify([o.metadata?.labels, o.metadata?.annotations, o.spec ?? null, writers]))
    .digest('base64');
}

const refOf = (o: { apiVersion?: string; kind?: string; metadata?: { name?: string; namespace?: string } }) => ({
  apiVersion: o.apiVersion ?? '',
  kind: o.kind ?? '',
  metadata: { name: o.metadata?.name ?? '', namespace: o.metadata?.namespace },
});

export function startObserver(d: ObserverDeps): Observer {
  const selector = managedSelector(d.installation);
  /** uid → fingerprint of objects last judged in their rendered form. */
  const judgedOk = new Map<string, string>();

  const rowsOf = async (clusterIds: number[]): Promise<Map<number, OwnerRows>> => {
    const ids = [...new Set(clusterIds)];
    const [clusters, instances] = await Promise.all([findClusters(d.db, ids), listInstancesOf(d.db, ids)]);
    const out = new Map<number, OwnerRows>();
    for (const id of ids) out.set(id, { cluster: null, instances: [] });
    for (const c of clusters) out.get(c.id)!.cluster = c;
    for (const i of instances) out.get(i.cluster_id)?.instances.push(i);
    return out;
  };
  const judge = async (live: LiveObject): Promise<Verdict> => {
    const id = clusterIdOf(live);
    const rows = id === null ? { cluster: null, instances: [] } : (await rowsOf([id])).get(id)!;
    return judgeObject(live, rows, d.installation);
  };

  const repair = async (owner: { table: 'clusters' | 'instances'; id: number; gen: number }, kind: string, why: string) => {
    if (!d.leading()) return;
    const inARow = await d.db.transaction(async (tx) => {
      const n = await requestRepair(tx, owner.table, owner.id, owner.gen, why);
      if (n > 0 && owner.table === 'instances') await refreshStatus(tx, owner.id);
      return n;
    });
    if (inARow === 0) return;
    d.onAction?.({ type: 'repair', kind, owner: `${owner.table.slice(0, -1)} ${owner.id}`, why, inARow });
    d.wake();
  };

  /**
   * Acts on a verdict only once it holds on a fresh read: the object as the API
   * server has it now, and the rows as they are now. A watch event can trail the
   * reconcile that already changed both.
   */
  const act = async (seen: LiveObject, verdict: Verdict) => {
    if (verdict.kind === 'ok') {
      if (seen.metadata && 'uid' in seen.metadata) judgedOk.set(String((seen.metadata as { uid: string }).uid), fingerprint(seen));
      return;
    }
    if (verdict.kind === 'skip' || !d.leading()) return;
    const fresh = await d.kube.get(refOf(seen));
    if (!fresh) return; // gone: its DELETED event or the next list decides
    const now = await judge(fresh);
    if (now.kind === 'drift') await repair(now.owner, fresh.kind ?? '', now.why);
    else if (now.kind === 'stray' && d.leading()) {
      const uid = (fresh.metadata as { uid?: string } | undefined)?.uid;
      try {
        await d.kube.remove(refOf(fresh), { uid });
        d.onAction?.({ type: 'stray', kind: fresh.kind ?? '', why: now.why });
      } catch (err) {
        if (!(err instanceof KubeError && err.reason === 'conflict')) throw err; // replaced meanwhile: judged on its own event
      }
    }
  };

  /**
   * An object a settled row renders was not in a list or a watch of ours: it was
   * deleted, or lost our labels. Once a fresh read agrees, the row that renders
   * it is asked to put it back.
   */
  const confirmMissing = async (e: Expected) => {
    if (!d.leading()) return;
    const fresh = await d.kube.get(e.obj);
    const clusterId = clusterIdOf(e.obj);
    if (clusterId === null) return;
    const rows = (await rowsOf([clusterId])).get(clusterId)!;
    if (!rows.cluster) return;
    const still = expectedObjects(rows.cluster, rows.instances, d.installation).get(objectKey(e.obj.kind, e.obj.metadata.namespace, e.obj.metadata.name));
    if (!still || still.owner.gen !== e.owner.gen) return;
    const what = `${e.obj.kind} ${e.obj.metadata.namespace ? `${e.obj.metadata.namespace}/` : ''}${e.obj.metadata.name}`;
    if (!fresh) return repair(still.owner, e.obj.kind, `${what} was deleted outside KubeKloud`);
    const diff = driftOf(still.obj, fresh, FIELD_MANAGER);
    if (diff.length > 0) await repair(still.owner, e.obj.kind, `${what} was changed outside KubeKloud (${diff.slice(0, 4).join('; ')})`);
  };

  const owned = (apiVersion: string, kind: string) => {
    const seen = new Set<string>();
    const observedVms = new Set<number>();
    const keyOf = (o: LiveObject) => objectKey(o.kind ?? kind, o.metadata?.namespace, o.metadata?.name ?? '');
    const observeIfVm = async (obj: WatchedObject) => {
      if (kind !== 'VirtualMachine') return;
      const id = instanceIdOf(obj);
      if (id === null || !d.leading()) return;
      const o = observeVm(obj);
      await recordObservation(d.db, id, o);
      if (o.present) observedVms.add(id);
    };
    return startListWatch(d.kube, {
      apiVersion,
      kind,
      path: collectionPath(apiVersion, kind),
      labelSelector: selector,
      onError: d.onError,
      onRelist: (reason) => {
        seen.clear();
        observedVms.clear();
        d.onRelist?.(kind, reason);
      },
      onListPage: async (items) => {
        const rows = await rowsOf(items.map((o) => clusterIdOf(o as LiveObject)).filter((x): x is number => x !== null));
        for (const obj of items) {
          const live = { ...obj, kind, apiVersion } as LiveObject; // list items carry no kind
          seen.add(keyOf(live));
          await observeIfVm(live as WatchedObject);
          const id = clusterIdOf(live);
          await act(live, judgeObject(live, (id !== null && rows.get(id)) || { cluster: null, instances: [] }, d.installation));
        }
      },
      onListDone: async () => {
        const [clusters, instances] = await Promise.all([listEveryCluster(d.db), listEveryInstance(d.db)]);
        const byCluster = new Map<number, typeof instances>();
        for (const i of instances) byCluster.set(i.cluster_id, [...(byCluster.get(i.cluster_id) ?? []), i]);
        for (const c of clusters) {
          for (const [key, e] of expectedObjects(c, byCluster.get(c.id) ?? [], d.installation)) {
            if (e.obj.kind === kind && !seen.has(key)) await confirmMissing(e);
          }
        }
        if (kind === 'VirtualMachine' && d.leading()) {
          for (const id of await instancesObservedPresent(d.db, 'vm')) if (!observedVms.has(id)) await recordObservation(d.db, id, ABSENT);
        }
        seen.clear();
        observedVms.clear();
      },
      onEvent: async (type, obj) => {
        const live = obj as LiveObject;
        const uid = (live.metadata as { uid?: string } | undefined)?.uid;
        if (type === 'DELETED') {
          if (uid) judgedOk.delete(uid);
          const id = instanceIdOf(obj);
          if (kind === 'VirtualMachine' && id !== null && d.leading()) await recordObservation(d.db, id, ABSENT);
          const clusterId = clusterIdOf(live);
          if (clusterId === null) return;
          const rows = (await rowsOf([clusterId])).get(clusterId)!;
          if (!rows.cluster) return;
          const e = expectedObjects(rows.cluster, rows.instances, d.installation).get(keyOf(live));
          if (e) await confirmMissing(e);
          return;
        }
        await observeIfVm(obj);
        if (uid && judgedOk.get(uid) === fingerprint(live)) return; // a status update: nothing of ours changed
        await act(live, await judge(live));
      },
    });
  };

  const podsSeen = new Set<number>();
  const pods = startListWatch(d.kube, {
    apiVersion: 'v1',
    kind: 'Pod',
    path: '/api/v1/pods',
    labelSelector: selector,
    onError: d.onError,
    onRelist: (reason) => {
      podsSeen.clear();
      d.onRelist?.('Pod', reason);
    },
    onListPage: async (items) => {
      for (const p of items) {
        // VM launcher pods carry the instance label too; only container pods are observed here.
        if (p.metadata?.labels?.['kubevirt.io'] || !d.leading()) continue;
        const id = instanceIdOf(p);
        if (id === null) continue;
        podsSeen.add(id);
        await recordObservation(d.db, id, observePod(p));
      }
    },
    onListDone: async () => {
      if (!d.leading()) return;
      for (const id of await instancesObservedPresent(d.db, 'container')) if (!podsSeen.has(id)) await recordObservation(d.db, id, ABSENT);
      podsSeen.clear();
    },
    onEvent: async (type, pod) => {
      const id = instanceIdOf(pod);
      if (pod.metadata?.labels?.['kubevirt.io'] || id === null || !d.leading()) return;
      await recordObservation(d.db, id, type === 'DELETED' ? ABSENT : observePod(pod));
    },
  });

  const vmis = startListWatch(d.kube, {
    apiVersion: 'kubevirt.io/v1',
    kind: 'VirtualMachineInstance',
    path: '/apis/kubevirt.io/v1/virtualmachineinstances',
    labelSelector: selector,
    onError: d.onError,
    onRelist: (reason) => d.onRelist?.('VirtualMachineInstance', reason),
    onListPage: async (items) => {
      for (const vmi of items) {
        const id = instanceIdOf(vmi);
        if (id !== null && d.leading()) await recordAddress(d.db, id, vmiAddress(vmi).ip, vmiAddress(vmi).node);
      }
    },
    onListDone: async () => {},
    onEvent: async (type, vmi) => {
      const id = instanceIdOf(vmi);
      if (id === null || !d.leading()) return;
      const a = type === 'DELETED' ? { ip: null, node: null } : vmiAddress(vmi);
      await recordAddress(d.db, id, a.ip, a.node);
    },
  });

  const handles: ListWatchHandle[] = [pods, vmis, ...OWNED_KINDS.map((k) => owned(k.apiVersion, k.kind))];

  // The level-triggered safety net: everything listed and judged again, jittered
  // so that replicas of several installations do not list in step.
  let resyncTimer: NodeJS.Timeout | null = null;
  const scheduleResync = () => {
    const ms = d.resyncSeconds * 1000 * (0.9 + Math.random() * 0.2);
    resyncTimer = setTimeout(() => {
      judgedOk.clear();
      for (const h of handles) h.relist('resync');
      scheduleResync();
    }, ms);
    resyncTimer.unref();
  };
  scheduleResync();

  return {
    get synced() {
      return handles.every((h) => h.synced);
    },
    resync() {
      judgedOk.clear();
      for (const h of handles) h.relist('resync');
    },
    async stop() {
      if (resyncTimer) clearTimeout(resyncTimer);
      await Promise.all(handles.map((h) => h.stop()));
      judgedOk.clear();
    },
  };
}

