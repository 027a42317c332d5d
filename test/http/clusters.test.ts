import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../support/app.ts';

let t: TestApp;
beforeAll(async () => {
  t = await buildTestApp();
});
afterAll(() => t.close());

const spec = (over: Record<string, unknown> = {}) => ({
  name: 'web',
  instance_type: 'container',
  cpu_per_instance: 0.5,
  memory_per_instance: 1,
  instance_count: 2,
  ...over,
});
const counts = async () => ({
  clusters: (await t.db.query('SELECT id FROM clusters')).length,
  instances: (await t.db.query('SELECT id FROM instances')).length,
});

describe('creating a cluster', () => {
  it('answers 201 at once with every instance pending and the quota reserved', async () => {
    const u = await t.tenant({ cpu: 4, memory: 8 });
    const res = await t.call('POST', '/api/v1/clusters/', u.token, spec({ ports: [{ port: 8080 }], env: { A: 'b' }, volume_size: 2 }));
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      name: 'web',
      instance_type: 'container',
      cpu_per_instance: 0.5,
      memory_per_instance: 1,
      instance_count: 2,
      owner_id: u.id,
      status: 'pending',
      ports: [{ port: 8080, protocol: 'TCP' }],
      volume_size: 2,
    });
    expect(res.body.namespace).toMatch(new RegExp(`^kk-${res.body.id}-web$`));
    expect(res.body.instances.map((i: { instance_name: string; status: string }) => [i.instance_name, i.status])).toEqual([
      ['web-1', 'pending'],
      ['web-2', 'pending'],
    ]);
    const q = await t.call('GET', '/api/v1/users/me/quota', u.token);
    expect(q.body).toMatchObject({ used_cpu: 1, used_memory: 2, used_instances: 2, available_cpu: 3 });
  });

  it.each([
    [{ name: 'Bad_Name' }, 'body.name'],
    [{ name: 'x'.repeat(41) }, 'body.name'],
    [{ instance_type: 'lambda' }, 'body.instance_type'],
    [{ cpu_per_instance: 0 }, 'body.cpu_per_instance'],
    [{ cpu_per_instance: 0.0001 }, 'body.cpu_per_instance'],
    [{ cpu_per_instance: 64 }, 'body.cpu_per_instance'],
    [{ memory_per_instance: -1 }, 'body.memory_per_instance'],
    [{ memory_per_instance: 1000 }, 'body.memory_per_instance'],
    [{ instance_count: 0 }, 'body.instance_count'],
    [{ instance_count: 101 }, 'body.instance_count'],
    [{ instance_count: 1.5 }, 'body.instance_count'],
    [{ owner_id: 1 }, 'body.owner_id'],
    [{ status: 'running' }, 'body.status'],
    [{ image: 'http://evil.example/x' }, 'body.image'],
    [{ ports: [{ port: 70000 }] }, 'body.ports.0.port'],
    [{ service_type: 'NodePort', ports: [{ port: 80 }] }, 'body.service_type'],
    [{ env: { 'BAD-NAME': 'x' } }, 'body.env.BAD-NAME'],
    [{ ssh_keys: ['ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA me'] }, 'body.ssh_keys'],
  ])('refuses %j with a 422 naming %s, changing nothing', async (over, loc) => {
    const u = await t.tenant();
    const before = await counts();
    const res = await t.call('POST', '/api/v1/clusters/', u.token, spec(over));
    expect(res.status).toBe(422);
    expect(res.body.detail.map((d: { loc: (string | number)[] }) => d.loc.join('.'))).toContain(loc);
    expect(await counts()).toEqual(before);
    expect((await t.call('GET', '/api/v1/users/me/quota', u.token)).body.used_cpu).toBe(0);
  });

  it('refuses a request over quota with 403 naming requested and available amounts', async () => {
    const u = await t.tenant({ cpu: 2, memory: 8 });
    const before = await counts();
    const res = await t.call('POST', '/api/v1/clusters/', u.token, spec({ cpu_per_instance: 1, instance_count: 3 }));
    expect(res.status).toBe(403);
    expect(res.body.detail).toBe('Quota exceeded: requested cpu 3 cores, memory 3 GB, 3 instances; available cpu 2 cores, memory 8 GB, 10 instances');
    expect(await counts()).toEqual(before);
  });

  it('refuses a duplicate name with 400 but lets another tenant use it', async () => {
    const a = await t.tenant();
    const b = await t.tenant();
    expect((await t.call('POST', '/api/v1/clusters/', a.token, spec({ name: 'dup' }))).status).toBe(201);
    const again = await t.call('POST', '/api/v1/clusters/', a.token, spec({ name: 'dup' }));
    expect(again.status).toBe(400);
    expect(again.body.detail).toBe("Cluster with name 'dup' already exists");
    expect((await t.call('POST', '/api/v1/clusters/', b.token, spec({ name: 'dup' }))).status).toBe(201);
  });

  it('refuses a body that is not JSON or too large', async () => {
    const u = await t.tenant();
    const bad = await t.app.inject({ method: 'POST', url: '/api/v1/clusters/', headers: { authorization: `Bearer ${u.token}`, 'content-type': 'application/json' }, payload: '{nope' });
    expect(bad.statusCode).toBe(400);
    expect(JSON.parse(bad.body).detail).toContain('not valid JSON');
    const huge = await t.call('POST', '/api/v1/clusters/', u.token, spec({ user_data: 'x'.repeat(300_000) }));
    expect(huge.status).toBe(413);
  });
});

describe('listing and reading clusters', () => {
  it('pages with limit and offset and gives the total in X-Total-Count', async () => {
    const u = await t.tenant({ cpu: 10, memory: 10, instances: 10 });
    for (const name of ['a', 'b', 'c']) await t.call('POST', '/api/v1/clusters/', u.token, spec({ name, instance_count: 1 }));
    const page = await t.call('GET', '/api/v1/clusters?limit=2&offset=1', u.token);
    expect(page.status).toBe(200);
    expect(page.headers['x-total-count']).toBe('3');
    expect(page.body.map((c: { name: string }) => c.name)).toEqual(['b', 'c']);
    expect((await t.call('GET', '/api/v1/clusters/', u.token)).body).toHaveLength(3);
    expect((await t.call('GET', '/api/v1/clusters?limit=0', u.token)).status).toBe(422);
  });
  it('gets one cluster with its instances; an unknown id is 404', async () => {
    const u = await t.tenant();
    const c = (await t.call('POST', '/api/v1/clusters/', u.token, spec())).body;
    const got = await t.call('GET', `/api/v1/clusters/${c.id}`, u.token);
    expect(got.body.instances).toHaveLength(2);
    expect((await t.call('GET', '/api/v1/clusters/999999', u.token)).status).toBe(404);
    expect((await t.call('GET', '/api/v1/clusters/abc', u.token)).status).toBe(422);
  });
});

describe('instance operations', () => {
  it('follow the transition rules, judged against the desired state', async () => {
    const u = await t.tenant();
    const c = (await t.call('POST', '/api/v1/clusters/', u.token, spec({ instance_count: 1 }))).body;
    const id = c.instances[0].id;
    const op = (operation: string) => t.call('POST', `/api/v1/instances/${id}/operate`, u.token, { operation });
    const start = await op('start');
    expect(start.status).toBe(400);
    expect(start.body.detail).toContain("status 'pending'");
    const stop = await op('stop');
    expect(stop.status).toBe(200);
    expect(stop.body.detail).toMatchObject({ instance_id: id, instance_name: 'web-1', previous_status: 'pending', new_status: 'stopped' });
    expect((await op('stop')).status).toBe(400);
    expect((await op('start')).body.detail.new_status).toBe('running');
    expect((await op('suspend')).body.detail.new_status).toBe('suspended');
    expect((await op('stop')).status).toBe(400);
    expect((await op('resume')).body.detail.new_status).toBe('running');
    expect((await op('restart')).status).toBe(200);
    expect((await op('explode')).status).toBe(422);
    const inst = await t.call('GET', `/api/v1/instances/${id}`, u.token);
    expect(inst.body).toMatchObject({ id, cluster_id: c.id, instance_name: 'web-1', k8s_resource_name: 'web-1', desired_status: 'running' });
  });
});

describe('suspend, resume, scale and delete', () => {
  it('suspend acts on running instances and skips the rest; resume brings them back', async () => {
    const u = await t.tenant();
    const c = (await t.call('POST', '/api/v1/clusters/', u.token, spec({ instance_count: 3 }))).body;
    await t.call('POST', `/api/v1/instances/${c.instances[0].id}/operate`, u.token, { operation: 'stop' });
    const s = await t.call('POST', `/api/v1/clusters/${c.id}/suspend`, u.token);
    expect(s.body.detail).toMatchObject({ suspended: 2, skipped: 1, failed: 0 });
    const r = await t.call('POST', `/api/v1/clusters/${c.id}/resume`, u.token);
    expect(r.body.detail).toMatchObject({ resumed: 2, skipped: 1, failed: 0 });
  });
  it('scales out under quota and in from the highest-numbered instance, releasing quota', async () => {
    const u = await t.tenant({ cpu: 2, memory: 8, instances: 10 });
    const c = (await t.call('POST', '/api/v1/clusters/', u.token, spec({ instance_count: 2 }))).body;
    const over = await t.call('PATCH', `/api/v1/clusters/${c.id}`, u.token, { instance_count: 5 });
    expect(over.status).toBe(403);
    const out = await t.call('PATCH', `/api/v1/clusters/${c.id}`, u.token, { instance_count: 4 });
    expect(out.status).toBe(200);
    expect(out.body.detail).toEqual({ previous_count: 2, instance_count: 4, added: 2, removed: 0 });
    expect(out.body.instances.map((i: { instance_name: string }) => i.instance_name)).toEqual(['web-1', 'web-2', 'web-3', 'web-4']);
    const inn = await t.call('PATCH', `/api/v1/clusters/${c.id}`, u.token, { instance_count: 1 });
    const states = inn.body.instances.map((i: { instance_name: string; status: string; phase: string }) => `${i.instance_name}:${i.phase}:${i.status}`);
    expect(states).toEqual(['web-1:pending:pending', 'web-2:deleting:stopped', 'web-3:deleting:stopped', 'web-4:deleting:stopped']);
    expect((await t.call('GET', '/api/v1/users/me/quota', u.token)).body).toMatchObject({ used_cpu: 0.5, used_instances: 1 });
  });
  it('delete releases quota at once; the cluster then answers 404 as in the Python service, and shows deleting only when asked', async () => {
    const u = await t.tenant({ cpu: 4, memory: 8 });
    const c = (await t.call('POST', '/api/v1/clusters/', u.token, spec())).body;
    const instanceId = c.instances[0].id;
    const del = await t.call('DELETE', `/api/v1/clusters/${c.id}`, u.token);
    expect(del.status).toBe(200);
    expect(del.body.detail).toMatchObject({ instances_deleted: 2, namespace_deleted: c.namespace, cpu_released: 1, memory_released: 2 });
    expect((await t.call('GET', '/api/v1/users/me/quota', u.token)).body).toMatchObject({ used_cpu: 0, used_memory: 0, used_instances: 0 });
    const gone = `Cluster with id ${c.id} not found`;
    for (const [method, url] of [
      ['GET', `/api/v1/clusters/${c.id}`],
      ['DELETE', `/api/v1/clusters/${c.id}`],
      ['POST', `/api/v1/clusters/${c.id}/suspend`],
      ['POST', `/api/v1/clusters/${c.id}/resume`],
    ] as const) {
      expect(await t.call(method, url, u.token)).toMatchObject({ status: 404, body: { detail: gone } });
    }
    expect((await t.call('PATCH', `/api/v1/clusters/${c.id}`, u.token, { instance_count: 3 })).status).toBe(404);
    expect((await t.call('GET', `/api/v1/instances/${instanceId}`, u.token)).status).toBe(404);
    expect((await t.call('POST', `/api/v1/instances/${instanceId}/operate`, u.token, { operation: 'stop' })).status).toBe(404);
    const listed = await t.call('GET', '/api/v1/clusters/', u.token);
    expect(listed.body).toEqual([]);
    expect(listed.headers['x-total-count']).toBe('0');
    // Asked for, the teardown is visible until it is done.
    expect((await t.call('GET', `/api/v1/clusters/${c.id}?include_deleting=true`, u.token)).body.status).toBe('deleting');
    expect((await t.call('GET', '/api/v1/clusters/?include_deleting=true', u.token)).body.map((x: { id: number }) => x.id)).toEqual([c.id]);
    // The name is free again while the old namespace terminates.
    expect((await t.call('POST', '/api/v1/clusters/', u.token, spec())).status).toBe(201);
  });
});

describe('operability', () => {
  it('serves health, docs and the OpenAPI document', async () => {
    expect((await t.call('GET', '/', null)).body.status).toBe('healthy');
    expect((await t.call('GET', '/health', null)).body.status).toBe('healthy');
    const doc = await t.call('GET', '/openapi.json', null);
    expect(doc.body.openapi).toMatch(/^3\./);
    expect(Object.keys(doc.body.paths)).toEqual(expect.arrayContaining(['/api/v1/clusters', '/api/v1/instances/{id}/operate']));
    expect((await t.app.inject({ method: 'GET', url: '/docs/' })).statusCode).toBe(200);
  });
  it('exposes Prometheus metrics on the metrics listener, not on the API', async () => {
    expect((await t.app.inject({ method: 'GET', url: '/metrics' })).statusCode).toBe(404);
    const res = await t.metricsApp.inject({ method: 'GET', url: '/metrics' });
    expect(res.statusCode).toBe(200);
    expect(res.body).toContain('kubekloud_http_request_duration_seconds_bucket');
    expect(res.body).toContain('kubekloud_db_pool_connections');
    expect(res.body).toContain('kubekloud_reconcile_queue_depth');
  });
  it('answers unknown routes with a 404 detail and echoes a request id', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/nope', headers: { 'x-request-id': 'abc-123' } });
    expect(res.statusCode).toBe(404);
    expect(res.headers['x-request-id']).toBe('abc-123');
    expect(JSON.parse(res.body).detail).toContain('/nope');
  });
  it('records every mutating request in the audit log', async () => {
    const u = await t.tenant();
    await t.call('POST', '/api/v1/clusters/', u.token, spec({ name: 'audited' }));
    await new Promise((r) => setTimeout(r, 50));
    const rows = await t.db.query<{ actor: string; method: string; route: string; status_code: number; outcome: string }>(
      'SELECT actor, method, route, status_code, outcome FROM audit_log WHERE actor = $1',
      [u.username],
    );
    expect(rows).toContainEqual({ actor: u.username, method: 'POST', route: '/api/v1/clusters', status_code: 201, outcome: 'success' });
  });
});
