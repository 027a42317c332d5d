// Scoped tokens and admin control of users and tokens: a read-only token
// changes nothing on any route the OpenAPI document lists, a token limited to
// some clusters reaches only those, no token issues one that can do more than
// itself, and a disabled user's or a revoked token is refused at once.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, buildTestApp, type TestApp } from '../support/app.ts';

let t: TestApp;
let owner: { id: number; token: string; username: string };
let other: { id: number; token: string };
let ids: { a: number; b: number; instanceA: number; instanceB: number; snapshot: number };

const CLUSTER = { instance_type: 'container', cpu_per_instance: 1, memory_per_instance: 1, instance_count: 1, volume_size: 1 };

/** Everything a request could change. */
const snapshot = async () =>
  JSON.stringify({
    clusters: await t.db.query('SELECT id, state, instance_count, desired_gen FROM clusters ORDER BY id'),
    instances: await t.db.query('SELECT id, desired, status, desired_gen FROM instances ORDER BY id'),
    snapshots: await t.db.query('SELECT id, desired, phase FROM snapshots ORDER BY id'),
    users: await t.db.query('SELECT id, role, disabled_at, quota_cpu_milli, used_cpu_milli, used_storage_gb FROM users ORDER BY id'),
    tokens: await t.db.query('SELECT id, revoked_at FROM tokens ORDER BY id'),
    images: await t.db.query('SELECT name, retired_at FROM images ORDER BY name'),
    keys: await t.db.query('SELECT count(*)::int AS n FROM idempotency_keys'),
  });

async function token(by: string, body: Record<string, unknown>): Promise<string> {
  const res = await t.call('POST', '/api/v1/users/me/tokens', by, body);
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body.token as string;
}

async function operations(): Promise<{ method: string; path: string }[]> {
  const doc = (await t.call('GET', '/openapi.json', null)).body as { paths: Record<string, Record<string, unknown>> };
  return Object.entries(doc.paths)
    .filter(([p]) => p.startsWith('/api/v1/'))
    .flatMap(([path, ops]) => Object.keys(ops).map((m) => ({ method: m.toUpperCase(), path })));
}

/** A path with every parameter filled with something of the caller's, so only the scope can refuse. */
const fill = (path: string) =>
  path
    .replace('{id}', String(path.startsWith('/api/v1/instances') ? ids.instanceA : path.startsWith('/api/v1/users') ? owner.id : ids.a))
    .replace('{snapshot_id}', String(ids.snapshot))
    .replace('{disk_id}', '1')
    .replace('{token_id}', '1')
    .replace('{name}', 'ubuntu');

beforeAll(async () => {
  t = await buildTestApp();
  owner = await t.tenant();
  other = await t.tenant();
  const a = await t.call('POST', '/api/v1/clusters/', owner.token, { name: 'a', ...CLUSTER });
  const b = await t.call('POST', '/api/v1/clusters/', owner.token, { name: 'b', ...CLUSTER });
  const snap = await t.call('POST', `/api/v1/instances/${a.body.instances[0].id}/snapshots`, owner.token, {});
  ids = { a: a.body.id, b: b.body.id, instanceA: a.body.instances[0].id, instanceB: b.body.instances[0].id, snapshot: snap.body.id };
});
afterAll(() => t.close());

describe('a read-only token', () => {
  it('is refused with 403 on every route that is not a read, for a tenant and for an admin, and changes nothing', async () => {
    const tenantReader = await token(owner.token, { name: 'reader', scopes: ['read'] });
    const adminReader = await token(ADMIN_TOKEN, { name: 'admin-reader', scopes: ['read', 'admin'] });
    const writes = (await operations()).filter((o) => o.method !== 'GET');
    expect(writes.length).toBeGreaterThanOrEqual(15);
    const before = await snapshot();
    for (const reader of [tenantReader, adminReader]) {
      for (const { method, path } of writes) {
        const res = await t.call(method as 'POST', fill(path), reader, method === 'DELETE' ? undefined : {});
        expect({ route: `${method} ${path}`, status: res.status }).toEqual({ route: `${method} ${path}`, status: 403 });
        expect(res.body.detail).toMatch(/this request needs the 'write' scope/);
      }
    }
    expect(await snapshot()).toBe(before);
  });

  it('still reads: every GET of the caller is answered as for a full token', async () => {
    const reader = await token(owner.token, { name: 'reader-2', scopes: ['read'] });
    for (const { path } of (await operations()).filter((o) => o.method === 'GET' && !o.path.startsWith('/api/v1/users/{id}') && !/\/(console|vnc|events)$/.test(o.path))) {
      const [full, readOnly] = [await t.call('GET', fill(path), owner.token), await t.call('GET', fill(path), reader)];
      expect({ path, status: readOnly.status }).toEqual({ path, status: full.status });
    }
    const list = await t.call('GET', '/api/v1/users/me/tokens', reader);
    expect(list.body.find((x: { name: string }) => x.name === 'reader-2').scopes).toEqual(['read']);
  });
});

describe('a token limited to some clusters', () => {
  it('reaches only them: others are not found on any route, lists leave them out, and it creates no cluster', async () => {
    const limited = await token(owner.token, { name: 'only-a', scopes: ['read', 'write'], cluster_ids: [ids.a] });
    const list = await t.call('GET', '/api/v1/clusters/', limited);
    expect(list.body.map((c: { id: number }) => c.id)).toEqual([ids.a]);
    expect(list.headers['x-total-count']).toBe('1');
    expect((await t.call('GET', `/api/v1/clusters/${ids.a}`, limited)).status).toBe(200);
    const before = await snapshot();
    for (const [method, url, body] of [
      ['GET', `/api/v1/clusters/${ids.b}`, undefined],
      ['PATCH', `/api/v1/clusters/${ids.b}`, { instance_count: 2 }],
      ['DELETE', `/api/v1/clusters/${ids.b}`, undefined],
      ['GET', `/api/v1/instances/${ids.instanceB}`, undefined],
      ['POST', `/api/v1/instances/${ids.instanceB}/operate`, { operation: 'stop' }],
      ['POST', `/api/v1/instances/${ids.instanceB}/snapshots`, {}],
      ['GET', `/api/v1/clusters/${ids.b}/disks`, undefined],
    ] as const) {
      const res = await t.call(method, url, limited, body);
      expect({ method, url, status: res.status }).toEqual({ method, url, status: 404 });
    }
    const create = await t.call('POST', '/api/v1/clusters/', limited, { name: 'c', ...CLUSTER });
    expect(create.status).toBe(403);
    expect(create.body.detail).toBe(`This token is limited to cluster ${ids.a}: it cannot create clusters`);
    const quote = await t.call('POST', '/api/v1/clusters/?dry_run=true', limited, { name: 'c', ...CLUSTER });
    expect(quote.body.allowed).toBe(false);
    expect(quote.body.reasons.map((r: { code: string }) => r.code)).toContain('forbidden');
    expect(await snapshot()).toBe(before);
    // What it reaches, it changes.
    expect((await t.call('POST', `/api/v1/instances/${ids.instanceA}/operate`, limited, { operation: 'stop' })).status).toBe(200);
  });
});

describe('issuing tokens', () => {
  it('never issues a token that can do more than the one that asks', async () => {
    const limited = await token(owner.token, { name: 'limited-writer', scopes: ['read', 'write'], cluster_ids: [ids.a] });
    const writer = await token(owner.token, { name: 'writer', scopes: ['write'] });
    const before = await snapshot();
    const cases = [
      [owner.token, { name: 'x', scopes: ['admin'] }, 422, /admin is beyond the user role/],
      [owner.token, { name: 'x', cluster_ids: [ids.a, 999] }, 422, /cluster 999 is not one of your clusters/],
      [other.token, { name: 'x', cluster_ids: [ids.a] }, 422, new RegExp(`cluster ${ids.a} is not one of your clusters`)],
      [limited, { name: 'x' }, 403, /must name cluster_ids among them/],
      [limited, { name: 'x', cluster_ids: [ids.b] }, 403, new RegExp(`cannot issue a token for cluster ${ids.b}`)],
      [writer, { name: 'x', scopes: ['read'] }, 403, /holds only the scopes write; it cannot issue a token with read/],
      [owner.token, { name: 'x', scopes: [] }, 422, /scopes/],
      [owner.token, { name: 'x', scopes: ['read', 'read'] }, 422, /scopes/],
      [owner.token, { name: 'x', scopes: ['root'] }, 422, /scopes/],
    ] as const;
    for (const [by, body, status, detail] of cases) {
      const res = await t.call('POST', '/api/v1/users/me/tokens', by, body);
      expect({ body, status: res.status }).toEqual({ body, status });
      expect(JSON.stringify(res.body.detail)).toMatch(detail);
    }
    expect(await snapshot()).toBe(before);
    // Within its own reach it does.
    expect((await t.call('POST', '/api/v1/users/me/tokens', limited, { name: 'narrower', scopes: ['read'], cluster_ids: [ids.a] })).status).toBe(201);
  });
});

describe('admin control', () => {
  it("an admin's token without the admin scope acts as a tenant", async () => {
    const plain = await token(ADMIN_TOKEN, { name: 'no-admin', scopes: ['read', 'write'] });
    const res = await t.call('GET', '/api/v1/users/', plain);
    expect(res.status).toBe(403);
    expect(res.body.detail).toBe("This action needs a token with the 'admin' scope; this one has read, write");
    expect((await t.call('GET', `/api/v1/clusters/${ids.a}`, plain)).status).toBe(404);
    expect((await t.call('GET', `/api/v1/clusters/${ids.a}`)).status).toBe(200);
  });

  it('lists and revokes any user\'s tokens; a revoked token is refused from the next request on', async () => {
    const victim = await t.tenant();
    const extra = await token(victim.token, { name: 'laptop' });
    const list = await t.call('GET', `/api/v1/users/${victim.id}/tokens`);
    expect(list.body.map((x: { name: string }) => x.name)).toEqual(['default', 'laptop']);
    const laptop = list.body.find((x: { name: string }) => x.name === 'laptop');
    expect((await t.call('GET', `/api/v1/users/${victim.id}/tokens`, victim.token)).status).toBe(403);
    // Another user's token id is not found under this user.
    expect((await t.call('DELETE', `/api/v1/users/${other.id}/tokens/${laptop.id}`)).status).toBe(404);
    expect((await t.call('GET', '/api/v1/users/me', extra)).status).toBe(200);
    const revoked = await t.call('DELETE', `/api/v1/users/${victim.id}/tokens/${laptop.id}`);
    expect(revoked.status).toBe(200);
    expect((await t.call('GET', '/api/v1/users/me', extra)).status).toBe(401);
    expect((await t.call('GET', '/api/v1/users/me', victim.token)).status).toBe(200);
    const audit = await t.db.query<{ route: string; target: string }>("SELECT route, target FROM audit_log WHERE method = 'DELETE' ORDER BY id DESC LIMIT 1");
    expect(audit[0]).toEqual({ route: '/api/v1/users/:id/tokens/:token_id', target: String(victim.id) });
  });

  it("disables a user: every token of theirs is refused at once, their clusters are left as they are, and enabling restores them", async () => {
    const u = await t.tenant();
    const second = await token(u.token, { name: 'second' });
    const c = await t.call('POST', '/api/v1/clusters/', u.token, { name: 'keeps-running', ...CLUSTER });
    const rowsBefore = JSON.stringify(await t.db.query('SELECT * FROM clusters WHERE id = $1', [c.body.id]));
    const off = await t.call('PATCH', `/api/v1/users/${u.id}`, ADMIN_TOKEN, { disabled: true });
    expect(off.status).toBe(200);
    expect(off.body.disabled).toBe(true);
    for (const tok of [u.token, second]) {
      const res = await t.call('GET', '/api/v1/clusters/', tok);
      expect(res.status).toBe(401);
      expect(res.body.detail).toBe(`User '${u.username}' is disabled; an administrator can enable it again`);
    }
    expect(JSON.stringify(await t.db.query('SELECT * FROM clusters WHERE id = $1', [c.body.id]))).toBe(rowsBefore);
    expect((await t.call('GET', '/api/v1/clusters/', other.token)).status).toBe(200);
    const on = await t.call('PATCH', `/api/v1/users/${u.id}`, ADMIN_TOKEN, { disabled: false });
    expect(on.body.disabled).toBe(false);
    expect((await t.call('GET', '/api/v1/clusters/', second)).status).toBe(200);
  });

  it('cannot disable itself', async () => {
    const me = await t.call('GET', '/api/v1/users/me');
    const res = await t.call('PATCH', `/api/v1/users/${me.body.id}`, ADMIN_TOKEN, { disabled: true });
    expect(res.status).toBe(400);
    expect(res.body.detail).toBe('You cannot disable yourself');
    expect((await t.call('GET', '/api/v1/users/me')).status).toBe(200);
  });
});
