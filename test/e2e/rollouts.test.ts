// Live changes end to end: the server as a real process on PostgreSQL and the
// real control plane. A 3-instance container cluster patched to a new image
// rolls one StatefulSet at a time (watched on the plane: never two instances
// mid-change at once, each only after the one before is ready on the new
// image), ends with all three on it and rollout done; a patch over quota and
// a change that cannot be made live change nothing; patching back restores.
// A 2-VM roll restarts one VM at a time, each on a VMI made for the change,
// even where KubeVirt's copy of a VM trails the API server.
import { AppsV1Api, CoreV1Api, PatchStrategy, setHeaderOptions, Watch, type V1StatefulSet } from '@kubernetes/client-node';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApiClient } from '../support/api.ts';
import { loadTestKubeConfig } from '../support/kube.ts';
import { createTenant, startServer, type ServerProcess } from '../support/server.ts';

const OLD = 'docker.io/nginxinc/nginx-unprivileged:1.27-alpine';
const NEW = 'docker.io/nginxinc/nginx-unprivileged:1.28-alpine';

const kc = loadTestKubeConfig();
const apps = kc.makeApiClient(AppsV1Api);
const core = kc.makeApiClient(CoreV1Api);
let server: ServerProcess;
let client: ApiClient;
let db: pg.Client;

beforeAll(async () => {
  server = await startServer();
  client = (await createTenant(server.admin, { cpu: 2, memory: 4, instances: 4 })).client;
  db = new pg.Client({ connectionString: server.env.DATABASE_URL });
  await db.connect();
});
afterAll(async () => {
  await db?.end();
  await server?.stop();
});

const imageOf = (s: V1StatefulSet) => s.spec!.template.spec!.containers[0]!.image;
/** The StatefulSet controller has made its pod from the current template and the pod is ready. */
const settled = (s: V1StatefulSet) =>
  (s.status?.observedGeneration ?? 0) >= (s.metadata!.generation ?? 0) &&
  s.status?.updateRevision === s.status?.currentRevision &&
  (s.status?.readyReplicas ?? 0) === 1 &&
  (s.status?.updatedReplicas ?? 0) === 1;

/** Every StatefulSet of the namespace as the watch last saw it, and what was seen mid-roll. */
async function watchRoll(namespace: string, target: string) {
  const seen = new Map<string, V1StatefulSet>();
  let mostMidChange = 0;
  /** When a StatefulSet first got the target image: which others were then on it and settled. */
  const started: { name: string; settledBefore: string[] }[] = [];
  const req = await new Watch(kc).watch(
    `/apis/apps/v1/namespaces/${namespace}/statefulsets`,
    {},
    (type, obj: V1StatefulSet) => {
      const name = obj.metadata!.name!;
      const before = seen.get(name);
      if (type === 'DELETED') seen.delete(name);
      else seen.set(name, obj);
      if (type !== 'DELETED' && imageOf(obj) === target && (!before || imageOf(before) !== target)) {
        started.push({ name, settledBefore: [...seen.values()].filter((s) => s !== obj && imageOf(s) === target && settled(s)).map((s) => s.metadata!.name!) });
      }
      mostMidChange = Math.max(mostMidChange, [...seen.values()].filter((s) => !settled(s)).length);
    },
    () => {},
  );
  return { seen, started, mostMidChange: () => mostMidChange, stop: () => req.abort() };
}

describe('a live change of a running cluster', () => {
  it('rolls one instance at a time, refuses what it cannot do without changing anything, and rolls back', async () => {
    const created = await client.post('/api/v1/clusters/?wait=90', { name: 'roll', instance_type: 'container', cpu_per_instance: 0.5, memory_per_instance: 0.5, instance_count: 3, image: OLD, ports: [{ port: 8080 }] });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect(created.body.wait.converged).toBe(true);
    const { id, namespace } = created.body;
    const names = ['roll-1', 'roll-2', 'roll-3'];

    const forward = await watchRoll(namespace, NEW);
    try {
      const patched = await client.request('PATCH', `/api/v1/clusters/${id}?wait=180`, { image: NEW });
      expect(patched.status, JSON.stringify(patched.body)).toBe(200);
      expect(patched.body.wait).toMatchObject({ converged: true });
      expect(patched.body.detail).toEqual({ spec_generation: 2, instances_to_roll: 3 });
      expect(patched.body.rollout).toEqual({ generation: 2, updated: 3, total: 3, state: 'done', message: null });
      expect(patched.body.image).toBe(NEW);
      // Converged means the cluster's last generation too (the quota back from the roll's peak) is in Kubernetes.
      const row = await db.query('SELECT synced_gen, desired_gen FROM clusters WHERE id = $1', [id]);
      expect(row.rows[0].synced_gen).toBeGreaterThanOrEqual(row.rows[0].desired_gen);
    } finally {
      forward.stop();
    }
    // One at a time, in order, each only once the one before ran again on the new image.
    expect(forward.started).toEqual([
      { name: 'roll-1', settledBefore: [] },
      { name: 'roll-2', settledBefore: ['roll-1'] },
      { name: 'roll-3', settledBefore: ['roll-1', 'roll-2'] },
    ]);
    expect(forward.mostMidChange()).toBe(1);
    for (const name of names) expect(imageOf(await apps.readNamespacedStatefulSet({ namespace, name }))).toBe(NEW);

    // Over quota: 3 × 0.5 more cores would need 3 of the 2. Nothing changes.
    const before = (await client.get(`/api/v1/clusters/${id}`)).body;
    const quotaBefore = (await client.get('/api/v1/users/me/quota')).body;
    const over = await client.request('PATCH', `/api/v1/clusters/${id}`, { cpu_per_instance: 1 });
    expect(over.status).toBe(403);
    expect(over.body.detail).toMatch(/quota/i);
    // Cannot be made live, or makes no sense for containers: 422 naming the field.
    const kind = await client.request('PATCH', `/api/v1/clusters/${id}`, { instance_type: 'vm' });
    expect(kind.status).toBe(422);
    expect(JSON.stringify(kind.body.detail)).toMatch(/instance_type.*cannot be changed on a running cluster/);
    const keys = await client.request('PATCH', `/api/v1/clusters/${id}`, { user_data: '#cloud-config\n' });
    expect(keys.status).toBe(422);
    expect(JSON.stringify(keys.body.detail)).toMatch(/applies to vm clusters only/);
    const both = await client.request('PATCH', `/api/v1/clusters/${id}`, { instance_count: 2, image: OLD });
    expect(both.status).toBe(422);
    expect((await client.get(`/api/v1/clusters/${id}`)).body).toEqual(before);
    expect((await client.get('/api/v1/users/me/quota')).body).toEqual(quotaBefore);
    for (const name of names) expect(imageOf(await apps.readNamespacedStatefulSet({ namespace, name }))).toBe(NEW);

    // Patching back rolls back the same way.
    const backward = await watchRoll(namespace, OLD);
    try {
      const back = await client.request('PATCH', `/api/v1/clusters/${id}?wait=180`, { image: OLD });
      expect(back.status, JSON.stringify(back.body)).toBe(200);
      expect(back.body.rollout).toEqual({ generation: 3, updated: 3, total: 3, state: 'done', message: null });
    } finally {
      backward.stop();
    }
    expect(backward.started.map((s) => s.name)).toEqual(names);
    expect(backward.mostMidChange()).toBe(1);
    for (const name of names) expect(imageOf(await apps.readNamespacedStatefulSet({ namespace, name }))).toBe(OLD);
    expect((await client.get(`/api/v1/clusters/${id}`)).body.instances.map((i: { status: string }) => i.status)).toEqual(['running', 'running', 'running']);

    await client.delete(`/api/v1/clusters/${id}`);
  });

  it('rolls VMs one at a time, each only once the one before runs on a VMI made for the change', async () => {
    const created = await client.post('/api/v1/clusters/?wait=90', { name: 'vmroll', instance_type: 'vm', cpu_per_instance: 0.25, memory_per_instance: 0.25, instance_count: 2 });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const { id, namespace } = created.body;
    // Here KubeVirt's copy of each VM trails the API server by 400 ms (the stand-in's
    // vm-cache-lag, docs/LOCAL-CLUSTER.md), as a busy virt-controller's can: a VM
    // restarted by deleting its VMI would come back on its old template and the
    // roll would wait for it until its timeout. KubeVirt's restart does not.
    await core.patchNamespace(
      { name: namespace, body: { metadata: { annotations: { 'kkplane.kubekloud.io/vm-cache-lag': '400ms' } } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    type Vm = { metadata: { name: string }; spec: { template: { metadata: { annotations: Record<string, string> }; spec: { domain: { memory: { guest: string } } } } } };
    type Vmi = { metadata: { name: string; annotations?: Record<string, string> }; status?: { phase?: string } };
    const vmis = new Map<string, Vmi>();
    /** When a VM first got the new memory: the VMs whose VMI then ran for their own current generation. */
    const started: { name: string; runningOnNew: string[] }[] = [];
    const vms = new Map<string, Vm>();
    const onNew = (name: string) => {
      const vm = vms.get(name);
      const vmi = vmis.get(name);
      return !!vm && vm.spec.template.spec.domain.memory.guest === '512Mi' && vmi?.status?.phase === 'Running' &&
        vmi.metadata.annotations?.['kubekloud.io/restart-count'] === vm.spec.template.metadata.annotations['kubekloud.io/restart-count'];
    };
    const w = new Watch(kc);
    const reqs = [
      await w.watch(`/apis/kubevirt.io/v1/namespaces/${namespace}/virtualmachineinstances`, {}, (type, o: Vmi) => (type === 'DELETED' ? vmis.delete(o.metadata.name) : vmis.set(o.metadata.name, o)), () => {}),
      await w.watch(
        `/apis/kubevirt.io/v1/namespaces/${namespace}/virtualmachines`,
        {},
        (_type, o: Vm) => {
          const before = vms.get(o.metadata.name);
          vms.set(o.metadata.name, o);
          if (o.spec.template.spec.domain.memory.guest === '512Mi' && before?.spec.template.spec.domain.memory.guest !== '512Mi') {
            started.push({ name: o.metadata.name, runningOnNew: [...vms.keys()].filter((n) => n !== o.metadata.name && onNew(n)) });
          }
        },
        () => {},
      ),
    ];
    try {
      const patched = await client.request('PATCH', `/api/v1/clusters/${id}?wait=40`, { memory_per_instance: 0.5 });
      expect(patched.status, JSON.stringify(patched.body)).toBe(200);
      expect(patched.body.rollout, JSON.stringify(patched.body.instances)).toMatchObject({ updated: 2, total: 2, state: 'done' });
    } finally {
      for (const r of reqs) r.abort();
    }
    expect(started).toEqual([
      { name: 'vmroll-1', runningOnNew: [] },
      { name: 'vmroll-2', runningOnNew: ['vmroll-1'] },
    ]);
    await client.delete(`/api/v1/clusters/${id}`);
  });
});
