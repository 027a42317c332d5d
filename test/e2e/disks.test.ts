// Persistent root disks, end to end: the server as a real process on
// PostgreSQL and the real control plane, where the KubeVirt stand-in creates
// each VM's DataVolume from its template and imports it as CDI would (claim
// bound by the plane's provisioner through the real PV controller, progress
// rising to 100 %, or failing with CDI's reason; docs/LOCAL-CLUSTER.md).
import { CoreV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApiClient } from '../support/api.ts';
import { eventually, gone, loadTestKubeConfig } from '../support/kube.ts';
import { createTenant, startServer, type ServerProcess } from '../support/server.ts';

const kc = loadTestKubeConfig();
const core = kc.makeApiClient(CoreV1Api);
const custom = kc.makeApiClient(CustomObjectsApi);
let server: ServerProcess;
let client: ApiClient;
let tenantId: number;

beforeAll(async () => {
  server = await startServer();
  const t = await createTenant(server.admin, { cpu: 4, memory: 8, instances: 4 });
  client = t.client;
  tenantId = t.user.id;
  expect((await server.admin.patch(`/api/v1/users/${tenantId}`, { quota_storage_gb: 10 })).status).toBe(200);
});
afterAll(async () => {
  await server?.stop();
});

const suffix = Math.random().toString(36).slice(2, 7);
type Instance = { id: number; instance_name: string; phase: string; status: string; progress?: number; message: string | null };
type DataVolume = { metadata: { labels?: Record<string, string>; ownerReferences?: { kind: string }[] }; spec: { source: unknown; storage: { resources: { requests: { storage: string } } } } };

const instanceOf = async (clusterId: number): Promise<Instance> => (await client.get(`/api/v1/clusters/${clusterId}`)).body.instances[0];

/** Follows the instance through the API until `done` says so, keeping every (phase, progress) it showed on the way. */
async function follow(clusterId: number, done: (i: Instance) => boolean, timeoutMs: number): Promise<{ last: Instance; seen: { phase: string; progress?: number }[] }> {
  const seen: { phase: string; progress?: number }[] = [];
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const i = await instanceOf(clusterId);
    const prev = seen.at(-1);
    if (!prev || prev.phase !== i.phase || prev.progress !== i.progress) seen.push({ phase: i.phase, progress: i.progress });
    if (done(i)) return { last: i, seen };
    if (Date.now() > deadline) throw new Error(`instance ${i.id} still ${i.phase} after ${timeoutMs} ms: ${JSON.stringify(seen)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('a VM with a persistent root disk', () => {
  it('imports its disk with progress shown, runs from it, keeps it across stop and start, and frees it with the cluster', async () => {
    const image = `noble-${suffix}`;
    expect((await server.admin.post('/api/v1/images/', { name: image, kind: 'vm', source: 'https://images.example/noble-server.img', default_disk_gb: 4 })).status).toBe(201);
    const c = await client.post('/api/v1/clusters/', { name: 'disk', instance_type: 'vm', cpu_per_instance: 0.5, memory_per_instance: 0.5, instance_count: 1, image, disk_size: 3 });
    expect(c.status, JSON.stringify(c.body)).toBe(201);
    expect(c.body.disk_size).toBe(3);
    expect((await client.get('/api/v1/users/me/quota')).body).toMatchObject({ used_storage_gb: 3, available_storage_gb: 7 });
    const name = c.body.instances[0].instance_name;
    const ns = c.body.namespace;

    // KubeVirt made the DataVolume from the VM's template: our labels, owned by the VM, the image's URL, the size asked.
    const dv = await eventually(
      () => custom.getNamespacedCustomObject({ group: 'cdi.kubevirt.io', version: 'v1beta1', plural: 'datavolumes', namespace: ns, name: `${name}-root` }).then((o) => o as DataVolume).catch(() => undefined),
      60_000,
      'the root disk DataVolume',
    );
    expect(dv.spec.source).toEqual({ http: { url: 'https://images.example/noble-server.img' } });
    expect(dv.spec.storage.resources.requests.storage).toBe('3Gi');
    expect(dv.metadata.labels?.['kubekloud.io/instance']).toBe(String(c.body.instances[0].id));
    expect(dv.metadata.ownerReferences?.map((o) => o.kind)).toEqual(['VirtualMachine']);

    // Provisioning with rising progress, then running.
    const { seen } = await follow(c.body.id, (i) => i.phase === 'running', 90_000);
    const importing = seen.filter((s) => s.phase === 'provisioning');
    expect(importing.length, JSON.stringify(seen)).toBeGreaterThan(0);
    const progress = importing.map((s) => s.progress).filter((p): p is number => p !== undefined);
    expect(progress.some((p) => p > 0 && p < 100), JSON.stringify(seen)).toBe(true);
    expect(progress).toEqual([...progress].sort((a, b) => a - b));
    expect(seen.every((s) => s.phase !== 'failed')).toBe(true);
    const running = await instanceOf(c.body.id);
    expect(running.status).toBe('running');
    expect(running.progress).toBeUndefined();
    const claim = await core.readNamespacedPersistentVolumeClaim({ namespace: ns, name: `${name}-root` });
    expect(claim.status?.phase).toBe('Bound');

    // Stop and start: the same claim, the same volume.
    expect((await client.post(`/api/v1/instances/${running.id}/operate?wait=60`, { operation: 'stop' })).status).toBe(200);
    expect((await instanceOf(c.body.id)).phase).toBe('stopped');
    expect((await core.readNamespacedPersistentVolumeClaim({ namespace: ns, name: `${name}-root` })).metadata?.uid).toBe(claim.metadata?.uid);
    expect((await client.post(`/api/v1/instances/${running.id}/operate?wait=60`, { operation: 'start' })).status).toBe(200);
    expect((await instanceOf(c.body.id)).phase).toBe('running');
    const again = await core.readNamespacedPersistentVolumeClaim({ namespace: ns, name: `${name}-root` });
    expect([again.metadata?.uid, again.spec?.volumeName]).toEqual([claim.metadata?.uid, claim.spec?.volumeName]);

    expect((await client.delete(`/api/v1/clusters/${c.body.id}`)).status).toBe(200);
    expect((await client.get('/api/v1/users/me/quota')).body.used_storage_gb).toBe(0);
  }, 240_000);

  it('whose import fails is failed, with the reason CDI gave, and holds its storage until deleted', async () => {
    const image = `broken-${suffix}`;
    expect((await server.admin.post('/api/v1/images/', { name: image, kind: 'vm', source: 'https://images.example/fail/missing.img' })).status).toBe(201);
    const c = await client.post('/api/v1/clusters/', { name: 'bad', instance_type: 'vm', cpu_per_instance: 0.5, memory_per_instance: 0.5, instance_count: 1, image, disk_size: 2 });
    expect(c.status, JSON.stringify(c.body)).toBe(201);
    const { last } = await follow(c.body.id, (i) => i.phase === 'failed', 90_000);
    expect(last.status).toBe('failed');
    expect(last.message).toMatch(/^root disk import failed .*404/);
    expect((await client.get('/api/v1/users/me/quota')).body.used_storage_gb).toBe(2);
    expect((await client.delete(`/api/v1/clusters/${c.body.id}`)).status).toBe(200);
    expect((await client.get('/api/v1/users/me/quota')).body.used_storage_gb).toBe(0);
  }, 180_000);
});

describe('disks kept on request', () => {
  it('a scale-in with keep_disks removes the VM and keeps its root and data disks, holding their storage until deleted', async () => {
    const image = `keep-${suffix}`;
    expect((await server.admin.post('/api/v1/images/', { name: image, kind: 'vm', source: 'https://images.example/keep.img' })).status).toBe(201);
    const c = await client.post('/api/v1/clusters/?wait=150', { name: 'keep', instance_type: 'vm', cpu_per_instance: 0.5, memory_per_instance: 0.5, instance_count: 2, image, disk_size: 2, volume_size: 1 });
    expect(c.status, JSON.stringify(c.body)).toBe(201);
    expect(c.body.wait.converged).toBe(true);
    const ns = c.body.namespace;
    const second = c.body.instances[1];
    expect((await client.get('/api/v1/users/me/quota')).body.used_storage_gb).toBe(6);
    const root = await core.readNamespacedPersistentVolumeClaim({ namespace: ns, name: `${second.instance_name}-root` });

    const bad = await client.patch(`/api/v1/clusters/${c.body.id}`, { instance_count: 3, keep_disks: true });
    expect([bad.status, JSON.stringify(bad.body.detail)]).toEqual([422, expect.stringContaining('applies to a scale-in only')]);
    const scaled = await client.patch(`/api/v1/clusters/${c.body.id}?wait=90`, { instance_count: 1, keep_disks: true });
    expect(scaled.status, JSON.stringify(scaled.body)).toBe(200);
    expect(scaled.body.detail).toMatchObject({ removed: 1, disks_kept: 2 });
    expect(scaled.body.wait.converged).toBe(true);
    // The disks still hold their storage; the CPU and memory are released.
    expect((await client.get('/api/v1/users/me/quota')).body).toMatchObject({ used_storage_gb: 6, used_instances: 1 });

    // The VM and its running instance are gone; its DataVolume and both claims stay, the same volumes, no longer owned.
    const vmGone = () => custom.getNamespacedCustomObject({ group: 'kubevirt.io', version: 'v1', plural: 'virtualmachines', namespace: ns, name: second.instance_name });
    await eventually(() => gone(vmGone), 30_000, 'the VM deleted');
    expect(await gone(() => custom.getNamespacedCustomObject({ group: 'kubevirt.io', version: 'v1', plural: 'virtualmachineinstances', namespace: ns, name: second.instance_name }))).toBe(true);
    const dv = (await custom.getNamespacedCustomObject({ group: 'cdi.kubevirt.io', version: 'v1beta1', plural: 'datavolumes', namespace: ns, name: `${second.instance_name}-root` })) as DataVolume;
    expect(dv.metadata.ownerReferences ?? []).toEqual([]);
    const keptRoot = await core.readNamespacedPersistentVolumeClaim({ namespace: ns, name: `${second.instance_name}-root` });
    expect([keptRoot.metadata?.uid, keptRoot.spec?.volumeName, keptRoot.status?.phase]).toEqual([root.metadata?.uid, root.spec?.volumeName, 'Bound']);
    expect((await core.readNamespacedPersistentVolumeClaim({ namespace: ns, name: `${second.instance_name}-data` })).status?.phase).toBe('Bound');
    // The namespace's quota leaves room for them: the remaining VM's claims plus one instance's, plus the kept ones.
    const rq = await core.readNamespacedResourceQuota({ namespace: ns, name: 'kubekloud-quota' });
    expect(rq.spec?.hard).toMatchObject({ persistentvolumeclaims: '6', 'requests.storage': '9Gi' });

    const list = await client.get(`/api/v1/clusters/${c.body.id}/disks`);
    expect(list.body.items.map((d: { kind: string; k8s_resource_name: string; size_gb: number; status: string }) => [d.kind, d.k8s_resource_name, d.size_gb, d.status])).toEqual([
      ['root', `${second.instance_name}-root`, 2, 'kept'],
      ['data', `${second.instance_name}-data`, 1, 'kept'],
    ]);

    // Deleted one by one: storage released at once, the object removed.
    const rootDisk = list.body.items[0];
    const del = await client.delete(`/api/v1/clusters/${c.body.id}/disks/${rootDisk.id}`);
    expect(del.status).toBe(200);
    expect(del.body.detail).toEqual({ disk_id: rootDisk.id, storage_released: 2 });
    expect((await client.get('/api/v1/users/me/quota')).body.used_storage_gb).toBe(4);
    await eventually(
      () => gone(() => core.readNamespacedPersistentVolumeClaim({ namespace: ns, name: `${second.instance_name}-root` })),
      30_000,
      'the kept root disk deleted with its claim',
    );
    expect((await client.delete(`/api/v1/clusters/${c.body.id}/disks/${rootDisk.id}`)).status).toBe(404);
    // The cluster's delete releases the rest.
    expect((await client.delete(`/api/v1/clusters/${c.body.id}`)).status).toBe(200);
    expect((await client.get('/api/v1/users/me/quota')).body.used_storage_gb).toBe(0);
  }, 300_000);
});
