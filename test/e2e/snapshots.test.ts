// Snapshots and restores end to end: the server as a real process on
// PostgreSQL and the real control plane, where the stand-ins take a
// VolumeSnapshot as a copy of the claim's volume directory, a
// VirtualMachineSnapshot as one VolumeSnapshot per claim, restore a VM only
// once it is halted (new claims from the snapshots, the VM pointed at them) and
// provision a claim made from a VolumeSnapshot as a copy of it
// (docs/LOCAL-CLUSTER.md). What a restore brings back is read from the
// volumes' directories: written before the snapshot, overwritten after, the
// first content is what the instance runs from once restored.
import { CoreV1Api, CustomObjectsApi, type V1PersistentVolumeClaim } from '@kubernetes/client-node';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
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
  expect((await server.admin.patch(`/api/v1/users/${tenantId}`, { quota_storage_gb: 20 })).status).toBe(200);
});
afterAll(async () => {
  await server?.stop();
});

const suffix = Math.random().toString(36).slice(2, 7);
const usedStorage = async () => (await client.get('/api/v1/users/me/quota')).body.used_storage_gb as number;
const claim = (ns: string, name: string) => core.readNamespacedPersistentVolumeClaim({ namespace: ns, name });
/** The directory the plane's provisioner made for a bound claim's volume. */
async function volumeDir(c: V1PersistentVolumeClaim): Promise<string> {
  expect(c.status?.phase).toBe('Bound');
  return (await core.readPersistentVolume({ name: c.spec!.volumeName! })).spec!.hostPath!.path;
}
const mark = async (c: V1PersistentVolumeClaim, text: string) => writeFileSync(join(await volumeDir(c), 'marker'), text);
const markOf = async (c: V1PersistentVolumeClaim) => readFileSync(join(await volumeDir(c), 'marker'), 'utf8');

describe('a VM with a root disk and a data disk', () => {
  it('is snapshotted, stopped for a restore and started again from the snapshot, and keeps the restored disks from then on', async () => {
    const image = `snap-${suffix}`;
    expect((await server.admin.post('/api/v1/images/', { name: image, kind: 'vm', source: 'https://images.example/noble.img' })).status).toBe(201);
    const c = await client.post('/api/v1/clusters/?wait=150', { name: 'snapvm', instance_type: 'vm', cpu_per_instance: 0.5, memory_per_instance: 0.5, instance_count: 1, image, disk_size: 2, volume_size: 1 });
    expect(c.status, JSON.stringify(c.body)).toBe(201);
    expect(c.body.wait.converged).toBe(true);
    const i = c.body.instances[0];
    const ns = c.body.namespace;
    expect(await usedStorage()).toBe(3);
    await mark(await claim(ns, `${i.instance_name}-root`), 'root as it was');
    await mark(await claim(ns, `${i.instance_name}-data`), 'data as it was');

    const snap = await client.post(`/api/v1/instances/${i.id}/snapshots?wait=60`, { name: 'first' });
    expect(snap.status, JSON.stringify(snap.body)).toBe(201);
    expect(snap.body).toMatchObject({ name: 'first', kind: 'vm', status: 'ready', size_gb: 3, message: null, wait: { converged: true } });
    expect(await usedStorage()).toBe(6);
    const vmSnap = (await custom.getNamespacedCustomObject({ group: 'snapshot.kubevirt.io', version: 'v1beta1', plural: 'virtualmachinesnapshots', namespace: ns, name: snap.body.k8s_resource_name })) as any;
    expect(vmSnap.spec.source).toEqual({ apiGroup: 'kubevirt.io', kind: 'VirtualMachine', name: i.instance_name });
    expect(vmSnap.status.snapshotVolumes.includedVolumes).toEqual(['rootdisk', 'data']);

    await mark(await claim(ns, `${i.instance_name}-root`), 'root overwritten');
    await mark(await claim(ns, `${i.instance_name}-data`), 'data overwritten');

    const restore = await client.post(`/api/v1/instances/${i.id}/snapshots/${snap.body.id}/restore?wait=150`);
    expect(restore.status, JSON.stringify(restore.body)).toBe(202);
    expect(restore.body.message).toBe(`Instance '${i.instance_name}' was running: it is stopped for the restore of snapshot 'first', and started again once restored`);
    expect(restore.body.detail.stopped_first).toBe(true);
    expect(restore.body.wait).toMatchObject({ converged: true });
    const after = (await client.get(`/api/v1/instances/${i.id}/snapshots/${snap.body.id}`)).body;
    expect(after.last_restore).toMatchObject({ phase: 'done', resume_status: 'running', message: null });
    // Not running here would be the product's fault: the answer says why, with the instance's transitions so far.
    const back = (await client.get(`/api/v1/instances/${i.id}`)).body;
    const transitions = async () => JSON.stringify(((await client.get(`/api/v1/clusters/${c.body.id}/history?limit=50`)).body.items ?? []).map((h: any) => `${h.at} ${h.message}`));
    if (back.phase !== 'running') expect.fail(`restored instance reads ${back.phase} after the restore's wait converged; history: ${await transitions()}`);
    expect(back).toMatchObject({ phase: 'running', desired_status: 'running' });

    // KubeVirt restored into new claims and pointed the VM at them; they hold what was snapshotted.
    const vm = (await custom.getNamespacedCustomObject({ group: 'kubevirt.io', version: 'v1', plural: 'virtualmachines', namespace: ns, name: i.instance_name })) as any;
    const volumes = Object.fromEntries(vm.spec.template.spec.volumes.map((v: any) => [v.name, v.dataVolume?.name ?? v.persistentVolumeClaim?.claimName]));
    expect(volumes.rootdisk).toMatch(/^restore-[0-9a-f-]+-rootdisk$/);
    expect(volumes.data).toMatch(/^restore-[0-9a-f-]+-data$/);
    expect(await markOf(await claim(ns, volumes.rootdisk))).toBe('root as it was');
    expect(await markOf(await claim(ns, volumes.data))).toBe('data as it was');
    // The claims they replaced are gone: the old root disk with its DataVolume (KubeVirt), the old data disk (KubeKloud).
    await eventually(() => gone(() => claim(ns, `${i.instance_name}-data`)), 30_000, 'the replaced data claim deleted');
    await eventually(() => gone(() => claim(ns, `${i.instance_name}-root`)), 30_000, 'the replaced root disk deleted');

    // Stopped and started again, the VM is applied as KubeKloud renders it: still the restored disks, nothing imported anew.
    expect((await client.post(`/api/v1/instances/${i.id}/operate?wait=60`, { operation: 'stop' })).body.wait.converged).toBe(true);
    expect((await client.post(`/api/v1/instances/${i.id}/operate?wait=60`, { operation: 'start' })).body.wait.converged).toBe(true);
    const again = (await custom.getNamespacedCustomObject({ group: 'kubevirt.io', version: 'v1', plural: 'virtualmachines', namespace: ns, name: i.instance_name })) as any;
    expect(again.spec.dataVolumeTemplates.map((t: any) => t.metadata.name)).toEqual([volumes.rootdisk]);
    expect(again.spec.template.spec.volumes).toEqual(vm.spec.template.spec.volumes);
    expect(await markOf(await claim(ns, volumes.rootdisk))).toBe('root as it was');

    // Deleted: its storage released, its object removed.
    const del = await client.delete(`/api/v1/instances/${i.id}/snapshots/${snap.body.id}`);
    expect(del.status).toBe(200);
    expect(await usedStorage()).toBe(3);
    // Listed as 'deleting' until the reconciler has asked Kubernetes to delete its object, then not at all.
    const listed = async () => (await client.get(`/api/v1/instances/${i.id}/snapshots`)).body as { items: { status: string }[]; total: number };
    for (const s of (await listed()).items) expect(s.status).toBe('deleting');
    await eventually(async () => (await listed()).total === 0, 30_000, 'the snapshot gone from the list');
    await eventually(
      () => gone(() => custom.getNamespacedCustomObject({ group: 'snapshot.kubevirt.io', version: 'v1beta1', plural: 'virtualmachinesnapshots', namespace: ns, name: snap.body.k8s_resource_name })),
      30_000,
      'the VirtualMachineSnapshot deleted',
    );
    expect((await client.delete(`/api/v1/clusters/${c.body.id}`)).status).toBe(200);
    expect(await usedStorage()).toBe(0);
  }, 400_000);
});

describe("a container's volume", () => {
  it('is snapshotted by a VolumeSnapshot and restored as a claim made from it, the container stopped first and started again', async () => {
    const c = await client.post('/api/v1/clusters/?wait=90', { name: 'snapdb', instance_type: 'container', cpu_per_instance: 0.25, memory_per_instance: 0.25, instance_count: 1, image: 'registry.example/db:1', volume_size: 1 });
    expect(c.status, JSON.stringify(c.body)).toBe(201);
    expect(c.body.wait.converged).toBe(true);
    const i = c.body.instances[0];
    const ns = c.body.namespace;
    const dataClaim = `data-${i.instance_name}-0`;
    const original = await claim(ns, dataClaim);
    await mark(original, 'rows as they were');

    const snap = await client.post(`/api/v1/instances/${i.id}/snapshots?wait=60`, {});
    expect(snap.status, JSON.stringify(snap.body)).toBe(201);
    expect(snap.body).toMatchObject({ kind: 'volume', status: 'ready', size_gb: 1, wait: { converged: true } });
    const vs = (await custom.getNamespacedCustomObject({ group: 'snapshot.storage.k8s.io', version: 'v1', plural: 'volumesnapshots', namespace: ns, name: snap.body.k8s_resource_name })) as any;
    expect(vs.spec.source).toEqual({ persistentVolumeClaimName: dataClaim });
    expect(vs.status.readyToUse).toBe(true);
    await mark(original, 'rows overwritten');

    const restore = await client.post(`/api/v1/instances/${i.id}/snapshots/${snap.body.id}/restore?wait=120`);
    expect(restore.status, JSON.stringify(restore.body)).toBe(202);
    expect(restore.body.detail.stopped_first).toBe(true);
    expect(restore.body.wait).toMatchObject({ converged: true });
    expect((await client.get(`/api/v1/instances/${i.id}/snapshots/${snap.body.id}`)).body.last_restore).toMatchObject({ phase: 'done' });
    expect((await client.get(`/api/v1/instances/${i.id}`)).body).toMatchObject({ phase: 'running' });

    // The claim the StatefulSet mounts is a new one, made from the snapshot, holding what was snapshotted.
    const restored = await claim(ns, dataClaim);
    expect(restored.metadata?.uid).not.toBe(original.metadata?.uid);
    expect(restored.spec?.dataSource).toEqual({ apiGroup: 'snapshot.storage.k8s.io', kind: 'VolumeSnapshot', name: snap.body.k8s_resource_name });
    expect(restored.metadata?.annotations?.['kubekloud.io/restored-from']).toBe(`${snap.body.k8s_resource_name}/restore-${restore.body.detail.restore_id}`);
    expect(await markOf(restored)).toBe('rows as they were');
    const pod = await core.readNamespacedPod({ namespace: ns, name: `${i.instance_name}-0` });
    expect(pod.spec?.volumes?.find((v) => v.name === 'data')?.persistentVolumeClaim?.claimName).toBe(dataClaim);

    expect((await client.delete(`/api/v1/clusters/${c.body.id}`)).status).toBe(200);
    expect(await usedStorage()).toBe(0);
  }, 300_000);
});
