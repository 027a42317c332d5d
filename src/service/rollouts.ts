// Live changes of a running cluster (PATCH /clusters/{id} with spec fields):
// checked as a create would be, the quota difference reserved, and the new
// spec recorded in one transaction; the reconciler then rolls it one instance
// at a time (src/store/rollouts.ts), the next only once the one before runs again.
import type { PatchCluster } from '../contract/schemas.ts';
import type { Convergence } from '../domain/convergence.ts';
import { invalid, invalidField, notFound, quotaExceeded, type FieldProblem } from '../domain/errors.ts';
import { available, clusterDemand, quotaExceededMessage, subtract, type ExposureShape, type Resources } from '../domain/quota.ts';
import { FIXED_FIELDS, imageChangeProblem, rollableOf, sameSpec, type RollableSpec } from '../domain/rollout.ts';
import { coresToMilli, gibToMib, milliToCores, mibToGib } from '../domain/units.ts';
import * as clusters from '../store/clusters.ts';
import type { Db, Queryable, Tx } from '../store/db.ts';
import * as instances from '../store/instances.ts';
import { beginRollout, keptSpecs, rollingClusters, stepRollout } from '../store/rollouts.ts';
import * as users from '../store/users.ts';
import { checkClusterInput } from './clusterInput.ts';
import { ownerScope, type Principal, type Services } from './context.ts';
import { recordChange } from './history.ts';
import { resolveClusterImage } from './images.ts';
import { refreshStatus } from './status.ts';

/** The spec fields of a PATCH (everything but instance_count). */
export type SpecPatch = Omit<PatchCluster, 'instance_count' | 'keep_disks'>;

const SPEC_FIELDS = ['cpu_per_instance', 'memory_per_instance', 'image', 'env', 'ports', 'service_type', 'ssh_keys', 'user_data', ...Object.keys(FIXED_FIELDS)];

/** A PATCH either scales (instance_count alone, as in the Python service) or changes the spec; both at once is refused with 422. */
export function splitPatch(body: PatchCluster): { scale: number; keepDisks: boolean } | { spec: SpecPatch } {
  const { instance_count: instanceCount, keep_disks: keepDisks, ...spec } = body;
  if (instanceCount === undefined) {
    if (keepDisks !== undefined) throw invalidField('keep_disks', 'goes with instance_count, in a scale-in');
    return { spec };
  }
  if (SPEC_FIELDS.some((k) => k in spec)) {
    throw invalidField('instance_count', 'scale and change the spec in separate requests (a change rolls over the instances there are)');
  }
  return { scale: instanceCount, keepDisks: keepDisks ?? false };
}

const problem = (field: string, msg: string): FieldProblem => ({ loc: ['body', field], msg, type: 'value_error' });

/** What the cluster holds of the tenant's quota with this spec, for `count` instances. */
function holding(spec: RollableSpec, row: clusters.ClusterRow, count: number): Resources {
  const shape: ExposureShape = { volumeSizeGb: row.volume_size_gb, diskSizeGb: row.disk_size_gb, serviceType: spec.service_type, expose: row.expose, portCount: spec.ports.length };
  return clusterDemand(spec.cpu_milli, spec.memory_mib, count, shape);
}

const positive = (r: Resources): Resources => ({
  cpuMilli: Math.max(0, r.cpuMilli),
  memoryMib: Math.max(0, r.memoryMib),
  instances: Math.max(0, r.instances),
  storageGb: Math.max(0, r.storageGb),
  loadBalancers: Math.max(0, r.loadBalancers),
});

/** 422 problems for the fields a live change cannot touch. */
export function fixedFieldProblems(patch: SpecPatch): FieldProblem[] {
  return Object.keys(FIXED_FIELDS)
    .filter((k) => k in patch)
    .map((k) => problem(k, `cannot be changed on a running cluster: ${FIXED_FIELDS[k]}`));
}

/** The spec a create of this cluster would have with the patch applied: refused (422) as a create would be. */
export function checkPatchedSpec(config: Services['config'], row: clusters.ClusterRow, patch: SpecPatch): void {
  const ports = patch.ports ? patch.ports.map((port) => ({ ...port, protocol: port.protocol ?? ('TCP' as const) })) : row.ports;
  checkClusterInput(config, {
    name: row.name,
    instance_type: row.instance_type,
    cpu_per_instance: patch.cpu_per_instance ?? milliToCores(row.cpu_milli),
    memory_per_instance: patch.memory_per_instance ?? mibToGib(row.memory_mib),
    instance_count: row.instance_count,
    ports,
    service_type: patch.service_type ?? row.service_type,
    expose: row.expose,
    ...(row.volume_size_gb !== null ? { volume_size: row.volume_size_gb } : {}),
    env: patch.env ?? row.env,
    ssh_keys: patch.ssh_keys ?? row.ssh_keys,
    ...((patch.user_data ?? row.user_data) !== null ? { user_data: (patch.user_data ?? row.user_data)! } : {}),
  });
}

/** The rollable spec the patch leads to, its image resolved from the catalogue (refused as a create's would be, and a VM's disk image kept). */
export async function patchedSpec(q: Queryable, config: Services['config'], row: clusters.ClusterRow, patch: SpecPatch): Promise<RollableSpec> {
  const cpuMilli = patch.cpu_per_instance !== undefined ? coresToMilli(patch.cpu_per_instance) : row.cpu_milli;
  const memoryMib = patch.memory_per_instance !== undefined ? gibToMib(patch.memory_per_instance) : row.memory_mib;
  const image =
    patch.image !== undefined
      ? await resolveClusterImage(q, config, { kind: row.instance_type, image: patch.image, cpuMilli, memoryMib })
      : { image: row.image, source: row.image_source };
  if (patch.image !== undefined && patch.image !== row.image && row.instance_type === 'vm') {
    const why = imageChangeProblem(row.disk_size_gb, image.image, image.source ?? image.image);
    if (why) throw invalidField('image', why);
  }
  return {
    cpu_milli: cpuMilli,
    memory_mib: memoryMib,
    image: image.image,
    image_source: image.source,
    env: patch.env ?? row.env,
    ports: patch.ports ? patch.ports.map((port) => ({ ...port, protocol: port.protocol ?? ('TCP' as const) })) : row.ports,
    service_type: patch.service_type ?? row.service_type,
    ssh_keys: patch.ssh_keys ?? row.ssh_keys,
    user_data: patch.user_data !== undefined ? patch.user_data : row.user_data,
  };
}

/** What changing the spec from `previous` to `next` reserves (negative: releases) for the cluster's `live` instances. */
export const specDifference = (row: clusters.ClusterRow, previous: RollableSpec, next: RollableSpec, live: number): Resources =>
  subtract(holding(next, row, live), holding(previous, row, live));

/**
 * Records a live change. Refused with 422 (nothing changed) for a field that
 * cannot change live or a value a create would refuse; with 403 when the
 * quota cannot hold the difference. A change equal to the running spec
 * changes nothing. Returns the new spec generation (null: nothing to roll)
 * and how many instances it rolls.
 */
export async function changeClusterSpec(s: Services, p: Principal, id: number, patch: SpecPatch): Promise<{ generation: number | null; toRoll: number }> {
  const fixed = fixedFieldProblems(patch);
  if (fixed.length > 0) throw invalid(fixed);
  const out = await s.db.transaction(async (tx) => {
    const row = await clusters.findCluster(tx, id, ownerScope(p), { lock: true, activeOnly: true });
    if (!row) throw notFound(`Cluster with id ${id}`);
    const previous = rollableOf(row);
    checkPatchedSpec(s.config, row, patch);
    const next = await patchedSpec(tx, s.config, row, patch);
    if (sameSpec(previous, next)) return { generation: null, toRoll: 0 };
    const live = (await instances.listInstancesOf(tx, [id])).filter((i) => i.desired !== 'deleted').length;
    const difference = specDifference(row, previous, next, live);
    if (!(await users.reserveQuota(tx, row.owner_id, difference))) {
      const u = await users.findUserById(tx, row.owner_id);
      if (!u) throw notFound('User');
      throw quotaExceeded(quotaExceededMessage(positive(difference), available(users.userTotals(u), users.userUsage(u))));
    }
    const kept = await keptSpecs(tx, id);
    const peak = [previous, next, ...kept].reduce(
      (m, sp) => ({ cpuMilli: Math.max(m.cpuMilli, sp.cpu_milli), memoryMib: Math.max(m.memoryMib, sp.memory_mib) }),
      { cpuMilli: 0, memoryMib: 0 },
    );
    const generation = await beginRollout(tx, id, previous, next, peak);
    const changed = (Object.keys(next) as (keyof RollableSpec)[]).filter((k) => JSON.stringify(next[k]) !== JSON.stringify(previous[k]));
    await recordChange(tx, p, id, `changed ${changed.join(', ')} of '${row.name}' (rolled out as generation ${generation})`, { generation, changed });
    const toRoll = (await instances.listInstancesOf(tx, [id])).filter((i) => i.desired !== 'deleted' && i.spec_gen < generation).length;
    await advanceRollout(tx, id, s.config.rolloutTimeoutSeconds * 1000);
    return { generation, toRoll };
  });
  if (out.generation !== null) s.wake();
  return out;
}

/** One step of a cluster's roll, in the caller's transaction; an instance rolled has its status recomputed (it is not running again yet). */
export async function advanceRollout(tx: Tx, clusterId: number, timeoutMs: number) {
  const d = await stepRollout(tx, clusterId, timeoutMs);
  if (d?.type === 'roll') await refreshStatus(tx, d.instanceId);
  return d;
}

/** One step of every roll under way, each in its own transaction. Returns how many rolled an instance. */
export async function advanceRollouts(db: Db, timeoutMs: number): Promise<number> {
  let rolled = 0;
  for (const id of await rollingClusters(db)) {
    const d = await db.transaction((tx) => advanceRollout(tx, id, timeoutMs));
    if (d?.type === 'roll') rolled++;
  }
  return rolled;
}

/**
 * For ?wait on a live change: converged once its roll is done and the
 * cluster's generation that ends it (the namespace quota back from the roll's
 * peak to the spec's) is in Kubernetes; failed when the roll failed.
 */
export async function rolloutConverged(s: Services, id: number): Promise<Convergence> {
  const row = await clusters.findCluster(s.db, id, null);
  if (!row || row.rollout_state === 'failed') return 'failed';
  if (row.rollout_state === 'rolling') return 'waiting';
  return row.synced_gen >= row.desired_gen ? 'converged' : 'waiting';
}
