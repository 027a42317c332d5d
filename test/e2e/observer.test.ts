// One observer per installation: of two processes on one database exactly one
// holds the observer lease; when it is killed, the other takes over within
// 15 s and repairs what drifted meanwhile. Reconcile work stays shared.
import { NetworkingV1Api } from '@kubernetes/client-node';
import { afterAll, describe, expect, it } from 'vitest';
import { eventually, loadTestKubeConfig } from '../support/kube.ts';
import { createTestDatabase, type TestDatabase } from '../support/postgres.ts';
import { renderedFormProblems } from '../support/rendered.ts';
import { createTenant, isObserverLeader, randomLabel, startServer, type ServerProcess } from '../support/server.ts';

const kc = loadTestKubeConfig();
const servers: ServerProcess[] = [];
let db: TestDatabase;
afterAll(async () => {
  for (const s of servers) await s.stop();
  await db?.drop();
});


describe('the observer lease', () => {
  it('is held by one of two processes; when that one is killed the other takes over within 15 s and repairs what drifted meanwhile', async () => {
    db = await createTestDatabase();
    const installation = randomLabel();
    const adminToken = `admin-${installation}-0123456789`;
    const a = await startServer({ databaseUrl: db.url, installation, adminToken, keepNamespaces: true });
    const b = await startServer({ databaseUrl: db.url, installation, adminToken });
    servers.push(b, a);
    const { client } = await createTenant(a.admin, { cpu: 2, memory: 2 });
    const c = (await client.request('POST', '/api/v1/clusters/?wait=60', { name: 'obs', instance_type: 'container', cpu_per_instance: 0.25, memory_per_instance: 0.25, instance_count: 2 })).body;
    expect(c.wait.converged).toBe(true);

    // Exactly one leads, every time we look.
    const samples: number[] = [];
    for (let i = 0; i < 20; i++) {
      samples.push(Number(await isObserverLeader(a)) + Number(await isObserverLeader(b)));
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(new Set(samples)).toEqual(new Set([1]));
    const [leader, other] = (await isObserverLeader(a)) ? [a, b] : [b, a];

    await leader.kill();
    const killedAt = Date.now();
    // While no one observes: a fence deleted behind the API's back.
    await kc.makeApiClient(NetworkingV1Api).deleteNamespacedNetworkPolicy({ name: 'kubekloud-default-deny', namespace: c.namespace });
    await eventually(() => isObserverLeader(other), 20_000, 'the other process observing');
    const takeoverMs = Date.now() - killedAt;
    expect(takeoverMs).toBeLessThan(15_000);
    const view = () => other.admin.withToken(client.token!).get(`/api/v1/clusters/${c.id}`).then((r) => r.body);
    await eventually(async () => (await renderedFormProblems(kc, await view(), installation)).length === 0, 30_000, 'the deleted policy repaired by the new observer');
    process.stdout.write(`[observer takeover] ${takeoverMs} ms after the holder was killed\n`);
  });
});
