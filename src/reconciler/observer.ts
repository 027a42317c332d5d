// The observer: runs on the one replica that holds the observer lease. It
// watches every kind KubeKloud owns and brings back what it sees: pod and VM
// status onto instance rows, and drift — an object deleted, edited or added
// behind KubeKloud's back — as a repair request on the row that renders it (the
// reconciler, on any replica, then puts it back), or as a delete of a stray
// labelled object nothing renders. Every list is also a full resync, and one
// runs every KUBEKLOUD_RESYNC_SECONDS (jittered; put off while converging, at
// most one period), a kind at a time: it writes nothing when nothing drifted.
import type { Observation } from '../domain/observations.ts';
import type { ListWatchHandle } from '../kube/listWatch.ts';
import { recordObservations, recordVmiObservations } from '../service/status.ts';
import type { VmiObservation } from '../store/observations.ts';
import type { ChangeNotifier } from '../service/changes.ts';
import { convergingNow } from '../store/work.ts';
import { groupCommit, OBSERVER_LINGER_MS } from './groupCommit.ts';
import { createEndpoints, watchNodes } from './endpoints.ts';
import { CONVERGING_WITHIN_SECONDS, periodicResync } from './resyncTiming.ts';
import { createRepairs, type ObserverEvent, type RepairDeps } from './repairs.ts';
import { watchOwned, watchPods, watchRootDisks, watchSnapshots, watchVmis, type WatchDeps } from './watches.ts';

export type { ObserverEvent };

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

export type ObserverDeps = RepairDeps &
  Omit<WatchDeps, 'observe' | 'observeVmi' | 'endpoints'> & {
    resyncSeconds: number;
    /** The periodic resync waited, the installation converging (it looks again RESYNC_RECHECK_MS later). */
    onResyncPostponed?: (postponedMs: number) => void;
    /** Changes of clusters' rows as they commit: objects deferred until their rows' work is done are judged again then (without it, polled). */
    changes?: ChangeNotifier;
  };

/** While changes cannot be heard, objects deferred until their rows' work is done are looked at this often. */
const DEFERRED_POLL_MS = 1_000;

export type Observer = { stop(): Promise<void>; resync(): void; readonly synced: boolean };

export function startObserver(d: ObserverDeps): Observer {
  const repairs = createRepairs(d);
  const unsubscribe = d.changes?.subscribe((clusterId) => repairs.settledMaybe(clusterId)) ?? (() => {});
  const polling = setInterval(() => {
    if (!d.changes?.up && repairs.deferring) repairs.settledMaybe(null);
  }, DEFERRED_POLL_MS);
  polling.unref();
  const endpoints = createEndpoints(d);
  // Observations made at once by different watches' handlers (and a list page's) share a statement.
  const observe = groupCommit(async (items: { id: number; o: Observation }[]) => {
    const found = await recordObservations(d.db, items);
    return items.map((x) => found.has(x.id));
  }, { lingerMs: OBSERVER_LINGER_MS });
  const observeVmi = groupCommit(async (items: { id: number; o: VmiObservation }[]) => {
    const rows = await recordVmiObservations(d.db, items);
    return items.map((x) => rows.get(x.id) ?? null);
  }, { lingerMs: OBSERVER_LINGER_MS });
  const w = { ...d, endpoints, observe: (id: number, o: Observation) => observe({ id, o }), observeVmi: (id: number, o: VmiObservation) => observeVmi({ id, o }) };
  const handles: ListWatchHandle[] = [
    watchPods(w),
    watchVmis(w),
    watchRootDisks(w),
    watchSnapshots(w, 'VirtualMachineSnapshot'),
    watchSnapshots(w, 'VolumeSnapshot'),
    watchNodes(d, endpoints),
    ...OWNED_KINDS.map((k) => watchOwned(w, repairs, k.apiVersion, k.kind)),
  ];
  // A resync lists the kinds one after another, each watch running until its
  // turn: a list's pages in memory are one kind's, not every kind's at once (a
  // resync of 10,000 VMs lists 14 kinds, four of them 10,000 objects long).
  // One asked for while one runs runs again after it.
  let resyncing = false;
  let askedAgain = false;
  let stopped = false;
  const resync = () => {
    if (resyncing) {
      askedAgain = true;
      return;
    }
    resyncing = true;
    void (async () => {
      do {
        askedAgain = false;
        repairs.reset();
        for (const h of handles) if (!stopped) await h.relist('resync');
      } while (askedAgain && !stopped);
    })().finally(() => (resyncing = false));
  };
  // The level-triggered safety net: everything listed and judged again, jittered
  // so that the replicas of several installations do not list in step; put off
  // while the installation converges (resyncTiming.ts), at most one period.
  const periodMs = d.resyncSeconds * 1000;
  const nextPeriodMs = () => periodMs * (0.9 + Math.random() * 0.2);
  let timer: NodeJS.Timeout | null = null;
  let postponedMs = 0;
  const schedule = (ms: number) => {
    timer = setTimeout(() => void due(), ms);
    timer.unref();
  };
  const due = async () => {
    const converging = await convergingNow(d.db, CONVERGING_WITHIN_SECONDS).catch(() => null);
    if (stopped) return;
    const next = periodicResync(converging, postponedMs, periodMs);
    if (!next.run) {
      postponedMs += next.recheckMs;
      d.onResyncPostponed?.(postponedMs);
      schedule(next.recheckMs);
      return;
    }
    postponedMs = 0;
    resync();
    schedule(nextPeriodMs());
  };
  schedule(nextPeriodMs());
  return {
    get synced() {
      return handles.every((h) => h.synced);
    },
    resync,
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      unsubscribe();
      clearInterval(polling);
      await Promise.all(handles.map((h) => h.stop()));
      repairs.reset();
      repairs.stop();
      endpoints.reset();
    },
  };
}
