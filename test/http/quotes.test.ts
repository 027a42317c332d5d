// ?dry_run=true on create, scale, live change and operate: always a 200 quote — what the
// request would reserve and leave of the quota, every reason it would be
// refused (not only the first), the objects it would apply — and nothing
// changed: no row, no reservation, no audit entry, no Idempotency-Key kept.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../support/app.ts';

let t: TestApp;
beforeAll(async () => {
  t = await buildTestApp();
});
afterAll(() => t.close());

const spec = (over: Record<string, unknown> = {}) => ({ name: 'web', instance_type: 'container', cpu_per_instance: 0.5, memory_per_instance: 1, instance_count: 2, ...over });
const everything = async () =>
  JSON.stringify({
    clusters: await t.db.query('SELECT id, instance_count, desired_gen FROM clusters ORDER BY id'),
    instances: await t.db.query('SELECT id, desired, desired_gen, restart_count FROM instances ORDER BY id'),
    users: await t.db.query('SELECT id, used_cpu_milli, used_memory_mib, used_instances, used_storage_gb FROM users ORDER BY id'),
    audit: await t.db.query('SELECT count(*)::int AS n FROM audit_log'),
    keys: await t.db.query('SELECT count(*)::int AS n FROM idempotency_keys'),
  });
const kinds = (objects: { kind: string; metadata: { name: string } }[]) => objects.map((o) => `${o.kind}/${o.metadata.name}`);

describe('a quote of a create', () => {
  it('says what it would reserve and leave, and the objects it would apply, changing nothing', async () => {
    const u = await t.tenant({ cpu: 4, memory: 8, instances: 5 });
    const before = await everything();
    const res = await t.app.inject({ method: 'POST', url: '/api/v1/clusters/?dry_run=true', headers: { authorization: `Bearer ${u.token}`, 'idempotency-key': 'quote-1' }, payload: spec({ ports: [{ port: 8080 }], volume_size: 2 }) });
    expect(res.statusCode).toBe(200);
    const q = res.json();
    expect(q).toMatchObject({
      allowed: true,
      reasons: [],
      reservation: { cpu: 1, memory: 2, instances: 2, storage_gb: 4, load_balancers: 0 },
      remaining: { cpu: 3, memory: 6, instances: 3, storage_gb: 96, load_balancers: 5 },
    });
    expect(kinds(q.objects)).toEqual([
      'Namespace/kk-0-web', 'ResourceQuota/kubekloud-quota', 'LimitRange/kubekloud-limits', 'NetworkPolicy/kubekloud-default-deny', 'NetworkPolicy/kubekloud-exposed-ports',
      'StatefulSet/web-1', 'Service/web-1', 'StatefulSet/web-2', 'Service/web-2',
    ]);
    expect(q.objects[5].spec.template.spec.containers[0].resources.requests).toEqual({ cpu: '500m', memory: '1Gi' });
    expect(await everything()).toBe(before);
    // The same request without dry_run is accepted and reserves what was quoted.
    const created = await t.call('POST', '/api/v1/clusters/', u.token, spec({ ports: [{ port: 8080 }], volume_size: 2 }));
    expect(created.status).toBe(201);
    expect((await t.call('GET', '/api/v1/users/me/quota', u.token)).body).toMatchObject({ available_cpu: 3, available_memory: 6, available_instances: 3, available_storage_gb: 96 });
  });

  it('lists every reason it would be refused at once: the name taken, each field, each quota dimension short', async () => {
    const u = await t.tenant({ cpu: 1, memory: 1, instances: 5 });
    expect((await t.call('POST', '/api/v1/clusters/', u.token, spec({ name: 'taken', cpu_per_instance: 0.25, memory_per_instance: 0.25, instance_count: 1 }))).status).toBe(201);
    const before = await everything();
    const q = await t.call(
      'POST',
      '/api/v1/clusters/?dry_run=true',
      u.token,
      spec({ name: 'taken', instance_count: 3, service_type: 'NodePort', env: { A: '1' }, disk_size: 5, expires_at: '2020-01-01T00:00:00Z', expire_action: 'delete' }),
    );
    expect(q.status).toBe(200);
    expect(q.body.allowed).toBe(false);
    expect(q.body.reasons).toEqual([
      { code: 'invalid', message: 'NodePort services are not allowed on this installation; use ClusterIP or LoadBalancer', loc: ['body', 'service_type'] },
      { code: 'invalid', message: 'needs at least one entry in ports', loc: ['body', 'service_type'] },
      { code: 'invalid', message: 'applies to vm clusters only (a container keeps its data on volume_size)', loc: ['body', 'disk_size'] },
      { code: 'invalid', message: expect.stringMatching(/^must be in the future \(it is .+ now\)$/), loc: ['body', 'expires_at'] },
      { code: 'conflict', message: "Cluster with name 'taken' already exists" },
      { code: 'quota', message: 'cpu: 1.5 cores asked, 0.75 cores available' },
      { code: 'quota', message: 'memory: 3 GB asked, 0.75 GB available' },
    ]);
    expect(q.body.remaining).toMatchObject({ cpu: -0.75, memory: -2.25, instances: 1 });
    expect(await everything()).toBe(before);
  });

  it('quotes a body the schema refuses with each of its problems (200), where the request itself answers 422', async () => {
    const u = await t.tenant();
    const bad = spec({ cpu_per_instance: -1, colour: 'blue' });
    const before = await everything();
    const q = await t.call('POST', '/api/v1/clusters/?dry_run=true', u.token, bad);
    expect(q.status).toBe(200);
    expect(q.body).toMatchObject({ allowed: false, objects: [], reservation: { cpu: 0, instances: 0 } });
    expect(q.body.reasons.map((r: { loc: unknown[] }) => r.loc.join('.'))).toEqual(expect.arrayContaining(['body.colour']));
    expect(q.body.reasons.every((r: { code: string }) => r.code === 'invalid')).toBe(true);
    // A form half filled in (no name yet) is still quoted for what its sizes would reserve.
    const { name: _, ...unnamed } = spec({ volume_size: 3 });
    const half = await t.call('POST', '/api/v1/clusters/?dry_run=true', u.token, unnamed);
    expect(half.status).toBe(200);
    expect(half.body).toMatchObject({ allowed: false, reservation: { cpu: 1, memory: 2, instances: 2, storage_gb: 6 }, reasons: [{ code: 'invalid', loc: ['body', 'name'] }] });
    expect(await everything()).toBe(before);
    // Without dry_run (or with a dry_run that is no boolean) the request is refused as it always was.
    expect((await t.call('POST', '/api/v1/clusters/', u.token, bad)).status).toBe(422);
    expect((await t.call('POST', '/api/v1/clusters/?dry_run=maybe', u.token, spec())).status).toBe(422);
  });
});

const LIVE_REFUSALS = ['invalid body.volume_size', 'invalid body.service_type', 'quota '];

describe('a quote of a scale and of an operation', () => {
  it('a scale-out reserves, a scale-in releases (with its snapshots), keep_disks and other tenants answered as the request would be', async () => {
    const u = await t.tenant({ cpu: 2, memory: 4, instances: 5 });
    const c = await t.call('POST', '/api/v1/clusters/', u.token, spec({ name: 'pool', instance_count: 2, volume_size: 1 }));
    const other = await t.tenant();
    const before = await everything();
    const out = await t.call('PATCH', `/api/v1/clusters/${c.body.id}?dry_run=true`, u.token, { instance_count: 4 });
    expect(out.status).toBe(200);
    expect(out.body).toMatchObject({ allowed: true, reasons: [], reservation: { cpu: 1, memory: 2, instances: 2, storage_gb: 2 }, remaining: { cpu: 0, memory: 0, instances: 1, storage_gb: 96 } });
    expect(kinds(out.body.objects).filter((k: string) => k.startsWith('StatefulSet'))).toEqual(['StatefulSet/pool-3', 'StatefulSet/pool-4']);
    const rq = out.body.objects.find((o: { kind: string }) => o.kind === 'ResourceQuota');
    expect(rq.spec.hard.pods).toBe('5');
    const over = await t.call('PATCH', `/api/v1/clusters/${c.body.id}?dry_run=true`, u.token, { instance_count: 6 });
    expect(over.body.reasons).toEqual([
      { code: 'quota', message: 'cpu: 2 cores asked, 1 cores available' },
      { code: 'quota', message: 'memory: 4 GB asked, 2 GB available' },
      { code: 'quota', message: 'instances: 4 asked, 3 available' },
    ]);
    const inward = await t.call('PATCH', `/api/v1/clusters/${c.body.id}?dry_run=true`, u.token, { instance_count: 1, keep_disks: true });
    expect(inward.body).toMatchObject({ allowed: false, reservation: { cpu: -0.5, memory: -1, instances: -1, storage_gb: -1 } });
    expect(inward.body.reasons).toEqual([{ code: 'invalid', message: 'only VMs with a persistent disk (disk_size or volume_size) have disks to keep', loc: ['body', 'keep_disks'] }]);
    // A live change: the difference it reserves, and every instance's objects as they would be once rolled.
    const live = await t.call('PATCH', `/api/v1/clusters/${c.body.id}?dry_run=true`, u.token, { cpu_per_instance: 1, env: { MODE: 'blue' } });
    expect(live.status).toBe(200);
    expect(live.body).toMatchObject({ allowed: true, reasons: [], reservation: { cpu: 1, memory: 0, instances: 0, storage_gb: 0 }, remaining: { cpu: 0 } });
    const rolled = live.body.objects.filter((o: { kind: string }) => o.kind === 'StatefulSet');
    expect(rolled.map((o: { metadata: { name: string } }) => o.metadata.name)).toEqual(['pool-1', 'pool-2']);
    expect(rolled[0].spec.template.spec.containers[0].env).toContainEqual({ name: 'MODE', value: 'blue' });
    // Every reason it would be refused: a field fixed at create, a value a create would refuse, the quota.
    const refused = await t.call('PATCH', `/api/v1/clusters/${c.body.id}?dry_run=true`, u.token, { cpu_per_instance: 4, volume_size: 3, service_type: 'LoadBalancer' });
    expect(refused.status).toBe(200);
    expect(refused.body.allowed).toBe(false);
    expect(refused.body.reasons.map((r: { code: string; loc?: string[] }) => `${r.code} ${(r.loc ?? []).join('.')}`)).toEqual(LIVE_REFUSALS);
    expect((await t.call('PATCH', `/api/v1/clusters/${c.body.id}?dry_run=true`, other.token, { instance_count: 1 })).status).toBe(404);
    expect(await everything()).toBe(before);
  });

  it('an operation: allowed or not with the reason, and the instance objects as they would be', async () => {
    const u = await t.tenant();
    const c = await t.call('POST', '/api/v1/clusters/', u.token, spec({ name: 'op', instance_count: 1 }));
    const id = c.body.instances[0].id;
    const before = await everything();
    const stop = await t.call('POST', `/api/v1/instances/${id}/operate?dry_run=true`, u.token, { operation: 'stop' });
    expect(stop.status).toBe(200);
    expect(stop.body).toMatchObject({ allowed: true, reasons: [], reservation: { cpu: 0, instances: 0 } });
    expect(stop.body.objects.find((o: { kind: string }) => o.kind === 'StatefulSet').spec.replicas).toBe(0);
    const start = await t.call('POST', `/api/v1/instances/${id}/operate?dry_run=true`, u.token, { operation: 'start' });
    expect(start.body.allowed).toBe(false);
    expect(start.body.reasons).toEqual([{ code: 'conflict', message: expect.stringMatching(/start/) }]);
    const restart = await t.call('POST', `/api/v1/instances/${id}/operate?dry_run=true`, u.token, { operation: 'restart' });
    expect(restart.body.objects.find((o: { kind: string }) => o.kind === 'StatefulSet').spec.template.metadata.annotations['kubekloud.io/restart-count']).toBe('1');
    expect(await everything()).toBe(before);
  });
});
