// The API speaks cores (fractions allowed) and GB (GiB); the database and the
// quota arithmetic use integer millicores and MiB so sums are exact.

export const MILLI_PER_CORE = 1000;
export const MIB_PER_GIB = 1024;

export function coresToMilli(cores: number): number {
  return Math.round(cores * MILLI_PER_CORE);
}
export function milliToCores(milli: number): number {
  return milli / MILLI_PER_CORE;
}
export function gibToMib(gib: number): number {
  return Math.round(gib * MIB_PER_GIB);
}
export function mibToGib(mib: number): number {
  return mib / MIB_PER_GIB;
}

/** True when `value` is a whole number of `1/per` units (e.g. millicores). */
export function isWholeMultiple(value: number, per: number): boolean {
  const scaled = value * per;
  return Math.abs(scaled - Math.round(scaled)) < 1e-6;
}

/** Kubernetes quantity strings for what we render. */
export function cpuQuantity(milli: number): string {
  return milli % MILLI_PER_CORE === 0 ? String(milli / MILLI_PER_CORE) : `${milli}m`;
}
export function memoryQuantity(mib: number): string {
  return mib % MIB_PER_GIB === 0 ? `${mib / MIB_PER_GIB}Gi` : `${mib}Mi`;
}
