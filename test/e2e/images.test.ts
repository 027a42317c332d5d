// Clusters from the image catalogue, end to end: the server as a real process
// on PostgreSQL and the real control plane; a container cluster and a VM
// cluster name catalogue images, and the StatefulSet and VirtualMachine on the
// plane run the catalogue's source as it was when they were created.
import { AppsV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApiClient } from '../support/api.ts';
import { eventually, loadTestKubeConfig } from '../support/kube.ts';
import { createTenant, startServer, type ServerProcess } from '../support/server.ts';

const kc = loadTestKubeConfig();
const apps = kc.makeApiClient(AppsV1Api);
const custom = kc.makeApiClient(CustomObjectsApi);
let server: ServerProcess;
let client: ApiClient;

beforeAll(async () => {
  server = await startServer();
  client = (await createTenant(server.admin, { cpu: 4, memory: 8, instances: 4 })).client;
});
afterAll(async () => {
  await server?.stop();
});

const suffix = Math.random().toString(36).slice(2, 7);

describe('clusters from the image catalogue', () => {
  it('render the catalogue source into the StatefulSet and the VirtualMachine, and keep it when the entry changes', async () => {
    const app = `app-${suffix}`;
    const vm = `vm-${suffix}`;
    expect((await server.admin.post('/api/v1/images/', { name: app, kind: 'container', source: 'docker.io/nginxinc/nginx-unprivileged:1.27-alpine', min_cpu: 0.1 })).status).toBe(201);
    expect((await server.admin.post('/api/v1/images/', { name: vm, kind: 'vm', source: 'docker://quay.io/containerdisks/fedora:40', min_memory: 0.5 })).status).toBe(201);

    const c = await client.post('/api/v1/clusters/', { name: 'cat', instance_type: 'container', cpu_per_instance: 0.25, memory_per_instance: 0.25, instance_count: 1, image: app });
    expect(c.status, JSON.stringify(c.body)).toBe(201);
    const v = await client.post('/api/v1/clusters/', { name: 'catvm', instance_type: 'vm', cpu_per_instance: 0.5, memory_per_instance: 0.5, instance_count: 1, image: vm });
    expect(v.status, JSON.stringify(v.body)).toBe(201);

    const sts = await eventually(
      () => apps.readNamespacedStatefulSet({ namespace: c.body.namespace, name: c.body.instances[0].instance_name }).catch(() => undefined),
      60_000,
      'the StatefulSet',
    );
    expect(sts.spec!.template.spec!.containers[0]!.image).toBe('docker.io/nginxinc/nginx-unprivileged:1.27-alpine');
    type Vm = { spec: { template: { spec: { volumes: { name: string; containerDisk?: { image: string } }[] } } } };
    const readVm = () =>
      custom
        .getNamespacedCustomObject({ group: 'kubevirt.io', version: 'v1', plural: 'virtualmachines', namespace: v.body.namespace, name: v.body.instances[0].instance_name })
        .then((o) => o as Vm)
        .catch(() => undefined);
    const live = await eventually(readVm, 60_000, 'the VirtualMachine');
    // The docker:// source is the containerDisk's image reference.
    expect(live.spec.template.spec.volumes.find((x) => x.name === 'rootdisk')?.containerDisk?.image).toBe('quay.io/containerdisks/fedora:40');

    // A later edit of the entry changes what new clusters get, not what runs: a resync finds nothing to roll.
    expect((await server.admin.patch(`/api/v1/images/${app}`, { source: 'docker.io/nginxinc/nginx-unprivileged:1.28-alpine' })).status).toBe(200);
    expect((await client.patch(`/api/v1/clusters/${c.body.id}`, { instance_count: 2 })).status).toBe(200);
    const second = await eventually(
      () => apps.readNamespacedStatefulSet({ namespace: c.body.namespace, name: `cat-2` }).catch(() => undefined),
      60_000,
      'the second StatefulSet',
    );
    expect(second.spec!.template.spec!.containers[0]!.image).toBe('docker.io/nginxinc/nginx-unprivileged:1.27-alpine');
    expect((await apps.readNamespacedStatefulSet({ namespace: c.body.namespace, name: 'cat-1' })).spec!.template.spec!.containers[0]!.image).toBe(
      'docker.io/nginxinc/nginx-unprivileged:1.27-alpine',
    );

    await client.delete(`/api/v1/clusters/${c.body.id}`);
    await client.delete(`/api/v1/clusters/${v.body.id}`);
  });
});
