// The audit log and a cluster's history through the API: who changed what and
// when, readable by admins (everyone's, filtered and paged) and tenants (their
// own); every entry of a change written in the change's own transaction; old
// entries pruned past their retention.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pruneRetention } from '../../src/service/audit.ts';
import { ADMIN_TOKEN, buildTestApp, type TestApp } from '../support/app.ts';

let t: TestApp;
let alice: { id: number; token: string; username: string };
let bob: { id: number; token: string; username: string };
let cluster: { id: number; instances: { id: number; instance_name: string }[] };

const CLUSTER = { instance_type: 'container', cpu_per_instance: 1, memory_per_instance: 1, instance_count: 1, volume_size: 1 };

beforeAll(async () => {
  t = await buildTestApp();
  alice = await t.tenant();
  bob = await t.tenant();
  cluster = (await t.call('POST', '/api/v1/clusters/', alice.token, { name: 'web', ...CLUSTER })).body;
  await t.call('PATCH', `/api/v1/clusters/${cluster.id}`, alice.token, { instance_count: 2 });
  await t.call('POST', `/api/v1/instances/${cluster.instances[0]!.id}/operate`, alice.token, { operation: 'stop' });
  await t.call('PATCH', `/api/v1/clusters/${cluster.id}`, alice.token, { env: { MODE: 'blue' } });
  await t.call('POST', '/api/v1/clusters/', bob.token, { name: 'db', ...CLUSTER });
  await t.call('DELETE', '/api/v1/clusters/999999', bob.token);
});
afterAll(() => t.close());

describe("a cluster's history", () => {
  it('tells its changes and who made them, and how its instances moved, newest first', async () => {
    const h = await t.call('GET', `/api/v1/clusters/${cluster.id}/history`, alice.token);
    expect(h.status).toBe(200);
    const changes = h.body.items.filter((e: { kind: string }) => e.kind === 'change').map((e: { actor: string; message: string }) => [e.actor, e.message]);
    expect(changes).toEqual([
      [alice.username, `${alice.username} changed env of 'web' (rolled out as generation 2)`],
      [alice.username, `${alice.username} asked web-1 to stop`],
      [alice.username, `${alice.username} scaled 'web' from 1 to 2 instances`],
      [alice.username, `${alice.username} created cluster 'web': 1 container instance(s) of 1 CPU, 1 GB`],
    ]);
    const moved = h.body.items.find((e: { kind: string }) => e.kind === 'status');
    expect(moved).toMatchObject({ actor: null, instance_name: 'web-1', detail: { from: 'pending', to: 'stopped' }, message: 'web-1: pending → stopped' });
    expect(h.body.total).toBe(h.body.items.length);
    // Filtered by kind, paged.
    const page = await t.call('GET', `/api/v1/clusters/${cluster.id}/history?kind=change&limit=1&offset=1`, alice.token);
    expect(page.body).toMatchObject({ total: 4, items: [{ message: `${alice.username} asked web-1 to stop` }] });
  });

  it('is read through a read-only token, answers 404 to another tenant and 422 for a bad time', async () => {
    const reader = (await t.call('POST', '/api/v1/users/me/tokens', alice.token, { name: 'reader', scopes: ['read'] })).body.token;
    expect((await t.call('GET', `/api/v1/clusters/${cluster.id}/history`, reader)).status).toBe(200);
    const theirs = await t.call('GET', `/api/v1/clusters/${cluster.id}/history`, bob.token);
    expect(theirs).toMatchObject({ status: 404, body: { detail: `Cluster with id ${cluster.id} not found` } });
    const bad = await t.call('GET', `/api/v1/clusters/${cluster.id}/history?since=yesterday`, alice.token);
    expect(bad.status).toBe(422);
    expect(bad.body.detail[0]).toMatchObject({ loc: ['query', 'since'] });
  });

  it("stays readable to an admin once the cluster is gone, ending with its delete", async () => {
    const c = (await t.call('POST', '/api/v1/clusters/', alice.token, { name: 'short-lived', ...CLUSTER })).body;
    await t.call('DELETE', `/api/v1/clusters/${c.id}`, alice.token);
    await t.db.query('DELETE FROM instances WHERE cluster_id = $1', [c.id]);
    await t.db.query('DELETE FROM clusters WHERE id = $1', [c.id]);
    expect((await t.call('GET', `/api/v1/clusters/${c.id}/history`, alice.token)).status).toBe(404);
    const h = await t.call('GET', `/api/v1/clusters/${c.id}/history?kind=change`, ADMIN_TOKEN);
    expect(h.body.items.map((e: { message: string }) => e.message)).toEqual([`${alice.username} deleted cluster 'short-lived'`, `${alice.username} created cluster 'short-lived': 1 container instance(s) of 1 CPU, 1 GB`]);
  });
});

describe('the audit log', () => {
  it('gives admins every request, filtered by user, action, resource, outcome and time, and paged', async () => {
    const all = await t.call('GET', '/api/v1/audit?limit=500', ADMIN_TOKEN);
    expect(all.status).toBe(200);
    expect(all.body.total).toBe(all.body.items.length);
    const mine = await t.call('GET', `/api/v1/audit?user=${alice.username}&resource=clusters/${cluster.id}`, ADMIN_TOKEN);
    expect(mine.body.items.map((e: { action: string; status_code: number; outcome: string }) => [e.action, e.status_code, e.outcome])).toEqual([
      ['clusters.update', 200, 'success'],
      ['clusters.update', 200, 'success'],
    ]);
    const refused = await t.call('GET', `/api/v1/audit?user=${bob.username}&outcome=rejected`, ADMIN_TOKEN);
    expect(refused.body.items).toMatchObject([{ action: 'clusters.delete', target: '999999', status_code: 404, actor: bob.username }]);
    const creates = await t.call('GET', '/api/v1/audit?action=clusters.create&limit=1', ADMIN_TOKEN);
    expect(creates.body.items).toHaveLength(1);
    expect(creates.body.total).toBeGreaterThanOrEqual(3);
    const future = await t.call('GET', `/api/v1/audit?since=${new Date(Date.now() + 60_000).toISOString()}`, ADMIN_TOKEN);
    expect(future.body).toEqual({ items: [], total: 0 });
    const past = await t.call('GET', `/api/v1/audit?until=2000-01-01T00:00:00Z`, ADMIN_TOKEN);
    expect(past.body.total).toBe(0);
  });

  it('refuses bad filters with 422 naming each, and tenants with 403', async () => {
    const bad = await t.call('GET', '/api/v1/audit?resource=secrets/1&since=soon', ADMIN_TOKEN);
    expect(bad.status).toBe(422);
    expect(bad.body.detail.map((d: { loc: string[] }) => d.loc.join('.')).sort()).toEqual(['query.resource', 'query.since']);
    expect((await t.call('GET', '/api/v1/audit?outcome=maybe', ADMIN_TOKEN)).status).toBe(422);
    expect((await t.call('GET', '/api/v1/audit', alice.token)).status).toBe(403);
  });

  it("gives a tenant their own requests and no one else's", async () => {
    const own = await t.call('GET', '/api/v1/users/me/audit?limit=100', bob.token);
    expect(own.status).toBe(200);
    expect(new Set(own.body.items.map((e: { actor: string }) => e.actor))).toEqual(new Set([bob.username]));
    expect(own.body.items.map((e: { action: string }) => e.action)).toEqual(['clusters.delete', 'clusters.create']);
  });

  it("is written in the change's own transaction: when the entry cannot be written, the change is not made either", async () => {
    await t.db.query(`CREATE FUNCTION refuse_audit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'audit log unavailable'; END $$`);
    await t.db.query('CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION refuse_audit()');
    try {
      const res = await t.call('POST', '/api/v1/clusters/', alice.token, { name: 'unaudited', ...CLUSTER });
      expect(res.status).toBe(500);
      expect(await t.db.query("SELECT id FROM clusters WHERE name = 'unaudited'")).toEqual([]);
      expect(await t.db.query("SELECT id FROM cluster_history WHERE message LIKE '%unaudited%'")).toEqual([]);
    } finally {
      await t.db.query('DROP TRIGGER refuse_audit ON audit_log');
    }
    const res = await t.call('POST', '/api/v1/clusters/', alice.token, { name: 'audited', ...CLUSTER });
    expect(res.status).toBe(201);
    // Written with the change, before the answer: no wait for a background write.
    const entries = await t.db.query<{ action: string; request_id: string }>("SELECT action, request_id FROM audit_log WHERE action = 'clusters.create' ORDER BY id DESC LIMIT 1");
    expect(entries[0]).toEqual({ action: 'clusters.create', request_id: res.headers['x-request-id'] });
    expect(await t.db.query('SELECT count(*)::int AS n FROM audit_log WHERE request_id = $1', [res.headers['x-request-id']])).toEqual([{ n: 1 }]);
  });

  it('prunes entries past their retention, and only those', async () => {
    await t.db.query("UPDATE audit_log SET at = now() - interval '400 days' WHERE actor = $1", [bob.username]);
    await t.db.query("UPDATE cluster_history SET at = now() - interval '100 days' WHERE cluster_id = $1", [cluster.id]);
    const before = await t.db.query<{ a: number; h: number }>('SELECT (SELECT count(*)::int FROM audit_log) AS a, (SELECT count(*)::int FROM cluster_history) AS h');
    const pruned = await pruneRetention(t.db, { auditDays: 365, historyDays: 90 });
    const bobs = (await t.call('GET', '/api/v1/users/me/audit', bob.token)).body.items.length;
    expect(pruned.audit).toBeGreaterThanOrEqual(2);
    expect(pruned.history).toBeGreaterThanOrEqual(4);
    const after = await t.db.query<{ a: number; h: number }>('SELECT (SELECT count(*)::int FROM audit_log) AS a, (SELECT count(*)::int FROM cluster_history) AS h');
    expect(after[0]).toEqual({ a: before[0]!.a - pruned.audit, h: before[0]!.h - pruned.history });
    expect(bobs).toBe(0);
    expect((await t.call('GET', `/api/v1/clusters/${cluster.id}/history`, alice.token)).body.total).toBe(0);
    expect((await t.call('GET', `/api/v1/users/me/audit`, alice.token)).body.total).toBeGreaterThan(0);
  });
});
