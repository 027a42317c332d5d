// Observed state: pods and VirtualMachines reported back onto instance rows;
// StatefulSets and VirtualMachines watched for drift (deleted behind our back)
// and for orphans (a labelled object whose row is gone).
import { ANNOTATION_RESTART, LABEL_INSTANCE } from '../domain/render.ts';
import type { Kube } from '../kube/client.ts';
import { capMessage, type KubeError } from '../kube/errors.ts';
import { startListWatch, type ListWatchHandle, type WatchedObject } from '../kube/listWatch.ts';
import type { Db } from '../store/db.ts';
import { recordAddress, recordObservation, type Observation } from '../store/observations.ts';
import { requestInstanceSync } from '../store/work.ts';


// Waiting reasons that will not clear by themselves: the instance shows failed.
const STUCK_REASONS = new Set(['CrashLoopBackOff', 'ImagePullBackOff', 'ErrImagePull', 'InvalidImageName', 'CreateContainerConfigError', 'CreateContainerError']);

type Condition = { type?: string; status?: string; reason?: string; message?: string; lastTransitionTime?: string };

const instanceIdOf = (obj: WatchedObject): number | null => {
  const raw = obj.metadata?.labels?.[LABEL_INSTANCE];
  const n = Number(raw);
  return raw && Number.isSafeInteger(n) && n > 0 ? n : null;
};

const cleanConditions = (conds: unknown): Condition[] =>
  (Array.isArray(conds) ? (conds as Condition[]) : []).slice(0, 10).map((c) => ({
    type: capMessage(String(c.type ?? '')).slice(0, 64),
    status: capMessage(String(c.status ?? '')).slice(0, 16),
    reason: c.reason ? capMessage(String(c.reason)).slice(0, 128) : undefined,
    message: c.message ? capMessage(String(c.message)) : undefined,
    lastTransitionTime: c.lastTransitionTime ? String(c.lastTransitionTime).slice(0, 40) : undefined,
  }));

export function observePod(pod: WatchedObject): Observation {
  const status = (pod.status ?? {}) as {
    phase?: string;
    podIP?: string;
    conditions?: Condition[];
    containerStatuses?: { state?: { waiting?: { reason?: string; message?: string } } }[];
  };
  const conditions = cleanConditions(status.conditions);
  const ready = conditions.some((c) => c.type === 'Ready' && c.status === 'True');
  const waiting = (status.containerStatuses ?? []).map((c) => c.state?.waiting).find((w) => w?.reason);
  const unscheduled = conditions.find((c) => c.type === 'PodScheduled' && c.status === 'False');
  let phase = typeof status.phase === 'string' ? status.phase.slice(0, 32) : null;
  let message: string | null = null;
  if (waiting?.reason) {
    message = capMessage(`${waiting.reason}${waiting.message ? `: ${waiting.message}` : ''}`);
    if (STUCK_REASONS.has(waiting.reason)) phase = 'Failed';
  } else if (unscheduled) {
    message = capMessage(`${unscheduled.reason ?? 'Unschedulable'}: ${unscheduled.message ?? ''}`);
  }
  const ip = typeof status.podIP === 'string' && /^[0-9a-fA-F.:]{2,45}$/.test(status.podIP) ? status.podIP : null;
  const nodeName = (pod.spec as { nodeName?: unknown } | undefined)?.nodeName;
  const node = typeof nodeName === 'string' ? nodeName.slice(0, 253) : null;
  const restartAnnotation = Number(pod.metadata?.annotations?.[ANNOTATION_RESTART]);
  const restartCount = Number.isSafeInteger(restartAnnotation) ? restartAnnotation : undefined;
  return { present: true, phase, ready, ip, node, message: message ?? '', conditions, restartCount };
}

const IP = /^[0-9a-fA-F.:]{2,45}$/;

/** The address and node of a running VM, from its VirtualMachineInstance. */
export function vmiAddress(vmi: WatchedObject): { ip: string | null; node: string | null } {
  const status = (vmi.status ?? {}) as { nodeName?: unknown; interfaces?: { ipAddress?: unknown }[] };
  const ip = status.interfaces?.map((i) => i.ipAddress).find((a): a is string => typeof a === 'string' && IP.test(a)) ?? null;
  const node = typeof status.nodeName === 'string' ? status.nodeName.slice(0, 253) : null;
  return { ip, node };
}

export function observeVm(vm: WatchedObject): Observation {
  const status = (vm.status ?? {}) as { printableStatus?: unknown; ready?: unknown; conditions?: unknown };
  const conditions = cleanConditions(status.conditions);
  const failing = conditions.find((c) => c.status === 'False' && c.message);
  const printable = typeof status.printableStatus === 'string' ? status.printableStatus.slice(0, 64) : null;
  return {
    present: printable !== null,
    vmStatus: printable,
    ready: status.ready === true,
    message: failing?.message ?? '',
    conditions,
  };
}

const ABSENT: Observation = { present: false, phase: null, ready: false, vmStatus: null, ip: null, node: null };

export type ObserverDeps = {
  db: Db;
  kube: Kube;
  selector: string;
  onError: (err: KubeError, context: string) => void;
  wake: () => void;
  onRelist?: (kind: string, reason: 'start' | 'expired') => void;
};

export function startObservers(d: ObserverDeps): ListWatchHandle[] {
  const record = async (obj: WatchedObject, o: Observation) => {
    const id = instanceIdOf(obj);
    if (id !== null) await recordObservation(d.db, id, o);
  };
  /** After a relist: rows that think an object exists but it does not get the absence recorded. */
  const reconcileAbsent = async (kind: 'container' | 'vm', seen: Set<number>) => {
    const rows = await d.db.query<{ id: number }>(
      'SELECT i.id FROM instances i JOIN clusters c ON c.id = i.cluster_id WHERE c.instance_type = $1 AND i.obs_present',
      [kind],
    );
    for (const r of rows) if (!seen.has(r.id)) await recordObservation(d.db, r.id, ABSENT);
  };
  const ids = (items: WatchedObject[]) => new Set(items.map(instanceIdOf).filter((x): x is number => x !== null));

  /** Workload watch: drift repair and orphan collection. */
  const workload = (apiVersion: string, kind: string, path: string, instanceType: 'container' | 'vm') =>
    startListWatch(d.kube, {
      apiVersion,
      kind,
      path,
      labelSelector: d.selector,
      onError: d.onError,
      onRelist: (reason) => d.onRelist?.(kind, reason),
      onSync: async (items) => {
        const present = ids(items);
        // Drift: a row that should have its object, but the object is missing.
        const rows = await d.db.query<{ id: number }>(
          `SELECT i.id FROM instances i JOIN clusters c ON c.id = i.cluster_id
            WHERE c.instance_type = $1 AND c.state = 'active' AND i.desired <> 'deleted' AND i.applied`,
          [instanceType],
        );
        let drifted = 0;
        for (const r of rows) {
          if (!present.has(r.id)) {
            await requestInstanceSync(d.db, r.id);
            drifted++;
          }
        }
        // Orphans: labelled objects whose row does not exist.
        const known = new Set(
          (await d.db.query<{ id: number }>('SELECT id FROM instances WHERE id = ANY($1::int[])', [[...present]])).map((r) => r.id),
        );
        for (const obj of items) {
          const id = instanceIdOf(obj);
          if (id !== null && !known.has(id)) {
            await d.kube.remove({ apiVersion, kind, metadata: { name: obj.metadata!.name!, namespace: obj.metadata!.namespace } });
          }
        }
        if (drifted > 0) d.wake();
        if (instanceType === 'vm') {
          const seen: WatchedObject[] = [];
          for (const obj of items) {
            const observed = observeVm(obj);
            await record(obj, observed);
            if (observed.present) seen.push(obj);
          }
          await reconcileAbsent('vm', ids(seen));
        }
      },
      onEvent: async (type, obj) => {
        const id = instanceIdOf(obj);
        if (id === null) return;
        if (type === 'ADDED' && (await d.db.query('SELECT 1 FROM instances WHERE id = $1', [id])).length === 0) {
          await d.kube.remove({ apiVersion, kind, metadata: { name: obj.metadata!.name!, namespace: obj.metadata!.namespace } });
          return;
        }
        if (type === 'DELETED') {
          if (instanceType === 'vm') await recordObservation(d.db, id, ABSENT);
          await requestInstanceSync(d.db, id); // a row still wanting it gets it back
          d.wake();
          return;
        }
        if (instanceType === 'vm') await record(obj, observeVm(obj));
      },
    });

  const pods = startListWatch(d.kube, {
    apiVersion: 'v1',
    kind: 'Pod',
    path: '/api/v1/pods',
    labelSelector: d.selector,
    onError: d.onError,
    onRelist: (reason) => d.onRelist?.('Pod', reason),
    onSync: async (items) => {
      // VM launcher pods carry the instance label too; only container pods are observed here.
      const containerPods = items.filter((p) => !p.metadata?.labels?.['kubevirt.io']);
      for (const p of containerPods) await record(p, observePod(p));
      await reconcileAbsent('container', ids(containerPods));
    },
    onEvent: async (type, pod) => {
      if (pod.metadata?.labels?.['kubevirt.io']) return;
      await record(pod, type === 'DELETED' ? ABSENT : observePod(pod));
    },
  });

  const vmis = startListWatch(d.kube, {
    apiVersion: 'kubevirt.io/v1',
    kind: 'VirtualMachineInstance',
    path: '/apis/kubevirt.io/v1/virtualmachineinstances',
    labelSelector: d.selector,
    onError: d.onError,
    onSync: async (items) => {
      for (const vmi of items) {
        const id = instanceIdOf(vmi);
        if (id !== null) await recordAddress(d.db, id, vmiAddress(vmi).ip, vmiAddress(vmi).node);
      }
    },
    onEvent: async (type, vmi) => {
      const id = instanceIdOf(vmi);
      if (id === null) return;
      const a = type === 'DELETED' ? { ip: null, node: null } : vmiAddress(vmi);
      await recordAddress(d.db, id, a.ip, a.node);
    },
  });

  return [
    pods,
    vmis,
    workload('apps/v1', 'StatefulSet', '/apis/apps/v1/statefulsets', 'container'),
    workload('kubevirt.io/v1', 'VirtualMachine', '/apis/kubevirt.io/v1/virtualmachines', 'vm'),
  ];
}
