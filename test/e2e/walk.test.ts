// The earlier service's clients keep working: the same walk, over HTTP, with
// the server as a real process on PostgreSQL and the real control plane.
import { AppsV1Api, CoreV1Api, CustomObjectsApi, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApiClient } from '../support/api.ts';
import { eventually, loadTestKubeConfig } from '../support/kube.ts';
import { createTestDatabase, type TestDatabase } from '../support/postgres.ts';
import { createTenant, startServer, type ServerProcess } from '../support/server.ts';

let db: TestDatabase;
let server: ServerProcess;
const kc = loadTestKubeConfig();
const core = kc.makeApiClient(CoreV1Api);
const apps = kc.makeApiClient(AppsV1Api);
const custom = kc.makeApiClient(CustomObjectsApi);

beforeAll(async () => {
  db = await createTestDatabase();
  // A deleted cluster's row goes when the observer sees its namespace end,
  // not at the next look of the namespace: that look is put an hour away.
  server = await startServer({ databaseUrl: db.url, env: { KUBEKLOUD_NAMESPACE_POLL_SECONDS: '3600' } });
});
afterAll(async () => {
  await server?.stop();
  await db?.drop();
});

async function instancesOf(client: ApiClient, clusterId: number) {
  return (await client.get(`/api/v1/clusters/${clusterId}`)).body.instances as { id: number; status: string; phase: string; instance_name: string; ip: string | null; node: string | null }[];
}
// The precise state (phase): `status` shows a stop or suspend as done once accepted, as the Python service did.
const allStatus = (client: ApiClient, clusterId: number, phase: string) =>
  eventually(async () => (await instancesOf(client, clusterId)).every((i) => i.phase === phase), 45_000, `all instances ${phase}`);
const namespaceGone = (name: string) =>
  eventually(async () => {
    try {
      await core.readNamespace({ name });
      return false;
    } catch (e) {
      return (e as { code?: number }).code === 404;
    }
  }, 60_000, `namespace ${name} gone`);

describe('the container walk', () => {
  it('health → user → me → quota → create → list → get → operate → scale → suspend/resume → delete → quota back to zero', { timeout: 240_000 }, async () => {
    expect((await server.admin.get('/health')).body.status).toBe('healthy');
    expect((await server.admin.get('/ready')).status).toBe(200);
    const { client, user } = await createTenant(server.admin, { cpu: 4, memory: 8 });
    expect((await client.get('/api/v1/users/me')).body.username).toBe(user.username);
    expect((await client.get('/api/v1/users/me/quota')).body).toMatchObject({ total_cpu: 4, used_cpu: 0 });

    const created = await client.post('/api/v1/clusters/', { name: 'web', instance_type: 'container', cpu_per_instance: 0.5, memory_per_instance: 1, instance_count: 2, ports: [{ port: 8080 }] });
    expect(created.status).toBe(201);
    const c = created.body;
    expect((await client.get('/api/v1/clusters/')).body.map((x: { id: number }) => x.id)).toEqual([c.id]);
    await allStatus(client, c.id, 'running');
    const running = await instancesOf(client, c.id);
    for (const i of running) {
      expect(i.ip).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
      expect(i.node).toBeTruthy();
    }
    // What Kubernetes holds: namespace fences, StatefulSets, Services.
    const ns = await core.readNamespace({ name: c.namespace });
    expect(ns.metadata?.labels?.['pod-security.kubernetes.io/enforce']).toBe('restricted');
    expect((await core.listNamespacedResourceQuota({ namespace: c.namespace })).items).toHaveLength(1);
    expect((await core.listNamespacedLimitRange({ namespace: c.namespace })).items).toHaveLength(1);
    expect((await apps.listNamespacedStatefulSet({ namespace: c.namespace })).items.map((s) => s.metadata?.name).sort()).toEqual(['web-1', 'web-2']);
    expect((await core.listNamespacedService({ namespace: c.namespace })).items).toHaveLength(2);

    // stop: the pod goes away and the status says stopped; start brings it back.
    const first = running[0]!;
    const stop = await client.post(`/api/v1/instances/${first.id}/operate`, { operation: 'stop' });
    expect(stop.body.detail).toMatchObject({ previous_status: 'running', new_status: 'stopped' });
    await eventually(async () => (await client.get(`/api/v1/instances/${first.id}`)).body.phase === 'stopped', 45_000, 'stopped');
    const pods = await core.listNamespacedPod({ namespace: c.namespace, labelSelector: `kubekloud.io/instance=${first.id}` });
    expect(pods.items).toHaveLength(0);
    await client.post(`/api/v1/instances/${first.id}/operate`, { operation: 'start' });
    await eventually(async () => (await client.get(`/api/v1/instances/${first.id}`)).body.status === 'running', 45_000, 'running again');

    // restart rolls the pod.
    const before = (await core.listNamespacedPod({ namespace: c.namespace, labelSelector: `kubekloud.io/instance=${first.id}` })).items[0]!.metadata!.uid;
    const restarted = await client.request('POST', `/api/v1/instances/${first.id}/operate?wait=45`, { operation: 'restart' });
    expect(restarted.body.wait.converged).toBe(true);
    // Converged means the new pod is the one running, not the old one on its way out.
    const after = (await core.listNamespacedPod({ namespace: c.namespace, labelSelector: `kubekloud.io/instance=${first.id}` })).items;
    expect(after.map((p) => p.metadata!.uid)).not.toContain(before);
    expect(after.some((p) => p.status?.phase === 'Running')).toBe(true);

    // suspend and resume the cluster.
    expect((await client.post(`/api/v1/clusters/${c.id}/suspend`)).body.detail).toMatchObject({ suspended: 2, skipped: 0 });
    await allStatus(client, c.id, 'suspended');
    expect((await client.post(`/api/v1/clusters/${c.id}/resume?wait=45`)).body.wait.converged).toBe(true);
    await allStatus(client, c.id, 'running');

    // scale out and in.
    const out = await client.request('PATCH', `/api/v1/clusters/${c.id}?wait=45`, { instance_count: 3 });
    expect(out.body.wait.converged).toBe(true);
    expect(out.body.instances.map((i: { status: string }) => i.status)).toEqual(['running', 'running', 'running']);
    const inn = await client.request('PATCH', `/api/v1/clusters/${c.id}?wait=45`, { instance_count: 1 });
    expect(inn.body.wait.converged).toBe(true);
    expect(inn.body.instances.map((i: { instance_name: string }) => i.instance_name)).toEqual(['web-1']);
    await eventually(async () => (await apps.listNamespacedStatefulSet({ namespace: c.namespace })).items.length === 1, 30_000, 'scale-in removed StatefulSets');
    expect((await client.get('/api/v1/users/me/quota')).body).toMatchObject({ used_cpu: 0.5, used_instances: 1 });

    // delete: quota back to zero at once; the namespace goes; then 404.
    const del = await client.delete(`/api/v1/clusters/${c.id}`);
    expect(del.body.detail).toMatchObject({ instances_deleted: 1, namespace_deleted: c.namespace, cpu_released: 0.5, memory_released: 1 });
    expect((await client.get('/api/v1/users/me/quota')).body).toMatchObject({ used_cpu: 0, used_memory: 0, used_instances: 0 });
    await namespaceGone(c.namespace);
    await eventually(async () => (await client.get(`/api/v1/clusters/${c.id}`)).status === 404, 30_000, 'cluster 404 after delete');
  });
});

describe('the VM walk', () => {
  it('create → running → stop → stopped → start → delete', async () => {
    const { client } = await createTenant(server.admin, { cpu: 4, memory: 8 });
    const created = await client.request('POST', '/api/v1/clusters/?wait=45', {
      name: 'vms',
      instance_type: 'vm',
      cpu_per_instance: 1,
      memory_per_instance: 2,
      instance_count: 2,
      ssh_keys: ['ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPd4 user@laptop'],
      volume_size: 5,
    });
    expect(created.status).toBe(201);
    expect(created.body.wait.converged).toBe(true);
    const c = created.body;
    expect(c.instances.map((i: { status: string }) => i.status)).toEqual(['running', 'running']);
    const vm = (await custom.getNamespacedCustomObject({ group: 'kubevirt.io', version: 'v1', namespace: c.namespace, plural: 'virtualmachines', name: 'vms-1' })) as any;
    expect(vm.spec.runStrategy).toBe('Always');
    expect(vm.spec.template.spec.volumes[1].cloudInitNoCloud.userData).toContain('ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPd4 user@laptop');
    expect((await core.readNamespacedPersistentVolumeClaim({ name: 'vms-1-data', namespace: c.namespace })).spec?.resources?.requests?.storage).toBe('5Gi');

    const id = c.instances[0].id;
    const stop = await client.request('POST', `/api/v1/instances/${id}/operate?wait=45`, { operation: 'stop' });
    expect(stop.body.wait.converged).toBe(true);
    expect((await client.get(`/api/v1/instances/${id}`)).body).toMatchObject({ status: 'stopped', phase: 'stopped' });
    const halted = (await custom.getNamespacedCustomObject({ group: 'kubevirt.io', version: 'v1', namespace: c.namespace, plural: 'virtualmachines', name: 'vms-1' })) as any;
    expect(halted.spec.runStrategy).toBe('Halted');
    const start = await client.request('POST', `/api/v1/instances/${id}/operate?wait=45`, { operation: 'start' });
    expect(start.body.wait.converged).toBe(true);

    const del = await client.request('DELETE', `/api/v1/clusters/${c.id}?wait=60`);
    expect(del.body.wait.converged).toBe(true);
    expect((await client.get(`/api/v1/clusters/${c.id}`)).status).toBe(404);
    expect((await client.get('/api/v1/users/me/quota')).body).toMatchObject({ used_cpu: 0, used_memory: 0, used_instances: 0 });
  });
});

describe('VM addresses', () => {
  it('come from the VirtualMachineInstance', async () => {
    const { client } = await createTenant(server.admin, { cpu: 1, memory: 1 });
    const c = (await client.request('POST', '/api/v1/clusters/?wait=45', { name: 'addr', instance_type: 'vm', cpu_per_instance: 1, memory_per_instance: 1, instance_count: 1 })).body;
    const id = c.instances[0].id;
    // The plane's KubeVirt stand-in creates the VMI of a running VM, Running with an address of its own; move it.
    const vmi: any = await eventually(async () => {
      const v: any = await custom.getNamespacedCustomObject({ group: 'kubevirt.io', version: 'v1', namespace: c.namespace, plural: 'virtualmachineinstances', name: 'addr-1' });
      return v.status?.phase === 'Running' ? v : undefined;
    }, 30_000, 'the VMI of addr-1');
    expect(vmi.metadata.labels).toMatchObject({ 'kubekloud.io/instance': String(id) });
    await custom.patchNamespacedCustomObjectStatus(
      { group: 'kubevirt.io', version: 'v1', namespace: c.namespace, plural: 'virtualmachineinstances', name: 'addr-1', body: { status: { nodeName: 'kk-node-1', interfaces: [{ name: 'default', ipAddress: '10.244.1.7' }] } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    await eventually(async () => (await client.get(`/api/v1/instances/${id}`)).body.ip === '10.244.1.7', 30_000, 'VM address recorded');
    const inst = (await client.get(`/api/v1/instances/${id}`)).body;
    expect(inst).toMatchObject({ ip: '10.244.1.7', node: 'kk-node-1', status: 'running' });
  });
});
