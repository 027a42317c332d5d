// `import-python`: brings an installation of the earlier Python service across.
//
// 1. Reads the Python database (read only, one snapshot) and what Kubernetes
//    holds of its clusters (GETs only), and plans: which users, tokens,
//    clusters and instances are new, already imported, or cannot be taken.
// 2. Unless --dry-run: one transaction on KubeKloud's database records users
//    (tokens as hashes only), clusters and instances, each cluster keeping the
//    namespace and each instance the workload name the Python service gave it.
//    The rows are inserted held by the import, so no running replica
//    reconciles them before their turn.
// 3. Takes the objects over with the reconciler's own reconcile of each row:
//    namespaces and fences, then every VM (adopted in place: same object, same
//    UID, a forced server-side apply puts it under KubeKloud's field manager),
//    then the containers one at a time: the StatefulSet's pod Ready, then the
//    bare pod deleted (UID precondition). What cannot be taken over is
//    reported and left alone.
// Every step finds its work done on a second run, which changes nothing.
import { performance } from 'node:perf_hooks';
import { shouldRun } from '../domain/lifecycle.ts';
import {
  assignOrdinals,
  clusterDemand,
  clusterProblem,
  desiredOf,
  isWeakToken,
  PYTHON_DEFAULT_IMAGE,
  quotaOf,
  workloadImage,
  type LiveWorkload,
  type PythonCluster,
  type PythonInstallation,
  type PythonInstance,
} from '../domain/pythonImport.ts';
import { add, ZERO, type Resources } from '../domain/quota.ts';
import { LABEL_INSTANCE, type KubeObject } from '../domain/render.ts';
import type { Kube } from '../kube/client.ts';
import { jsonPatch } from '../kube/rest.ts';
import { Claim } from '../reconciler/claims.ts';
import { reconcileCluster, type ReconcileContext } from '../reconciler/reconcileCluster.ts';
import { reconcileInstance } from '../reconciler/reconcileInstance.ts';
import { hashToken } from '../service/tokens.ts';
import { insertCluster } from '../store/clusters.ts';
import type { Db } from '../store/db.ts';
import { migrate } from '../store/migrate.ts';
import * as imports from '../store/pythonImports.ts';
import { readPythonInstallation } from '../store/pythonSource.ts';
import { insertToken } from '../store/tokens.ts';
import type { ClusterRow } from '../store/clusters.ts';
import type { InstanceRow } from '../store/instances.ts';

export const IMPORT_WORKER = 'import-python';
/** How long imported rows stay held for the import before a replica may take them. */
const HOLD_SECONDS = 3600;
const CLAIM_SECONDS = 120;

export type ImportOptions = {
  /** The Python service's database URL (PostgreSQL). */
  from: string;
  dryRun: boolean;
  installation: string;
  /** How long a replacement pod may take to become Ready before its bare pod is kept and reported. */
  readyTimeoutMs?: number;
  instanceQuota?: number;
  log?: (line: string) => void;
};

export type ImportAction = {
  /** What the line is about: user, token, cluster, namespace, vm, container. */
  subject: string;
  /** The Python service's name for it. */
  name: string;
  action: 'create' | 'adopt' | 'replace' | 'unchanged' | 'skip';
  detail: string;
  /** For a replacement: from the StatefulSet's apply to the bare pod's deletion. */
  ms?: number;
};

export type ImportReport = {
  dryRun: boolean;
  /** Whether this run wrote anything (always false for a dry run). */
  changed: boolean;
  actions: ImportAction[];
  /** Usernames whose imported token is shorter than today's minimum. */
  weakTokens: string[];
  /** Everything not taken over, and why; nothing of it was deleted. */
  notTakenOver: string[];
  durationMs: number;
};

type LiveInstance = { py: PythonInstance; resource: string; ordinal: number; live: LiveWorkload; obj: Record<string, any> | null };
type ClusterPlan = { py: PythonCluster; instances: LiveInstance[]; image: string; namespaceExists: boolean; targetId: number | null };

const vmRef = (namespace: string, name: string) => ({ apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachine', metadata: { name, namespace } });
const podRef = (namespace: string, name: string) => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace } });
const nsRef = (name: string) => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } });

/** A pod the Python service made: no owner, and no KubeKloud instance label. */
function isBarePod(obj: Record<string, any> | null): boolean {
  return Boolean(obj) && !(obj!.metadata?.ownerReferences?.length > 0) && !obj!.metadata?.labels?.[LABEL_INSTANCE];
}

function podReady(obj: Record<string, any> | null): boolean {
  return Boolean(obj?.status?.conditions?.some((c: { type: string; status: string }) => c.type === 'Ready' && c.status === 'True'));
}

export async function importPython(db: Db, kube: Kube, opts: ImportOptions): Promise<ImportReport> {
  const started = performance.now();
  const log = opts.log ?? (() => {});
  const readyTimeoutMs = opts.readyTimeoutMs ?? 300_000;
  const report: ImportReport = { dryRun: opts.dryRun, changed: false, actions: [], weakTokens: [], notTakenOver: [], durationMs: 0 };
  const act = (a: ImportAction) => {
    report.actions.push(a);
    log(`${opts.dryRun && a.action !== 'unchanged' && a.action !== 'skip' ? 'would ' : ''}${a.action} ${a.subject} ${a.name}: ${a.detail}${a.ms !== undefined ? ` (${a.ms} ms)` : ''}`);
  };
  const refuse = (what: string) => {
    report.notTakenOver.push(what);
    log(`not taken over: ${what}`);
  };

  const source = await readPythonInstallation(opts.from);
  const done = await imports.importedIds(db);

  // --- users and their tokens
  const taken = await imports.usernamesTaken(db, source.users.filter((u) => !done.user.has(u.id)).map((u) => u.username));
  const hashes = await imports.tokenHashesTaken(db, source.users.filter((u) => !done.user.has(u.id)).map((u) => hashToken(u.token)));
  const importableUsers = new Set<number>();
  for (const u of source.users) {
    if (done.user.has(u.id)) {
      importableUsers.add(u.id);
      continue;
    }
    if (taken.has(u.username)) refuse(`user ${u.username}: a KubeKloud user of that name exists already (its clusters are not imported either)`);
    else if (hashes.has(hashToken(u.token))) refuse(`user ${u.username}: its token is already a KubeKloud token`);
    else importableUsers.add(u.id);
  }

  // --- clusters, their instances and what Kubernetes holds of them
  const plans: ClusterPlan[] = [];
  const nsTaken = await imports.namespacesTaken(db, source.clusters.filter((c) => !done.cluster.has(c.id)).map((c) => c.namespace));
  const byCluster = new Map<number, PythonInstance[]>();
  for (const i of source.instances) byCluster.set(i.clusterId, [...(byCluster.get(i.clusterId) ?? []), i]);
  for (const c of source.clusters) {
    const owner = source.users.find((u) => u.id === c.ownerId)?.username ?? `#${c.ownerId}`;
    if (!done.cluster.has(c.id)) {
      if (!importableUsers.has(c.ownerId)) {
        refuse(`cluster ${c.name} (namespace ${c.namespace}): its owner ${owner} is not imported`);
        continue;
      }
      const problem = clusterProblem(c);
      if (problem) {
        refuse(`cluster ${c.name} (namespace ${c.namespace}): ${problem}; left as it is`);
        continue;
      }
      if (nsTaken.has(c.namespace)) {
        refuse(`cluster ${c.name}: namespace ${c.namespace} belongs to a KubeKloud cluster already`);
        continue;
      }
    }
    const pyInstances = byCluster.get(c.id) ?? [];
    const ordinals = assignOrdinals(c.name, pyInstances);
    const instances: LiveInstance[] = [];
    for (const i of pyInstances) {
      const resource = i.resourceName ?? i.name;
      const obj = (await kube.get(c.kind === 'vm' ? vmRef(c.namespace, resource) : podRef(c.namespace, resource))) as Record<string, any> | null;
      let live: LiveWorkload = { present: false };
      if (obj && c.kind === 'vm') {
        const running = obj.spec?.running ?? (obj.spec?.runStrategy ? obj.spec.runStrategy !== 'Halted' : false);
        live = { present: true, kind: 'vm', running: Boolean(running) };
      } else if (obj) live = { present: true, kind: 'container' };
      instances.push({ py: i, resource, ordinal: ordinals.get(i.id)!, live, obj });
    }
    const withImage = instances.find((i) => i.obj && workloadImage(c.kind, i.obj));
    const image = withImage ? workloadImage(c.kind, withImage.obj!)! : PYTHON_DEFAULT_IMAGE[c.kind];
    plans.push({ py: c, instances, image, namespaceExists: await kube.exists(nsRef(c.namespace)), targetId: done.cluster.get(c.id) ?? null });
  }

  // --- the database: users, tokens, clusters, instances (one transaction)
  const newPlans = plans.filter((p) => p.targetId === null);
  const newUsers = source.users.filter((u) => importableUsers.has(u.id) && !done.user.has(u.id));
  const usageOf = (userId: number) =>
    newPlans.filter((p) => p.py.ownerId === userId).reduce<Resources>((sum, p) => add(sum, clusterDemand(p.py, p.instances.length)), ZERO);
  for (const u of source.users.filter((x) => importableUsers.has(x.id))) {
    if (isWeakToken(u.token)) report.weakTokens.push(u.username);
  }
  for (const u of newUsers) {
    const usage = usageOf(u.id);
    const quota = quotaOf(u, usage.instances, opts.instanceQuota);
    const pyUsed = `${u.usedCpu ?? 0} CPU, ${u.usedMemory ?? 0} GB recorded by the Python service`;
    act({ subject: 'user', name: u.username, action: 'create', detail: `quota ${quota.cpuMilli}m CPU, ${quota.memoryMib} MiB, ${quota.instances} instances; usage ${usage.cpuMilli}m, ${usage.memoryMib} MiB, ${usage.instances} instances (${pyUsed})` });
    act({ subject: 'token', name: u.username, action: 'create', detail: `stored as its SHA-256 hash${isWeakToken(u.token) ? `; WEAK: ${u.token.length} characters, shorter than today's minimum` : ''}` });
  }
  for (const p of newPlans) act({ subject: 'cluster', name: p.py.name, action: 'create', detail: `${p.py.kind}, ${p.instances.length} instances, image ${p.image}, namespace ${p.py.namespace} kept` });
  for (const u of source.users.filter((x) => done.user.has(x.id))) act({ subject: 'user', name: u.username, action: 'unchanged', detail: `imported before as user ${done.user.get(u.id)}` });

  if (!opts.dryRun && (newUsers.length > 0 || newPlans.length > 0)) {
    await migrate(db);
    await db.transaction(async (tx) => {
      const userIds = new Map(done.user);
      for (const u of newUsers) {
        const usage = usageOf(u.id);
        const id = await imports.insertImportedUser(tx, { username: u.username, quota: quotaOf(u, usage.instances, opts.instanceQuota), usage });
        await insertToken(tx, { userId: id, name: 'python-import', hash: hashToken(u.token), expiresAt: null });
        await imports.recordImport(tx, 'user', u.id, id);
        userIds.set(u.id, id);
      }
      for (const p of newPlans) {
        const ownerId = userIds.get(p.py.ownerId)!;
        if (done.user.has(p.py.ownerId)) await imports.addUsage(tx, ownerId, clusterDemand(p.py, p.instances.length));
        const row = await insertCluster(
          tx,
          {
            owner_id: ownerId,
            name: p.py.name,
            instance_type: p.py.kind,
            cpu_milli: clusterDemand(p.py, 1).cpuMilli,
            memory_mib: clusterDemand(p.py, 1).memoryMib,
            instance_count: p.instances.length,
            image: p.image,
            ports: [],
            service_type: 'ClusterIP',
            volume_size_gb: null,
            env: {},
            ssh_keys: [],
            user_data: null,
          },
          () => p.py.namespace,
        );
        await imports.recordImport(tx, 'cluster', p.py.id, row.id);
        const ids: number[] = [];
        for (const i of p.instances) {
          const inst = await imports.insertImportedInstance(tx, { clusterId: row.id, ordinal: i.ordinal, name: i.resource, desired: desiredOf(p.py.kind, i.py.status, i.live) });
          await imports.recordImport(tx, 'instance', i.py.id, inst.id);
          done.instance.set(i.py.id, inst.id);
          ids.push(inst.id);
        }
        await imports.holdForImport(tx, 'clusters', [row.id], IMPORT_WORKER, HOLD_SECONDS);
        await imports.holdForImport(tx, 'instances', ids, IMPORT_WORKER, HOLD_SECONDS);
        p.targetId = row.id;
      }
    });
    report.changed = true;
  }

  // --- Kubernetes: namespaces and fences, VMs, then containers one at a time
  const ctx: ReconcileContext = { db, kube, installation: opts.installation };
  const rows = opts.dryRun ? [] : await imports.importedClusters(db, plans.flatMap((p) => (p.targetId ? [p.targetId] : [])));
  const instanceRows = opts.dryRun ? [] : await imports.importedInstances(db, [...done.instance.values()]);
  for (const p of plans) {
    const existed = done.cluster.has(p.py.id);
    const row = rows.find((r) => r.id === p.targetId);
    if (opts.dryRun || !row) {
      act({ subject: 'namespace', name: p.py.namespace, action: existed ? 'unchanged' : p.namespaceExists ? 'adopt' : 'create', detail: existed ? 'taken over before' : 'labels, quota, limits and network policies added' });
    } else {
      const changed = await takeOverCluster(ctx, row);
      if (changed) report.changed = true;
      act({ subject: 'namespace', name: p.py.namespace, action: changed ? (p.namespaceExists ? 'adopt' : 'create') : 'unchanged', detail: changed ? 'labels, quota, limits and network policies applied' : `cluster ${row.id}, taken over before` });
    }
  }
  const ordered = [...plans.filter((p) => p.py.kind === 'vm'), ...plans.filter((p) => p.py.kind === 'container')];
  for (const p of ordered) {
    const row = rows.find((r) => r.id === p.targetId);
    for (const i of p.instances) {
      const targetId = done.instance.get(i.py.id);
      const irow = instanceRows.find((r) => r.id === targetId) ?? null;
      const subject = p.py.kind === 'vm' ? 'vm' : 'container';
      const name = `${p.py.namespace}/${i.resource}`;
      if (opts.dryRun || !row || !irow) {
        dryRunLine(act, p, i, Boolean(targetId));
        continue;
      }
      if (p.py.kind === 'vm') {
        const a = await adoptVm(ctx, row, irow);
        if (a.action !== 'unchanged') report.changed = true;
        if (a.problem) refuse(`${name}: ${a.problem}`);
        act({ subject, name, ...a });
      } else {
        const a = await replaceContainer(ctx, row, irow, i, readyTimeoutMs);
        if (a.action !== 'unchanged') report.changed = true;
        if (a.problem) refuse(`${name}: ${a.problem}`);
        act({ subject, name, ...a });
      }
    }
  }
  await reportStrays(kube, plans, refuse);
  report.durationMs = Math.round(performance.now() - started);
  return report;
}

function dryRunLine(act: (a: ImportAction) => void, p: ClusterPlan, i: LiveInstance, imported: boolean) {
  const name = `${p.py.namespace}/${i.resource}`;
  const desired = desiredOf(p.py.kind, i.py.status, i.live);
  if (p.py.kind === 'vm') {
    if (!i.live.present) act({ subject: 'vm', name, action: 'create', detail: `missing; created ${desired}` });
    else if (imported && i.obj?.metadata?.labels?.[LABEL_INSTANCE]) act({ subject: 'vm', name, action: 'unchanged', detail: 'adopted before' });
    else act({ subject: 'vm', name, action: 'adopt', detail: `in place (UID ${i.obj!.metadata.uid}), ${desired}, not restarted` });
  } else if (i.live.present && isBarePod(i.obj)) {
    act({ subject: 'container', name, action: 'replace', detail: `bare pod replaced by StatefulSet ${i.resource} (pod ${i.resource}-0 Ready first)` });
  } else if (i.live.present) {
    act({ subject: 'container', name, action: 'skip', detail: 'pod is not a bare pod of the Python service; left in place' });
  } else {
    act({ subject: 'container', name, action: imported ? 'unchanged' : 'create', detail: imported ? 'replaced before' : `no pod; StatefulSet ${i.resource} created ${desired}` });
  }
}

/** Reconciles a cluster row the import holds (or that is due). False: nothing was due. */
async function takeOverCluster(ctx: ReconcileContext, row: ClusterRow): Promise<boolean> {
  const claimed = await imports.claimCluster(ctx.db, row.id, IMPORT_WORKER, CLAIM_SECONDS);
  if (!claimed) return false;
  await reconcileCluster(ctx, claimed, new Claim('clusters', row.id, IMPORT_WORKER, claimed.claim_epoch, performance.now(), CLAIM_SECONDS * 1000));
  return true;
}

async function reconcileHeldInstance(ctx: ReconcileContext, row: InstanceRow): Promise<boolean> {
  const claimed = await imports.claimInstance(ctx.db, row.id, IMPORT_WORKER, CLAIM_SECONDS);
  if (!claimed) return false;
  await reconcileInstance(ctx, claimed, new Claim('instances', row.id, IMPORT_WORKER, claimed.claim_epoch, performance.now(), CLAIM_SECONDS * 1000));
  return true;
}

type Outcome = Omit<ImportAction, 'subject' | 'name'> & { problem?: string };

/**
 * A VM is taken as it is. The Python service set `spec.running`, which KubeVirt
 * refuses beside `runStrategy`: one JSON patch (conditional on the UID) swaps it
 * for the equivalent run strategy, then the reconcile's forced apply takes the
 * rest. Neither restarts a running VM.
 */
async function adoptVm(ctx: ReconcileContext, cluster: ClusterRow, row: InstanceRow): Promise<Outcome> {
  const ref = vmRef(cluster.namespace, row.name);
  const before = (await ctx.kube.get(ref)) as Record<string, any> | null;
  if (before && before.spec?.running !== undefined) {
    await jsonPatch(ctx.kube.config, ref, [
      { op: 'test', path: '/metadata/uid', value: before.metadata.uid },
      { op: 'remove', path: '/spec/running' },
      { op: 'add', path: '/spec/runStrategy', value: shouldRun(row.desired) ? 'Always' : 'Halted' },
    ]);
  }
  const reconciled = await reconcileHeldInstance(ctx, row);
  if (!reconciled && !(before && before.spec?.running !== undefined)) return { action: 'unchanged', detail: 'adopted before' };
  const after = (await ctx.kube.get(ref)) as Record<string, any> | null;
  if (!before) return { action: 'create', detail: `missing; created ${row.desired} (UID ${after?.metadata?.uid})` };
  if (after?.metadata?.uid !== before.metadata.uid) {
    return { action: 'adopt', detail: 'the VM was recreated', problem: `VirtualMachine UID changed from ${before.metadata.uid} to ${after?.metadata?.uid}` };
  }
  return { action: 'adopt', detail: `in place, UID ${before.metadata.uid} kept, ${row.desired}` };
}

/**
 * A bare pod cannot be adopted by a StatefulSet (it has a name of its own and
 * no owner). The StatefulSet is applied beside it, its pod must be Ready, and
 * only then is the bare pod deleted, with its UID as precondition. A
 * replacement that does not become Ready leaves the bare pod running.
 */
async function replaceContainer(ctx: ReconcileContext, cluster: ClusterRow, row: InstanceRow, i: LiveInstance, readyTimeoutMs: number): Promise<Outcome> {
  const t0 = performance.now();
  const old = (await ctx.kube.get(podRef(cluster.namespace, i.resource))) as Record<string, any> | null;
  const bare = isBarePod(old);
  const reconciled = await reconcileHeldInstance(ctx, row);
  if (!bare) {
    if (old) return { action: 'skip', detail: 'pod is not a bare pod of the Python service; left in place', problem: 'a pod of that name that the import did not make is left in place' };
    return reconciled ? { action: 'create', detail: `no pod was running; StatefulSet ${row.name} applied (${row.desired})` } : { action: 'unchanged', detail: 'replaced before' };
  }
  if (!shouldRun(row.desired)) return { action: 'skip', detail: 'instance is not to run; its bare pod is left in place', problem: 'bare pod left beside a stopped instance' };
  const replacement = `${row.name}-0`;
  const deadline = performance.now() + readyTimeoutMs;
  for (;;) {
    const pod = (await ctx.kube.get(podRef(cluster.namespace, replacement))) as Record<string, any> | null;
    if (pod && pod.metadata?.labels?.[LABEL_INSTANCE] === String(row.id) && podReady(pod)) break;
    if (performance.now() > deadline) {
      return { action: 'skip', detail: `replacement ${replacement} not Ready within ${readyTimeoutMs} ms; bare pod kept`, problem: `replacement ${replacement} not Ready; the bare pod keeps running (run the import again)` };
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  await ctx.kube.remove(podRef(cluster.namespace, i.resource), { uid: old!.metadata.uid });
  // Until it is gone the namespace quota still counts it, and its room is the next replacement's.
  for (;;) {
    const still = (await ctx.kube.get(podRef(cluster.namespace, i.resource))) as Record<string, any> | null;
    if (still?.metadata?.uid !== old!.metadata.uid) break;
    if (performance.now() > deadline + 60_000) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  return { action: 'replace', detail: `bare pod (UID ${old!.metadata.uid}) deleted after ${replacement} was Ready`, ms: Math.round(performance.now() - t0) };
}

/** Objects the Python service labelled that no imported instance names: reported, left alone. */
async function reportStrays(kube: Kube, plans: ClusterPlan[], refuse: (what: string) => void) {
  const known = new Set(plans.flatMap((p) => p.instances.map((i) => `${p.py.namespace}/${i.resource}`)));
  for (const [apiVersion, kind] of [
    ['v1', 'Pod'],
    ['kubevirt.io/v1', 'VirtualMachine'],
  ] as const) {
    const { items } = await kube.list(apiVersion, kind, 'managed-by=cmp');
    for (const o of items as unknown as KubeObject[]) {
      const key = `${o.metadata.namespace}/${o.metadata.name}`;
      if (!known.has(key)) refuse(`${kind} ${key}: labelled by the Python service, but no imported instance names it; left in place`);
    }
  }
}
