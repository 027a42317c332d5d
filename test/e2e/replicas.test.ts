// Two replicas on one database hear each other's changes as they commit
// (PostgreSQL notifications): a ?wait= on one is woken by a change converged
// through the other; a token revoked or a user disabled through one is
// refused by the other as soon as the revoking request has answered, though
// the other had the token cached, and the user's open streams end; the
// per-user caps count across both; and a replica whose notification
// connection is cut reconnects on its own.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { readEvents } from '../support/events.ts';
import { createTestDatabase, type TestDatabase } from '../support/postgres.ts';
import { createTenant, randomLabel, startServer, type ServerProcess } from '../support/server.ts';

let db: TestDatabase;
let a: ServerProcess;
let b: ServerProcess;
/** Another installation, with a database of its own on the same PostgreSQL server: nothing of a and b reaches it. */
let other: ServerProcess;

beforeAll(async () => {
  db = await createTestDatabase();
  const installation = randomLabel();
  const adminToken = `admin-${installation}-0123456789`;
  const env = { KUBEKLOUD_MAX_EVENT_STREAMS_PER_USER: '1' };
  // b serves the API only: what converges is converged by a, and b hears of it only through the notifications.
  [a, b] = await Promise.all([
    startServer({ databaseUrl: db.url, installation, adminToken, env }),
    startServer({ databaseUrl: db.url, installation, adminToken, env: { ...env, KUBEKLOUD_RECONCILER: 'false' } }),
  ]);
  other = await startServer({ env: { KUBEKLOUD_RECONCILER: 'false' } });
});
afterAll(async () => {
  await Promise.all([a?.stop(), b?.stop(), other?.stop()]);
  await db?.drop();
});

/** A metric's value on `s`, summed over its labels (0 when it has no sample yet). */
async function metric(s: ServerProcess, name: string): Promise<number> {
  const lines = (await s.metrics.get()).body.split('\n').filter((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
  return lines.reduce((sum, l) => sum + Number(l.split(' ').pop()), 0);
}

/** Until `cond` holds: a state the servers reach, not a time. */
async function until(cond: () => Promise<boolean>): Promise<void> {
  while (!(await cond())) await new Promise((r) => setTimeout(r, 20));
}

const container = (name: string) => ({ name, instance_type: 'container', cpu_per_instance: 0.25, memory_per_instance: 0.25, instance_count: 1 });

it('wakes a ?wait= on one replica with what the other converged, before its time is up and without polling', async () => {
  const { client } = await createTenant(a.admin, { cpu: 2, memory: 2 });
  const c = (await client.post('/api/v1/clusters/?wait=120', container('woken'))).body;
  expect(c.wait).toMatchObject({ converged: true });
  const viaB = b.admin.withToken(client.token!);
  expect(await metric(b, 'kubekloud_notifications_connected')).toBe(1);
  // A stream on b too: it hears the same changes.
  const res = await fetch(`${b.url}/api/v1/clusters/${c.id}/events`, { headers: { authorization: `Bearer ${client.token}` } });
  const events = readEvents(res);
  expect((await events.next()).value!.event).toBe('cluster');
  // Stopped through b, converged by a's reconciler: b's wait and stream hear the status as a commits it.
  const instance = c.instances[0].id;
  const stopped = await viaB.post(`/api/v1/instances/${instance}/operate?wait=120`, { operation: 'stop' });
  expect(stopped.status).toBe(200);
  expect(stopped.body.wait.converged).toBe(true);
  // Woken, not timed out: with notifications up a wait looks again only when told.
  expect(stopped.body.wait.waited_seconds).toBeLessThan(120);
  for (;;) {
    const e = (await events.next()).value!;
    if (e.event === 'instance' && e.data.status === 'stopped') break;
  }
  await events.return(undefined);
  // Neither the stream nor the wait polled the database.
  expect(await metric(b, 'kubekloud_event_feed_polls_total')).toBe(0);
});

it('refuses a revoked token on the other replica as soon as the revoke has answered, though it was cached there', async () => {
  const { client } = await createTenant(a.admin, { cpu: 1, memory: 1 });
  const made = await client.post('/api/v1/users/me/tokens', { name: 'ci' });
  expect(made.status).toBe(201);
  const ci = b.admin.withToken(made.body.token);
  // Looked up once on b: cached there from now on.
  expect((await ci.get('/api/v1/clusters/')).status).toBe(200);
  expect((await ci.get('/api/v1/clusters/')).status).toBe(200);
  expect((await client.delete(`/api/v1/users/me/tokens/${made.body.id}`)).status).toBe(200);
  const after = await ci.get('/api/v1/clusters/');
  expect(after.status).toBe(401);
  // Both replicas confirmed; the other installation's replica was neither waited for nor cut off.
  expect(a.output()).not.toMatch(/did not confirm a change of access/);
  expect(other.output()).not.toMatch(/notification connection lost/);
  expect(await metric(other, 'kubekloud_notifications_connected')).toBe(1);
});

it('refuses a disabled user on the other replica at once and ends their open stream there; enabling lets them in again', async () => {
  const { user, client } = await createTenant(a.admin, { cpu: 1, memory: 1 });
  // Converged first: a cluster still coming up sends events of its own before the disable.
  const c = (await client.post('/api/v1/clusters/?wait=60', container('watched'))).body;
  expect(c.wait.converged).toBe(true);
  const viaB = b.admin.withToken(client.token!);
  expect((await viaB.get('/api/v1/clusters/')).status).toBe(200);
  const res = await fetch(`${b.url}/api/v1/clusters/${c.id}/events`, { headers: { authorization: `Bearer ${client.token}` } });
  expect(res.status).toBe(200);
  const events = readEvents(res);
  expect((await events.next()).value!.event).toBe('cluster');
  expect((await a.admin.patch(`/api/v1/users/${user.id}`, { disabled: true })).status).toBe(200);
  expect((await viaB.get('/api/v1/clusters/')).status).toBe(401);
  // The stream on b ends (the for-await finishes) rather than running on.
  const rest: string[] = [];
  for await (const e of events) rest.push(e.event);
  expect(rest.filter((e) => e !== 'instance')).toEqual([]);
  expect((await a.admin.patch(`/api/v1/users/${user.id}`, { disabled: false })).status).toBe(200);
  expect((await viaB.get('/api/v1/clusters/')).status).toBe(200);
});

it('counts a user\'s open event streams across both replicas', async () => {
  const { client } = await createTenant(a.admin, { cpu: 1, memory: 1 });
  const c = (await client.post('/api/v1/clusters/', container('capped'))).body;
  const open = (s: ServerProcess, signal?: AbortSignal) =>
    fetch(`${s.url}/api/v1/clusters/${c.id}/events`, { headers: { authorization: `Bearer ${client.token}` }, signal });
  const ctl = new AbortController();
  const first = await open(a, ctl.signal);
  expect(first.status).toBe(200);
  const second = await open(b);
  expect(second.status).toBe(429);
  expect((await second.json()).detail).toMatch(/^You have 1 event streams open, the most a user may hold \(1, KUBEKLOUD_MAX_EVENT_STREAMS_PER_USER\)/);
  ctl.abort();
  // Once a has given the seat back, b grants it.
  let again: Response;
  await until(async () => {
    again = await open(b);
    if (again.status === 200) return true;
    expect(again.status).toBe(429);
    return false;
  });
  await again!.body?.cancel();
});

it('reconnects on its own when its notification connection is cut, and hears changes of access again', async () => {
  const worker = b.env.KUBEKLOUD_WORKER_ID!;
  const cut = await db.query<{ ok: boolean }>(
    `SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE application_name LIKE 'kubekloud-listen:' || $1 || '-%'`,
    [worker],
  );
  expect(cut).toEqual([{ ok: true }]);
  await until(async () => (await metric(b, 'kubekloud_notifications_connected')) === 0 || (await reconnects(b)) > 0);
  await until(async () => (await metric(b, 'kubekloud_notifications_connected')) === 1);
  // Back: the revoke test's guarantee holds again (a revoke waits for b's confirmation).
  const { client } = await createTenant(a.admin, { cpu: 1, memory: 1 });
  const made = await client.post('/api/v1/users/me/tokens', { name: 'after' });
  const t = b.admin.withToken(made.body.token);
  expect((await t.get('/api/v1/clusters/')).status).toBe(200);
  expect((await client.delete(`/api/v1/users/me/tokens/${made.body.id}`)).status).toBe(200);
  expect((await t.get('/api/v1/clusters/')).status).toBe(401);
});

/** How often b's notification connection went down (counted by the gauge's transitions is not possible; the log says it). */
async function reconnects(s: ServerProcess): Promise<number> {
  return (s.output().match(/notification connection lost/g) ?? []).length;
}
