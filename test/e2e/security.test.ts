// Security properties that need the real control plane: no server-side
// request forgery, fenced tenant namespaces, hardened workloads.
import { AppsV1Api, CoreV1Api, CustomObjectsApi, NetworkingV1Api } from '@kubernetes/client-node';
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadTestKubeConfig } from '../support/kube.ts';
import { createTenant, startServer, type ServerProcess } from '../support/server.ts';

const kc = loadTestKubeConfig();
const core = kc.makeApiClient(CoreV1Api);
const apps = kc.makeApiClient(AppsV1Api);
const net = kc.makeApiClient(NetworkingV1Api);
const custom = kc.makeApiClient(CustomObjectsApi);

let server: ServerProcess;
let trap: Server;
let trapHits = 0;
let trapPort = 0;

beforeAll(async () => {
  trap = createServer((_req, res) => {
    trapHits++;
    res.end('#cloud-config\n');
  });
  await new Promise<void>((r) => trap.listen(0, '127.0.0.1', () => r()));
  trapPort = (trap.address() as { port: number }).port;
  // The embedded database, as `npm run dev` runs it.
  server = await startServer({ embedded: true });
});
afterAll(async () => {
  await server?.stop();
  await new Promise((r) => trap.close(r));
});

describe('API7 server-side request forgery', () => {
  it('never fetches a URL a user put in an image or in user data', async () => {
    const { client } = await createTenant(server.admin, { cpu: 2, memory: 4 });
    const vm = await client.request('POST', '/api/v1/clusters/?wait=45', {
      name: 'ssrf',
      instance_type: 'vm',
      cpu_per_instance: 1,
      memory_per_instance: 1,
      instance_count: 1,
      image: `127.0.0.1:${trapPort}/probe/disk:1`,
      user_data: `#include\nhttp://127.0.0.1:${trapPort}/user-data\n`,
    });
    expect(vm.status).toBe(201);
    expect(vm.body.wait.converged).toBe(true);
    const container = await client.request('POST', '/api/v1/clusters/?wait=45', {
      name: 'ssrf2', instance_type: 'container', cpu_per_instance: 0.5, memory_per_instance: 0.5, instance_count: 1, image: `127.0.0.1:${trapPort}/probe/app:1`,
    });
    expect(container.body.wait.converged).toBe(true);
    // A URL is not an image reference at all.
    expect((await client.post('/api/v1/clusters/', { name: 'ssrf3', instance_type: 'container', cpu_per_instance: 0.5, memory_per_instance: 0.5, instance_count: 1, image: `http://127.0.0.1:${trapPort}/x` })).status).toBe(422);
    expect(trapHits).toBe(0);
  });
});

describe('tenant namespaces', () => {
  it('each have a ResourceQuota, a LimitRange and a default-deny NetworkPolicy', async () => {
    const { client } = await createTenant(server.admin, { cpu: 2, memory: 2 });
    const c = (await client.request('POST', '/api/v1/clusters/?wait=45', { name: 'fenced', instance_type: 'container', cpu_per_instance: 0.5, memory_per_instance: 0.5, instance_count: 2 })).body;
    const rq = (await core.listNamespacedResourceQuota({ namespace: c.namespace })).items;
    expect(rq[0]?.spec?.hard).toMatchObject({ 'requests.cpu': '1500m', 'limits.memory': '1536Mi', pods: '3', 'services.nodeports': '0' });
    expect((await core.listNamespacedLimitRange({ namespace: c.namespace })).items).toHaveLength(1);
    const np = (await net.listNamespacedNetworkPolicy({ namespace: c.namespace })).items;
    expect(np.map((p) => p.metadata?.name)).toEqual(['kubekloud-default-deny']);
    const spec = JSON.parse(JSON.stringify(np[0]!.spec));
    expect(spec.policyTypes).toEqual(['Ingress']);
    expect(spec.podSelector).toEqual({});
    expect(spec.ingress).toHaveLength(1);
    expect(Object.values(spec.ingress[0])).toEqual([[{ podSelector: {} }]]);
  });

  it('hold only workloads without privilege, host access or NodePorts', async () => {
    const { client } = await createTenant(server.admin, { cpu: 4, memory: 4 });
    const c = (await client.request('POST', '/api/v1/clusters/?wait=45', {
      name: 'hard', instance_type: 'container', cpu_per_instance: 0.5, memory_per_instance: 0.5, instance_count: 1,
      ports: [{ port: 8080 }], service_type: 'LoadBalancer', env: { PRIVILEGED: 'true' },
    })).body;
    expect(c.wait, JSON.stringify(c)).toEqual(expect.objectContaining({ converged: true }));
    const sts = (await apps.readNamespacedStatefulSet({ name: 'hard-1', namespace: c.namespace })).spec!.template.spec!;
    expect(sts.hostNetwork ?? false).toBe(false);
    expect(sts.hostPID ?? false).toBe(false);
    expect(sts.hostIPC ?? false).toBe(false);
    expect((sts.volumes ?? []).some((v) => v.hostPath)).toBe(false);
    for (const ctr of sts.containers) {
      expect(ctr.securityContext?.privileged ?? false).toBe(false);
      expect(ctr.securityContext?.allowPrivilegeEscalation).toBe(false);
      expect(ctr.securityContext?.capabilities?.drop).toEqual(['ALL']);
    }
    const pods = await core.listNamespacedPod({ namespace: c.namespace });
    expect(pods.items).toHaveLength(1); // admitted under the restricted profile
    const svc = await core.readNamespacedService({ name: 'hard-1', namespace: c.namespace });
    expect(svc.spec?.type).toBe('LoadBalancer');
    const refused = await client.post('/api/v1/clusters/', { name: 'np', instance_type: 'container', cpu_per_instance: 0.5, memory_per_instance: 0.5, instance_count: 1, ports: [{ port: 80 }], service_type: 'NodePort' });
    expect(refused.status).toBe(422);
    expect(refused.body.detail[0].msg).toContain('NodePort services are not allowed');
  });

  it('allow NodePorts only where the operator says so', async () => {
    const allowing = await startServer({ env: { KUBEKLOUD_ALLOW_NODEPORT: 'true' } });
    try {
      const { client } = await createTenant(allowing.admin, { cpu: 1, memory: 1 });
      const c = await client.request('POST', '/api/v1/clusters/?wait=45', { name: 'np', instance_type: 'container', cpu_per_instance: 0.5, memory_per_instance: 0.5, instance_count: 1, ports: [{ port: 80 }], service_type: 'NodePort' });
      expect(c.status).toBe(201);
      expect((await core.readNamespacedService({ name: 'np-1', namespace: c.body.namespace })).spec?.type).toBe('NodePort');
    } finally {
      await allowing.stop();
    }
  });

  it('keep VMs to what the cluster asked for', async () => {
    const { client } = await createTenant(server.admin, { cpu: 2, memory: 4 });
    const c = (await client.request('POST', '/api/v1/clusters/?wait=45', { name: 'vmfence', instance_type: 'vm', cpu_per_instance: 1, memory_per_instance: 2, instance_count: 1 })).body;
    const vm = (await custom.getNamespacedCustomObject({ group: 'kubevirt.io', version: 'v1', namespace: c.namespace, plural: 'virtualmachines', name: 'vmfence-1' })) as any;
    expect(vm.spec.template.spec.domain.resources.limits).toEqual({ cpu: '1', memory: '2Gi' });
    const ns = await core.readNamespace({ name: c.namespace });
    expect(ns.metadata?.labels?.['pod-security.kubernetes.io/enforce']).toBe('baseline');
  });
});
