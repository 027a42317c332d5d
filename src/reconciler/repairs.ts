// What the observer does about one labelled object: judge it against its rows,
// and act on a verdict only once a fresh read of both agrees — ask the row that
// renders it for a repair, or delete a stray. Objects last judged in their
// rendered form are not judged again until something of theirs changes. Objects
// changed or deleted while their rows had work pending that may not put them
// right are remembered by cluster, and judged again on a fresh read once that
// work is done (`settledMaybe`: when the cluster's rows change).
import { createHash } from 'node:crypto';
import { driftOf, type LiveObject } from '../domain/drift.ts';
import { FIELD_MANAGER, type Kube } from '../kube/client.ts';
import { KubeError } from '../kube/errors.ts';
import { findClusters, highestIssuedIds } from '../store/clusters.ts';
import type { Db } from '../store/db.ts';
import { listInstancesOf } from '../store/instances.ts';
import { refreshStatus } from '../service/status.ts';
import { recordRepair } from '../service/history.ts';
import { requestRepair } from '../store/work.ts';
import { groupCommit, OBSERVER_LINGER_MS } from './groupCommit.ts';
import { clusterIdOf, expectedObjects, instanceIdOfObject, judgeObject, objectKey, workPendingOn, type Expected, type Owner, type OwnerRows, type Verdict } from './judge.ts';

export type ObserverEvent =
  | { type: 'repair'; kind: string; owner: string; why: string; inARow: number }
  | { type: 'stray'; kind: string; why: string }
  | { type: 'unknown'; kind: string; why: string };

export type RepairDeps = {
  db: Db;
  kube: Kube;
  installation: string;
  /** False once this replica lost the observer lease: nothing more is written. */
  leading: () => boolean;
  wake: () => void;
  onAction?: (e: ObserverEvent) => void;
  /** How many objects wait for their rows' work to be done, each time it changes. */
  onDeferred?: (count: number) => void;
};

export type Repairs = ReturnType<typeof createRepairs>;

/** After a failed look at a cluster's deferred objects, the next one. */
const DEFERRED_RETRY_MS = 1_000;

const uidOf = (o: LiveObject) => (o.metadata as { uid?: string } | undefined)?.uid;
const refOf = (o: LiveObject) => ({ apiVersion: o.apiVersion ?? '', kind: o.kind ?? '', metadata: { name: o.metadata?.name ?? '', namespace: o.metadata?.namespace } });
const describe = (kind: string, namespace: string | undefined, name: string) => `${kind} ${namespace ? `${namespace}/` : ''}${name}`;

/** What of an object can drift: a status update leaves it unchanged. */
function fingerprint(o: LiveObject): string {
  const writers = (o.metadata?.managedFields ?? []).filter((e) => e.subresource !== 'status').map((e) => [e.manager, e.operation, e.subresource]);
  return createHash('sha1')
    .update(JSON.stringify([o.metadata?.labels, o.metadata?.annotations, o.spec ?? null, writers]))
    .digest('base64');
}

export function createRepairs(d: RepairDeps) {
  /** uid → fingerprint of objects last judged in their rendered form. */
  const judgedOk = new Map<string, string>();
  /** cluster id → key → objects to judge again once their rows' work is done. */
  const deferred = new Map<number, Map<string, { ref: ReturnType<typeof refOf>; instance: number | null }>>();
  /** Tells how many objects wait now, counted from `deferred` itself. */
  const reportDeferred = () => {
    let n = 0;
    for (const waiting of deferred.values()) n += waiting.size;
    d.onDeferred?.(n);
  };

  /**
   * The rows each cluster id names: the cluster (null: none) and all its
   * instances, for judging objects that carry these cluster and instance
   * labels. The highest ids the database issued matter only for an id that
   * has no row (from beyond the database, or a stray): they are read only
   * then; otherwise the ids found stand for them, which no comparison reaches.
   */
  async function rowsOf(clusterIds: number[], instanceIds: (number | null)[] = []): Promise<Map<number, OwnerRows>> {
    const ids = [...new Set(clusterIds)];
    const [clusters, instances] = await Promise.all([findClusters(d.db, ids), listInstancesOf(d.db, ids)]);
    const found = new Set(instances.map((i) => i.id));
    const rowless = clusters.length < ids.length || instanceIds.some((i) => i !== null && !found.has(i));
    const issued = rowless ? await highestIssuedIds(d.db) : { cluster: Math.max(0, ...ids), instance: Math.max(0, ...found) };
    const out = new Map<number, OwnerRows>(ids.map((id) => [id, { cluster: null, instances: [], issued }]));
    for (const c of clusters) out.get(c.id)!.cluster = c;
    for (const i of instances) out.get(i.cluster_id)?.instances.push(i);
    return out;
  }

  /** The rows one object's labels name; judgements made at once share one read (group commit). */
  const rowsFor = groupCommit(async (items: { cluster: number; instance: number | null }[]) => {
    const rows = await rowsOf(
      items.map((x) => x.cluster),
      items.map((x) => x.instance),
    );
    return items.map((x) => rows.get(x.cluster)!);
  }, { lingerMs: OBSERVER_LINGER_MS });

  async function judge(live: LiveObject): Promise<Verdict> {
    const id = clusterIdOf(live);
    const rows = id === null ? { cluster: null, instances: [], issued: { cluster: 0, instance: 0 } } : await rowsFor({ cluster: id, instance: instanceIdOfObject(live) });
    return judgeObject(live, rows, d.installation);
  }

  async function repair(owner: Owner, kind: string, why: string): Promise<void> {
    if (!d.leading()) return;
    const inARow = await d.db.transaction(async (tx) => {
      const n = await requestRepair(tx, owner.table, owner.id, owner.gen, why);
      if (n > 0) await recordRepair(tx, owner, kind, why);
      if (n > 0 && owner.table === 'instances') await refreshStatus(tx, owner.id);
      return n;
    });
    if (inARow === 0) return;
    d.onAction?.({ type: 'repair', kind, owner: `${owner.table.slice(0, -1)} ${owner.id}`, why, inARow });
    d.wake();
  }

  async function removeStray(fresh: LiveObject, why: string): Promise<void> {
    try {
      await d.kube.remove(refOf(fresh), { uid: uidOf(fresh) });
      d.onAction?.({ type: 'stray', kind: fresh.kind ?? '', why });
    } catch (err) {
      if (!(err instanceof KubeError && err.reason === 'conflict')) throw err; // replaced meanwhile: judged on its own event
    }
  }

  /**
   * Acts on a verdict only once it holds on a fresh read: the object as the API
   * server has it now, and the rows as they are now. A watch event can trail the
   * reconcile that already changed both.
   */
  async function act(seen: LiveObject, verdict: Verdict): Promise<void> {
    if (verdict.kind === 'ok') {
      const uid = uidOf(seen);
      if (uid) judgedOk.set(uid, fingerprint(seen));
      return;
    }
    if (verdict.kind === 'skip' || !d.leading()) return;
    if (verdict.kind === 'defer') return defer(seen);
    if (verdict.kind === 'unknown') {
      d.onAction?.({ type: 'unknown', kind: seen.kind ?? '', why: verdict.why });
      return;
    }
    const fresh = await d.kube.get(refOf(seen));
    if (!fresh) return; // gone: its DELETED event or the next list decides
    const now = await judge(fresh);
    if (now.kind === 'drift') await repair(now.owner, fresh.kind ?? '', now.why);
    else if (now.kind === 'stray' && d.leading()) await removeStray(fresh, now.why);
  }

  /**
   * An object a settled row renders was not in a list or a watch of ours: it was
   * deleted, or lost our labels. Once a fresh read agrees, the row that renders
   * it is asked to put it back.
   */
  async function confirmMissing(e: Expected): Promise<void> {
    if (!d.leading()) return;
    const clusterId = clusterIdOf(e.obj);
    if (clusterId === null) return;
    const fresh = await d.kube.get(e.obj);
    const rows = await rowsFor({ cluster: clusterId, instance: null });
    if (!rows.cluster) return;
    const { kind, metadata } = e.obj;
    const still = expectedObjects(rows.cluster, rows.instances, d.installation).get(objectKey(kind, metadata.namespace, metadata.name));
    if (!still || still.owner.gen !== e.owner.gen) return;
    const what = describe(kind, metadata.namespace, metadata.name);
    if (!fresh) return repair(still.owner, kind, `${what} was deleted outside KubeKloud`);
    const diff = driftOf(still.obj, fresh, FIELD_MANAGER);
    if (diff.length > 0) await repair(still.owner, kind, `${what} was changed outside KubeKloud (${diff.slice(0, 4).join('; ')})`);
  }

  /** Remembers an object to judge again once its rows' work is done; looks at them at once (the work may have ended meanwhile). */
  function defer(obj: LiveObject): void {
    const clusterId = clusterIdOf(obj);
    if (clusterId === null || !d.leading()) return;
    let waiting = deferred.get(clusterId);
    if (!waiting) deferred.set(clusterId, (waiting = new Map()));
    const key = objectKey(obj.kind ?? '', obj.metadata?.namespace, obj.metadata?.name ?? '');
    const isNew = !waiting.has(key);
    waiting.set(key, { ref: refOf(obj), instance: instanceIdOfObject(obj) });
    if (isNew) reportDeferred();
    settledMaybe(clusterId);
  }

  // One look at a cluster's deferred objects at a time; a change heard meanwhile looks again after it.
  const looking = new Set<number>();
  const lookAgain = new Set<number>();

  /** The rows of `clusterId` may have changed (null: any cluster's): judges again what no longer waits. */
  function settledMaybe(clusterId: number | null): void {
    for (const id of clusterId === null ? [...deferred.keys()] : [clusterId]) {
      if (!deferred.has(id)) continue;
      if (looking.has(id)) {
        lookAgain.add(id);
        continue;
      }
      looking.add(id);
      void (async () => {
        do {
          lookAgain.delete(id);
          await judgeDeferred(id);
        } while (lookAgain.has(id));
      })()
        // A failed look (Kubernetes or the database away) leaves them deferred, and looks again a little later.
        .catch(() => setTimeout(() => settledMaybe(id), DEFERRED_RETRY_MS).unref())
        .finally(() => looking.delete(id));
    }
  }

  async function judgeDeferred(clusterId: number): Promise<void> {
    const waiting = deferred.get(clusterId);
    if (!waiting || !d.leading()) return;
    const rows = await rowsFor({ cluster: clusterId, instance: null });
    // Every object whose work is done leaves the count at once, before any is acted on: one repair may put back
    // several (an instance's reconcile applies all it renders), and the count must not lag behind what it did.
    // A snapshot: judged again, an object may be deferred anew (seen at the next look).
    const settled = [...waiting].filter(([key, w]) => !workPendingOn(key, w.instance, rows, d.installation));
    for (const [key] of settled) waiting.delete(key);
    if (settled.length > 0) reportDeferred();
    for (const [i, [key, w]] of settled.entries()) {
      try {
        const fresh = await d.kube.get(w.ref);
        if (fresh) {
          await act(fresh, await judge(fresh));
          continue;
        }
        const e = rows.cluster && expectedObjects(rows.cluster, rows.instances, d.installation).get(key);
        if (e) await confirmMissing(e);
      } catch (err) {
        // This one and those not yet looked at wait again, unless deferred anew meanwhile.
        for (const [k, v] of settled.slice(i)) if (!waiting.has(k)) waiting.set(k, v);
        reportDeferred();
        throw err;
      }
    }
    if (waiting.size === 0 && deferred.get(clusterId) === waiting) deferred.delete(clusterId);
  }

  return {
    rowsOf,
    /** The rows of one cluster, read together with other reads made at once. */
    rowsFor: (clusterId: number) => rowsFor({ cluster: clusterId, instance: null }),
    act,
    confirmMissing,
    /** A status update of an object last judged in its rendered form: nothing of ours changed. */
    unchanged: (o: LiveObject) => {
      const uid = uidOf(o);
      return uid !== undefined && judgedOk.get(uid) === fingerprint(o);
    },
    forget: (o: LiveObject) => {
      const uid = uidOf(o);
      if (uid) judgedOk.delete(uid);
    },
    /** Before a full resync: everything is judged again. */
    reset: () => judgedOk.clear(),
    /** A deleted object that work pending on its rows renders: looked for again once that work is done. */
    defer,
    settledMaybe,
    /** Whether objects wait for their rows' work (looked at again by a poll while changes cannot be heard). */
    get deferring() {
      return deferred.size > 0;
    },
    stop: () => {
      deferred.clear();
      reportDeferred();
    },
    judge,
  };
}
