// Schedules and TTLs on the real plane, with two replicas on one database: a
// stop schedule (a cron expression in Asia/Kolkata, a few seconds ahead) stops
// the instances, an expiry with delete deletes the cluster, each due time runs
// once (one schedule_runs row and one audit row each, whichever replica leads);
// when the leading replica is killed, the other takes over the scheduler and
// runs the next due time (a start) without running the earlier ones again.
import { afterAll, describe, expect, it } from 'vitest';
import type { ApiClient } from '../support/api.ts';
import { eventually } from '../support/kube.ts';
import { createTestDatabase, type TestDatabase } from '../support/postgres.ts';
import { createTenant, isObserverLeader, randomLabel, startServer, type ServerProcess } from '../support/server.ts';

const servers: ServerProcess[] = [];
let db: TestDatabase;
afterAll(async () => {
  for (const s of servers) await s.stop();
  await db?.drop();
});


/** A six-field cron expression (seconds first) for the second `at` falls on, read in `zone`. */
function cronAt(at: Date, zone: string): string {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat('en-US', { timeZone: zone, second: 'numeric', minute: 'numeric', hour: 'numeric', day: 'numeric', month: 'numeric', hourCycle: 'h23' })
      .formatToParts(at)
      .map((p) => [p.type, Number(p.value)]),
  );
  return `${parts.second} ${parts.minute} ${parts.hour} ${parts.day} ${parts.month} *`;
}
const secondsAhead = (n: number) => new Date(Math.ceil((Date.now() + n * 1000) / 1000) * 1000);

const phases = async (client: ApiClient, id: number) => ((await client.get(`/api/v1/clusters/${id}`)).body.instances as { phase: string }[]).map((i) => i.phase);
const allPhase = (client: ApiClient, id: number, phase: string, what: string) => eventually(async () => (await phases(client, id)).every((p) => p === phase), 30_000, what);

describe('schedules and expiry with two replicas', () => {
  it('a stop schedule stops, an expiry deletes, each due time once; after failover the other replica runs the next', { timeout: 120_000 }, async () => {
    db = await createTestDatabase();
    const installation = randomLabel();
    const adminToken = `admin-${installation}-0123456789`;
    const env = { KUBEKLOUD_OBSERVER_LEASE_SECONDS: '3' };
    const a = await startServer({ databaseUrl: db.url, installation, adminToken, env, keepNamespaces: true });
    const b = await startServer({ databaseUrl: db.url, installation, adminToken, env });
    servers.push(b, a);
    const { client } = await createTenant(a.admin, { cpu: 2, memory: 2 });
    const small = { instance_type: 'container', cpu_per_instance: 0.1, memory_per_instance: 0.125, instance_count: 2 };
    const [night, ttl] = await Promise.all([
      client.request('POST', '/api/v1/clusters/?wait=60', { name: 'night', ...small }),
      client.request('POST', '/api/v1/clusters/', { name: 'ttl', ...small, instance_count: 1 }),
    ]);
    expect(night.body.wait?.converged, JSON.stringify(night.body)).toBe(true);
    const nightId = night.body.id as number;
    const ttlId = ttl.body.id as number;

    const stopAt = secondsAhead(4);
    const stop = await client.post(`/api/v1/clusters/${nightId}/schedules`, { action: 'stop', cron: cronAt(stopAt, 'Asia/Kolkata'), time_zone: 'Asia/Kolkata' });
    expect(stop.status, JSON.stringify(stop.body)).toBe(201);
    expect(stop.body.next_run_at).toBe(stopAt.toISOString());
    const expireAt = secondsAhead(4);
    const expiry = await client.request('PUT', `/api/v1/clusters/${ttlId}/expiry`, { expires_at: expireAt.toISOString(), expire_action: 'delete' });
    expect(expiry.body).toMatchObject({ expire_action: 'delete', warnings: [{ code: 'expiring' }] });

    // The stop runs: every instance of night stops; ttl is deleted (gone to its owner, its quota released).
    await allPhase(client, nightId, 'stopped', 'the scheduled stop');
    await eventually(async () => (await client.get(`/api/v1/clusters/${ttlId}`)).status === 404, 30_000, 'the expired cluster deleted');
    expect((await client.get('/api/v1/users/me/quota')).body.used_instances).toBe(2);

    const runs = () => db.query<{ cluster_id: number; schedule_id: number | null; action: string; due_at: Date; outcome: string }>('SELECT cluster_id, schedule_id, action, due_at, outcome FROM schedule_runs ORDER BY id');
    const audits = () => db.query<{ target: string; actor: string; actor_id: number | null }>("SELECT target, actor, actor_id FROM audit_log WHERE actor = 'scheduler' ORDER BY id");
    // A beat longer than a scheduler pass on either replica: still exactly one run and one audit row per due time.
    await new Promise((r) => setTimeout(r, 1500));
    const ran = await runs();
    expect(ran).toHaveLength(2);
    expect(ran).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ cluster_id: nightId, schedule_id: stop.body.id, action: 'stop', due_at: stopAt, outcome: 'done' }),
        expect.objectContaining({ cluster_id: ttlId, schedule_id: null, action: 'delete', due_at: expireAt, outcome: 'done' }),
      ]),
    );
    expect((await audits()).map((r) => r.target).sort()).toEqual([String(nightId), String(ttlId)].sort());

    // Failover: the leader is killed; the other replica takes the lease, and with it the scheduler.
    const [leader, other] = (await isObserverLeader(a)) ? [a, b] : [b, a];
    await leader.kill();
    const otherClient = other.admin.withToken(client.token!);
    const startAt = secondsAhead(6);
    const start = await otherClient.post(`/api/v1/clusters/${nightId}/schedules`, { action: 'start', cron: cronAt(startAt, 'UTC') });
    expect(start.status).toBe(201);
    await allPhase(otherClient, nightId, 'running', 'the scheduled start, run by the replica that took over');
    expect(await isObserverLeader(other)).toBe(true);
    const after = await runs();
    expect(after).toHaveLength(3);
    expect(after[2]).toMatchObject({ cluster_id: nightId, schedule_id: start.body.id, action: 'start', due_at: startAt, outcome: 'done' });
    expect(await audits()).toHaveLength(3);
    const listed = (await otherClient.get(`/api/v1/clusters/${nightId}/schedules`)).body;
    expect(listed.runs.map((r: { action: string }) => r.action)).toEqual(['start', 'stop']);
  });
});
