// Snapshots of an instance's persistent disks, and restores from them: what
// can be snapshotted, what a snapshot holds of the storage quota, the objects
// that take and restore it, and what their status says. Pure.
import type { ClusterSpec, InstanceSpec } from './model.ts';
import { instanceLabels, type KubeObject } from './render.ts';
import { capMessage } from './untrusted.ts';
import type { LiveObject } from './drift.ts';

export const LABEL_SNAPSHOT = 'kubekloud.io/snapshot';
/** On a container's data claim made from a snapshot: which snapshot object it came from. */
export const ANNOTATION_RESTORED_FROM = 'kubekloud.io/restored-from';

export type SnapshotKind = 'vm' | 'volume';

/**
 * How an instance's disks are snapshotted, or why they cannot be: a VM's
 * claims (root disk and data disk) through a VirtualMachineSnapshot, a
 * container's volume through a VolumeSnapshot. A containerDisk holds nothing.
 */
export function snapshotPlan(c: Pick<ClusterSpec, 'kind' | 'volumeSizeGb' | 'diskSizeGb'>): { ok: true; kind: SnapshotKind; sizeGb: number } | { ok: false; reason: string } {
  if (c.kind === 'container') {
    if (!c.volumeSizeGb) return { ok: false, reason: 'the instance has no volume to snapshot (its cluster was created without volume_size)' };
    return { ok: true, kind: 'volume', sizeGb: c.volumeSizeGb };
  }
  const gb = (c.diskSizeGb ?? 0) + (c.volumeSizeGb ?? 0);
  if (gb === 0) return { ok: false, reason: 'the VM has no persistent disk to snapshot (it boots from a container disk and has no volume; create its cluster with disk_size or volume_size)' };
  return { ok: true, kind: 'vm', sizeGb: gb };
}

/** The claim a container instance's StatefulSet makes from its volume template. */
export const containerDataClaim = (i: Pick<InstanceSpec, 'name'>) => `data-${i.name}-0`;

/**
 * The object that takes a snapshot: a VirtualMachineSnapshot of the VM, or a
 * VolumeSnapshot of the container's claim (its class: the default
 * VolumeSnapshotClass of the claim's driver, as the snapshot controller picks).
 */
export function renderSnapshot(c: ClusterSpec, i: InstanceSpec, s: { id: number; objectName: string; kind: SnapshotKind }): KubeObject {
  const metadata = { name: s.objectName, namespace: c.namespace, labels: { ...instanceLabels(c, i), [LABEL_SNAPSHOT]: String(s.id) } };
  if (s.kind === 'vm') {
    return {
      apiVersion: 'snapshot.kubevirt.io/v1beta1',
      kind: 'VirtualMachineSnapshot',
      metadata,
      spec: { source: { apiGroup: 'kubevirt.io', kind: 'VirtualMachine', name: i.name } },
    };
  }
  return {
    apiVersion: 'snapshot.storage.k8s.io/v1',
    kind: 'VolumeSnapshot',
    metadata,
    spec: { source: { persistentVolumeClaimName: containerDataClaim(i) } },
  };
}

/** KubeVirt's restore of a VM from one of its snapshots (the VM must be stopped; KubeVirt waits until it is). */
export function renderVmRestore(c: ClusterSpec, i: InstanceSpec, restoreId: number, snapshotObject: string): KubeObject {
  return {
    apiVersion: 'snapshot.kubevirt.io/v1beta1',
    kind: 'VirtualMachineRestore',
    metadata: { name: `${i.name}-restore-${restoreId}`, namespace: c.namespace, labels: instanceLabels(c, i) },
    spec: { target: { apiGroup: 'kubevirt.io', kind: 'VirtualMachine', name: i.name }, virtualMachineSnapshotName: snapshotObject },
  };
}

/**
 * A container's data claim made anew from a VolumeSnapshot, under the name its
 * StatefulSet looks for: the pod that starts next mounts the restored volume.
 */
export function renderRestoredClaim(c: ClusterSpec, i: InstanceSpec, snapshotObject: string, marker: string): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: { name: containerDataClaim(i), namespace: c.namespace, labels: instanceLabels(c, i), annotations: { [ANNOTATION_RESTORED_FROM]: marker } },
    spec: {
      accessModes: ['ReadWriteOnce'],
      resources: { requests: { storage: `${c.volumeSizeGb ?? 1}Gi` } },
      dataSource: { apiGroup: 'snapshot.storage.k8s.io', kind: 'VolumeSnapshot', name: snapshotObject },
    },
  };
}

/** Which snapshot row a labelled snapshot object belongs to. */
export function snapshotIdOf(obj: LiveObject): number | null {
  const raw = obj.metadata?.labels?.[LABEL_SNAPSHOT];
  const n = Number(raw);
  return raw && Number.isSafeInteger(n) && n > 0 ? n : null;
}

/**
 * What a VirtualMachineSnapshot or VolumeSnapshot says: ready once readyToUse;
 * a VM snapshot whose phase is Failed failed; an error on a volume snapshot is
 * retried by its controller, so it is shown while the snapshot is still being made.
 */
export function observeSnapshot(obj: LiveObject): { phase: 'creating' | 'ready' | 'failed'; message: string | null } {
  const status = (obj.status ?? {}) as { readyToUse?: unknown; phase?: unknown; error?: { message?: unknown } };
  const error = typeof status.error?.message === 'string' && status.error.message ? capMessage(status.error.message) : null;
  if (status.readyToUse === true) return { phase: 'ready', message: null };
  if (status.phase === 'Failed') return { phase: 'failed', message: error ?? 'the snapshot failed; no reason given' };
  return { phase: 'creating', message: error };
}

/** Where a VirtualMachineRestore is: complete, or waiting (with the reason its Ready condition gives). */
export function observeVmRestore(obj: LiveObject | null): { complete: boolean; reason: string | null } {
  if (!obj) return { complete: false, reason: null };
  const status = (obj.status ?? {}) as { complete?: unknown; conditions?: unknown };
  if (status.complete === true) return { complete: true, reason: null };
  const conds = Array.isArray(status.conditions) ? (status.conditions as { type?: unknown; reason?: unknown }[]) : [];
  const ready = conds.find((c) => c.type === 'Ready');
  return { complete: false, reason: typeof ready?.reason === 'string' ? capMessage(ready.reason) : null };
}

/** After a restore, the claims a VM runs from: its root disk's DataVolume and its data disk's claim, as KubeVirt renamed them. */
export function restoredVmDisks(vm: LiveObject): { rootDisk: string | null; dataClaim: string | null } {
  const spec = (vm as { spec?: { template?: { spec?: { volumes?: unknown } } } }).spec;
  const volumes = Array.isArray(spec?.template?.spec?.volumes) ? (spec.template.spec.volumes as Record<string, unknown>[]) : [];
  const named = (n: string) => volumes.find((v) => v.name === n);
  const dv = (named('rootdisk')?.dataVolume as { name?: unknown } | undefined)?.name;
  const pvc = (named('data')?.persistentVolumeClaim as { claimName?: unknown } | undefined)?.claimName;
  return { rootDisk: typeof dv === 'string' ? dv : null, dataClaim: typeof pvc === 'string' ? pvc : null };
}
