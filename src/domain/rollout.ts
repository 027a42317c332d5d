// Live changes of a running cluster, rolled one instance at a time: which
// fields may change live, and what the roll does next. Pure: the store reads
// the rows under the cluster's lock and applies the decision.
import { bootsAsContainerDisk } from './images.ts';
import type { PortSpec, ServiceType } from './model.ts';

/** The fields a change rolls out: what an instance renders beyond the cluster's fixed shape. */
export type RollableSpec = {
  cpu_milli: number;
  memory_mib: number;
  image: string;
  image_source: string | null;
  env: Record<string, string>;
  ports: PortSpec[];
  service_type: ServiceType;
  ssh_keys: string[];
  user_data: string | null;
};

export const ROLLABLE_KEYS = ['cpu_milli', 'memory_mib', 'image', 'image_source', 'env', 'ports', 'service_type', 'ssh_keys', 'user_data'] as const;

export function rollableOf(row: RollableSpec): RollableSpec {
  return Object.fromEntries(ROLLABLE_KEYS.map((k) => [k, row[k]])) as RollableSpec;
}

/** Key order of objects does not matter (jsonb does not keep it). */
function canonical(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(canonical);
  if (v && typeof v === 'object') return Object.fromEntries(Object.keys(v).sort().map((k) => [k, canonical((v as Record<string, unknown>)[k])]));
  return v;
}

export function sameSpec(a: RollableSpec, b: RollableSpec): boolean {
  return JSON.stringify(canonical(rollableOf(a))) === JSON.stringify(canonical(rollableOf(b)));
}

/** Fields of a cluster that cannot change while it runs, and why. */
export const FIXED_FIELDS: Record<string, string> = {
  name: 'the name is part of the namespace and every object of the cluster',
  instance_type: 'a VM cannot become a container or the reverse; create a new cluster',
  volume_size: 'volumes cannot be resized live; create a new cluster',
  disk_size: 'root disks cannot be resized live; create a new cluster',
  expose: 'how the cluster is exposed is fixed at create; create a new cluster',
};

/**
 * Why a VM cluster cannot roll to another image, or null: a persistent root
 * disk keeps the image it was imported from (a roll restarts the VM on the
 * same disk), and a disk image from a URL needs a root disk, which a cluster
 * booting containerDisks does not have.
 */
export function imageChangeProblem(diskSizeGb: number | null, image: string, source: string): string | null {
  if (diskSizeGb !== null) return 'a VM with a persistent root disk keeps the image its disk was imported from; create a new cluster for another image';
  if (!bootsAsContainerDisk(source)) return `image '${image}' is a disk image from a URL and needs a persistent root disk, which this cluster's VMs do not have; create a new cluster with disk_size`;
  return null;
}

export type RolloutState = 'rolling' | 'done' | 'failed';

/** What the roll needs to know of each live instance. */
export type RollingInstance = {
  id: number;
  ordinal: number;
  name: string;
  specGen: number;
  desired: string;
  /** Its latest request is in Kubernetes. */
  synced: boolean;
  /** Running again: the pod made for its latest request observed ready, or (stopped, suspended) nothing to wait for. */
  running: boolean;
  failure: string | null;
  rolledAt: Date | null;
};

export type RolloutDecision =
  | { type: 'wait'; updated: number; total: number }
  | { type: 'roll'; instanceId: number; updated: number; total: number }
  | { type: 'done'; updated: number; total: number }
  | { type: 'failed'; message: string; updated: number; total: number };

const isBack = (i: RollingInstance) => i.synced && (i.desired !== 'running' || i.running);

/**
 * The next step of a roll to generation `gen`: wait while an instance on the
 * new spec is not back (failing it past `timeoutMs` or on a failure), else roll
 * the lowest-numbered instance still on an older spec, else done.
 */
export function decideRollout(gen: number, instances: RollingInstance[], now: Date, timeoutMs: number): RolloutDecision {
  const total = instances.length;
  const updated = instances.filter((i) => i.specGen === gen && isBack(i)).length;
  const changing = instances.find((i) => i.specGen === gen && !isBack(i));
  if (changing) {
    if (changing.failure) return { type: 'failed', message: `${changing.name}: ${changing.failure}`, updated, total };
    if (changing.rolledAt && now.getTime() - changing.rolledAt.getTime() > timeoutMs) {
      return { type: 'failed', message: `${changing.name} was not running again within ${Math.round(timeoutMs / 1000)} s`, updated, total };
    }
    return { type: 'wait', updated, total };
  }
  const next = instances.filter((i) => i.specGen < gen).sort((a, b) => a.ordinal - b.ordinal)[0];
  if (next) return { type: 'roll', instanceId: next.id, updated, total };
  return { type: 'done', updated, total };
}
