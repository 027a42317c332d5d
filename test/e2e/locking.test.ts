// Requests racing on the same cluster take row locks in a compatible order:
// operations on its instances, a delete of the cluster and the reconciler's
// claims never deadlock (PostgreSQL would abort one of them with a 500).
import { afterAll, expect, it } from 'vitest';
import { createTenant, startServer, type ServerProcess } from '../support/server.ts';

let server: ServerProcess | undefined;
afterAll(() => server?.stop());

it('operations racing a delete of their cluster never fail with a deadlock', async () => {
  server = await startServer({ env: { KUBEKLOUD_WRITE_RATE_LIMIT_RPS: '1000', KUBEKLOUD_WRITE_RATE_LIMIT_BURST: '2000' } });
  const { client } = await createTenant(server.admin, { cpu: 100, memory: 100, instances: 1000 });
  const statuses: number[] = [];
  await Promise.all(
    Array.from({ length: 40 }, async (_, i) => {
      const c = await client.post('/api/v1/clusters/', { name: `race${i}`, instance_type: i % 3 ? 'container' : 'vm', cpu_per_instance: 0.1, memory_per_instance: 0.125, instance_count: 2 });
      expect(c.status).toBe(201);
      await new Promise((r) => setTimeout(r, Math.random() * 1500));
      const answers = await Promise.all([
        ...c.body.instances.map((x: { id: number }) => client.post(`/api/v1/instances/${x.id}/operate`, { operation: 'stop' })),
        client.delete(`/api/v1/clusters/${c.body.id}`),
      ]);
      statuses.push(...answers.map((a) => a.status));
    }),
  );
  expect(statuses.filter((s) => s >= 500), server.output().slice(-3000)).toEqual([]);
  expect((await client.get('/api/v1/users/me/quota')).body.used_instances).toBe(0);
});
