// Quotes (?dry_run=true): what a create, a scale, a live change or an operation would
// reserve of the quota and leave of it, every reason it would be refused (not
// only the first, as the request itself answers), and the Kubernetes objects
// it would apply, rendered as the reconciler renders them. Only reads: no row,
// no reservation, no wake-up, no apply.
import { checkExpiry } from '../domain/expiry.ts';
import type { Quote, QuoteReason } from '../contract/schemas.ts';
import { DomainError, notFound } from '../domain/errors.ts';
import { planTransition, type Operation } from '../domain/lifecycle.ts';
import type { ClusterSpec, InstanceSpec, PortSpec } from '../domain/model.ts';
import { clusterNamespace, instanceName } from '../domain/naming.ts';
import { add, clusterDemand, demandOf, perInstanceExtras, subtract, ZERO, type Resources } from '../domain/quota.ts';
import { renderClusterObjects, renderInstanceObjects, renderVmDataVolume, type KubeObject } from '../domain/render.ts';
import { compatibleStatus } from '../domain/compatibleStatus.ts';
import { rollableOf } from '../domain/rollout.ts';
import { coresToMilli, gibToMib, mibToGib, milliToCores } from '../domain/units.ts';
import * as clusters from '../store/clusters.ts';
import * as instances from '../store/instances.ts';
import * as snapshots from '../store/snapshots.ts';
import * as users from '../store/users.ts';
import { checkClusterInput, type CreateClusterInput } from './clusterInput.ts';
import { keepDisksProblem, newClusterOf, rootDiskOf, shapeOf } from './clusters.ts';
import { beyondClusterLimit, ownerScope, type Principal, type Services } from './context.ts';
import { resolveClusterImage } from './images.ts';
import { restoreBlocksOperation } from './instances.ts';
import { checkPatchedSpec, fixedFieldProblems, patchedSpec, specDifference, type SpecPatch } from './rollouts.ts';
import { clusterSpecOf, instanceSpecOf } from './spec.ts';

const amounts = (r: Resources): Quote['reservation'] => ({
  cpu: milliToCores(r.cpuMilli),
  memory: mibToGib(r.memoryMib),
  instances: r.instances,
  storage_gb: r.storageGb,
  load_balancers: r.loadBalancers,
});

/** A refusal as the reasons of a quote: each field problem, or its one message. */
function reasonsOf(err: unknown): QuoteReason[] {
  if (!(err instanceof DomainError)) throw err;
  if (err.problems.length > 0) return err.problems.map((p) => ({ code: 'invalid', message: p.msg, loc: p.loc }));
  const code = err.kind === 'quota' ? 'quota' : err.kind === 'busy' ? 'busy' : err.kind === 'invalid' ? 'invalid' : 'conflict';
  return [{ code, message: err.message }];
}

/** Runs a check that refuses by throwing; its refusal becomes reasons. */
async function collect<T>(reasons: QuoteReason[], check: () => T | Promise<T>): Promise<T | null> {
  try {
    return await check();
  } catch (err) {
    reasons.push(...reasonsOf(err));
    return null;
  }
}

/** One reason per quota dimension the request would overdraw, naming what it asks and what is left. */
function quotaReasons(demand: Resources, left: Resources): QuoteReason[] {
  const short = (asked: number, avail: number, what: string, unit: (n: number) => string): QuoteReason[] =>
    asked > 0 && asked > avail ? [{ code: 'quota', message: `${what}: ${unit(asked)} asked, ${unit(Math.max(0, avail))} available` }] : [];
  return [
    ...short(demand.cpuMilli, left.cpuMilli, 'cpu', (n) => `${milliToCores(n)} cores`),
    ...short(demand.memoryMib, left.memoryMib, 'memory', (n) => `${mibToGib(n)} GB`),
    ...short(demand.instances, left.instances, 'instances', (n) => String(n)),
    ...short(demand.storageGb, left.storageGb, 'storage', (n) => `${n} GB`),
    ...short(demand.loadBalancers, left.loadBalancers, 'load balancers', (n) => String(n)),
  ];
}

/** What the user has left of their quota now. */
async function leftOf(s: Services, userId: number): Promise<Resources> {
  const u = await users.findUserById(s.db, userId);
  if (!u) throw notFound('User');
  return subtract(users.userTotals(u), users.userUsage(u));
}

function quote(demand: Resources, left: Resources, reasons: QuoteReason[], objects: KubeObject[]): Quote {
  const all = [...reasons, ...quotaReasons(demand, left)];
  return { allowed: all.length === 0, reservation: amounts(demand), remaining: amounts(subtract(left, demand)), reasons: all, objects };
}

const instanceObjects = (c: ClusterSpec, i: InstanceSpec): KubeObject[] => {
  const volume = renderVmDataVolume(c, i);
  return [...(volume ? [volume] : []), ...renderInstanceObjects(c, i)];
};

/**
 * What a body the schema refused would still reserve, when its sizes are sound
 * (a form half filled in: the name still missing, say); nothing otherwise.
 */
function roughDemand(body: Record<string, unknown>): Resources {
  const n = (k: string) => (typeof body[k] === 'number' && (body[k] as number) > 0 ? (body[k] as number) : null);
  const [cpu, memory, count] = [n('cpu_per_instance'), n('memory_per_instance'), n('instance_count')];
  if (cpu === null || memory === null || count === null || !Number.isInteger(count)) return ZERO;
  const shape = shapeOf({
    volume_size_gb: n('volume_size'),
    disk_size_gb: body.instance_type === 'vm' ? n('disk_size') : null,
    service_type: body.service_type === 'LoadBalancer' || body.service_type === 'NodePort' ? body.service_type : 'ClusterIP',
    expose: body.expose === 'cluster' ? 'cluster' : 'instances',
    ports: (Array.isArray(body.ports) ? body.ports : []) as PortSpec[],
  });
  return clusterDemand(coresToMilli(cpu), gibToMib(memory), count, shape);
}

/** POST /clusters?dry_run=true. `schemaProblems`: what the schema refused (then those are its reasons, with what its sizes would reserve). */
export async function quoteCreateCluster(s: Services, p: Principal, input: CreateClusterInput, schemaProblems: QuoteReason[]): Promise<Quote> {
  const left = await leftOf(s, p.userId);
  if (schemaProblems.length > 0) return quote(roughDemand((input ?? {}) as Record<string, unknown>), left, schemaProblems, []);
  const reasons: QuoteReason[] = [];
  const limited = beyondClusterLimit(p, 'create clusters');
  if (limited) reasons.push({ code: 'forbidden', message: limited });
  await collect(reasons, () => checkClusterInput(s.config, input));
  await collect(reasons, () => checkExpiry(input, new Date()));
  if (await clusters.activeClusterNamed(s.db, p.userId, input.name)) reasons.push({ code: 'conflict', message: `Cluster with name '${input.name}' already exists` });
  const cpuMilli = coresToMilli(input.cpu_per_instance);
  const memoryMib = gibToMib(input.memory_per_instance);
  const image = await collect(reasons, () => resolveClusterImage(s.db, s.config, { kind: input.instance_type, image: input.image, cpuMilli, memoryMib }));
  const disk = image ? rootDiskOf(input, image) : { gb: null };
  if ('problem' in disk) reasons.push({ code: 'invalid', message: disk.problem, loc: ['body', 'disk_size'] });
  // The row the create would insert; an image that did not resolve still leaves its sizes to count.
  const fields = newClusterOf(p.userId, input, image ?? { image: input.image ?? '', source: input.image ?? '' }, 'gb' in disk ? disk.gb : null);
  const demand = clusterDemand(cpuMilli, memoryMib, input.instance_count, shapeOf(fields));
  let objects: KubeObject[] = [];
  if (image) {
    const namespace = clusterNamespace(s.config.namespacePrefix, 0, input.name);
    const spec = clusterSpecOf({ ...fields, id: 0, namespace, kept_storage_gb: 0, kept_claims: 0, peak_cpu_milli: null, peak_memory_mib: null }, s.config.installation);
    objects = [
      ...renderClusterObjects(spec),
      ...Array.from({ length: input.instance_count }, (_, k) =>
        instanceObjects(spec, { id: 0, clusterId: 0, ordinal: k + 1, name: instanceName(input.name, k + 1), desired: 'running', restartCount: 0 }),
      ).flat(),
    ];
  }
  return quote(demand, left, reasons, objects);
}

/** PATCH /clusters/{id} {instance_count}?dry_run=true: the instances added or removed, and what it reserves or releases. */
export async function quoteScaleCluster(s: Services, p: Principal, id: number, instanceCount: number, keepDisks: boolean): Promise<Quote> {
  const row = await clusters.findCluster(s.db, id, ownerScope(p), { activeOnly: true });
  if (!row) throw notFound(`Cluster with id ${id}`);
  const left = await leftOf(s, row.owner_id);
  const reasons: QuoteReason[] = [];
  if (instanceCount > s.config.maxInstancesPerCluster) reasons.push({ code: 'invalid', message: `must be at most ${s.config.maxInstancesPerCluster}`, loc: ['body', 'instance_count'] });
  const live = (await instances.listInstancesOf(s.db, [id])).filter((i) => i.desired !== 'deleted');
  const delta = instanceCount - live.length;
  const keepProblem = keepDisks ? keepDisksProblem(row, delta) : null;
  if (keepProblem) reasons.push({ code: 'invalid', message: keepProblem, loc: ['body', 'keep_disks'] });
  const perInstance = perInstanceExtras(shapeOf(row));
  let demand = ZERO;
  if (delta > 0) demand = demandOf(row.cpu_milli, row.memory_mib, delta, perInstance);
  if (delta < 0) {
    // A scale-in releases the highest-numbered instances, their snapshots, and (unless kept) their disks.
    const removed = [...live].sort((a, b) => b.ordinal - a.ordinal).slice(0, -delta);
    const kept = keepDisks && !keepProblem ? perInstance.storageGb * removed.length : 0;
    const snapshotGb = await snapshots.liveSnapshotStorageOf(s.db, removed.map((i) => i.id));
    const released = add(demandOf(row.cpu_milli, row.memory_mib, -delta, perInstance), { ...ZERO, storageGb: snapshotGb - kept });
    demand = subtract(ZERO, released);
  }
  const spec = clusterSpecOf({ ...row, instance_count: instanceCount }, s.config.installation);
  const maxOrdinal = Math.max(0, ...live.map((i) => i.ordinal));
  const added = Array.from({ length: Math.max(0, delta) }, (_, k) => maxOrdinal + k + 1);
  const objects = [
    ...renderClusterObjects(spec),
    ...added.flatMap((ordinal) => instanceObjects(spec, { id: 0, clusterId: row.id, ordinal, name: instanceName(row.name, ordinal), desired: 'running', restartCount: 0 })),
  ];
  return quote(demand, left, reasons, objects);
}

/**
 * PATCH /clusters/{id} with spec fields ?dry_run=true: what the live change
 * would reserve (or release), every reason it would be refused (each field
 * that cannot change live, each value a create would refuse, the image, the
 * quota), and the cluster's and its instances' objects as they would be once
 * rolled.
 */
export async function quoteSpecChange(s: Services, p: Principal, id: number, patch: SpecPatch): Promise<Quote> {
  const row = await clusters.findCluster(s.db, id, ownerScope(p), { activeOnly: true });
  if (!row) throw notFound(`Cluster with id ${id}`);
  const left = await leftOf(s, row.owner_id);
  const reasons: QuoteReason[] = fixedFieldProblems(patch).map((f) => ({ code: 'invalid', message: f.msg, loc: f.loc }));
  await collect(reasons, () => checkPatchedSpec(s.config, row, patch));
  const next = await collect(reasons, () => patchedSpec(s.db, s.config, row, patch));
  if (!next) return quote(ZERO, left, reasons, []);
  const live = (await instances.listInstancesOf(s.db, [id])).filter((i) => i.desired !== 'deleted');
  const spec = clusterSpecOf({ ...row, ...next }, s.config.installation);
  const objects = [...renderClusterObjects(spec), ...live.flatMap((i) => instanceObjects(spec, instanceSpecOf(i)))];
  return quote(specDifference(row, rollableOf(row), next, live.length), left, reasons, objects);
}

/** POST /instances/{id}/operate?dry_run=true: whether the operation is allowed now, and the instance's objects as they would be. */
export async function quoteOperation(s: Services, p: Principal, id: number, operation: Operation): Promise<Quote> {
  const row = await instances.findInstance(s.db, id, ownerScope(p));
  if (!row || row.cluster_state === 'deleting') throw notFound(`Instance with id ${id}`);
  const left = await leftOf(s, row.owner_id);
  const reasons: QuoteReason[] = [];
  const restoring = await snapshots.activeRestore(s.db, id);
  if (restoring) reasons.push({ code: 'busy', message: restoreBlocksOperation(row.name, restoring) });
  const plan = planTransition(operation, row.desired, compatibleStatus(row.status, row.desired));
  if (!plan.ok) reasons.push({ code: 'conflict', message: plan.reason });
  const cluster = await clusters.findCluster(s.db, row.cluster_id, null);
  if (!cluster) throw notFound(`Instance with id ${id}`);
  const spec = clusterSpecOf(cluster, s.config.installation, row);
  const next = instanceSpecOf({ ...row, desired: plan.ok ? plan.desired : row.desired, restart_count: row.restart_count + (operation === 'restart' ? 1 : 0) });
  return quote(ZERO, left, reasons, instanceObjects(spec, next));
}
