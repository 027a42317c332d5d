import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, buildTestApp, type TestApp } from '../support/app.ts';

let t: TestApp;
beforeAll(async () => {
  t = await buildTestApp();
});
afterAll(() => t.close());

describe('authentication', () => {
  it('answers 401 with WWW-Authenticate for a missing, malformed or unknown token', async () => {
    for (const token of [null, 'not-a-real-token-at-all']) {
      const res = await t.call('GET', '/api/v1/users/me', token);
      expect(res.status).toBe(401);
      expect(res.headers['www-authenticate']).toBe('Bearer');
      expect(typeof res.body.detail).toBe('string');
    }
    const malformed = await t.app.inject({ method: 'GET', url: '/api/v1/users/me', headers: { authorization: 'Basic abc' } });
    expect(malformed.statusCode).toBe(401);
    expect(JSON.parse(malformed.body).detail).toContain('Bearer');
  });
  it('stores tokens only as hashes', async () => {
    const { token } = await t.tenant();
    const rows = await t.db.query<{ token_hash: string }>('SELECT token_hash FROM tokens');
    expect(rows.length).toBeGreaterThan(1);
    for (const r of rows) {
      expect(r.token_hash).toMatch(/^[0-9a-f]{64}$/);
      expect(r.token_hash).not.toBe(token);
      expect(r.token_hash).not.toBe(ADMIN_TOKEN);
    }
  });
});

describe('users', () => {
  it('only an admin creates users; a user gets 403 and nothing is created', async () => {
    const { token } = await t.tenant();
    const before = await t.db.query('SELECT id FROM users');
    const res = await t.call('POST', '/api/v1/users/', token, { username: 'sneaky', quota_cpu: 1, quota_memory: 1 });
    expect(res.status).toBe(403);
    expect(await t.db.query('SELECT id FROM users')).toHaveLength(before.length);
    expect((await t.call('GET', '/api/v1/users/', token)).status).toBe(403);
  });
  it('returns a generated token once and never a hash', async () => {
    const res = await t.call('POST', '/api/v1/users/', ADMIN_TOKEN, { username: 'carol', quota_cpu: 2, quota_memory: 4 });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ username: 'carol', role: 'user', quota_cpu: 2, quota_memory: 4, used_cpu: 0, used_memory: 0 });
    expect(res.body.token).toMatch(/^kk_/);
    const me = await t.call('GET', '/api/v1/users/me', res.body.token);
    expect(me.status).toBe(200);
    expect(me.body.username).toBe('carol');
    expect(JSON.stringify(me.body)).not.toMatch(/token|hash/);
    const list = await t.call('GET', '/api/v1/users/');
    expect(JSON.stringify(list.body)).not.toMatch(/hash|"token"/);
  });
  it('accepts a client-chosen token of at least 16 characters', async () => {
    const ok = await t.call('POST', '/api/v1/users/', ADMIN_TOKEN, { username: 'dave', quota_cpu: 1, quota_memory: 1, token: 'dave-chosen-token-123' });
    expect(ok.status).toBe(201);
    expect((await t.call('GET', '/api/v1/users/me', 'dave-chosen-token-123')).body.username).toBe('dave');
    const short = await t.call('POST', '/api/v1/users/', ADMIN_TOKEN, { username: 'erin', quota_cpu: 1, quota_memory: 1, token: 'short' });
    expect(short.status).toBe(422);
    expect(short.body.detail[0].loc).toEqual(['body', 'token']);
  });
  it('refuses a duplicate username or token with 400', async () => {
    expect((await t.call('POST', '/api/v1/users/', ADMIN_TOKEN, { username: 'dave', quota_cpu: 1, quota_memory: 1 })).status).toBe(400);
    const dupToken = await t.call('POST', '/api/v1/users/', ADMIN_TOKEN, { username: 'frank', quota_cpu: 1, quota_memory: 1, token: 'dave-chosen-token-123' });
    expect(dupToken.status).toBe(400);
    expect((await t.db.query("SELECT id FROM users WHERE username = 'frank'"))).toHaveLength(0);
  });
  it('names each bad field in a 422 list', async () => {
    const res = await t.call('POST', '/api/v1/users/', ADMIN_TOKEN, { username: '', quota_cpu: 0, quota_memory: -1, extra: 1 });
    expect(res.status).toBe(422);
    const locs = res.body.detail.map((d: { loc: string[] }) => d.loc.join('.'));
    expect(locs).toEqual(expect.arrayContaining(['body.username', 'body.quota_cpu', 'body.quota_memory', 'body.extra']));
  });
  it('reports quota with totals, usage and what is available', async () => {
    const { token } = await t.tenant({ cpu: 3, memory: 6, instances: 4 });
    const res = await t.call('GET', '/api/v1/users/me/quota', token);
    expect(res.body).toEqual({
      total_cpu: 3, total_memory: 6, total_instances: 4,
      used_cpu: 0, used_memory: 0, used_instances: 0,
      available_cpu: 3, available_memory: 6, available_instances: 4,
      total_storage_gb: 100, used_storage_gb: 0, available_storage_gb: 100,
      total_load_balancers: 5, used_load_balancers: 0, available_load_balancers: 5,
    });
  });
  it('lets an admin change quotas but never below usage', async () => {
    const tenant = await t.tenant({ cpu: 4, memory: 8 });
    const created = await t.call('POST', '/api/v1/clusters/', tenant.token, { name: 'c', instance_type: 'container', cpu_per_instance: 1, memory_per_instance: 2, instance_count: 2 });
    expect(created.status).toBe(201);
    const below = await t.call('PATCH', `/api/v1/users/${tenant.id}`, ADMIN_TOKEN, { quota_cpu: 1 });
    expect(below.status).toBe(422);
    expect(below.body.detail[0].msg).toContain('below usage 2');
    const raised = await t.call('PATCH', `/api/v1/users/${tenant.id}`, ADMIN_TOKEN, { quota_cpu: 6, quota_instances: 20 });
    expect(raised.status).toBe(200);
    expect(raised.body).toMatchObject({ quota_cpu: 6, quota_instances: 20, used_cpu: 2 });
  });
  it('deletes a user only when they own no clusters', async () => {
    const tenant = await t.tenant();
    await t.call('POST', '/api/v1/clusters/', tenant.token, { name: 'keep', instance_type: 'container', cpu_per_instance: 1, memory_per_instance: 1, instance_count: 1 });
    const refused = await t.call('DELETE', `/api/v1/users/${tenant.id}`);
    expect(refused.status).toBe(400);
    expect(refused.body.detail).toContain('owns 1 cluster');
    const empty = await t.tenant();
    expect((await t.call('DELETE', `/api/v1/users/${empty.id}`)).status).toBe(200);
    expect((await t.call('GET', '/api/v1/users/me', empty.token)).status).toBe(401);
    expect((await t.call('DELETE', `/api/v1/users/999999`)).status).toBe(404);
  });
});

describe('named tokens', () => {
  it('can be created, used, listed and revoked', async () => {
    const { token } = await t.tenant();
    const made = await t.call('POST', '/api/v1/users/me/tokens', token, { name: 'ci', expires_in_days: 30 });
    expect(made.status).toBe(201);
    expect(made.body.expires_at).not.toBeNull();
    expect((await t.call('GET', '/api/v1/users/me', made.body.token)).status).toBe(200);
    const list = await t.call('GET', '/api/v1/users/me/tokens', token);
    expect(list.body.map((x: { name: string }) => x.name)).toEqual(['default', 'ci']);
    expect(JSON.stringify(list.body)).not.toContain(made.body.token);
    expect((await t.call('DELETE', `/api/v1/users/me/tokens/${made.body.id}`, token)).status).toBe(200);
    expect((await t.call('GET', '/api/v1/users/me', made.body.token)).status).toBe(401);
  });
  it('stop working once expired', async () => {
    const { token } = await t.tenant();
    const made = await t.call('POST', '/api/v1/users/me/tokens', token, { name: 'short', expires_in_days: 1 });
    await t.db.query("UPDATE tokens SET expires_at = now() - interval '1 second' WHERE id = $1", [made.body.id]);
    expect((await t.call('GET', '/api/v1/users/me', made.body.token)).status).toBe(401);
  });
  it('of another user cannot be revoked', async () => {
    const a = await t.tenant();
    const b = await t.tenant();
    const made = await t.call('POST', '/api/v1/users/me/tokens', a.token, { name: 'mine' });
    expect((await t.call('DELETE', `/api/v1/users/me/tokens/${made.body.id}`, b.token)).status).toBe(404);
    expect((await t.call('GET', '/api/v1/users/me', made.body.token)).status).toBe(200);
  });
});

describe('the bootstrap admin token', () => {
  it('rotates: a new value revokes the old one', async () => {
    const { bootstrapAdmin } = await import('../../src/service/bootstrap.ts');
    const r = await bootstrapAdmin(t.db, 'rotated-admin-token-000000');
    expect(r.rotated).toBe(true);
    expect((await t.call('GET', '/api/v1/users/me', 'rotated-admin-token-000000')).body.role).toBe('admin');
    expect((await t.call('GET', '/api/v1/users/me', ADMIN_TOKEN)).status).toBe(401);
    await bootstrapAdmin(t.db, ADMIN_TOKEN);
  });
});
