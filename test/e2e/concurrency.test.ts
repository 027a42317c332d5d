// Quota never over-commits: 50 simultaneous creates against a quota that fits
// 5, spread over two server processes sharing one database and one cluster.
import { AppsV1Api } from '@kubernetes/client-node';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { eventually, loadTestKubeConfig } from '../support/kube.ts';
import { createTestDatabase, type TestDatabase } from '../support/postgres.ts';
import { createTenant, randomLabel, startServer, type ServerProcess } from '../support/server.ts';

let db: TestDatabase;
let a: ServerProcess;
let b: ServerProcess;
const apps = loadTestKubeConfig().makeApiClient(AppsV1Api);

beforeAll(async () => {
  db = await createTestDatabase();
  const installation = randomLabel();
  const adminToken = `admin-${installation}-0123456789`;
  // Both start at once: migrations must serialise, not collide.
  [a, b] = await Promise.all([
    startServer({ databaseUrl: db.url, installation, adminToken }),
    startServer({ databaseUrl: db.url, installation, adminToken }),
  ]);
});
afterAll(async () => {
  await Promise.all([a?.stop(), b?.stop()]);
  await db?.drop();
});

const stsApplies = async (s: ServerProcess) => {
  const text = (await s.metrics.get()).body as string;
  const line = text.split('\n').find((l) => l.startsWith('kubekloud_kube_request_duration_seconds_count{') && l.includes('verb="apply"') && l.includes('kind="StatefulSet"') && l.includes('outcome="ok"'));
  return line ? Number(line.split(' ').pop()) : 0;
};

it('gives exactly 5 successes and usage equal to 5 clusters, and each instance is provisioned once', async () => {
  const { client } = await createTenant(a.admin, { cpu: 5, memory: 100, instances: 100 });
  const viaB = b.admin.withToken(client.token!);
  const results = await Promise.all(
    Array.from({ length: 50 }, (_, k) =>
      (k % 2 === 0 ? client : viaB).post('/api/v1/clusters/', { name: `c${k}`, instance_type: 'container', cpu_per_instance: 1, memory_per_instance: 1, instance_count: 1 }),
    ),
  );
  const statuses = results.map((r) => r.status);
  expect(statuses.filter((s) => s === 201), JSON.stringify(results.filter((r) => r.status !== 403))).toHaveLength(5);
  expect(statuses.filter((s) => s !== 201 && s !== 403), JSON.stringify(results.filter((r) => r.status !== 403 && r.status !== 201).map((r) => r.body))).toEqual([]);
  expect(statuses.filter((s) => s === 403)).toHaveLength(45);
  expect((await client.get('/api/v1/users/me/quota')).body).toMatchObject({ used_cpu: 5, used_memory: 5, used_instances: 5, available_cpu: 0 });
  const list = await viaB.get('/api/v1/clusters/');
  expect(list.body).toHaveLength(5);

  // Both replicas reconcile; every instance gets exactly one StatefulSet, applied once.
  await eventually(async () => (await client.get('/api/v1/clusters/')).body.every((c: { status: string }) => c.status === 'running'), 60_000, 'all running');
  for (const c of list.body) {
    const sets = await apps.listNamespacedStatefulSet({ namespace: c.namespace });
    expect(sets.items.map((s) => s.metadata?.name)).toEqual([`${c.name}-1`]);
  }
  expect((await stsApplies(a)) + (await stsApplies(b))).toBe(5);

  for (const c of list.body) await client.delete(`/api/v1/clusters/${c.id}`);
  expect((await client.get('/api/v1/users/me/quota')).body).toMatchObject({ used_cpu: 0, used_instances: 0 });
});
