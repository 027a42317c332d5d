// Power schedules and expiry through the API, and the scheduler's pass, on
// PGlite without Kubernetes: what is accepted and refused (422 naming the
// field, nothing changed), the warning before an expiry, the next run in a
// time zone, and each due time running once — also when a stale leader runs
// what it found due after another replica has. The real plane and two
// replicas: test/e2e/schedules.test.ts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runDue, runExpiry } from '../../src/service/schedules.ts';
import { dueExpiries } from '../../src/store/schedules.ts';
import { buildTestApp, type TestApp } from '../support/app.ts';

let t: TestApp;
beforeAll(async () => {
  t = await buildTestApp({ KUBEKLOUD_EXPIRY_WARNING_SECONDS: '3600' });
});
afterAll(() => t.close());

const spec = (name: string, over: Record<string, unknown> = {}) => ({ name, instance_type: 'container', cpu_per_instance: 0.5, memory_per_instance: 0.5, instance_count: 2, ...over });
const inMinutes = (m: number) => new Date(Date.now() + m * 60_000).toISOString();
const rowsOf = async (clusterId: number) =>
  JSON.stringify({
    cluster: await t.db.query('SELECT expires_at, expire_action, state FROM clusters WHERE id = $1', [clusterId]),
    schedules: await t.db.query('SELECT * FROM cluster_schedules WHERE cluster_id = $1 ORDER BY id', [clusterId]),
  });
const runsOf = (clusterId: number) => t.db.query<{ schedule_id: number | null; action: string; due_at: Date; outcome: string; detail: Record<string, number> }>('SELECT * FROM schedule_runs WHERE cluster_id = $1 ORDER BY id', [clusterId]);
const auditsOf = (clusterId: number) => t.db.query<{ actor: string; actor_id: number | null; detail: Record<string, unknown> }>("SELECT * FROM audit_log WHERE actor = 'scheduler' AND target = $1", [String(clusterId)]);
const desiredOf = async (clusterId: number) => (await t.db.query<{ desired: string }>('SELECT desired FROM instances WHERE cluster_id = $1 ORDER BY id', [clusterId])).map((r) => r.desired);

describe('expiry', () => {
  it('is set on create and by PUT, warns within the configured window, and clears with null', async () => {
    const u = await t.tenant();
    const soon = inMinutes(30);
    const c = await t.call('POST', '/api/v1/clusters/', u.token, spec('soon', { expires_at: soon, expire_action: 'delete' }));
    expect(c.status, JSON.stringify(c.body)).toBe(201);
    expect(c.body).toMatchObject({ expires_at: new Date(soon).toISOString(), expire_action: 'delete' });
    expect(c.body.warnings).toEqual([{ code: 'expiring', at: new Date(soon).toISOString(), message: `Cluster expires at ${new Date(soon).toISOString()} and will then be deleted` }]);
    // Listed too.
    const list = await t.call('GET', '/api/v1/clusters/', u.token);
    expect(list.body[0].warnings[0].code).toBe('expiring');

    // Outside the window (an hour here): no warning yet; the action defaults to stop.
    const later = await t.call('PUT', `/api/v1/clusters/${c.body.id}/expiry`, u.token, { expires_at: inMinutes(90) });
    expect(later.status, JSON.stringify(later.body)).toBe(200);
    expect(later.body).toMatchObject({ expire_action: 'stop', warnings: [] });

    const cleared = await t.call('PUT', `/api/v1/clusters/${c.body.id}/expiry`, u.token, { expires_at: null });
    expect(cleared.body).toMatchObject({ expires_at: null, expire_action: null, warnings: [] });

    const plain = await t.call('POST', '/api/v1/clusters/', u.token, spec('plain'));
    expect(plain.body).toMatchObject({ expires_at: null, expire_action: null, warnings: [] });
  });

  it('refuses a time past, a time without its offset, and an action alone: 422 naming the field, nothing changed', async () => {
    const u = await t.tenant();
    const c = await t.call('POST', '/api/v1/clusters/', u.token, spec('fixed', { expires_at: inMinutes(600) }));
    const before = await rowsOf(c.body.id);
    const cases: [unknown, string, RegExp][] = [
      [{ expires_at: inMinutes(-1), expire_action: 'delete' }, 'expires_at', /must be in the future/],
      [{ expires_at: '2030-01-01T10:00:00' }, 'expires_at', /date-time|RFC 3339/],
      [{ expires_at: 'tomorrow' }, 'expires_at', /date-time|RFC 3339/],
      [{ expires_at: null, expire_action: 'stop' }, 'expire_action', /only with expires_at/],
      [{ expires_at: inMinutes(5), expire_action: 'explode' }, 'expire_action', /./],
    ];
    for (const [body, loc, msg] of cases) {
      const r = await t.call('PUT', `/api/v1/clusters/${c.body.id}/expiry`, u.token, body);
      expect({ body, status: r.status }).toEqual({ body, status: 422 });
      const problem = r.body.detail.find((d: { loc: string[] }) => d.loc.includes(loc));
      expect(problem, JSON.stringify(r.body)).toBeDefined();
      expect(problem.msg).toMatch(msg);
    }
    expect(await rowsOf(c.body.id)).toBe(before);
    // On create too: refused, no cluster made.
    const bad = await t.call('POST', '/api/v1/clusters/', u.token, spec('never', { expires_at: inMinutes(-5) }));
    expect(bad.status).toBe(422);
    expect(bad.body.detail[0].loc).toEqual(['body', 'expires_at']);
    expect((await t.call('GET', '/api/v1/clusters/', u.token)).body.map((x: { name: string }) => x.name)).toEqual(['fixed']);
  });
});

describe('power schedules', () => {
  it('are added with their next run in their time zone, listed, and deleted', async () => {
    const u = await t.tenant();
    const c = await t.call('POST', '/api/v1/clusters/', u.token, spec('office'));
    const add = await t.call('POST', `/api/v1/clusters/${c.body.id}/schedules`, u.token, { action: 'stop', cron: '0 19 * * MON-FRI', time_zone: 'Europe/Paris' });
    expect(add.status, JSON.stringify(add.body)).toBe(201);
    expect(add.body).toMatchObject({ cluster_id: c.body.id, action: 'stop', cron: '0 19 * * MON-FRI', time_zone: 'Europe/Paris' });
    const next = new Date(add.body.next_run_at);
    expect(next.getTime()).toBeGreaterThan(Date.now());
    expect(next.getTime()).toBeLessThan(Date.now() + 4 * 86_400_000);
    // 19:00 on a weekday in Paris, whatever the offset that day.
    const paris = new Intl.DateTimeFormat('en-GB', { timeZone: 'Europe/Paris', weekday: 'short', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).format(next);
    expect(paris).toMatch(/^(Mon|Tue|Wed|Thu|Fri) 19:00$/);

    const start = await t.call('POST', `/api/v1/clusters/${c.body.id}/schedules`, u.token, { action: 'start', cron: '30 7 * * *' });
    expect(start.body.time_zone).toBe('UTC');
    expect(start.body.next_run_at).toMatch(/T07:30:00\.000Z$/);

    const list = await t.call('GET', `/api/v1/clusters/${c.body.id}/schedules`, u.token);
    expect(list.body).toMatchObject({ total: 2, runs: [] });
    expect(list.body.items.map((s: { id: number }) => s.id)).toEqual([add.body.id, start.body.id]);

    const del = await t.call('DELETE', `/api/v1/clusters/${c.body.id}/schedules/${add.body.id}`, u.token);
    expect(del.status).toBe(200);
    expect((await t.call('DELETE', `/api/v1/clusters/${c.body.id}/schedules/${add.body.id}`, u.token)).status).toBe(404);
    expect((await t.call('GET', `/api/v1/clusters/${c.body.id}/schedules`, u.token)).body.total).toBe(1);
  });

  it('refuses a bad cron expression and an unknown time zone: 422 naming each field, nothing changed', async () => {
    const u = await t.tenant();
    const c = await t.call('POST', '/api/v1/clusters/', u.token, spec('strict'));
    const before = await rowsOf(c.body.id);
    const cases: [unknown, string[], RegExp][] = [
      [{ action: 'stop', cron: '0 0 19 * * * 2030' }, ['cron'], /five fields .* or six .* it has 7/],
      [{ action: 'stop', cron: '61 19 * * *' }, ['cron'], /not a cron expression/],
      [{ action: 'stop', cron: '0 19 * * *', time_zone: 'Mars/Olympus' }, ['time_zone'], /IANA time zone/],
      [{ action: 'stop', cron: 'every day at 7', time_zone: 'Nowhere' }, ['cron', 'time_zone'], /./],
      [{ action: 'reboot', cron: '0 19 * * *' }, ['action'], /./],
    ];
    for (const [body, locs, msg] of cases) {
      const r = await t.call('POST', `/api/v1/clusters/${c.body.id}/schedules`, u.token, body);
      expect({ body, status: r.status }).toEqual({ body, status: 422 });
      for (const loc of locs) {
        const problem = r.body.detail.find((d: { loc: string[] }) => d.loc.includes(loc));
        expect(problem, `${loc}: ${JSON.stringify(r.body)}`).toBeDefined();
        expect(problem.msg).toMatch(msg);
      }
    }
    expect(await rowsOf(c.body.id)).toBe(before);
  });
});

describe('the scheduler', () => {
  it('after downtime runs the latest missed time of a schedule once, and advances it past now', async () => {
    const u = await t.tenant();
    const c = await t.call('POST', '/api/v1/clusters/', u.token, spec('missed'));
    const s = await t.call('POST', `/api/v1/clusters/${c.body.id}/schedules`, u.token, { action: 'stop', cron: '* * * * *' });
    // As if the scheduler had been down for an hour: the schedule's next time is an hour past.
    await t.db.query("UPDATE cluster_schedules SET next_due_at = date_trunc('minute', now()) - interval '1 hour' WHERE id = $1", [s.body.id]);
    const ran = await runDue({ db: t.db, wake: () => {} });
    expect(ran.filter((r) => r.clusterId === c.body.id)).toHaveLength(1);
    expect(await desiredOf(c.body.id)).toEqual(['stopped', 'stopped']);
    const runs = await runsOf(c.body.id);
    expect(runs).toHaveLength(1);
    expect(runs[0]).toMatchObject({ schedule_id: s.body.id, action: 'stop', outcome: 'done', detail: { instances_changed: 2, instances_unchanged: 0 } });
    // The latest minute that had come, not the first missed.
    expect(Date.now() - runs[0]!.due_at.getTime()).toBeLessThan(61_000);
    const after = (await t.call('GET', `/api/v1/clusters/${c.body.id}/schedules`, u.token)).body;
    expect(new Date(after.items[0].next_run_at).getTime()).toBeGreaterThan(Date.now() - 1000);
    expect(after.runs).toHaveLength(1);
    // Nothing more is due: a second pass does nothing.
    expect((await runDue({ db: t.db, wake: () => {} })).filter((r) => r.clusterId === c.body.id)).toHaveLength(0);
    const audits = await auditsOf(c.body.id);
    expect(audits).toHaveLength(1);
    expect(audits[0]).toMatchObject({ actor: 'scheduler', actor_id: null, action: 'schedules.run', detail: { action: 'stop', schedule_id: s.body.id } });
    // The cluster's history tells the run, in the same transaction.
    const h = (await t.call('GET', `/api/v1/clusters/${c.body.id}/history?kind=schedule`, u.token)).body;
    expect(h.items).toHaveLength(1);
    expect(h.items[0]).toMatchObject({ actor: 'scheduler', detail: { action: 'stop', schedule_id: s.body.id, outcome: 'done' } });
    expect(h.items[0].message).toMatch(new RegExp(`^The scheduler stopped 2 instance\\(s\\), as schedule ${s.body.id} said for `));
  });

  it('after downtime runs the missed times of several schedules in the order of their latest missed times', async () => {
    const u = await t.tenant();
    const c = await t.call('POST', '/api/v1/clusters/', u.token, spec('overnight'));
    // A daily stop whose latest time was one to two hours ago, and a start every minute.
    const stopHour = (new Date().getUTCHours() + 22) % 24;
    const stop = await t.call('POST', `/api/v1/clusters/${c.body.id}/schedules`, u.token, { action: 'stop', cron: `0 ${stopHour} * * *` });
    const start = await t.call('POST', `/api/v1/clusters/${c.body.id}/schedules`, u.token, { action: 'start', cron: '* * * * *' });
    // Down for days: the start's first missed time comes before the stop's, its latest after.
    await t.db.query("UPDATE cluster_schedules SET next_due_at = date_trunc('minute', now()) - interval '3 days' WHERE id = $1", [start.body.id]);
    await t.db.query("UPDATE cluster_schedules SET next_due_at = next_due_at - interval '1 day' WHERE id = $1", [stop.body.id]);
    await runDue({ db: t.db, wake: () => {} });
    expect((await runsOf(c.body.id)).map((r) => [r.action, r.outcome])).toEqual([
      ['stop', 'done'],
      ['start', 'done'],
    ]);
    expect(await desiredOf(c.body.id)).toEqual(['running', 'running']);
  });

  it('runs an expiry once, even when a stale leader runs what it found due after another replica did', async () => {
    const u = await t.tenant();
    const c = await t.call('POST', '/api/v1/clusters/', u.token, spec('expiring', { expires_at: inMinutes(60), expire_action: 'stop' }));
    // The expiry comes (the row moved, not a clock): both "replicas" read it as due.
    await t.db.query("UPDATE clusters SET expires_at = now() - interval '1 second' WHERE id = $1", [c.body.id]);
    const seen = (await dueExpiries(t.db, 100)).filter((d) => d.cluster_id === c.body.id);
    expect(seen).toHaveLength(1);
    const first = await runExpiry(t.db, seen[0]!);
    const stale = await runExpiry(t.db, seen[0]!);
    expect(first).toMatchObject({ clusterId: c.body.id, action: 'stop', outcome: 'done' });
    expect(stale).toBeNull();
    expect((await runDue({ db: t.db, wake: () => {} })).filter((r) => r.clusterId === c.body.id)).toHaveLength(0);
    expect(await runsOf(c.body.id)).toHaveLength(1);
    expect(await auditsOf(c.body.id)).toHaveLength(1);
    expect(await desiredOf(c.body.id)).toEqual(['stopped', 'stopped']);
    const view = (await t.call('GET', `/api/v1/clusters/${c.body.id}`, u.token)).body;
    expect(view.warnings[0].code).toBe('expired');
  });

  it('deletes an expiring cluster as DELETE does: its quota released at once', async () => {
    const u = await t.tenant();
    const c = await t.call('POST', '/api/v1/clusters/', u.token, spec('ttl', { expires_at: inMinutes(60), expire_action: 'delete' }));
    expect((await t.call('GET', '/api/v1/users/me/quota', u.token)).body.used_instances).toBe(2);
    await t.db.query("UPDATE clusters SET expires_at = now() - interval '1 second' WHERE id = $1", [c.body.id]);
    const ran = (await runDue({ db: t.db, wake: () => {} })).filter((r) => r.clusterId === c.body.id);
    expect(ran).toMatchObject([{ action: 'delete', outcome: 'done', scheduleId: null }]);
    expect((await t.call('GET', `/api/v1/clusters/${c.body.id}`, u.token)).status).toBe(404);
    expect((await t.call('GET', '/api/v1/users/me/quota', u.token)).body).toMatchObject({ used_instances: 0, used_cpu: 0 });
    expect((await runsOf(c.body.id))[0]).toMatchObject({ action: 'delete', detail: { instances_deleted: 2 } });
  });
});
