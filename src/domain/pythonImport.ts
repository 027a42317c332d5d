// Bringing an installation of the earlier Python service across: its rows as
// they are read, and the pure decisions about them (units, desired state, the
// instance ordinal, which names KubeKloud can take, which tokens are weak).
// The import itself (src/admin/importPython.ts) reads, writes and applies.
import type { Desired, InstanceKind } from './lifecycle.ts';
import { clusterNameProblem } from './naming.ts';
import { DEFAULT_QUOTA_LOAD_BALANCERS, DEFAULT_QUOTA_STORAGE_GB, demandOf, type Resources } from './quota.ts';
import { coresToMilli, gibToMib } from './units.ts';

/** A user row of the Python service: its token is stored in plain text. */
export type PythonUser = {
  id: number;
  username: string;
  token: string;
  quotaCpu: number;
  quotaMemory: number;
  usedCpu: number | null;
  usedMemory: number | null;
};

export type PythonCluster = {
  id: number;
  name: string;
  namespace: string;
  kind: InstanceKind;
  cpuPerInstance: number;
  memoryPerInstance: number;
  instanceCount: number;
  ownerId: number;
};

export type PythonInstance = {
  id: number;
  clusterId: number;
  name: string;
  /** RUNNING, STOPPED, SUSPENDED, PENDING, FAILED (lower-cased), or null. */
  status: string | null;
  /** The Pod or VirtualMachine's name (the instance name when unset). */
  resourceName: string | null;
};

export type PythonInstallation = { users: PythonUser[]; clusters: PythonCluster[]; instances: PythonInstance[] };

/** The shortest token a client may choose today (the v1 contract's minimum). */
export const TOKEN_MIN_LENGTH = 16;

/** Tokens shorter than today's minimum keep working after the import, but are reported. */
export function isWeakToken(token: string): boolean {
  return token.length < TOKEN_MIN_LENGTH;
}

/** Python stored enum names (`VM`, `RUNNING`); its API spoke their values (`vm`, `running`). */
export function pythonEnum(value: string | null): string | null {
  return value === null ? null : value.toLowerCase();
}

/** Instances without a quota in the Python service get this many, or as many as they already use. */
export const DEFAULT_INSTANCE_QUOTA = 10;

export function quotaOf(u: PythonUser, instancesUsed: number, instanceQuota = DEFAULT_INSTANCE_QUOTA): Resources {
  return {
    cpuMilli: coresToMilli(u.quotaCpu),
    memoryMib: gibToMib(u.quotaMemory),
    instances: Math.max(instanceQuota, instancesUsed),
    storageGb: DEFAULT_QUOTA_STORAGE_GB,
    loadBalancers: DEFAULT_QUOTA_LOAD_BALANCERS,
  };
}

/** What one imported cluster uses of its owner's quota, as KubeKloud counts it. */
export function clusterDemand(c: PythonCluster, instances: number): Resources {
  return demandOf(coresToMilli(c.cpuPerInstance), gibToMib(c.memoryPerInstance), instances);
}

/** Why KubeKloud cannot take this cluster as it is, or null. */
export function clusterProblem(c: PythonCluster): string | null {
  const name = clusterNameProblem(c.name);
  if (name) return `its name ${JSON.stringify(c.name)} ${name}`;
  if (!(c.cpuPerInstance > 0) || !(c.memoryPerInstance > 0)) return 'its CPU or memory per instance is not positive';
  return null;
}

/**
 * The ordinal of an instance named `<cluster>-instance-<n>` (n counts from 0 in
 * the Python service, ordinals from 1 here); null for any other name.
 */
export function ordinalOf(clusterName: string, instanceName: string): number | null {
  const prefix = `${clusterName}-instance-`;
  if (!instanceName.startsWith(prefix)) return null;
  const n = instanceName.slice(prefix.length);
  return /^(0|[1-9]\d{0,5})$/.test(n) ? Number(n) + 1 : null;
}

/** Ordinals for a cluster's instances: from their names where they parse and do not collide, else after the highest. */
export function assignOrdinals(clusterName: string, instances: PythonInstance[]): Map<number, number> {
  const out = new Map<number, number>();
  const taken = new Set<number>();
  const sorted = [...instances].sort((a, b) => a.id - b.id);
  for (const i of sorted) {
    const o = ordinalOf(clusterName, i.name);
    if (o !== null && !taken.has(o)) {
      out.set(i.id, o);
      taken.add(o);
    }
  }
  let next = Math.max(0, ...taken) + 1;
  for (const i of sorted) {
    if (!out.has(i.id)) out.set(i.id, next++);
  }
  return out;
}

/** What Kubernetes shows of an instance's workload before the import. */
export type LiveWorkload =
  | { present: false }
  | { present: true; kind: 'vm'; running: boolean }
  | { present: true; kind: 'container' };

/**
 * What the instance should be after the import. What runs is kept running and
 * what is stopped stays stopped: Kubernetes is believed over the Python rows,
 * whose status it set optimistically. A workload that vanished comes back
 * unless its row says it was stopped or suspended.
 */
export function desiredOf(kind: InstanceKind, status: string | null, live: LiveWorkload): Desired {
  const parked: Desired | null = status === 'suspended' ? 'suspended' : status === 'stopped' ? 'stopped' : null;
  if (!live.present) return parked ?? 'running';
  if (kind === 'vm' && live.kind === 'vm' && !live.running) return parked ?? 'stopped';
  return 'running';
}

/** The image a VM or a container of the Python service runs (its only disk or container), or null. */
export function workloadImage(kind: InstanceKind, obj: Record<string, unknown>): string | null {
  const spec = obj.spec as Record<string, any> | undefined;
  if (kind === 'container') {
    const c = spec?.containers?.[0];
    return typeof c?.image === 'string' ? c.image : null;
  }
  const volumes = (spec?.template?.spec?.volumes ?? []) as { containerDisk?: { image?: string } }[];
  const disk = volumes.find((v) => typeof v.containerDisk?.image === 'string');
  return disk?.containerDisk?.image ?? null;
}

/** The Python service's defaults, for a cluster none of whose workloads is left to read the image from. */
export const PYTHON_DEFAULT_IMAGE: Record<InstanceKind, string> = {
  container: 'nginx:latest',
  vm: 'kubevirt/cirros-container-disk-demo',
};
