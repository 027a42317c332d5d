import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../support/app.ts';

let t: TestApp;
let owner: { id: number; token: string };
let intruder: { id: number; token: string };
let ids: Record<string, number>;

// A body that would be valid for each route, so only ownership can refuse it.
const BODIES: Record<string, unknown> = {
  'PATCH /api/v1/clusters/{id}': { instance_count: 1 },
  'POST /api/v1/instances/{id}/operate': { operation: 'stop' },
  'PATCH /api/v1/users/{id}': { quota_cpu: 100 },
  'PUT /api/v1/clusters/{id}/expiry': { expires_at: null },
  'POST /api/v1/clusters/{id}/schedules': { action: 'stop', cron: '0 19 * * *' },
};

const snapshot = async () =>
  JSON.stringify({
    clusters: await t.db.query('SELECT id, state, instance_count, desired_gen FROM clusters ORDER BY id'),
    instances: await t.db.query('SELECT id, desired, status, desired_gen FROM instances ORDER BY id'),
    snapshots: await t.db.query('SELECT id, desired, phase FROM snapshots ORDER BY id'),
    restores: await t.db.query('SELECT id, phase FROM snapshot_restores ORDER BY id'),
    expiries: await t.db.query('SELECT id, expires_at, expire_action FROM clusters ORDER BY id'),
    schedules: await t.db.query('SELECT * FROM cluster_schedules ORDER BY id'),
    users: await t.db.query('SELECT id, role, quota_cpu_milli, used_cpu_milli FROM users ORDER BY id'),
    tokens: await t.db.query('SELECT id, revoked_at FROM tokens ORDER BY id'),
  });

beforeAll(async () => {
  t = await buildTestApp();
  owner = await t.tenant();
  intruder = await t.tenant();
  const c = await t.call('POST', '/api/v1/clusters/', owner.token, { name: 'mine', instance_type: 'container', cpu_per_instance: 1, memory_per_instance: 1, instance_count: 2, volume_size: 1 });
  const tok = await t.call('POST', '/api/v1/users/me/tokens', owner.token, { name: 'extra' });
  const snap = await t.call('POST', `/api/v1/instances/${c.body.instances[0].id}/snapshots`, owner.token, {});
  const sched = await t.call('POST', `/api/v1/clusters/${c.body.id}/schedules`, owner.token, { action: 'stop', cron: '0 19 * * *' });
  ids = { cluster: c.body.id, instance: c.body.instances[0].id, token: tok.body.id, user: owner.id, snapshot: snap.body.id, schedule: sched.body.id };
});
afterAll(() => t.close());

async function routesWithId(): Promise<{ method: string; path: string }[]> {
  const doc = (await t.call('GET', '/openapi.json', null)).body as { paths: Record<string, Record<string, unknown>> };
  return Object.entries(doc.paths)
    .filter(([p]) => p.includes('{id}'))
    .flatMap(([path, ops]) => Object.keys(ops).map((m) => ({ method: m.toUpperCase(), path })));
}

const idFor = (path: string) =>
  path.startsWith('/api/v1/clusters') ? ids.cluster
  : path.startsWith('/api/v1/instances') ? ids.instance
  : path.startsWith('/api/v1/users/me/tokens') ? ids.token
  : ids.user;

describe('tenant isolation', () => {
  it('covers every route that takes an id', async () => {
    const routes = await routesWithId();
    expect(routes.length).toBeGreaterThanOrEqual(9);
  });

  it("another tenant's id answers 404 on every route, exactly as a missing one, and changes nothing", async () => {
    const before = await snapshot();
    for (const { method, path } of await routesWithId()) {
      if (path.startsWith('/api/v1/users/{id}')) continue; // admin routes: 403 below
      // A snapshot is reached through its instance, a kept disk and a schedule through their cluster: their id decides.
      const sub = (p: string) => p.replace('{snapshot_id}', String(ids.snapshot)).replace('{disk_id}', '1').replace('{schedule_id}', String(ids.schedule));
      const url = sub(path.replace('{id}', String(idFor(path))));
      const body = BODIES[`${method} ${path}`] ?? (method === 'POST' ? {} : undefined);
      const theirs = await t.call(method as 'GET', url, intruder.token, body);
      const missing = await t.call(method as 'GET', sub(path.replace('{id}', '999999')), intruder.token, body);
      expect({ route: `${method} ${path}`, status: theirs.status }).toEqual({ route: `${method} ${path}`, status: 404 });
      // The text names the id asked for (as the Python service's did), and says nothing else.
      expect(theirs.body.detail.replace(String(idFor(path)), 'N')).toBe(missing.body.detail.replace('999999', 'N'));
    }
    expect(await snapshot()).toBe(before);
    // And the owner still reaches everything.
    expect((await t.call('GET', `/api/v1/clusters/${ids.cluster}`, owner.token)).status).toBe(200);
  });

  it("does not list another tenant's clusters", async () => {
    const list = await t.call('GET', '/api/v1/clusters/', intruder.token);
    expect(list.body).toEqual([]);
    expect(list.headers['x-total-count']).toBe('0');
  });

  it('gives a user 403 on every admin route, changing nothing', async () => {
    const before = await snapshot();
    const admin = [
      ['POST', '/api/v1/users/', { username: 'x', quota_cpu: 1, quota_memory: 1 }],
      ['GET', '/api/v1/users/', undefined],
      ['PATCH', `/api/v1/users/${intruder.id}`, { quota_cpu: 100 }],
      ['DELETE', `/api/v1/users/${owner.id}`, undefined],
    ] as const;
    for (const [method, url, body] of admin) {
      const res = await t.call(method, url, intruder.token, body);
      expect({ url, method, status: res.status }).toEqual({ url, method, status: 403 });
    }
    expect(await snapshot()).toBe(before);
  });

  it('lets an admin read any tenant cluster', async () => {
    expect((await t.call('GET', `/api/v1/clusters/${ids.cluster}`)).status).toBe(200);
  });
});
