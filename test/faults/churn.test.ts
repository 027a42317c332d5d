// Churn: three API processes on one database. For 60 s tenants send random
// operations (stop, start, restart, suspend, resume, scale) through random
// processes while something edits the managed objects behind the API's back
// (pods deleted, StatefulSets scaled to 0 or given another image, Services and
// NetworkPolicies deleted, VMs halted). Afterwards every instance reaches its
// desired state and every owned object its rendered form within 60 s, with no
// duplicate or missing object, and the Kubernetes writes stay bounded.
import { AppsV1Api, CoreV1Api, CustomObjectsApi, NetworkingV1Api } from '@kubernetes/client-node';
import { afterAll, describe, expect, it } from 'vitest';
import { jsonPatch } from '../../src/kube/rest.ts';
import { loadTestKubeConfig } from '../support/kube.ts';
import { createTestDatabase } from '../support/postgres.ts';
import { randomLabel, startServer, type ServerProcess } from '../support/server.ts';
import { summarise, waitConverged, write, type LoadCluster, type LoadResult, type Sample, type Tenant } from './support/load.ts';
import { clearTenants, LOAD_ENV, record, sleep, tenants } from './support/scenario.ts';

const kc = loadTestKubeConfig();
const apps = kc.makeApiClient(AppsV1Api);
const core = kc.makeApiClient(CoreV1Api);
const net = kc.makeApiClient(NetworkingV1Api);
const custom = kc.makeApiClient(CustomObjectsApi);
const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {});
});

const CHURN_MS = 60_000;
const CONVERGE_WITHIN_MS = 60_000;
const pick = <T>(xs: T[]): T => xs[Math.floor(Math.random() * xs.length)]!;

/** Kubernetes writes (apply, patch, delete) the processes made, by verb and kind; and their drift repairs and stray deletes. */
async function counters(servers: ServerProcess[]) {
  const writes: Record<string, number> = {};
  let repairs = 0;
  let strays = 0;
  let leaders = 0;
  for (const s of servers) {
    const text = (await s.metrics.get()).body as string;
    for (const m of text.matchAll(/^kubekloud_kube_request_duration_seconds_count\{verb="(apply|patch|delete)",kind="([^"]+)",outcome="[^"]+"\} (\d+)/gm)) {
      writes[`${m[1]} ${m[2]}`] = (writes[`${m[1]} ${m[2]}`] ?? 0) + Number(m[3]);
    }
    for (const m of text.matchAll(/^kubekloud_drift_repairs_total\{[^}]*\} (\d+)/gm)) repairs += Number(m[1]);
    for (const m of text.matchAll(/^kubekloud_strays_deleted_total\{[^}]*\} (\d+)/gm)) strays += Number(m[1]);
    leaders += Number(/^kubekloud_observer_leader (\d+)/m.exec(text)?.[1] ?? 0);
  }
  return { writes, total: Object.values(writes).reduce((a, b) => a + b, 0), repairs, strays, leaders };
}

/** One random tenant operation through a random process: an instance operation, or a scale of its cluster. */
async function operate(t: Tenant, samples: Sample[]) {
  const live = t.clusters.filter((c) => !c.deleted);
  const c = pick(live);
  const began = Date.now();
  let kind: string;
  let res: Awaited<ReturnType<typeof write>>['res'];
  let trail: number[];
  if (Math.random() < 0.15) {
    kind = 'scale';
    const count = 1 + Math.floor(Math.random() * 3);
    ({ res, trail } = await write(t, 'PATCH', `/api/v1/clusters/${c.id}`, { instance_count: count }, 60_000));
    if (res.status === 200) refresh(c, res.body);
  } else {
    const inst = pick(c.instances);
    const ops: Record<string, string[]> = { running: ['stop', 'restart', 'suspend'], stopped: ['start'], suspended: ['resume'] };
    const op = pick(ops[inst.desired]!);
    kind = op;
    ({ res, trail } = await write(t, 'POST', `/api/v1/instances/${inst.id}/operate`, { operation: op }, 60_000));
    if (res.status === 200) inst.desired = ({ stop: 'stopped', start: 'running', restart: 'running', suspend: 'suspended', resume: 'running' } as const)[op as 'stop']!;
  }
  samples.push({ kind: kind as Sample['kind'], status: res.status, ms: Date.now() - began, at: began, attempts: trail.length, replayed: false, trail, ...(res.status >= 400 ? { error: JSON.stringify(res.body).slice(0, 200) } : {}) });
}

/** The client's model of a cluster after a scale: the instances the API now has. */
function refresh(c: LoadCluster, body: { instances?: { id: number; desired_status: string }[] }) {
  const prev = new Map(c.instances.map((i) => [i.id, i.desired]));
  c.instances = (body.instances ?? [])
    .filter((i) => i.desired_status !== 'deleted')
    .map((i) => ({ id: i.id, desired: (prev.get(i.id) ?? i.desired_status) as LoadCluster['instances'][number]['desired'] }));
}

/** One edit behind the API's back, as the plane's admin, on a random object of the installation. */
async function edit(installation: string, edits: Record<string, number>) {
  const sel = { labelSelector: `kubekloud.io/installation=${installation}` };
  const kinds = ['delete pod', 'scale StatefulSet to 0', 'another image', 'delete Service', 'delete NetworkPolicy', 'halt VirtualMachine'];
  const kind = pick(kinds);
  try {
    if (kind === 'delete pod') {
      const p = pick((await core.listPodForAllNamespaces(sel)).items);
      await core.deleteNamespacedPod({ name: p.metadata!.name!, namespace: p.metadata!.namespace! });
    } else if (kind === 'scale StatefulSet to 0' || kind === 'another image') {
      const s = pick((await apps.listStatefulSetForAllNamespaces(sel)).items);
      const ops = kind === 'another image' ? [{ op: 'replace', path: '/spec/template/spec/containers/0/image', value: 'docker.io/library/busybox:1' }] : [{ op: 'replace', path: '/spec/replicas', value: 0 }];
      await jsonPatch(kc, { apiVersion: 'apps/v1', kind: 'StatefulSet', metadata: { name: s.metadata!.name!, namespace: s.metadata!.namespace! } }, ops);
    } else if (kind === 'delete Service') {
      const s = pick((await core.listServiceForAllNamespaces(sel)).items);
      await core.deleteNamespacedService({ name: s.metadata!.name!, namespace: s.metadata!.namespace! });
    } else if (kind === 'delete NetworkPolicy') {
      const n = pick((await net.listNetworkPolicyForAllNamespaces(sel)).items);
      await net.deleteNamespacedNetworkPolicy({ name: n.metadata!.name!, namespace: n.metadata!.namespace! });
    } else {
      const vms = (await custom.listClusterCustomObject({ group: 'kubevirt.io', version: 'v1', plural: 'virtualmachines', ...sel })) as { items: { metadata: { name: string; namespace: string } }[] };
      const v = pick(vms.items);
      await jsonPatch(kc, { apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachine', metadata: { name: v.metadata.name, namespace: v.metadata.namespace } }, [{ op: 'replace', path: '/spec/runStrategy', value: 'Halted' }]);
    }
    edits[kind] = (edits[kind] ?? 0) + 1;
  } catch {
    edits['missed (object gone meanwhile)'] = (edits['missed (object gone meanwhile)'] ?? 0) + 1;
  }
}

describe('churn: three processes, random operations, edits behind the back', () => {
  it('converges within 60 s to every desired state and rendered form, with bounded writes', async () => {
    const db = await createTestDatabase();
    cleanups.push(() => db.drop());
    const installation = randomLabel();
    const adminToken = `admin-${installation}-0123456789`;
    const servers: ServerProcess[] = [];
    for (let k = 0; k < 3; k++) {
      const s = await startServer({ databaseUrl: db.url, installation, adminToken, env: LOAD_ENV, keepNamespaces: k > 0 });
      servers.push(s);
      cleanups.push(() => s.stop());
    }
    // One operation at a time per tenant, so its model of what it asked for stays exact.
    const ts = await tenants(servers.map((s) => s.admin), 3);
    // Each tenant: three container clusters with a port and an env var, and one VM cluster.
    for (const t of ts) {
      for (const [name, type] of [['a', 'container'], ['b', 'container'], ['c', 'container'], ['v', 'vm']] as const) {
        const body = { name, instance_type: type, cpu_per_instance: 0.1, memory_per_instance: 0.125, instance_count: 2, ...(type === 'container' ? { ports: [{ port: 8080 }], env: { MODE: 'churn' } } : {}) };
        const res = await t.clients[0]!.request('POST', '/api/v1/clusters/?wait=60', body);
        expect(res.status, JSON.stringify(res.body)).toBe(201);
        t.clusters.push({ id: res.body.id, name, namespace: res.body.namespace, deleted: false, instances: res.body.instances.map((i: { id: number }) => ({ id: i.id, desired: 'running' })) });
      }
    }
    await waitConverged(kc, ts, installation, 120_000);
    const before = await counters(servers);
    expect(before.leaders).toBe(1); // one observer for the three processes

    const samples: Sample[] = [];
    const edits: Record<string, number> = {};
    const startedAt = Date.now();
    const until = startedAt + CHURN_MS;
    const tenantLoop = async (t: Tenant) => {
      while (Date.now() < until) {
        await operate(t, samples);
        await sleep(100 + Math.random() * 300);
      }
    };
    const editLoop = async () => {
      while (Date.now() < until) {
        await edit(installation, edits);
        await sleep(300 + Math.random() * 400);
      }
    };
    await Promise.all([...ts.map(tenantLoop), editLoop()]);
    const endedAt = Date.now();
    const duringChurn = await counters(servers);
    const converged = await waitConverged(kc, ts, installation, CONVERGE_WITHIN_MS).catch(async (e) => {
      record('churn-failed', { edits, operations: summarise({ samples, skipped: 0, startedAt, endedAt } as LoadResult), counters: await counters(servers) });
      throw e;
    });
    const after = await counters(servers);
    const operations = summarise({ samples, skipped: 0, startedAt, endedAt } as LoadResult);
    const editCount = Object.entries(edits).filter(([k]) => !k.startsWith('missed')).reduce((n, [, v]) => n + v, 0);
    const writes = after.total - before.total;
    const figures = {
      churnMs: endedAt - startedAt,
      operations: { total: operations.requests, byKind: operations.byKind, statuses: operations.statuses, errors: operations.errors },
      edits,
      convergedMsAfterChurn: converged.ms,
      planeSettledMsAfterChurn: converged.planeSettledMs,
      clusters: converged.last.clusters,
      instances: converged.last.instances,
      kubernetesWrites: writes,
      writesAfterChurn: after.total - duringChurn.total,
      writesByVerbAndKind: Object.fromEntries(Object.entries(after.writes).map(([k, v]) => [k, v - (before.writes[k] ?? 0)]).filter(([, v]) => (v as number) > 0)),
      repairsRequested: after.repairs - before.repairs,
      straysDeleted: after.strays - before.strays,
      writesPerOperationOrEdit: Math.round((writes / Math.max(1, operations.requests + editCount)) * 100) / 100,
      observerLeaders: after.leaders,
    };
    record('churn', figures);
    expect(operations.fivexx + operations.noAnswer).toBe(0);
    expect(editCount).toBeGreaterThan(30);
    expect(figures.repairsRequested).toBeGreaterThan(0);
    expect(after.leaders).toBe(1);
    // Bounded: an operation or an edit costs a handful of writes (a cluster repair re-applies its five fences), never a loop.
    expect(figures.writesPerOperationOrEdit).toBeLessThan(10);
    await clearTenants(ts);
  });
});
