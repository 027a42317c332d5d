// Live status without polling: the cluster event stream carries every
// instance status change, ending when the cluster is gone.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createTestDatabase } from '../support/postgres.ts';
import { startProxy } from '../support/proxy.ts';
import { readEvents, type StreamEvent } from '../support/events.ts';
import { createTenant, startServer, type ServerProcess } from '../support/server.ts';

let server: ServerProcess;
beforeAll(async () => {
  server = await startServer();
});
afterAll(() => server?.stop());

it('streams instance status changes until the cluster is deleted', async () => {
  const { client } = await createTenant(server.admin, { cpu: 1, memory: 1 });
  const c = (await client.post('/api/v1/clusters/', { name: 'live', instance_type: 'container', cpu_per_instance: 0.5, memory_per_instance: 0.5, instance_count: 2 })).body;
  const res = await fetch(`${server.url}/api/v1/clusters/${c.id}/events`, { headers: { authorization: `Bearer ${client.token}` } });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toContain('text/event-stream');
  const seen: StreamEvent[] = [];
  const running = new Set<number>();
  let deleted = false;
  for await (const e of readEvents(res)) {
    seen.push(e);
    if (e.event === 'instance' && e.data.status === 'running') running.add(e.data.id);
    if (e.event === 'cluster' && e.data.status === 'running' && running.size < 2) for (const i of e.data.instances) if (i.status === 'running') running.add(i.id);
    if (running.size === 2 && !seen.some((x) => x.event === 'deleting')) {
      seen.push({ event: 'deleting', data: null });
      await client.delete(`/api/v1/clusters/${c.id}`);
    }
    if (e.event === 'deleted') {
      deleted = true;
      break;
    }
  }
  expect(seen[0]!.event).toBe('cluster');
  expect(seen[0]!.data.instances).toHaveLength(2);
  expect(running.size).toBe(2);
  expect(seen.some((e) => e.event === 'instance' && e.data.phase === 'deleting')).toBe(true);
  expect(deleted).toBe(true);
}, 120_000);

it('answers another tenant 404 before any stream starts', async () => {
  const a = await createTenant(server.admin, { cpu: 1, memory: 1 });
  const b = await createTenant(server.admin, { cpu: 1, memory: 1 });
  const c = (await a.client.post('/api/v1/clusters/', { name: 'mine', instance_type: 'container', cpu_per_instance: 0.5, memory_per_instance: 0.5, instance_count: 1 })).body;
  const res = await fetch(`${server.url}/api/v1/clusters/${c.id}/events`, { headers: { authorization: `Bearer ${b.client.token}` } });
  expect(res.status).toBe(404);
  expect((await res.json()).detail).toMatch(/^Cluster with id \d+ not found$/);
});

it('stays open while the database is out of reach and goes on once it is back', async () => {
  const db = await createTestDatabase();
  const proxy = await startProxy('127.0.0.1', Number(new URL(db.url).port || 5432));
  const url = new URL(db.url);
  url.host = `127.0.0.1:${proxy.port}`;
  const viaProxy = await startServer({ databaseUrl: url.toString() });
  try {
    const { client } = await createTenant(viaProxy.admin, { cpu: 1, memory: 1 });
    const c = (await client.request('POST', '/api/v1/clusters/?wait=45', { name: 'steady', instance_type: 'container', cpu_per_instance: 0.5, memory_per_instance: 0.5, instance_count: 1 })).body;
    expect(c.wait.converged).toBe(true);
    const res = await fetch(`${viaProxy.url}/api/v1/clusters/${c.id}/events`, { headers: { authorization: `Bearer ${client.token}` } });
    const events = readEvents(res);
    expect((await events.next()).value!.event).toBe('cluster');
    await proxy.cut();
    await new Promise((r) => setTimeout(r, 3000)); // three ticks with no database
    await proxy.restore();
    const op = await client.request('POST', `/api/v1/instances/${c.instances[0].id}/operate`, { operation: 'stop' });
    expect(op.status).toBe(200);
    const after: StreamEvent[] = [];
    for await (const e of events) {
      after.push(e);
      if (e.event === 'deleted' || (e.event === 'instance' && e.data.phase === 'stopped')) break;
    }
    expect(after.map((e) => e.event)).not.toContain('deleted');
    expect(after.at(-1)).toMatchObject({ event: 'instance', data: { id: c.instances[0].id, phase: 'stopped', status: 'stopped' } });
  } finally {
    await viaProxy.stop();
    await proxy.close();
    await db.drop();
  }
}, 120_000);

it('costs no database poll and no read while nothing changes, however many streams are open', async () => {
  const { client } = await createTenant(server.admin, { cpu: 1, memory: 1 });
  const c = (await client.request('POST', '/api/v1/clusters/?wait=45', { name: 'many', instance_type: 'container', cpu_per_instance: 0.5, memory_per_instance: 0.5, instance_count: 1 })).body;
  expect(c.wait.converged).toBe(true);
  const metric = async (name: string) => {
    const text = (await server.metrics.get()).body as string;
    return text
      .split('\n')
      .filter((l) => l.startsWith(name) && !l.includes('outcome="error"'))
      .reduce((sum, l) => sum + Number(l.split(' ').pop()), 0);
  };
  const streams = await Promise.all(
    Array.from({ length: 10 }, async () => {
      const ctl = new AbortController();
      const res = await fetch(`${server.url}/api/v1/clusters/${c.id}/events`, { headers: { authorization: `Bearer ${client.token}` }, signal: ctl.signal });
      const events = readEvents(res);
      expect((await events.next()).value!.event).toBe('cluster');
      return { ctl, events };
    }),
  );
  const [polls0, reads0] = [await metric('kubekloud_event_feed_polls_total'), await metric('kubekloud_event_stream_reads_total')];
  await new Promise((r) => setTimeout(r, 5000));
  const [polls1, reads1] = [await metric('kubekloud_event_feed_polls_total'), await metric('kubekloud_event_stream_reads_total')];
  // Ten idle streams for 5 s: the changes are heard as they commit, so nothing is polled, and a stream reads
  // its cluster only when it changed (nothing did). Polling per stream would be 50 reads, a shared poll 5 polls.
  expect(await metric('kubekloud_notifications_connected')).toBe(1);
  expect(polls1 - polls0).toBe(0);
  expect(reads1 - reads0).toBe(0);
  // A change reaches every stream.
  await client.post(`/api/v1/instances/${c.instances[0].id}/operate`, { operation: 'stop' });
  for (const { ctl, events } of streams) {
    for (;;) {
      const e = (await events.next()).value!;
      if (e.event === 'instance' && e.data.desired_status === 'stopped') break;
    }
    ctl.abort();
  }
}, 120_000);
