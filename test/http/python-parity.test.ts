// Where the Python service's clients used to break: the answers they parse,
// the lists they read whole, the empty JSON bodies they send, and the docs
// pages they open. The same walk against a real server process and the real
// control plane is in test/contract/.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UNPAGED_LIST_MAX } from '../../src/domain/paging.ts';
import { buildTestApp, type TestApp } from '../support/app.ts';

let t: TestApp;
beforeAll(async () => {
  // Many writes in a row (120 clusters, 100 users): the per-user write limit is not what is tested here.
  t = await buildTestApp({ KUBEKLOUD_WRITE_RATE_LIMIT_RPS: '100000', KUBEKLOUD_WRITE_RATE_LIMIT_BURST: '100000' });
});
afterAll(() => t.close());

const spec = (over: Record<string, unknown> = {}) => ({ name: 'web', instance_type: 'container', cpu_per_instance: 0.1, memory_per_instance: 0.25, instance_count: 1, ...over });
const rows = async (table: string) => (await t.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table}`))[0]!.n;

describe('suspend and resume answer with the Python service keys', () => {
  it('counts: cluster_id, total_instances, suspended or resumed, failed, skipped', async () => {
    const u = await t.tenant();
    const c = (await t.call('POST', '/api/v1/clusters/', u.token, spec({ instance_count: 3 }))).body;
    await t.call('POST', `/api/v1/instances/${c.instances[0].id}/operate`, u.token, { operation: 'stop' });
    const s = await t.call('POST', `/api/v1/clusters/${c.id}/suspend`, u.token);
    expect(s.status).toBe(200);
    expect(s.body.detail).toEqual({ cluster_id: c.id, total_instances: 3, suspended: 2, failed: 0, skipped: 1 });
    const r = await t.call('POST', `/api/v1/clusters/${c.id}/resume`, u.token);
    expect(r.body.detail).toEqual({ cluster_id: c.id, total_instances: 3, resumed: 2, failed: 0, skipped: 1 });
  });
});

describe('instance status within the Python enum, the precise state as phase', () => {
  it('shows starting as pending and an accepted stop as stopped, with phase telling the truth', async () => {
    const u = await t.tenant();
    const c = (await t.call('POST', '/api/v1/clusters/', u.token, spec())).body;
    const id = c.instances[0].id;
    // No reconciler here: nothing is applied, the instance stays pending.
    expect((await t.call('GET', `/api/v1/instances/${id}`, u.token)).body).toMatchObject({ status: 'pending', phase: 'pending', desired_status: 'running' });
    await t.db.query("UPDATE instances SET status = 'starting' WHERE id = $1", [id]);
    expect((await t.call('GET', `/api/v1/instances/${id}`, u.token)).body).toMatchObject({ status: 'pending', phase: 'starting' });
    await t.db.query("UPDATE instances SET status = 'running' WHERE id = $1", [id]);
    const stop = await t.call('POST', `/api/v1/instances/${id}/operate`, u.token, { operation: 'stop' });
    expect(stop.body.detail).toMatchObject({ instance_id: id, instance_name: 'web-1', previous_status: 'running', new_status: 'stopped' });
    await t.db.query("UPDATE instances SET status = 'stopping' WHERE id = $1", [id]);
    expect((await t.call('GET', `/api/v1/instances/${id}`, u.token)).body).toMatchObject({ status: 'stopped', phase: 'stopping', desired_status: 'stopped' });
    // A refused operation names the status the client sees.
    const again = await t.call('POST', `/api/v1/instances/${id}/operate`, u.token, { operation: 'stop' });
    expect(again.status).toBe(400);
    expect(again.body.detail).toMatch(/^Cannot stop instance in status 'stopped'/);
  });

  it('documents status as the five Python values and phase as the ten precise ones', async () => {
    const doc = (await t.call('GET', '/openapi.json', null)).body;
    const instance = doc.components.schemas.Instance.properties;
    const values = (s: { anyOf?: { enum?: string[]; const?: string }[]; enum?: string[] }) =>
      (s.enum ?? s.anyOf!.flatMap((x) => x.enum ?? [x.const!])).sort();
    expect(values(instance.status)).toEqual(['failed', 'pending', 'running', 'stopped', 'suspended']);
    expect(values(instance.phase)).toEqual(['deleting', 'failed', 'pending', 'provisioning', 'repairing', 'running', 'starting', 'stopped', 'stopping', 'suspended']);
  });
});

describe('lists without paging parameters return everything', () => {
  it('answers every cluster, past the old page of 100, and still pages when asked', async () => {
    const u = await t.tenant({ cpu: 100, memory: 100, instances: 200 });
    for (let k = 1; k <= 120; k++) expect((await t.call('POST', '/api/v1/clusters/', u.token, spec({ name: `c${k}` }))).status).toBe(201);
    const all = await t.call('GET', '/api/v1/clusters/', u.token);
    expect(all.status).toBe(200);
    expect(all.body).toHaveLength(120);
    expect(all.headers['x-total-count']).toBe('120');
    const page = await t.call('GET', '/api/v1/clusters/?limit=50&offset=100', u.token);
    expect(page.body.map((c: { name: string }) => c.name)).toEqual(Array.from({ length: 20 }, (_, k) => `c${101 + k}`));
    expect(page.headers['x-total-count']).toBe('120');
  });

  it(`refuses a whole list past ${UNPAGED_LIST_MAX} with a 422 that says how to page, rather than cutting it short`, { timeout: 60_000 }, async () => {
    const u = await t.tenant({ cpu: 1, memory: 1, instances: 1 });
    const c = (await t.call('POST', '/api/v1/clusters/', u.token, spec())).body;
    // Rows straight into the table: ten thousand requests would only slow the test down.
    await t.db.query(
      `INSERT INTO clusters (owner_id, name, namespace, instance_type, cpu_milli, memory_mib, instance_count, image, ports, service_type, env, ssh_keys)
       SELECT owner_id, 'n' || g, namespace || '-' || g, instance_type, cpu_milli, memory_mib, instance_count, image, ports, service_type, env, ssh_keys
         FROM clusters, generate_series(1, $2::int) g WHERE id = $1`,
      [c.id, UNPAGED_LIST_MAX],
    );
    const whole = await t.call('GET', '/api/v1/clusters/', u.token);
    expect(whole.status).toBe(422);
    expect(whole.body.detail[0].loc).toEqual(['query', 'limit']);
    expect(whole.body.detail[0].msg).toContain(`there are ${UNPAGED_LIST_MAX + 1} clusters`);
    expect(whole.body.detail[0].msg).toContain('?limit=');
    const page = await t.call('GET', '/api/v1/clusters/?limit=500', u.token);
    expect(page.status).toBe(200);
    expect(page.body).toHaveLength(500);
    expect(page.headers['x-total-count']).toBe(String(UNPAGED_LIST_MAX + 1));
  });

  it('lists every user to the admin without paging parameters', async () => {
    const before = (await t.call('GET', '/api/v1/users/')).body.length;
    for (let k = 0; k < 101 - before + 1; k++) await t.tenant();
    const all = await t.call('GET', '/api/v1/users/');
    expect(all.body.length).toBeGreaterThan(100);
    expect(all.body.length).toBe(await rows('users'));
  });
});

describe('an empty body sent as application/json', () => {
  const empty = (method: 'POST' | 'DELETE', url: string, token: string) =>
    t.app.inject({ method, url, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, payload: '' });

  it('is no body, as FastAPI takes it: suspend, resume and delete answer 200', async () => {
    const u = await t.tenant();
    const c = (await t.call('POST', '/api/v1/clusters/', u.token, spec())).body;
    for (const action of ['suspend', 'resume']) {
      const res = await empty('POST', `/api/v1/clusters/${c.id}/${action}`, u.token);
      expect(res.statusCode).toBe(200);
    }
    const del = await empty('DELETE', `/api/v1/clusters/${c.id}`, u.token);
    expect(del.statusCode).toBe(200);
    expect(del.json().detail.namespace_deleted).toBe(c.namespace);
  });

  it('answers 422 naming the missing body where a route needs one, and creates nothing', async () => {
    const u = await t.tenant();
    const before = await rows('clusters');
    const res = await empty('POST', '/api/v1/clusters/', u.token);
    expect(res.statusCode).toBe(422);
    expect(res.json().detail).toEqual([{ loc: ['body'], msg: 'field required: send a JSON object', type: 'value_error.missing' }]);
    expect(await rows('clusters')).toBe(before);
  });

  it('still refuses a body that is not JSON, or that smuggles a prototype', async () => {
    const u = await t.tenant();
    const bad = await t.app.inject({ method: 'POST', url: '/api/v1/clusters/', headers: { authorization: `Bearer ${u.token}`, 'content-type': 'application/json' }, payload: '{"name":' });
    expect(bad.statusCode).toBe(400);
    const proto = await t.app.inject({
      method: 'POST',
      url: '/api/v1/clusters/',
      headers: { authorization: `Bearer ${u.token}`, 'content-type': 'application/json' },
      payload: '{"__proto__": {"admin": true}, "name": "x"}',
    });
    expect(proto.statusCode).toBe(400);
  });
});

describe('/health and /redoc', () => {
  it('/health carries the database key', async () => {
    expect((await t.call('GET', '/health', null)).body).toMatchObject({ status: 'healthy', database: 'connected' });
  });

  it('/redoc serves ReDoc over /openapi.json from this server, with a CSP of its own that no other route gets', async () => {
    const page = await t.app.inject({ method: 'GET', url: '/redoc' });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    expect(page.body).toContain('<redoc spec-url="/openapi.json">');
    expect(page.body).toContain('<script src="/redoc/redoc.standalone.js">');
    expect(page.body).not.toMatch(/https?:\/\//);
    const csp = String(page.headers['content-security-policy']);
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain('worker-src blob:');
    const bundle = await t.app.inject({ method: 'GET', url: '/redoc/redoc.standalone.js' });
    expect(bundle.statusCode).toBe(200);
    expect(bundle.headers['content-type']).toMatch(/^text\/javascript/);
    expect(bundle.body.length).toBeGreaterThan(100_000);
    // Elsewhere the default stays: nothing may run.
    expect((await t.app.inject({ method: 'GET', url: '/health' })).headers['content-security-policy']).toBe("default-src 'none'; frame-ancestors 'none'");
  });
});
