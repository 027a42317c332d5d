// A bounded load generator for fault scenarios: a steady mix of creates,
// operations, deletes and reads against servers on 127.0.0.1, recording the
// status and latency of every request. Writes carry an Idempotency-Key and are
// retried (on the next server) when the connection fails or the key is still in
// flight, the way a careful client would; reads are not retried.
import { randomUUID } from 'node:crypto';
import { AppsV1Api, CoreV1Api, CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import type { ApiClient } from '../../support/api.ts';
import { renderedFormProblems } from '../../support/rendered.ts';

export type OpKind = 'create' | 'operate' | 'delete' | 'read';

export type Sample = {
  kind: OpKind;
  /** Final HTTP status; 0 when no server answered. */
  status: number;
  ms: number;
  at: number;
  attempts: number;
  replayed: boolean;
  /** Status of every attempt, in order. */
  trail: number[];
  /** When each attempt's answer came (or it failed), epoch ms, in order. */
  ends?: number[];
  /**
   * A write whose answer was lost (409 "applied, but its answer was lost"),
   * taken as applied after reading the resource, as the API tells a client to.
   */
  appliedUnanswered?: boolean;
  /** For a final status >= 400: the error code and message the server gave. */
  error?: string;
};

export type LoadCluster = { id: number; name: string; namespace: string; deleted: boolean; instances: { id: number; desired: 'running' | 'stopped' | 'suspended' }[] };

/** One tenant as the load sees it: a client per server and what it has created. */
export class Tenant {
  readonly clusters: LoadCluster[] = [];
  private seq = 0;
  constructor(
    readonly name: string,
    /** The same token on each server; requests rotate over them. */
    readonly clients: ApiClient[],
  ) {}
  nextName() {
    return `l${++this.seq}`;
  }
}

const ALLOWED_HOSTS = new Set(['127.0.0.1', 'localhost']);

export type LoadOptions = {
  tenants: Tenant[];
  rps: number;
  durationMs: number;
  /** Requests in flight at most; a tick that finds the client full is counted as skipped. */
  maxInFlight?: number;
  /** Give up retrying a write after this long. */
  retryForMs?: number;
  mix?: Partial<Record<OpKind, number>>;
};

export type LoadResult = { samples: Sample[]; skipped: number; startedAt: number; endedAt: number };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const pick = <T>(xs: T[]) => xs[Math.floor(Math.random() * xs.length)]!;

async function send(client: ApiClient, method: string, path: string, body: unknown, headers: Record<string, string>) {
  try {
    return await client.request(method, path, body, headers);
  } catch {
    return { status: 0, body: null, headers: new Headers() };
  }
}

/** The API's answer to a retry of a request that was applied but whose answer was lost (its server or database went away). */
export const isAppliedUnanswered = (res: { status: number; body: any }) =>
  res.status === 409 && /was applied, but its answer was lost|was already applied/.test(String(res.body?.detail ?? ''));

/** One logical request: retried with the same Idempotency-Key until it gets a real answer. */
export async function write(t: Tenant, method: string, path: string, body: unknown, retryForMs: number) {
  const key = randomUUID();
  const trail: number[] = [];
  const ends: number[] = [];
  const began = Date.now();
  let i = Math.floor(Math.random() * t.clients.length);
  for (;;) {
    const res = await send(t.clients[i % t.clients.length]!, method, path, body, { 'idempotency-key': key });
    trail.push(res.status);
    ends.push(Date.now());
    const inProgress = res.status === 409 && /still in progress/.test(String(res.body?.detail ?? ''));
    const retry = res.status === 0 || res.status === 502 || res.status === 503 || inProgress;
    if (!retry || Date.now() - began > retryForMs) return { res, trail, ends };
    i++;
    await sleep(Math.min(2000, 100 * 2 ** Math.min(trail.length, 5)));
  }
}

/** Start the load; it runs until durationMs passes or stop() is called. */
export function startLoad(o: LoadOptions): { stop(): Promise<LoadResult>; done: Promise<LoadResult> } {
  const ctl = { stopped: false };
  const done = runLoad(o, ctl);
  return {
    done,
    stop() {
      ctl.stopped = true;
      return done;
    },
  };
}

export async function runLoad(o: LoadOptions, ctl: { stopped: boolean } = { stopped: false }): Promise<LoadResult> {
  for (const t of o.tenants) for (const c of t.clients) if (!ALLOWED_HOSTS.has(new URL(c.baseUrl).hostname)) throw new Error(`load only targets loopback, not ${c.baseUrl}`);
  const mix = { create: 0.12, operate: 0.2, delete: 0.04, read: 0.64, ...o.mix };
  const total = mix.create + mix.operate + mix.delete + mix.read;
  const maxInFlight = o.maxInFlight ?? 32;
  const retryForMs = o.retryForMs ?? 120_000;
  const samples: Sample[] = [];
  const pending = new Set<Promise<void>>();
  let skipped = 0;

  const one = async () => {
    const t = pick(o.tenants);
    let r = Math.random() * total;
    let kind: OpKind = 'read';
    for (const k of ['create', 'operate', 'delete', 'read'] as OpKind[]) {
      if (r < mix[k]) {
        kind = k;
        break;
      }
      r -= mix[k];
    }
    const live = t.clusters.filter((c) => !c.deleted);
    if ((kind === 'operate' || kind === 'delete') && live.length === 0) kind = 'create';
    const began = Date.now();
    const record = (status: number, trail: number[], ends: number[], replayed = false, body?: any, appliedUnanswered = false) =>
      samples.push({
        kind,
        status,
        ms: Date.now() - began,
        at: began,
        attempts: trail.length,
        replayed,
        trail,
        ends,
        ...(appliedUnanswered ? { appliedUnanswered } : {}),
        ...(status >= 400 ? { error: `${body?.error ?? ''}: ${JSON.stringify(body?.detail ?? body ?? null).slice(0, 200)}` } : {}),
      });

    if (kind === 'read') {
      const c = live.length > 0 && Math.random() < 0.5 ? pick(live) : null;
      // A read that reached no server is tried once more on the next one.
      const path = c ? `/api/v1/clusters/${c.id}` : '/api/v1/clusters/?limit=100';
      const first = Math.floor(Math.random() * t.clients.length);
      let res = await send(t.clients[first]!, 'GET', path, undefined, {});
      const trail = [res.status];
      const ends = [Date.now()];
      if (res.status === 0) {
        res = await send(t.clients[(first + 1) % t.clients.length]!, 'GET', path, undefined, {});
        trail.push(res.status);
        ends.push(Date.now());
      }
      record(res.status, trail, ends, false, res.body);
    } else if (kind === 'create') {
      const vm = Math.random() < 0.25;
      const body = {
        name: t.nextName(),
        instance_type: vm ? 'vm' : 'container',
        cpu_per_instance: 0.1,
        memory_per_instance: 0.125,
        instance_count: Math.random() < 0.7 ? 1 : 2,
      };
      const { res, trail, ends } = await write(t, 'POST', '/api/v1/clusters/', body, retryForMs);
      // Applied, answer lost: the cluster is found by its name, which is the tenant's own and unique.
      const found = isAppliedUnanswered(res) ? await findByName(t, body.name) : null;
      record(res.status, trail, ends, res.headers.get('idempotent-replayed') === 'true', res.body, found !== null);
      const created = res.status === 201 ? res.body : found;
      if (created) {
        t.clusters.push({
          id: created.id,
          name: created.name,
          namespace: created.namespace,
          deleted: false,
          instances: (created.instances ?? []).map((i: { id: number }) => ({ id: i.id, desired: 'running' as const })),
        });
      }
    } else if (kind === 'operate') {
      const c = pick(live);
      const inst = c.instances.length > 0 ? pick(c.instances) : null;
      if (!inst) return;
      const operation = inst.desired === 'running' ? 'stop' : 'start';
      const { res, trail, ends } = await write(t, 'POST', `/api/v1/instances/${inst.id}/operate`, { operation }, retryForMs);
      record(res.status, trail, ends, res.headers.get('idempotent-replayed') === 'true', res.body, isAppliedUnanswered(res));
      if (res.status === 200 || isAppliedUnanswered(res)) inst.desired = operation === 'stop' ? 'stopped' : 'running';
    } else {
      const c = pick(live);
      c.deleted = true; // no more operations on it, whatever the answer
      const { res, trail, ends } = await write(t, 'DELETE', `/api/v1/clusters/${c.id}`, undefined, retryForMs);
      record(res.status, trail, ends, res.headers.get('idempotent-replayed') === 'true', res.body, isAppliedUnanswered(res));
      if (res.status >= 300 && res.status !== 404 && !isAppliedUnanswered(res)) c.deleted = false;
    }
  };

  const startedAt = Date.now();
  const interval = 1000 / o.rps;
  for (let n = 0; ; n++) {
    const due = startedAt + n * interval;
    if (due >= startedAt + o.durationMs || ctl.stopped) break;
    const wait = due - Date.now();
    if (wait > 0) await sleep(wait);
    if (ctl.stopped) break;
    if (pending.size >= maxInFlight) {
      skipped++;
      continue;
    }
    const p = one().catch((e) => {
      samples.push({ kind: 'read', status: -1, ms: 0, at: Date.now(), attempts: 0, replayed: false, trail: [-1], ends: [Date.now()] });
      console.error('load generator error', e);
    });
    pending.add(p);
    void p.finally(() => pending.delete(p));
  }
  await Promise.all(pending);
  return { samples, skipped, startedAt, endedAt: Date.now() };
}

/** A tenant's cluster by name, with its instances; null when there is none (or no server answered). */
async function findByName(t: Tenant, name: string): Promise<any | null> {
  for (let i = 0; i < 10; i++) {
    const list = await send(t.clients[i % t.clients.length]!, 'GET', '/api/v1/clusters/?limit=500', undefined, {});
    if (list.status === 200) {
      const hit = ((list.body.items ?? list.body) as { id: number; name: string }[]).find((c) => c.name === name);
      if (!hit) return null;
      const one = await send(t.clients[i % t.clients.length]!, 'GET', `/api/v1/clusters/${hit.id}`, undefined, {});
      if (one.status === 200) return one.body;
    }
    await sleep(500);
  }
  return null;
}

export type Summary = {
  requests: number;
  byKind: Record<string, number>;
  fivexx: number;
  noAnswer: number;
  /** Reads answered without a 5xx, as a fraction. */
  readsOk: number;
  /** Writes that ended in 5xx or no answer, after retries. */
  writesFailed: number;
  retried: number;
  /** Requests whose first attempt got a 5xx or no answer (before any retry). */
  firstAttemptFailed: number;
  replayed: number;
  statuses: Record<string, number>;
  /** Distinct error answers (>= 400) with their counts. */
  errors: Record<string, number>;
  p50: number;
  p99: number;
  max: number;
  skipped: number;
};

export function summarise(r: LoadResult, window?: { from: number; to: number }): Summary {
  const s = window ? r.samples.filter((x) => x.at >= window.from && x.at <= window.to) : r.samples;
  const failed = (x: Sample) => x.status <= 0 || x.status >= 500;
  const reads = s.filter((x) => x.kind === 'read');
  const writes = s.filter((x) => x.kind !== 'read');
  const ms = s.map((x) => x.ms).sort((a, b) => a - b);
  const q = (f: number) => ms[Math.min(ms.length - 1, Math.floor(f * ms.length))] ?? 0;
  const statuses: Record<string, number> = {};
  const byKind: Record<string, number> = {};
  for (const x of s) {
    statuses[x.status] = (statuses[x.status] ?? 0) + 1;
    byKind[x.kind] = (byKind[x.kind] ?? 0) + 1;
  }
  return {
    requests: s.length,
    byKind,
    fivexx: s.filter((x) => x.status >= 500).length,
    noAnswer: s.filter((x) => x.status <= 0).length,
    readsOk: reads.length === 0 ? 1 : reads.filter((x) => !failed(x)).length / reads.length,
    writesFailed: writes.filter(failed).length,
    retried: s.filter((x) => x.attempts > 1).length,
    firstAttemptFailed: s.filter((x) => (x.trail[0] ?? 0) <= 0 || (x.trail[0] ?? 0) >= 500).length,
    replayed: s.filter((x) => x.replayed).length,
    statuses,
    errors: s.reduce<Record<string, number>>((acc, x) => {
      if (x.error) acc[`${x.kind} ${x.status} ${x.error}`] = (acc[`${x.kind} ${x.status} ${x.error}`] ?? 0) + 1;
      return acc;
    }, {}),
    p50: q(0.5),
    p99: q(0.99),
    max: ms[ms.length - 1] ?? 0,
    skipped: r.skipped,
  };
}

export type Convergence = {
  clusters: number;
  instances: number;
  /** Everything that is wrong; empty when converged. */
  problems: string[];
};

/**
 * Compare what the API says with what exists in Kubernetes: every live
 * cluster's instances have reached their desired state and the state the
 * client last asked for; every object of each live cluster's namespace is in
 * its rendered form (test/support/rendered.ts: one StatefulSet or VirtualMachine
 * per live instance, in the state it wants, its Service, quota, limits and
 * policies, nothing else labelled as ours); every cluster the API lists was
 * created by the client (nothing applied twice) and none it created is missing;
 * deleted clusters' namespaces are gone or terminating; each tenant's quota
 * usage is exactly the sum of its live instances. A mismatch is a problem
 * whatever its cause: nothing is excused as the plane's lag.
 */
export async function convergence(kc: KubeConfig, tenants: Tenant[], installation: string): Promise<Convergence> {
  const core = kc.makeApiClient(CoreV1Api);
  const custom = kc.makeApiClient(CustomObjectsApi);
  const problems: string[] = [];
  let clusters = 0;
  let instances = 0;
  for (const t of tenants) {
    const client = t.clients[0]!;
    const list = await client.get('/api/v1/clusters/?limit=500');
    if (list.status !== 200) {
      problems.push(`${t.name}: list ${list.status}`);
      continue;
    }
    const items: { id: number }[] = list.body.items ?? list.body;
    const used = { cpu: 0, memory: 0, instances: 0 };
    const listed = new Set(items.map((c) => c.id));
    for (const mine of t.clusters) {
      if (!mine.deleted && !listed.has(mine.id)) problems.push(`${t.name}: cluster ${mine.id} is missing from the list`);
    }
    for (const { id } of items) {
      const got = await client.get(`/api/v1/clusters/${id}`);
      if (got.status !== 200) {
        problems.push(`${t.name}: cluster ${id}: ${got.status}`);
        continue;
      }
      const c = got.body;
      const mine = t.clusters.find((x) => x.id === id);
      if (!mine) problems.push(`${t.name}: cluster ${id} (${c.name}) was never created by the client: applied twice?`);
      if (mine?.deleted) {
        problems.push(`${t.name}: cluster ${id} was deleted but is still listed (${c.status})`);
        continue;
      }
      clusters++;
      const live = (c.instances as { id: number; instance_name: string; status: string; desired_status: string }[]).filter((i) => i.desired_status !== 'deleted');
      instances += live.length;
      used.cpu += c.cpu_per_instance * live.length;
      used.memory += c.memory_per_instance * live.length;
      used.instances += live.length;
      for (const i of live) {
        if (i.status !== i.desired_status) problems.push(`${t.name}: ${c.instance_type} instance ${i.id} ${c.namespace}/${i.instance_name} is ${i.status}, wants ${i.desired_status} (${await planeView(core, custom, c, i)})`);
        const expected = mine?.instances.find((x) => x.id === i.id)?.desired;
        if (expected && expected !== i.desired_status) problems.push(`${t.name}: instance ${i.id} wants ${i.desired_status}, the client last asked for ${expected}`);
      }
      for (const p of await renderedFormProblems(kc, c, installation)) problems.push(`${t.name}: ${p}`);
    }
    for (const gone of t.clusters.filter((c) => c.deleted && c.namespace)) {
      const ns = await core.readNamespace({ name: gone.namespace }).catch(() => null);
      if (ns && !ns.metadata?.deletionTimestamp) problems.push(`${t.name}: namespace ${gone.namespace} of deleted cluster ${gone.id} still exists`);
    }
    const quota = await client.get('/api/v1/users/me/quota');
    const near = (a: number, b: number) => Math.abs(a - b) < 1e-6;
    if (!near(quota.body.used_cpu, used.cpu) || !near(quota.body.used_memory, used.memory) || quota.body.used_instances !== used.instances) {
      problems.push(
        `${t.name}: quota used ${quota.body.used_cpu} cpu / ${quota.body.used_memory} GB / ${quota.body.used_instances} instances, ` +
          `live instances add up to ${used.cpu} / ${used.memory} / ${used.instances}`,
      );
    }
  }
  return { clusters, instances, problems };
}

/** What Kubernetes has for an instance, for a problem's message. */
async function planeView(core: CoreV1Api, custom: CustomObjectsApi, c: { instance_type: string; namespace: string }, i: { id: number; instance_name: string }): Promise<string> {
  if (c.instance_type === 'vm') {
    const vm = (await custom
      .getNamespacedCustomObject({ group: 'kubevirt.io', version: 'v1', namespace: c.namespace, plural: 'virtualmachines', name: i.instance_name })
      .catch(() => null)) as { spec?: { runStrategy?: string }; status?: { printableStatus?: string; ready?: boolean } } | null;
    return `VM ${vm ? `${vm.spec?.runStrategy} ${vm.status?.printableStatus ?? 'no status'} ready=${vm.status?.ready ?? false}` : 'absent'}`;
  }
  const pods = (await core.listNamespacedPod({ namespace: c.namespace, labelSelector: `kubekloud.io/instance=${i.id}` }).catch(() => null))?.items ?? [];
  const ready = (p: (typeof pods)[number]) => (p.status?.conditions ?? []).some((x) => x.type === 'Ready' && x.status === 'True');
  // An unscheduled pod says why in its PodScheduled condition (set by the scheduler).
  const unscheduled = (p: (typeof pods)[number]) => {
    const c = (p.status?.conditions ?? []).find((x) => x.type === 'PodScheduled' && x.status !== 'True');
    return p.spec?.nodeName ? '' : c ? ` (${c.reason}: ${c.message})` : ' (no scheduling attempt recorded)';
  };
  return `pods: ${pods.map((p) => `${p.metadata!.name} ${p.status?.phase}${p.metadata?.deletionTimestamp ? ' terminating' : ''} ready=${ready(p)} node=${p.spec?.nodeName ?? '-'}${unscheduled(p)}`).join('; ') || 'none'}`;
}

/** The nodes as the scheduler sees them, for a failure's message. */
async function nodesView(kc: KubeConfig): Promise<string> {
  const nodes = await kc
    .makeApiClient(CoreV1Api)
    .listNode()
    .catch((e) => String(e));
  if (typeof nodes === 'string') return `nodes: could not list (${nodes})`;
  const one = (n: (typeof nodes.items)[number]) => {
    const ready = (n.status?.conditions ?? []).find((c) => c.type === 'Ready');
    const taints = (n.spec?.taints ?? []).map((t) => `${t.key}:${t.effect}`).join(',');
    return `${n.metadata!.name} Ready=${ready?.status ?? '?'} (heartbeat ${ready?.lastHeartbeatTime ?? '-'})${n.spec?.unschedulable ? ' cordoned' : ''}${taints ? ` taints=${taints}` : ''}`;
  };
  return `nodes: ${nodes.items.map(one).join('; ')}`;
}

/**
 * The plane's own signal that it has caught up with what KubeKloud applied:
 * every labelled StatefulSet of the installation has observed its latest spec
 * and has exactly spec.replicas pods, all ready; every VirtualMachine's status
 * matches its runStrategy; no pod is terminating. Says nothing of whether what
 * was applied is right — the convergence check that follows judges that.
 */
export async function planeSettled(kc: KubeConfig, installation: string): Promise<string[]> {
  const apps = kc.makeApiClient(AppsV1Api);
  const core = kc.makeApiClient(CoreV1Api);
  const custom = kc.makeApiClient(CustomObjectsApi);
  const selector = `kubekloud.io/installation=${installation}`;
  const waiting: string[] = [];
  // What is in a namespace being deleted goes with it.
  const leaving = new Set((await core.listNamespace({ labelSelector: selector })).items.filter((n) => n.metadata?.deletionTimestamp).map((n) => n.metadata!.name!));
  for (const s of (await apps.listStatefulSetForAllNamespaces({ labelSelector: selector })).items) {
    const want = s.spec?.replicas ?? 0;
    const st = s.status ?? { replicas: 0 };
    if (s.metadata?.deletionTimestamp || leaving.has(s.metadata!.namespace!)) continue;
    if ((st.observedGeneration ?? 0) < (s.metadata?.generation ?? 0) || (st.replicas ?? 0) !== want || (st.readyReplicas ?? 0) !== want) {
      waiting.push(`StatefulSet ${s.metadata!.namespace}/${s.metadata!.name}: ${st.readyReplicas ?? 0}/${want} ready, ${st.replicas ?? 0} pods`);
    }
  }
  const vms = (await custom.listClusterCustomObject({ group: 'kubevirt.io', version: 'v1', plural: 'virtualmachines', labelSelector: selector })) as {
    items: { metadata: { namespace: string; name: string; deletionTimestamp?: string }; spec?: { runStrategy?: string }; status?: { printableStatus?: string } }[];
  };
  for (const v of vms.items) {
    // A running VM may be paused (a suspended instance): KubeVirt shows it Paused.
    const want = v.spec?.runStrategy === 'Halted' ? 'Stopped' : 'Running';
    const shown = v.status?.printableStatus === 'Paused' ? 'Running' : v.status?.printableStatus;
    if (!v.metadata.deletionTimestamp && !leaving.has(v.metadata.namespace) && shown !== want) waiting.push(`VirtualMachine ${v.metadata.namespace}/${v.metadata.name}: ${v.status?.printableStatus ?? 'no status'}, ${want} wanted`);
  }
  for (const p of (await core.listPodForAllNamespaces({ labelSelector: selector })).items) {
    if (p.metadata?.deletionTimestamp && !leaving.has(p.metadata.namespace!)) waiting.push(`pod ${p.metadata.namespace}/${p.metadata.name} terminating`);
  }
  return waiting;
}

export type Converged = { ms: number; planeSettledMs: number; last: Convergence };

/**
 * Waits for the plane's own signal that it has caught up (planeSettled), then
 * for convergence. Throws, listing what is left, when either does not come in
 * time; nothing is passed as lag.
 */
export async function waitConverged(kc: KubeConfig, tenants: Tenant[], installation: string, timeoutMs: number): Promise<Converged> {
  const began = Date.now();
  let lastReport = began;
  let planeSettledMs = -1;
  for (;;) {
    let last: Convergence;
    let plane: string[] = [];
    try {
      last = await convergence(kc, tenants, installation);
      if (last.problems.length > 0 || planeSettledMs < 0) plane = await planeSettled(kc, installation);
    } catch (e) {
      last = { clusters: 0, instances: 0, problems: [`check failed: ${String(e)}`] };
    }
    if (planeSettledMs < 0 && plane.length === 0 && !last.problems[0]?.startsWith('check failed')) planeSettledMs = Date.now() - began;
    if (last.problems.length === 0 && plane.length === 0) return { ms: Date.now() - began, planeSettledMs, last };
    if (Date.now() - lastReport >= 10_000) {
      lastReport = Date.now();
      process.stderr.write(
        `  converging, ${Math.round((Date.now() - began) / 1000)} s: ${last.problems.length} problems, the plane ${plane.length === 0 ? 'settled' : `still busy with ${plane.length} (${plane[0]})`}; first: ${last.problems[0] ?? '-'}\n`,
      );
    }
    if (Date.now() - began > timeoutMs) {
      throw new Error(
        `not converged after ${timeoutMs} ms (${last.problems.length} problems; the plane ${plane.length === 0 ? `settled after ${planeSettledMs} ms` : `had not settled: ${plane.slice(0, 10).join('; ')}`}):\n${last.problems.slice(0, 30).join('\n')}\n${await nodesView(kc)}`,
      );
    }
    await sleep(1000);
  }
}
