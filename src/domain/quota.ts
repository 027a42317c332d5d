// Quota arithmetic in integer millicores and MiB.
import { milliToCores, mibToGib } from './units.ts';

export type Resources = { cpuMilli: number; memoryMib: number; instances: number };

export const ZERO: Resources = { cpuMilli: 0, memoryMib: 0, instances: 0 };

export function demandOf(cpuMilliPerInstance: number, memoryMibPerInstance: number, count: number): Resources {
  return { cpuMilli: cpuMilliPerInstance * count, memoryMib: memoryMibPerInstance * count, instances: count };
}

export function subtract(a: Resources, b: Resources): Resources {
  return { cpuMilli: a.cpuMilli - b.cpuMilli, memoryMib: a.memoryMib - b.memoryMib, instances: a.instances - b.instances };
}

export function add(a: Resources, b: Resources): Resources {
  return { cpuMilli: a.cpuMilli + b.cpuMilli, memoryMib: a.memoryMib + b.memoryMib, instances: a.instances + b.instances };
}

/** Never negative: usage can exceed a total only transiently, never in what we show. */
export function available(total: Resources, used: Resources): Resources {
  const left = subtract(total, used);
  return { cpuMilli: Math.max(0, left.cpuMilli), memoryMib: Math.max(0, left.memoryMib), instances: Math.max(0, left.instances) };
}

export function fits(total: Resources, used: Resources, demand: Resources): boolean {
  return (
    used.cpuMilli + demand.cpuMilli <= total.cpuMilli &&
    used.memoryMib + demand.memoryMib <= total.memoryMib &&
    used.instances + demand.instances <= total.instances
  );
}

export function describe(r: Resources): string {
  return `cpu ${milliToCores(r.cpuMilli)} cores, memory ${mibToGib(r.memoryMib)} GB, ${r.instances} instance${r.instances === 1 ? '' : 's'}`;
}

export function quotaExceededMessage(demand: Resources, avail: Resources): string {
  return `Quota exceeded: requested ${describe(demand)}; available ${describe(avail)}`;
}

/** Which of a new total falls below current usage, for an admin quota change. */
export function totalBelowUsage(total: Resources, used: Resources): string[] {
  const problems: string[] = [];
  if (total.cpuMilli < used.cpuMilli) problems.push(`quota_cpu ${milliToCores(total.cpuMilli)} is below usage ${milliToCores(used.cpuMilli)}`);
  if (total.memoryMib < used.memoryMib) problems.push(`quota_memory ${mibToGib(total.memoryMib)} is below usage ${mibToGib(used.memoryMib)}`);
  if (total.instances < used.instances) problems.push(`quota_instances ${total.instances} is below usage ${used.instances}`);
  return problems;
}
