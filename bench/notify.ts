// Cross-replica notification delay: how long after a write answered on one
// replica an event stream on another replica tells of it. Target: p99 under
// 100 ms. Not a test (the suite has no timed tests): a benchmark that exits 1
// when the target is missed.
//
//   npm run bench:notify
//
// Two servers (the built `dist/main.mjs`) on one PostgreSQL, reconcilers off
// so that the only changes are the benchmark's own. A tenant's instance is
// stopped and started again through replica A, NOTIFY_WRITES times one after
// the other; a stream on replica B (GET /api/v1/clusters/{id}/events) reports
// each change as an `instance` event. Each delay is measured from A's answer
// (the change committed) and from the request's start, to B's event. Also
// reported: how often B polled the database (zero while notifications work).
// Writes bench/results/<date>-<commit>-notify.json.
import { randomBytes } from 'node:crypto';
import { createTestDatabase } from '../test/support/postgres.ts';
import { readEvents } from '../test/support/events.ts';
import { ensurePlane } from '../testenv/harness/plane.ts';
import { runStamp, writeResults } from './lib/results.ts';
import { seed, type SeededTenant } from './lib/seed.ts';
import { parseMetric, serverNodeFlags, startKubeKloud } from './lib/server.ts';
import { fmt, loadavg, machine, now, summarise } from './lib/util.ts';

const WRITES = Number(process.env.NOTIFY_WRITES ?? 300);
const TARGET_P99_MS = 100;

const stamp = runStamp();
const startMachine = machine();
const label = `n${randomBytes(6).toString('hex').replace(/[^a-z0-9]/g, '').slice(0, 5)}`;
await ensurePlane({ log: (line) => console.log(line) });
const db = await createTestDatabase();
const adminToken = `admin-${label}-${randomBytes(12).toString('hex')}`;
const [a, b] = await Promise.all([
  startKubeKloud({ label, databaseUrl: db.url, adminToken, reconciler: false }),
  startKubeKloud({ label, databaseUrl: db.url, adminToken, reconciler: false }),
]);

try {
  const [tenant] = (await seed(db.url, { prefix: label, tenants: 1, clustersPerTenant: 1, instancesPerCluster: 1 })) as [SeededTenant];
  const auth = { authorization: `Bearer ${tenant.token}` };
  const stream = await fetch(`${b.url}/api/v1/clusters/${tenant.clusterIds[0]}/events`, { headers: auth });
  if (stream.status !== 200) throw new Error(`B's stream answered ${stream.status}`);
  const events = readEvents(stream);
  if ((await events.next()).value?.event !== 'cluster') throw new Error('no first cluster event');

  const fromAnswer: number[] = [];
  const fromRequest: number[] = [];
  let desired = 'running';
  for (let k = 0; k < WRITES; k++) {
    desired = desired === 'running' ? 'stopped' : 'running';
    const t0 = now();
    const res = await fetch(`${a.url}/api/v1/instances/${tenant.instanceIds[0]}/operate`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ operation: desired === 'stopped' ? 'stop' : 'start' }),
    });
    const answered = now();
    await res.arrayBuffer();
    if (res.status !== 200) throw new Error(`A answered ${res.status}`);
    for (;;) {
      const e = (await events.next()).value;
      if (!e) throw new Error('B ended its stream');
      if (e.event === 'instance' && e.data.desired_status === desired) break;
    }
    const heard = now();
    fromAnswer.push(heard - answered);
    fromRequest.push(heard - t0);
  }
  await events.return(undefined);
  const polls = parseMetric(await (await fetch(`${b.metricsUrl}/metrics`)).text(), 'kubekloud_event_feed_polls_total').reduce((n, s) => n + s.value, 0);
  const sa = summarise(fromAnswer);
  const sr = summarise(fromRequest);
  const met = sa.p99 < TARGET_P99_MS;
  console.log(`A write answered on replica A, heard by an event stream on replica B (${WRITES} writes):`);
  console.log(`  from A's answer    p50 ${fmt(sa.p50, 2)} ms  p90 ${fmt(sa.p90, 2)} ms  p99 ${fmt(sa.p99, 2)} ms  max ${fmt(sa.max, 2)} ms`);
  console.log(`  from the request   p50 ${fmt(sr.p50, 2)} ms  p90 ${fmt(sr.p90, 2)} ms  p99 ${fmt(sr.p99, 2)} ms  max ${fmt(sr.max, 2)} ms`);
  console.log(`  B's database polls: ${polls}`);
  console.log(`  p99 from the answer ${fmt(sa.p99, 2)} ms (target < ${TARGET_P99_MS} ms): ${met ? 'MET' : 'MISSED'}`);
  const file = writeResults('notify', {
    machine: startMachine,
    serverNodeFlags: serverNodeFlags(),
    loadavgAtEnd: loadavg(),
    notes: 'Shared 2-core machine: other work may run at the same time; figures are noisy.',
    writes: WRITES,
    fromAnswerMs: sa,
    fromRequestMs: sr,
    pollsOnB: polls,
    targetP99Ms: TARGET_P99_MS,
    met,
  }, stamp);
  console.log(`  written to ${file}`);
  process.exitCode = met ? 0 : 1;
} finally {
  await Promise.all([a.stop(), b.stop()]);
  await db.drop();
}
