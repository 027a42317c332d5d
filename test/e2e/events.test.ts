// Live status without polling: the cluster event stream carries every
// instance status change, ending when the cluster is gone.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createTestDatabase } from '../support/postgres.ts';
import { startProxy } from '../support/proxy.ts';
import { createTenant, startServer, type ServerProcess } from '../support/server.ts';

let server: ServerProcess;
beforeAll(async () => {
  server = await startServer();
});
afterAll(() => server?.stop());

type Event = { event: string; data: any };

async function* readEvents(res: Response): AsyncGenerator<Event> {
  const decoder = new TextDecoder();
  let buffer = '';
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    buffer += decoder.decode(chunk, { stream: true });
    let end;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const event = /^event: (.*)$/m.exec(block)?.[1];
      const data = /^data: (.*)$/m.exec(block)?.[1];
      if (event && data) yield { event, data: JSON.parse(data) };
    }
  }
}

it('streams instance status changes until the cluster is deleted', async () => {
  const { client } = await createTenant(server.admin, { cpu: 1, memory: 1 });
  const c = (await client.post('/api/v1/clusters/', { name: 'live', instance_type: 'container', cpu_per_instance: 0.5, memory_per_instance: 0.5, instance_count: 2 })).body;
  const res = await fetch(`${server.url}/api/v1/clusters/${c.id}/events`, { headers: { authorization: `Bearer ${client.token}` } });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toContain('text/event-stream');
  const seen: Event[] = [];
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
    const after: Event[] = [];
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

it('costs one database poll per second for all open streams, not one per stream', async () => {
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
  // Ten idle streams for 5 s: about 5 shared polls, and each stream reads its cluster only when it changed
  // (at most once here, after the first poll). Polling per stream would be 50 reads.
  expect(polls1 - polls0).toBeGreaterThanOrEqual(3);
  expect(polls1 - polls0).toBeLessThanOrEqual(7);
  expect(reads1 - reads0).toBeLessThanOrEqual(10);
  // A change still reaches every stream.
  await client.post(`/api/v1/instances/${c.instances[0].id}/operate`, { operation: 'stop' });
  for (const { ctl, events } of streams) {
    for (;;) {
      const e = (await events.next()).value!;
      if (e.event === 'instance' && e.data.desired_status === 'stopped') break;
    }
    ctl.abort();
  }
}, 120_000);
