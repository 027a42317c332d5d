// Quota arithmetic in integer millicores, MiB, GB of storage and counts.
import type { Expose, ServiceType } from './model.ts';
import { milliToCores, mibToGib } from './units.ts';

export type Resources = { cpuMilli: number; memoryMib: number; instances: number; storageGb: number; loadBalancers: number };

export const ZERO: Resources = { cpuMilli: 0, memoryMib: 0, instances: 0, storageGb: 0, loadBalancers: 0 };

/** A tenant's storage and load-balancer quota when an admin sets none (and what existing tenants get when these dimensions arrive). */
export const DEFAULT_QUOTA_STORAGE_GB = 100;
export const DEFAULT_QUOTA_LOAD_BALANCERS = 5;

/** What each instance of a cluster holds beyond CPU and memory: its volume (GB) and its Service if that is a LoadBalancer. */
export type PerInstanceExtras = { storageGb: number; loadBalancers: number };
const NO_EXTRAS: PerInstanceExtras = { storageGb: 0, loadBalancers: 0 };

export function demandOf(cpuMilliPerInstance: number, memoryMibPerInstance: number, count: number, extras: PerInstanceExtras = NO_EXTRAS): Resources {
  return {
    cpuMilli: cpuMilliPerInstance * count,
    memoryMib: memoryMibPerInstance * count,
    instances: count,
    storageGb: extras.storageGb * count,
    loadBalancers: extras.loadBalancers * count,
  };
}

/** The shape of a cluster that decides what it uses of storage and load balancers. */
export type ExposureShape = { volumeSizeGb: number | null; /** VMs: the persistent root disk (GB). */ diskSizeGb?: number | null; serviceType: ServiceType; expose: Expose; portCount: number };

/**
 * Per instance: its volume (a container's volumeClaimTemplate or a VM's data
 * disk, both `volume_size` GB), a VM's persistent root disk (`disk_size` GB),
 * and one LoadBalancer when its Service is one (a Service exists only when
 * ports are exposed).
 */
export function perInstanceExtras(c: ExposureShape): PerInstanceExtras {
  return { storageGb: (c.volumeSizeGb ?? 0) + (c.diskSizeGb ?? 0), loadBalancers: c.serviceType === 'LoadBalancer' && c.portCount > 0 ? 1 : 0 };
}

/** What the cluster itself holds while it exists, whatever its size: its own LoadBalancer Service under `expose: cluster`. */
export function clusterLevelDemand(c: ExposureShape): Resources {
  return { ...ZERO, loadBalancers: c.expose === 'cluster' && c.serviceType === 'LoadBalancer' && c.portCount > 0 ? 1 : 0 };
}

/** What `count` instances of a cluster of this shape hold, with what the cluster itself holds (its own LoadBalancer). */
export function clusterDemand(cpuMilliPerInstance: number, memoryMibPerInstance: number, count: number, shape: ExposureShape): Resources {
  return add(demandOf(cpuMilliPerInstance, memoryMibPerInstance, count, perInstanceExtras(shape)), clusterLevelDemand(shape));
}

export function subtract(a: Resources, b: Resources): Resources {
  return {
    cpuMilli: a.cpuMilli - b.cpuMilli,
    memoryMib: a.memoryMib - b.memoryMib,
    instances: a.instances - b.instances,
    storageGb: a.storageGb - b.storageGb,
    loadBalancers: a.loadBalancers - b.loadBalancers,
  };
}

export function add(a: Resources, b: Resources): Resources {
  return {
    cpuMilli: a.cpuMilli + b.cpuMilli,
    memoryMib: a.memoryMib + b.memoryMib,
    instances: a.instances + b.instances,
    storageGb: a.storageGb + b.storageGb,
    loadBalancers: a.loadBalancers + b.loadBalancers,
  };
}

/** Never negative: usage can exceed a total only transiently, never in what we show. */
export function available(total: Resources, used: Resources): Resources {
  const left = subtract(total, used);
  return {
    cpuMilli: Math.max(0, left.cpuMilli),
    memoryMib: Math.max(0, left.memoryMib),
    instances: Math.max(0, left.instances),
    storageGb: Math.max(0, left.storageGb),
    loadBalancers: Math.max(0, left.loadBalancers),
  };
}

export function fits(total: Resources, used: Resources, demand: Resources): boolean {
  return (
    used.cpuMilli + demand.cpuMilli <= total.cpuMilli &&
    used.memoryMib + demand.memoryMib <= total.memoryMib &&
    used.instances + demand.instances <= total.instances &&
    used.storageGb + demand.storageGb <= total.storageGb &&
    used.loadBalancers + demand.loadBalancers <= total.loadBalancers
  );
}

/** `withExtras`: also name storage and load balancers (left out when a request asks for neither, so the message stays as the Python service wrote it). */
export function describe(r: Resources, withExtras = false): string {
  const base = `cpu ${milliToCores(r.cpuMilli)} cores, memory ${mibToGib(r.memoryMib)} GB, ${r.instances} instance${r.instances === 1 ? '' : 's'}`;
  if (!withExtras) return base;
  return `${base}, storage ${r.storageGb} GB, ${r.loadBalancers} load balancer${r.loadBalancers === 1 ? '' : 's'}`;
}

export function quotaExceededMessage(demand: Resources, avail: Resources): string {
  const extras = demand.storageGb > 0 || demand.loadBalancers > 0;
  return `Quota exceeded: requested ${describe(demand, extras)}; available ${describe(avail, extras)}`;
}

/** Which of a new total falls below current usage, for an admin quota change. */
export function totalBelowUsage(total: Resources, used: Resources): string[] {
  const problems: string[] = [];
  if (total.cpuMilli < used.cpuMilli) problems.push(`quota_cpu ${milliToCores(total.cpuMilli)} is below usage ${milliToCores(used.cpuMilli)}`);
  if (total.memoryMib < used.memoryMib) problems.push(`quota_memory ${mibToGib(total.memoryMib)} is below usage ${mibToGib(used.memoryMib)}`);
  if (total.instances < used.instances) problems.push(`quota_instances ${total.instances} is below usage ${used.instances}`);
  if (total.storageGb < used.storageGb) problems.push(`quota_storage_gb ${total.storageGb} is below usage ${used.storageGb}`);
  if (total.loadBalancers < used.loadBalancers) problems.push(`quota_load_balancers ${total.loadBalancers} is below usage ${used.loadBalancers}`);
  return problems;
}
