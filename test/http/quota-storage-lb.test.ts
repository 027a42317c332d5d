// Storage and LoadBalancer quota through the API: set by admins, shown in
// /users/me/quota, refused with the 403 of the other dimensions (changing
// nothing), released by scale-in and delete.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../support/app.ts';

let t: TestApp;
beforeAll(async () => {
  t = await buildTestApp();
});
afterAll(() => t.close());

const spec = (over: Record<string, unknown> = {}) => ({ name: 'web', instance_type: 'container', cpu_per_instance: 0.5, memory_per_instance: 0.5, instance_count: 2, ...over });
const state = async (userId: number) => ({
  clusters: (await t.db.query('SELECT id FROM clusters WHERE owner_id = $1', [userId])).length,
  user: (await t.db.query('SELECT used_cpu_milli, used_memory_mib, used_instances, used_storage_gb, used_load_balancers FROM users WHERE id = $1', [userId]))[0],
});

describe('storage and load-balancer quota', () => {
  it('gives new users the documented defaults, and admins set them on create and patch', async () => {
    const u = await t.tenant();
    const me = await t.call('GET', '/api/v1/users/me', u.token);
    expect(me.body).toMatchObject({ quota_storage_gb: 100, quota_load_balancers: 5, used_storage_gb: 0, used_load_balancers: 0 });
    const created = await t.call('POST', '/api/v1/users/', undefined, { username: 'big', quota_cpu: 1, quota_memory: 1, quota_storage_gb: 500, quota_load_balancers: 0 });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ quota_storage_gb: 500, quota_load_balancers: 0 });
    const patched = await t.call('PATCH', `/api/v1/users/${u.id}`, undefined, { quota_storage_gb: 12, quota_load_balancers: 3 });
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({ quota_storage_gb: 12, quota_load_balancers: 3 });
    for (const bad of [{ quota_storage_gb: -1 }, { quota_load_balancers: 1.5 }]) {
      const res = await t.call('PATCH', `/api/v1/users/${u.id}`, undefined, bad);
      expect(res.status).toBe(422);
      expect(JSON.stringify(res.body.detail)).toContain(Object.keys(bad)[0]);
    }
  });

  it('shows them in /users/me/quota, refuses what does not fit with 403 and changes nothing, and releases on scale-in and delete', async () => {
    const u = await t.tenant({ cpu: 8, memory: 8 });
    await t.call('PATCH', `/api/v1/users/${u.id}`, undefined, { quota_storage_gb: 12, quota_load_balancers: 3 });

    const web = await t.call('POST', '/api/v1/clusters/', u.token, spec({ volume_size: 5, ports: [{ port: 8080 }], service_type: 'LoadBalancer' }));
    expect(web.status).toBe(201);
    const q = await t.call('GET', '/api/v1/users/me/quota', u.token);
    expect(q.body).toMatchObject({
      total_storage_gb: 12, used_storage_gb: 10, available_storage_gb: 2,
      total_load_balancers: 3, used_load_balancers: 2, available_load_balancers: 1,
    });

    const before = await state(u.id);
    const storage = await t.call('POST', '/api/v1/clusters/', u.token, spec({ name: 'db', instance_count: 1, volume_size: 3 }));
    expect(storage.status).toBe(403);
    expect(storage.body.detail).toBe(
      'Quota exceeded: requested cpu 0.5 cores, memory 0.5 GB, 1 instance, storage 3 GB, 0 load balancers; available cpu 7 cores, memory 7 GB, 8 instances, storage 2 GB, 1 load balancer',
    );
    // expose: cluster adds the cluster's own LoadBalancer to one per instance.
    const lbs = await t.call('POST', '/api/v1/clusters/', u.token, spec({ name: 'pool', instance_count: 1, ports: [{ port: 80 }], service_type: 'LoadBalancer', expose: 'cluster' }));
    expect(lbs.status).toBe(403);
    expect(lbs.body.detail).toMatch(/requested .*, 2 load balancers; available .*, 1 load balancer$/);
    const scaleOut = await t.call('PATCH', `/api/v1/clusters/${web.body.id}`, u.token, { instance_count: 3 });
    expect(scaleOut.status).toBe(403);
    expect(await state(u.id)).toEqual(before);

    // An admin cannot put the quota below what is used.
    const below = await t.call('PATCH', `/api/v1/users/${u.id}`, undefined, { quota_storage_gb: 9, quota_load_balancers: 1 });
    expect(below.status).toBe(422);
    expect(below.body.detail.map((d: { msg: string }) => d.msg)).toEqual(['quota_storage_gb 9 is below usage 10', 'quota_load_balancers 1 is below usage 2']);

    expect((await t.call('PATCH', `/api/v1/clusters/${web.body.id}`, u.token, { instance_count: 1 })).status).toBe(200);
    expect((await t.call('GET', '/api/v1/users/me/quota', u.token)).body).toMatchObject({ used_storage_gb: 5, used_load_balancers: 1 });
    const del = await t.call('DELETE', `/api/v1/clusters/${web.body.id}`, u.token);
    expect(del.body.detail).toMatchObject({ storage_released: 5, load_balancers_released: 1 });
    expect((await t.call('GET', '/api/v1/users/me/quota', u.token)).body).toMatchObject({ used_storage_gb: 0, used_load_balancers: 0, available_storage_gb: 12 });
  });
});
