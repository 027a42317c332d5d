// A provisioning failure is visible in status with the Kubernetes reason, and
// clears by itself once the cause is fixed.
import { CoreV1Api, RbacAuthorizationV1Api, type V1PolicyRule } from '@kubernetes/client-node';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { eventually, loadTestKubeConfig, serviceAccountUser } from '../support/kube.ts';
import { createTestDatabase, type TestDatabase } from '../support/postgres.ts';
import { writeImpersonatingKubeconfig } from '../support/saKubeconfig.ts';
import { createTenant, randomLabel, startServer, type ServerProcess } from '../support/server.ts';

const kc = loadTestKubeConfig();
const core = kc.makeApiClient(CoreV1Api);
const rbac = kc.makeApiClient(RbacAuthorizationV1Api);
const label = randomLabel();
const saNamespace = `${label}-sa`;
const roleName = `${label}-limited`;
let db: TestDatabase;
let server: ServerProcess;

const READ = ['get', 'list', 'watch'];
const WRITE = [...READ, 'create', 'patch', 'update', 'delete'];
const rules = (canWriteStatefulSets: boolean): V1PolicyRule[] => [
  { apiGroups: [''], resources: ['namespaces', 'resourcequotas', 'limitranges', 'services', 'persistentvolumeclaims'], verbs: WRITE },
  { apiGroups: ['networking.k8s.io'], resources: ['networkpolicies'], verbs: WRITE },
  { apiGroups: [''], resources: ['pods'], verbs: READ },
  { apiGroups: ['apps'], resources: ['statefulsets'], verbs: canWriteStatefulSets ? WRITE : READ },
  { apiGroups: ['kubevirt.io'], resources: ['virtualmachines', 'virtualmachineinstances'], verbs: WRITE },
];

beforeAll(async () => {
  await core.createNamespace({ body: { metadata: { name: saNamespace } } });
  await core.createNamespacedServiceAccount({ namespace: saNamespace, body: { metadata: { name: 'api' } } });
  await rbac.createClusterRole({ body: { metadata: { name: roleName }, rules: rules(false) } });
  await rbac.createClusterRoleBinding({
    body: {
      metadata: { name: roleName },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: roleName },
      subjects: [{ kind: 'ServiceAccount', name: 'api', namespace: saNamespace }],
    },
  });
  const kubeconfig = writeImpersonatingKubeconfig(join(mkdtempSync(join(tmpdir(), 'kubekloud-sa-')), 'kubeconfig'), serviceAccountUser(saNamespace, 'api'));
  db = await createTestDatabase();
  server = await startServer({ databaseUrl: db.url, installation: label, env: { KUBECONFIG: kubeconfig } });
});
afterAll(async () => {
  await server?.stop();
  await db?.drop();
  await rbac.deleteClusterRoleBinding({ name: roleName }).catch(() => {});
  await rbac.deleteClusterRole({ name: roleName }).catch(() => {});
  await core.deleteNamespace({ name: saNamespace }).catch(() => {});
});

it('shows failed with the Kubernetes reason, then converges once the cause is fixed', async () => {
  const { client } = await createTenant(server.admin, { cpu: 1, memory: 1 });
  const c = (await client.post('/api/v1/clusters/', { name: 'denied', instance_type: 'container', cpu_per_instance: 0.5, memory_per_instance: 0.5, instance_count: 1 })).body;
  const failed = await eventually(async () => {
    const i = (await client.get(`/api/v1/instances/${c.instances[0].id}`)).body;
    return i.status === 'failed' ? i : undefined;
  }, 30_000, 'instance failed');
  expect(failed.message).toContain('Kubernetes rejected the StatefulSet');
  expect(failed.message).toContain('forbidden');
  expect((await client.get(`/api/v1/clusters/${c.id}`)).body.status).toBe('degraded');

  await rbac.replaceClusterRole({ name: roleName, body: { metadata: { name: roleName }, rules: rules(true) } });
  await eventually(async () => (await client.get(`/api/v1/instances/${c.instances[0].id}`)).body.status === 'running', 90_000, 'running after the fix');
  expect((await client.get(`/api/v1/instances/${c.instances[0].id}`)).body.message).toBeFalsy();
  await client.delete(`/api/v1/clusters/${c.id}`);
});
