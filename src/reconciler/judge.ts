// The observer's judgement of one labelled object against the database: in its
// rendered form, drifted (which row must repair it, and why), stray (labelled as
// ours but nothing renders it: delete it), or not to be judged now. An object
// whose row has work pending is left to that work when it already is what the
// work renders; otherwise it is deferred: the work may have applied it before
// the change just seen, so it is judged again once the work is done. Pure: the
// rows are read by the caller.
import { driftOf, type LiveObject } from '../domain/drift.ts';
import { LABEL_CLUSTER, LABEL_INSTANCE, renderClusterObjects, renderInstanceObjects, renderVmDataVolume, type KubeObject } from '../domain/render.ts';
import { FIELD_MANAGER } from '../kube/client.ts';
import type { ClusterRow } from '../store/clusters.ts';
import type { InstanceRow } from '../store/instances.ts';
import type { WorkTable } from '../store/work.ts';
import { clusterSpecOf, instanceSpecOf } from '../service/spec.ts';

export type Owner = { table: WorkTable; id: number; gen: number };

export type Verdict =
  | { kind: 'ok' }
  | { kind: 'skip'; why: string }
  /** Its rows have work pending that may not put it right: judged again once that work is done. */
  | { kind: 'defer'; why: string }
  | { kind: 'stray'; why: string }
  /** Labelled with an id this database never issued: left alone, and reported. */
  | { kind: 'unknown'; why: string }
  | { kind: 'drift'; owner: Owner; why: string };

export type Expected = { obj: KubeObject; owner: Owner };

/**
 * The rows an object's cluster label names, as read for judging it: the
 * cluster (null: none) and all its instances; and the highest ids the database
 * has ever issued, so that an object from beyond its memory is not taken for a stray.
 */
export type OwnerRows = { cluster: ClusterRow | null; instances: InstanceRow[]; issued: { cluster: number; instance: number } };

export const objectKey = (kind: string, namespace: string | undefined, name: string) => `${kind}/${namespace ?? ''}/${name}`;

const labelId = (obj: LiveObject, label: string): number | null => {
  const raw = obj.metadata?.labels?.[label];
  const n = Number(raw);
  return raw && Number.isSafeInteger(n) && n > 0 ? n : null;
};
export const clusterIdOf = (obj: LiveObject) => labelId(obj, LABEL_CLUSTER);
export const instanceIdOfObject = (obj: LiveObject) => labelId(obj, LABEL_INSTANCE);

/** A cluster in sync with what was last asked of it: its objects are what it renders. */
const clusterSettled = (c: ClusterRow) => c.state === 'active' && c.synced_gen > 0 && c.desired_gen === c.synced_gen;
const instanceSettled = (i: InstanceRow) => i.desired !== 'deleted' && i.applied && i.desired_gen === i.synced_gen;

/** An object the rows render as they want it now; `settled`: its row is in sync, so the object must already be so. */
type Wanted = Expected & { settled: boolean };

/**
 * Every object an active cluster and its instances render at their desired
 * state, by key, settled or with work pending (an instance being deleted renders
 * nothing). The owner's generation is the one synced, for a repair to name.
 */
function wantedObjects(cluster: ClusterRow, instances: InstanceRow[], installation: string): Map<string, Wanted> {
  const out = new Map<string, Wanted>();
  if (cluster.state !== 'active') return out;
  const inSync = clusterSettled(cluster);
  const spec = clusterSpecOf(cluster, installation);
  const add = (obj: KubeObject, owner: Owner, settled: boolean) => out.set(objectKey(obj.kind, obj.metadata.namespace, obj.metadata.name), { obj, owner, settled });
  for (const obj of renderClusterObjects(spec)) add(obj, { table: 'clusters', id: cluster.id, gen: cluster.synced_gen }, inSync);
  for (const i of instances) {
    if (i.cluster_id !== cluster.id || i.desired === 'deleted') continue;
    for (const obj of instanceObjects(cluster, i, installation)) add(obj, { table: 'instances', id: i.id, gen: i.synced_gen }, inSync && instanceSettled(i));
  }
  return out;
}

/**
 * What one read of a cluster's rows wants, rendered once: the objects of a list
 * page or of events judged together share that read (one cluster's ten
 * instances judged one by one rendered the whole cluster ten times). Keyed on
 * the read itself, so it goes with it.
 */
const wantedByRead = new WeakMap<OwnerRows, { installation: string; wanted: Map<string, Wanted> }>();
function wantedOf(rows: OwnerRows, installation: string): Map<string, Wanted> {
  const hit = wantedByRead.get(rows);
  if (hit && hit.installation === installation) return hit.wanted;
  const wanted = rows.cluster ? wantedObjects(rows.cluster, rows.instances, installation) : new Map<string, Wanted>();
  wantedByRead.set(rows, { installation, wanted });
  return wanted;
}

/** Every object a settled cluster and its settled instances render, by key. */
export function expectedObjects(cluster: ClusterRow, instances: InstanceRow[], installation: string): Map<string, Expected> {
  const out = new Map<string, Expected>();
  if (!clusterSettled(cluster)) return out;
  for (const [key, w] of wantedObjects(cluster, instances, installation)) if (w.settled) out.set(key, { obj: w.obj, owner: w.owner });
  return out;
}

/** Whether work pending on these rows renders the object under `key` (one deleted now may be put back by it, or not). */
export function pendingWorkRenders(key: string, rows: OwnerRows, installation: string): boolean {
  const w = wantedOf(rows, installation).get(key);
  return !!w && !w.settled;
}

/**
 * Whether a deferred object must wait still: its cluster has work pending, or
 * its instance (`instanceId`, from its label), or the row that renders it.
 */
export function workPendingOn(key: string, instanceId: number | null, rows: OwnerRows, installation: string): boolean {
  const { cluster, instances } = rows;
  if (!cluster || cluster.state !== 'active') return false;
  if (!clusterSettled(cluster)) return true;
  if (instanceId !== null && instances.some((i) => i.id === instanceId && !instanceSettled(i))) return true;
  return pendingWorkRenders(key, rows, installation);
}

function instanceObjects(cluster: ClusterRow, i: InstanceRow, installation: string): KubeObject[] {
  const spec = clusterSpecOf(cluster, installation, i);
  const inst = instanceSpecOf(i);
  const volume = renderVmDataVolume(spec, inst);
  return [...renderInstanceObjects(spec, inst), ...(volume ? [volume] : [])];
}

/** What to do about one labelled object, seen live, given the rows its cluster label names. */
export function judgeObject(live: LiveObject, rows: OwnerRows, installation: string): Verdict {
  const meta = live.metadata ?? {};
  if (meta.deletionTimestamp) return { kind: 'skip', why: 'being deleted' };
  // Made by a controller from something we render (a StatefulSet's PVCs): its owner answers for it.
  if ((meta.ownerReferences ?? []).some((r) => r.controller)) return { kind: 'skip', why: 'owned by a controller' };
  const what = `${live.kind} ${meta.namespace ? `${meta.namespace}/` : ''}${meta.name}`;
  const clusterId = clusterIdOf(live);
  if (clusterId === null) return { kind: 'stray', why: `${what} is labelled as KubeKloud's but names no cluster` };
  const { cluster, instances } = rows;
  const beyond = (id: number, highest: number, of: string) => ({
    kind: 'unknown' as const,
    why: `${what} names ${of} ${id}, newer than any this database has issued (the highest is ${highest}): the database was restored from an older backup or is not the one that made it; left in place, not deleted`,
  });
  if (!cluster && clusterId > rows.issued.cluster) return beyond(clusterId, rows.issued.cluster, 'cluster');
  if (!cluster || cluster.id !== clusterId) return { kind: 'stray', why: `${what} belongs to cluster ${clusterId}, which does not exist` };
  if (cluster.state === 'deleting') return { kind: 'skip', why: 'its cluster is being deleted' };
  if (live.kind !== 'Namespace' && meta.namespace !== cluster.namespace) {
    return { kind: 'stray', why: `${what} names cluster ${clusterId}, whose namespace is ${cluster.namespace}` };
  }
  const key = objectKey(live.kind ?? '', meta.namespace, meta.name ?? '');
  const wanted = wantedOf(rows, installation).get(key);
  const diff = wanted ? driftOf(wanted.obj, live, FIELD_MANAGER) : [];
  if (wanted?.settled) {
    if (diff.length === 0) return { kind: 'ok' };
    return { kind: 'drift', owner: wanted.owner, why: `${what} was changed outside KubeKloud (${diff.slice(0, 4).join('; ')}${diff.length > 4 ? '; …' : ''})` };
  }
  // Nothing settled renders it. A claim holds data: it is never deleted as a
  // stray (a StatefulSet's claims carry our labels, and get their owner
  // reference only after they are created).
  if (live.kind === 'PersistentVolumeClaim') return { kind: 'skip', why: 'a claim nothing renders is left alone' };
  // Work under way renders it (a change, a new instance). Already as that work
  // renders it: the work finds nothing to change. Otherwise the work may put it
  // right, or may have applied it before this change: judged again once done.
  if (wanted) return diff.length === 0 ? { kind: 'skip', why: 'its row has work pending, which renders it as it is' } : { kind: 'defer', why: 'its row has work pending' };
  // Work under way may remove it (a scale-in, a change of ports): judged again once done.
  if (!clusterSettled(cluster)) return { kind: 'defer', why: 'its cluster has work pending' };
  const instanceId = instanceIdOfObject(live);
  if (instanceId !== null && !instances.some((i) => i.id === instanceId)) {
    if (instanceId > rows.issued.instance) return beyond(instanceId, rows.issued.instance, 'instance');
    return { kind: 'stray', why: `${what} belongs to instance ${instanceId}, which does not exist` };
  }
  if (workPendingOn(key, instanceId, rows, installation)) return { kind: 'defer', why: 'its instance has work pending' };
  return { kind: 'stray', why: `${what} is labelled as KubeKloud's but nothing renders it` };
}
