// A bounded load generator for fault scenarios: a steady mix of creates,
// operations, deletes and reads against servers on 127.0.0.1, recording the
// status and latency of every request. Writes carry an Idempotency-Key and are
// retried (on the next server) when the connection fails or the key is still in
// flight, the way a careful client would; reads are not retried.
import { randomUUID } from 'node:crypto';
import { AppsV1Api, CoreV1Api, CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import type { ApiClient } from '../../support/api.ts';

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
  /** For a final status >= 400: the error code and message the server gave. */
  error?: string;
};

type Cluster = { id: number; name: string; namespace: string; deleted: boolean; instances: { id: number; desired: 'running' | 'stopped' }[] };

/** One tenant as the load sees it: a client per server and what it has created. */
export class Tenant {
  readonly clusters: Cluster[] = [];
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

/** One logical request: retried with the same Idempotency-Key until it gets a real answer. */
async function write(t: Tenant, method: string, path: string, body: unknown, retryForMs: number) {
  const key = randomUUID();
  const trail: number[] = [];
  const began = Date.now();
  let i = Math.floor(Math.random() * t.clients.length);
  for (;;) {
    const res = await send(t.clients[i % t.clients.length]!, method, path, body, { 'idempotency-key': key });
    trail.push(res.status);
    const inProgress = res.status === 409 && /still in progress/.test(String(res.body?.detail ?? ''));
    const retry = res.status === 0 || res.status === 502 || res.status === 503 || inProgress;
    if (!retry || Date.now() - began > retryForMs) return { res, trail };
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
    const record = (status: number, trail: number[], replayed = false, body?: any) =>
      samples.push({
        kind,
        status,
        ms: Date.now() - began,
        at: began,
        attempts: trail.length,
        replayed,
        trail,
        ...(status >= 400 ? { error: `${body?.error ?? ''}: ${JSON.stringify(body?.detail ?? body ?? null).slice(0, 200)}` } : {}),
      });

    if (kind === 'read') {
      const c = live.length > 0 && Math.random() < 0.5 ? pick(live) : null;
      // A read that reached no server is tried once more on the next one.
      const path = c ? `/api/v1/clusters/${c.id}` : '/api/v1/clusters/?limit=100';
      const first = Math.floor(Math.random() * t.clients.length);
      let res = await send(t.clients[first]!, 'GET', path, undefined, {});
      const trail = [res.status];
      if (res.status === 0) {
        res = await send(t.clients[(first + 1) % t.clients.length]!, 'GET', path, undefined, {});
        trail.push(res.status);
      }
      record(res.status, trail, false, res.body);
    } else if (kind === 'create') {
      const vm = Math.random() < 0.25;
      const body = {
        name: t.nextName(),
        instance_type: vm ? 'vm' : 'container',
        cpu_per_instance: 0.1,
        memory_per_instance: 0.125,
        instance_count: Math.random() < 0.7 ? 1 : 2,
      };
      const { res, trail } = await write(t, 'POST', '/api/v1/clusters/', body, retryForMs);
      record(res.status, trail, res.headers.get('idempotent-replayed') === 'true', res.body);
      if (res.status === 201) {
        t.clusters.push({
          id: res.body.id,
          name: res.body.name,
          namespace: res.body.namespace,
          deleted: false,
          instances: (res.body.instances ?? []).map((i: { id: number }) => ({ id: i.id, desired: 'running' as const })),
        });
      }
    } else if (kind === 'operate') {
      const c = pick(live);
      const inst = c.instances.length > 0 ? pick(c.instances) : null;
      if (!inst) return;
      const operation = inst.desired === 'running' ? 'stop' : 'start';
      const { res, trail } = await write(t, 'POST', `/api/v1/instances/${inst.id}/operate`, { operation }, retryForMs);
      record(res.status, trail, res.headers.get('idempotent-replayed') === 'true', res.body);
      if (res.status === 200) inst.desired = operation === 'stop' ? 'stopped' : 'running';
    } else {
      const c = pick(live);
      c.deleted = true; // no more operations on it, whatever the answer
      const { res, trail } = await write(t, 'DELETE', `/api/v1/clusters/${c.id}`, undefined, retryForMs);
      record(res.status, trail, res.headers.get('idempotent-replayed') === 'true', res.body);
      if (res.status >= 300 && res.status !== 404) c.deleted = false;
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
      samples.push({ kind: 'read', status: -1, ms: 0, at: Date.now(), attempts: 0, replayed: false, trail: [-1] });
      console.error('load generator error', e);
    });
    pending.add(p);
    void p.finally(() => pending.delete(p));
  }
  await Promise.all(pending);
  return { samples, skipped, startedAt, endedAt: Date.now() };
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
  /**
   * Of the problems, those where Kubernetes itself has not reached the state
   * (a pod not Ready, a VM not Running): the API reports what is there, the
   * simulated plane has not caught up.
   */
  planeLag: string[];
};

/**
 * Compare what the API says with what exists in Kubernetes: every live
 * cluster's instances have reached their desired state, each has exactly one
 * StatefulSet or VirtualMachine of its name (and nothing else is there), deleted
 * clusters are gone, and each tenant's quota usage is exactly the sum of its
 * live instances.
 */
export async function convergence(kc: KubeConfig, tenants: Tenant[]): Promise<Convergence> {
  const apps = kc.makeApiClient(AppsV1Api);
  const core = kc.makeApiClient(CoreV1Api);
  const custom = kc.makeApiClient(CustomObjectsApi);
  const problems: string[] = [];
  const planeLag: string[] = [];
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
        if (i.status !== i.desired_status) {
          // What Kubernetes has tells a missed observation from a plane that has not caught up.
          let seen: string;
          let kubeThere: boolean; // Kubernetes is in the desired state, so the API should say so
          if (c.instance_type === 'vm') {
            const vm = (await custom
              .getNamespacedCustomObject({ group: 'kubevirt.io', version: 'v1', namespace: c.namespace, plural: 'virtualmachines', name: i.instance_name })
              .catch(() => null)) as { status?: { printableStatus?: string; ready?: boolean } } | null;
            seen = `VM ${vm ? `${vm.status?.printableStatus ?? 'no status'} ready=${vm.status?.ready ?? false}` : 'absent'}`;
            kubeThere = i.desired_status === 'running' ? vm?.status?.printableStatus === 'Running' && vm.status.ready === true : !vm || vm.status?.printableStatus === 'Stopped';
          } else {
            const pods = (await core.listNamespacedPod({ namespace: c.namespace, labelSelector: `kubekloud.io/instance=${i.id}` }).catch(() => null))?.items ?? [];
            const ready = (p: (typeof pods)[number]) => (p.status?.conditions ?? []).some((x) => x.type === 'Ready' && x.status === 'True');
            seen = `pods: ${pods.map((p) => `${p.metadata!.name} ${p.status?.phase}${p.metadata?.deletionTimestamp ? ' terminating' : ''} ready=${ready(p)} node=${p.spec?.nodeName ?? '-'}`).join('; ') || 'none'}`;
            kubeThere = i.desired_status === 'running' ? pods.some((p) => p.status?.phase === 'Running' && ready(p) && !p.metadata?.deletionTimestamp) : pods.length === 0;
          }
          const line = `${t.name}: ${c.instance_type} instance ${i.id} ${c.namespace}/${i.instance_name} is ${i.status}, wants ${i.desired_status} (${seen})`;
          problems.push(line);
          if (!kubeThere) planeLag.push(line);
        }
        const expected = mine?.instances.find((x) => x.id === i.id)?.desired;
        if (expected && expected !== i.desired_status) problems.push(`${t.name}: instance ${i.id} wants ${i.desired_status}, the client last asked for ${expected}`);
      }
      const names =
        c.instance_type === 'vm'
          ? ((await custom.listNamespacedCustomObject({ group: 'kubevirt.io', version: 'v1', namespace: c.namespace, plural: 'virtualmachines' })) as { items: { metadata: { name: string } }[] }).items.map((v) => v.metadata.name)
          : (await apps.listNamespacedStatefulSet({ namespace: c.namespace })).items.map((s) => s.metadata!.name!);
      const want = live.map((i) => i.instance_name).sort();
      if (JSON.stringify(names.sort()) !== JSON.stringify(want)) {
        problems.push(`${t.name}: ${c.namespace} has ${c.instance_type === 'vm' ? 'VirtualMachines' : 'StatefulSets'} [${names.join(', ')}], the API has [${want.join(', ')}]`);
      }
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
  return { clusters, instances, problems, planeLag };
}

/** Poll convergence until no problem is left; returns how long it took (or throws with what is left). */
export async function waitConverged(kc: KubeConfig, tenants: Tenant[], timeoutMs: number): Promise<{ ms: number; last: Convergence }> {
  const began = Date.now();
  let lastReport = began;
  for (;;) {
    let last: Convergence;
    try {
      last = await convergence(kc, tenants);
    } catch (e) {
      last = { clusters: 0, instances: 0, problems: [`check failed: ${String(e)}`], planeLag: [] };
    }
    if (last.problems.length === 0) return { ms: Date.now() - began, last };
    if (Date.now() - lastReport >= 10_000) {
      lastReport = Date.now();
      process.stderr.write(`  converging, ${Math.round((Date.now() - began) / 1000)} s: ${last.problems.length} left (${last.planeLag.length} on the plane's side); first: ${last.problems[0]}\n`);
    }
    if (Date.now() - began > timeoutMs) {
      // Only the simulated plane is behind: the API reports what Kubernetes has.
      // The caller records these as planeLag with its figures (and fails on them).
      if (last.problems.length === last.planeLag.length) return { ms: Date.now() - began, last };
      throw new Error(`not converged after ${timeoutMs} ms (${last.problems.length} problems):\n${last.problems.slice(0, 30).join('\n')}`);
    }
    await sleep(2000);
  }
}
