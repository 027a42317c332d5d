// KubeKloud benchmarks, each beside its ceiling in the same run (not a test;
// nothing here fails on timing):
//   npm run bench               full: reads at 10k instances, writes, convergence of
//                               100 / 500 / 1,000 containers and 100 VMs, teardown,
//                               Kubernetes calls per instance, footprint
//   npm run bench -- --quick    the same with smaller sizes, under 3 minutes
//   npm run bench -- --only reads,plane   (the default; `scale` is a part of its own:)
//   npm run bench -- --only scale   100 and 1,000 containers, 5,000 and 10,000 VMs, each
//                               beside its ceiling, with memory and database load
//   npm run bench -- --rounds 6 pairs of ours/ceiling runs per read endpoint (at least 3)
// Prints a table as figures arrive. Each part writes its figures through
// writeResults: bench/results/<date>-<commit>-reads.json for the reads and
// …-convergence.json for the rest, …-scale.json for the scale run (…-quick.json
// names in quick mode). A reads run in which either side answered anything but 2xx,
// or in which the two sides did not answer the same, is marked invalid and
// the process exits 1.
//   npm run bench -- --only scale --scale-sizes vm:5000   the scale run at the sizes
//                               given (kind:count, comma-separated), to look at one
//                               size; written as …-scale-partial.json, which no
//                               section of BENCHMARKS.md shows.
//   npm run bench -- --only scale --scale-pairs 7   ours/ceiling pairs at each size up to
//                               1,000 instances (5; one beyond), the ratio judged on their median
import autocannon from 'autocannon';
import { isDeepStrictEqual } from 'node:util';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { ApiClient } from '../test/support/api.ts';
import { loadTestKubeConfig } from '../test/support/kube.ts';
import { createTestDatabase, type TestDatabase } from '../test/support/postgres.ts';
import { ensurePlane } from '../testenv/harness/plane.ts';
import { seed, type SeededTenant } from './lib/seed.ts';
import { diffCalls, kubeCalls, parseMetric, watchRelists, serverMallocEnv, serverNodeFlags, spawnProcess, startKubeKloud, WRITE_VERBS, type BenchServer } from './lib/server.ts';
import { deleteNamespaces, directApply, ensureNodes, kubernetesVersion, namespacesWithPrefix, planeRequests, waitNamespacesGone } from './lib/plane.ts';
import { runStamp, writeResults, type RunStamp } from './lib/results.ts';
import { cpuByProcess, cpuMs, cpuSpent, fmt, gitCommit, loadavg, machine, now, openLoop, planeMs, pollPause, POLL_PAUSE_RULE, pool, Report, rssMiB, rssSampler, sleep, spread, summarise, verdict } from './lib/util.ts';

const argv = process.argv.slice(2);
const quick = argv.includes('--quick');
const flag = (name: string) => argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? (argv.includes(`--${name}`) ? argv[argv.indexOf(`--${name}`) + 1] : undefined);
const only = new Set((flag('only') ?? 'reads,plane').split(','));
const scaleSizes = flag('scale-sizes')
  ?.split(',')
  .map((s) => {
    const [kind, n] = s.split(':');
    if ((kind !== 'vm' && kind !== 'container') || !(Number(n) > 0)) throw new Error(`--scale-sizes: ${s} is not kind:count (vm:5000, container:100)`);
    return { kind: kind as 'vm' | 'container', n: Number(n) };
  });

const SIZES = quick ? [100] : [100, 500, 1000];
const VMS = quick ? 20 : 100;
/** Seconds of each timed run of one side on one endpoint. */
const READ_SECONDS = quick ? 2 : 10;
/** Pairs of runs per endpoint, the order swapped from one to the next (ours first, then the ceiling first, …). */
const READ_ROUNDS = Math.max(3, Number(flag('rounds') ?? (quick ? 4 : 6)));
const READ_CONNECTIONS = 10;
/** Our req/s over the ceiling's (medians) that counts as met. */
const READ_FLOOR = 0.8;
const CREATE_RATE = quick ? 10 : 20;
const CREATE_COUNT = quick ? 20 : 200;
const OPERATE_RATE = quick ? 25 : 50;
const NODES = quick ? 6 : 14;
const CPU = 0.1;
const MEMORY = 0.125;
const IMAGE = 'docker.io/nginxinc/nginx-unprivileged:1.27-alpine';
const CONCURRENCY = 16; // KUBEKLOUD_RECONCILE_CONCURRENCY default

const label = `b${randomBytes(8).toString('hex').replace(/[^a-z0-9]/g, '').slice(0, 5)}`;
const report = new Report();
const mode = quick ? 'quick' : 'full';
const NOTES = 'Shared 2-core machine: other work may run at the same time; figures are noisy.';

/** One part of the run (reads, or everything on the plane) and the result file it writes. */
type Part = {
  bench: string;
  stamp: RunStamp;
  t0: number;
  rowsFrom: number;
  data: Record<string, any>;
};
function newPart(name: 'reads' | 'convergence' | 'scale', config: Record<string, unknown>): Part {
  return {
    bench: quick ? `${name}-quick` : name === 'scale' && scaleSizes ? 'scale-partial' : name,
    stamp: runStamp(),
    t0: now(),
    rowsFrom: report.rows.length,
    data: { mode, label, machine: machine(), notes: NOTES, config, valid: true, invalidReasons: [] as string[], scenarios: {} as Record<string, any>, targets: [] as { target: string; figure: string; met: boolean }[] },
  };
}
const parts: Part[] = [];
const target = (p: Part, name: string, met: boolean, figure: string) => {
  p.data.targets.push({ target: name, figure, met });
  return verdict(met, name);
};
const invalidate = (p: Part, reason: string) => {
  p.data.valid = false;
  p.data.invalidReasons.push(reason);
  report.progress(`INVALID: ${reason}`);
};
const save = (p: Part) =>
  writeResults(p.bench, { ...p.data, serverNodeFlags: serverNodeFlags(), serverMallocEnv: serverMallocEnv(), loadavgAtEnd: loadavg(), seconds: (now() - p.t0) / 1000, table: report.rows.slice(p.rowsFrom) }, p.stamp);

const m0 = machine();
console.log(`KubeKloud benchmarks (${mode}) — commit ${gitCommit()}, Node ${process.version}, ` +
  `${m0.cores} cores, ${m0.memoryGiB} GiB, load ${m0.loadavgAtStart.join(' ')}, label ${label}`);
console.log(`| ${'scenario'.padEnd(12)} | ${'figure'.padEnd(40)} | ${'KubeKloud'.padStart(12)} | ${'ceiling'.padStart(12)} | ${'ratio'.padStart(7)} | target`);

// The plane is started (or reused) first: everything below talks to it.
await ensurePlane({ log: (line) => console.log(line) });
const kc = loadTestKubeConfig();
const adminToken = `admin-${label}-${randomBytes(12).toString('hex')}`;
const databases: TestDatabase[] = [];
const servers: { stop(): Promise<void> }[] = [];

async function cleanup() {
  for (const s of servers.splice(0)) await s.stop().catch(() => {});
  for (const d of databases.splice(0)) await d.drop().catch(() => {});
  // Whatever a failed run left on the plane under this run's label.
  const left = [...(await namespacesWithPrefix(kc, label).catch(() => [])), ...(await namespacesWithPrefix(kc, `${label}d`).catch(() => []))];
  if (left.length > 0) await deleteNamespaces(kc, left);
}

/** The V8 heap as the server reports it on /metrics (prom-client default metrics, on its metrics listener), in MiB. */
async function heap(metricsUrl: string) {
  const text = await (await fetch(`${metricsUrl}/metrics`)).text();
  const one = (name: string) => (parseMetric(text, name)[0]?.value ?? NaN) / 2 ** 20;
  const spaces = (metric: string): Record<string, number> => Object.fromEntries(parseMetric(text, metric).map((s) => [s.labels.space, Math.round((s.value / 2 ** 20) * 10) / 10]));
  return {
    usedMiB: one('nodejs_heap_size_used_bytes'),
    totalMiB: one('nodejs_heap_size_total_bytes'),
    externalMiB: one('nodejs_external_memory_bytes'),
    /** V8's spaces (new, old, code, large_object, …): what each holds from the system, and what is in use. */
    spacesMiB: spaces('nodejs_heap_space_size_total_bytes'),
    spacesUsedMiB: spaces('nodejs_heap_space_size_used_bytes'),
  };
}

/** The heap read every `everyMs` until stopped: per V8 space, the most it held from the system, and the most of external memory (`external`). */
function heapSampler(metricsUrl: string, everyMs = 1000) {
  const most: Record<string, number> = {};
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const h = await heap(metricsUrl).catch(() => null);
      for (const [space, mib] of Object.entries(h?.spacesMiB ?? {})) most[space] = Math.max(most[space] ?? 0, mib);
      // Memory V8 counts outside its heap (buffers, array buffers), beside the spaces.
      if (h) most.external = Math.max(most.external ?? 0, Math.round(h.externalMiB * 10) / 10);
      await sleep(everyMs);
    }
  })();
  return {
    async stop() {
      stopped = true;
      await loop;
      return most;
    },
  };
}

// ---------------------------------------------------------------- 1. reads
type ReadRequest = { method: 'GET'; path: string; headers: Record<string, string> };
type SideRun = {
  rps: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  requests: number;
  non2xx: number;
  errors: number;
  cpuPerRequestMs: number;
  statementsPerRequest: number;
  loadavg: number[];
  /** Our server only: its heap releases (memory-reducing collections) counted on /metrics before the run began and when it ended. */
  heapReleases?: { before: number; after: number };
};

/** Both sides' answer to one request: status, the X-Total-Count header and the JSON body. */
async function answer(url: string, r: ReadRequest) {
  const res = await fetch(url + r.path, { headers: r.headers });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    /* compared as text */
  }
  return { status: res.status, totalCount: res.headers.get('x-total-count'), body };
}

/**
 * Asks both sides every request in `requests` once and compares the answers
 * (status, X-Total-Count, JSON body) for equality; returns how many were
 * compared and the first differences.
 */
async function compareAnswers(oursUrl: string, ceilingUrl: string, requests: ReadRequest[]) {
  const differences: { path: string; ours: unknown; ceiling: unknown }[] = [];
  const statuses: Record<string, number> = {};
  await pool(requests, 4, async (r) => {
    const [a, b] = await Promise.all([answer(oursUrl, r), answer(ceilingUrl, r)]);
    statuses[a.status] = (statuses[a.status] ?? 0) + 1;
    if (!isDeepStrictEqual(a, b)) differences.push({ path: r.path, ours: a, ceiling: b });
  });
  return { compared: requests.length, statuses, equal: differences.length === 0, differences: differences.slice(0, 3) };
}

async function reads() {
  const part = newPart('reads', {
    tenants: 100,
    clustersPerTenant: 10,
    instancesPerCluster: 10,
    connections: READ_CONNECTIONS,
    secondsPerRun: READ_SECONDS,
    rounds: READ_ROUNDS,
    order: 'alternating: ours then ceiling in even rounds, ceiling then ours in odd rounds',
    warmupSeconds: 1,
    floor: READ_FLOOR,
  });
  parts.push(part);
  const results = part.data;
  report.header('Reads at 10,000 instances (1,000 clusters, 100 tenants); footprint at idle and at 10k');
  const db = await createTestDatabase();
  databases.push(db);
  const s1 = await startKubeKloud({ label, databaseUrl: db.url, adminToken, reconciler: false });
  servers.push(s1);
  await sleep(1500);
  const idle = rssMiB(s1.pid);
  results.scenarios.footprint = { startupEmptyDb: { healthMs: s1.healthMs, readyMs: s1.readyMs }, rssIdleMiB: idle.rss, heapIdle: await heap(s1.metricsUrl) };
  report.row('footprint', 'start-up to /ready (empty database)', `${fmt(s1.readyMs, 0)} ms`, '', '', target(part, 'start-up to ready < 3 s', s1.readyMs < 3000, `${fmt(s1.readyMs, 0)} ms`));
  report.row('footprint', 'RSS idle (no rows)', `${fmt(idle.rss)} MiB`);

  const t0 = now();
  const tenants: SeededTenant[] = await seed(db.url, { prefix: label, tenants: 100, clustersPerTenant: 10, instancesPerCluster: 10 });
  report.progress(`seeded 100 tenants, 1,000 clusters, 10,000 instances in ${((now() - t0) / 1000).toFixed(1)} s`);
  const sanity = await new ApiClient(s1.url, tenants[0]!.token).get('/api/v1/clusters/');
  if (sanity.status !== 200 || sanity.body.length !== 10) throw new Error(`seeded list looks wrong: ${sanity.status} ${JSON.stringify(sanity.body).slice(0, 200)}`);

  const ceiling = await spawnProcess('bench/ceiling.ts', { DATABASE_URL: db.url }, { readyPath: '/health' });
  servers.push(ceiling);
  const sides = { ours: { url: s1.url, pid: s1.pid }, ceiling: { url: ceiling.url, pid: ceiling.proc.pid! } };
  const auth = (t: SeededTenant) => ({ authorization: `Bearer ${t.token}` });
  const get = (path: string, t: SeededTenant): ReadRequest => ({ method: 'GET', path, headers: auth(t) });
  const endpoints = [
    { key: 'list', figure: 'GET /clusters/ (10 clusters, 100 inst.)', requests: tenants.map((t) => get('/api/v1/clusters/', t)) },
    { key: 'getCluster', figure: 'GET /clusters/{id} (10 instances)', requests: tenants.map((t, k) => get(`/api/v1/clusters/${t.clusterIds[k % 10]}`, t)) },
    { key: 'getInstance', figure: 'GET /instances/{id}', requests: tenants.map((t, k) => get(`/api/v1/instances/${t.instanceIds[(k * 7) % 100]}`, t)) },
  ];

  // Before any timing: both sides answer every timed request, a page of the
  // list, and another tenant's cluster and instance (404) the same.
  const [a, b] = [tenants[0]!, tenants[1]!];
  const extra = [
    get('/api/v1/clusters/?limit=3&offset=4', a),
    get('/api/v1/clusters/?limit=3&offset=9', b),
    get(`/api/v1/clusters/${b.clusterIds[0]}`, a),
    get(`/api/v1/instances/${b.instanceIds[0]}`, a),
  ];
  const same: Record<string, Awaited<ReturnType<typeof compareAnswers>>> = {};
  for (const e of endpoints) same[e.key] = await compareAnswers(sides.ours.url, sides.ceiling.url, e.requests);
  same.pagingAndOwnership = await compareAnswers(sides.ours.url, sides.ceiling.url, extra);
  results.scenarios.sameAnswers = same;
  for (const [key, c] of Object.entries(same)) {
    report.progress(`same answers, ${key}: ${c.compared} requests compared (${Object.entries(c.statuses).map(([st, n]) => `${n} × ${st}`).join(', ')}), ${c.equal ? 'all equal' : 'DIFFERENT'}`);
    if (!c.equal) invalidate(part, `${key}: the two sides answer differently, e.g. ${JSON.stringify(c.differences[0]).slice(0, 600)}`);
  }
  if (!results.valid) throw new Error('the ceiling does not answer as KubeKloud does: nothing timed');

  // Transactions committed in the database per request: each autocommit statement is one,
  // so this counts database round trips per request, a figure the machine's load does not blur.
  const pgc = new pg.Client({ connectionString: db.url });
  // An interrupted run drops the database under this connection: that ends it, not the run's clean-up.
  pgc.on('error', () => {});
  await pgc.connect();
  const commits = async () =>
    Number((await pgc.query<{ n: string }>('SELECT xact_commit AS n FROM pg_stat_database WHERE datname = current_database()')).rows[0]!.n);
  const releases = async (side: { url: string }) => (side === sides.ours ? (await serverCounters(s1.metricsUrl)).heapReleases : undefined);
  const run = async (side: { url: string; pid: number }, requests: ReadRequest[], seconds: number): Promise<SideRun> => {
    const releasesBefore = await releases(side);
    const c0 = await commits();
    const cpu0 = cpuMs(side.pid);
    const r = await autocannon({ url: side.url, connections: READ_CONNECTIONS, duration: seconds, requests });
    const cpuPerRequestMs = (cpuMs(side.pid) - cpu0) / r.requests.total;
    await sleep(600); // the statistics collector flushes about every 500 ms
    const statementsPerRequest = ((await commits()) - c0 - 1) / r.requests.total;
    const releasesAfter = await releases(side);
    return {
      rps: r.requests.average,
      p50: r.latency.p50,
      p90: r.latency.p90,
      p99: r.latency.p99,
      max: r.latency.max,
      requests: r.requests.total,
      non2xx: r.non2xx,
      errors: r.errors + r.timeouts,
      cpuPerRequestMs,
      statementsPerRequest,
      loadavg: loadavg(),
      ...(releasesBefore === undefined ? {} : { heapReleases: { before: releasesBefore, after: releasesAfter! } }),
    };
  };
  const runs: Record<string, { rounds: { order: string; ours: SideRun; ceiling: SideRun }[]; warmup: { ours: SideRun; ceiling: SideRun } }> = {};
  for (const e of endpoints) {
    // Warm-up (JIT, pool); its answers are counted too.
    runs[e.key] = { rounds: [], warmup: { ours: await run(sides.ours, e.requests, 1), ceiling: await run(sides.ceiling, e.requests, 1) } };
  }
  for (let round = 0; round < READ_ROUNDS; round++) {
    const order = round % 2 === 0 ? (['ours', 'ceiling'] as const) : (['ceiling', 'ours'] as const);
    for (const e of endpoints) {
      report.progress(`round ${round + 1}/${READ_ROUNDS}, ${e.key}: ${READ_SECONDS} s ${order[0]}, then ${READ_SECONDS} s ${order[1]} (load ${loadavg()[0]})`);
      const first = await run(sides[order[0]], e.requests, READ_SECONDS);
      const second = await run(sides[order[1]], e.requests, READ_SECONDS);
      const byside = order[0] === 'ours' ? { ours: first, ceiling: second } : { ours: second, ceiling: first };
      runs[e.key]!.rounds.push({ order: order.join('-'), ...byside });
    }
  }
  await pgc.end();
  {
    // Where our server released its heap: within a timed run of its own, or between them (while the ceiling ran).
    const ourRuns = endpoints.flatMap((e) => [runs[e.key]!.warmup.ours, ...runs[e.key]!.rounds.map((r) => r.ours)]);
    const within = ourRuns.reduce((n, r) => n + (r.heapReleases!.after - r.heapReleases!.before), 0);
    const total = (await serverCounters(s1.metricsUrl)).heapReleases - ourRuns[0]!.heapReleases!.before;
    report.progress(`our server's heap releases during the reads: ${total} (${within} within its own timed runs)`);
  }

  const out: Record<string, any> = {};
  const summary = (rs: SideRun[]) => ({
    rps: spread(rs.map((r) => r.rps)),
    p50: spread(rs.map((r) => r.p50)),
    p99: spread(rs.map((r) => r.p99)),
    cpuPerRequestMs: spread(rs.map((r) => r.cpuPerRequestMs)),
    statementsPerRequest: spread(rs.map((r) => r.statementsPerRequest)),
    requests: rs.reduce((n, r) => n + r.requests, 0),
  });
  for (const e of endpoints) {
    const { rounds, warmup } = runs[e.key]!;
    const all = { ours: [warmup.ours, ...rounds.map((r) => r.ours)], ceiling: [warmup.ceiling, ...rounds.map((r) => r.ceiling)] };
    const non2xx = { ours: all.ours.reduce((n, r) => n + r.non2xx, 0), ceiling: all.ceiling.reduce((n, r) => n + r.non2xx, 0) };
    const errors = { ours: all.ours.reduce((n, r) => n + r.errors, 0), ceiling: all.ceiling.reduce((n, r) => n + r.errors, 0) };
    for (const side of ['ours', 'ceiling'] as const) {
      if (non2xx[side] + errors[side] > 0) invalidate(part, `${e.key}: ${side} answered ${non2xx[side]} non-2xx, ${errors[side]} errors or timeouts`);
    }
    const ours = summary(rounds.map((r) => r.ours));
    const ceil = summary(rounds.map((r) => r.ceiling));
    const ratio = ours.rps.median / ceil.rps.median;
    const roundRatios = spread(rounds.map((r) => r.ours.rps / r.ceiling.rps));
    out[e.key] = {
      path: e.requests[0]!.path.replace(/\/\d+$/, '/{id}'),
      ours,
      ceiling: ceil,
      ratio,
      roundRatios,
      cpuRatio: ours.cpuPerRequestMs.median / ceil.cpuPerRequestMs.median,
      non2xx,
      errors,
      rounds,
      warmup,
    };
    const sp = (x: { median: number; min: number; max: number }, d = 0) => `${fmt(x.median, d)} (${fmt(x.min, d)}–${fmt(x.max, d)})`;
    report.row('reads', `${e.figure} p50 / p99 ms`, `${fmt(ours.p50.median, 0)} / ${fmt(ours.p99.median, 0)}`, `${fmt(ceil.p50.median, 0)} / ${fmt(ceil.p99.median, 0)}`, '',
      target(part, `${e.key} p99 < 50 ms`, ours.p99.median < 50, `${fmt(ours.p99.median, 0)} ms`));
    report.row('reads', `${e.figure} SQL statements / request (approx.)`, fmt(ours.statementsPerRequest.median, 2), fmt(ceil.statementsPerRequest.median, 2));
    report.row('reads', `${e.figure} server CPU ms / request`, sp(ours.cpuPerRequestMs, 3), sp(ceil.cpuPerRequestMs, 3), fmt(out[e.key].cpuRatio, 2));
    report.row('reads', `${e.figure} req/s`, sp(ours.rps), sp(ceil.rps), ratio.toFixed(3),
      `${target(part, `${e.key} >= 1,000 req/s`, ours.rps.median >= 1000, `${fmt(ours.rps.median, 0)} req/s`)}; ${target(part, `${e.key} ours/ceiling >= ${READ_FLOOR}`, ratio >= READ_FLOOR, ratio.toFixed(3))}`);
  }
  results.scenarios.reads = { endpoints: out };
  const at10k = rssMiB(s1.pid);
  const ceilRss = rssMiB(ceiling.proc.pid!);
  const footprint = results.scenarios.footprint;
  footprint.rssAt10kMiB = at10k.rss;
  footprint.heapAt10k = await heap(s1.metricsUrl);
  report.progress(`at 10k: V8 heap used ${fmt(footprint.heapAt10k.usedMiB)} MiB of ${fmt(footprint.heapAt10k.totalMiB)} MiB, external ${fmt(footprint.heapAt10k.externalMiB)} MiB`);
  footprint.rssPeakDuringReadsMiB = at10k.hwm;
  footprint.ceilingRssMiB = ceilRss.rss;
  report.row('footprint', 'RSS at 10k instances, after the reads', `${fmt(at10k.rss)} MiB`, `${fmt(ceilRss.rss)} MiB`, '', target(part, 'RSS at 10k < 200 MiB', at10k.rss < 200, `${fmt(at10k.rss)} MiB (peak ${fmt(at10k.hwm)})`));
  await ceiling.stop();
  await s1.stop();
  servers.length = 0;
  // Start-up again, now with 10k rows in the database (full mode only: it is start-up time again).
  if (!quick) {
    const s1b = await startKubeKloud({ label, databaseUrl: db.url, adminToken, reconciler: false });
    footprint.startupAt10k = { healthMs: s1b.healthMs, readyMs: s1b.readyMs };
    report.row('footprint', 'start-up to /ready (10k instances)', `${fmt(s1b.readyMs, 0)} ms`);
    await s1b.stop();
  }
  await db.drop();
  databases.length = 0;
}

// ---------------------------------------------------------------- 2-6. on the plane
type Tenant = { client: ApiClient; id: number };

async function newTenant(s: BenchServer, instances: number, cpuPer = CPU, memPer = MEMORY): Promise<Tenant> {
  const res = await s.admin.post('/api/v1/users/', {
    username: `bench-${randomBytes(4).toString('hex')}`,
    quota_cpu: Math.round(instances * cpuPer * 1000) / 1000,
    quota_memory: Math.round(instances * memPer * 1000) / 1000,
    quota_instances: instances,
  });
  if (res.status !== 201) throw new Error(`creating a tenant: ${res.status} ${JSON.stringify(res.body)}`);
  return { client: s.admin.withToken(res.body.token), id: res.body.id };
}

/** All of a tenant's clusters through GET (paginated list). */
async function listAll(c: ApiClient): Promise<any[]> {
  const out: any[] = [];
  for (let offset = 0; ; offset += 100) {
    const r = await c.get(`/api/v1/clusters/?limit=100&offset=${offset}`);
    if (r.status !== 200) throw new Error(`list: ${r.status}`);
    out.push(...r.body);
    if (r.body.length < 100) return out;
  }
}

/** Every cluster's status in one request (the unpaged list, up to 10,000 clusters): what a client waiting on all of them would ask. */
async function statuses(c: ApiClient, expected: number): Promise<any[]> {
  if (expected > 10_000) return listAll(c);
  const r = await c.get('/api/v1/clusters/');
  if (r.status !== 200) throw new Error(`list: ${r.status}`);
  return r.body;
}

async function waitClusters(c: ApiClient, expected: number, status: string, what: string, timeoutMs: number, polls?: number[]): Promise<number> {
  const t0 = now();
  for (;;) {
    const asked = now();
    const all = await statuses(c, expected);
    const answeredMs = now() - asked;
    polls?.push(answeredMs);
    const ok = all.filter((x) => x.status === status).length;
    report.tick(what, `${what}: ${ok}/${expected} clusters ${status} (${((now() - t0) / 1000).toFixed(0)} s)`);
    if (ok === expected && all.length === expected) return now();
    if (now() - t0 > timeoutMs) throw new Error(`${what}: only ${ok}/${expected} clusters ${status} after ${timeoutMs / 1000} s`);
    await pollPause(answeredMs);
  }
}

async function quotaZero(c: ApiClient): Promise<boolean> {
  const q = (await c.get('/api/v1/users/me/quota')).body;
  return q.used_cpu === 0 && q.used_memory === 0 && q.used_instances === 0;
}

/** Deletes every cluster of the tenant; time until namespaces are gone and the quota is exactly zero. */
async function teardown(s: BenchServer, t: Tenant, what: string) {
  const clusters = await listAll(t.client);
  const before = await kubeCalls(s.metricsUrl);
  const t0 = now();
  const lat: number[] = [];
  await pool(clusters, 10, async (c) => {
    const a = now();
    const r = await t.client.delete(`/api/v1/clusters/${c.id}`);
    lat.push(now() - a);
    if (r.status !== 200) throw new Error(`delete: ${r.status} ${JSON.stringify(r.body)}`);
  });
  const accepted = (now() - t0) / 1000;
  const zeroAfterDeletes = await quotaZero(t.client);
  const names = new Set(clusters.map((c) => c.namespace as string));
  for (;;) {
    const left = (await namespacesWithPrefix(kc, label)).filter((n) => names.has(n)).length;
    const rows = (await listAll(t.client)).length;
    report.tick(what, `${what}: ${left} namespaces, ${rows} cluster rows left`);
    if (left === 0 && rows === 0) break;
    // The namespace controller empties a namespace at its own pace: a thousand take many minutes on this plane.
    const limitMs = Math.max(600_000, clusters.length * 3_000);
    if (now() - t0 > limitMs) throw new Error(`${what}: ${left} namespaces left after ${limitMs / 1000} s`);
    await sleep(250);
  }
  const seconds = (now() - t0) / 1000;
  const zero = await quotaZero(t.client);
  return { clusters: clusters.length, seconds, acceptedSeconds: accepted, deleteLatencyMs: summarise(lat), quotaZeroAtOnce: zeroAfterDeletes, quotaZero: zero, kubeCalls: diffCalls(await kubeCalls(s.metricsUrl), before) };
}

/** A cpuSpent record in one line: the plane's components summed, then each other group. */
function cpuLine(c: ReturnType<typeof cpuSpent>): string {
  const g = c.msPerInstance;
  return `${fmt(planeMs(g), 1)} + ${fmt(g.postgres ?? 0, 1)} + ${fmt(g.kubekloud ?? 0, 1)} + ${fmt(g.bench ?? 0, 1)} + ${fmt(g.other ?? 0, 1)} (${fmt(c.busyCores, 2)})`;
}

function perInstance(calls: ReturnType<typeof diffCalls>, n: number) {
  const byVerb: Record<string, number> = {};
  for (const [v, c] of Object.entries(calls.byVerb)) byVerb[v] = Math.round((c / n) * 100) / 100;
  const writes = Object.entries(calls.byVerb).filter(([v]) => WRITE_VERBS.has(v)).reduce((a, [, c]) => a + c, 0);
  return { byVerb, writesPerInstance: Math.round((writes / n) * 100) / 100, raw: calls.byKey };
}

/** The server's own collections so far, from one fetch of /metrics: full collections between list pages (and their pause in seconds), heap releases. */
async function serverCounters(metricsUrl: string) {
  const text = await (await fetch(`${metricsUrl}/metrics`)).text();
  const one = (name: string) => parseMetric(text, name)[0]?.value ?? 0;
  return {
    listCollections: { count: one('kubekloud_list_collections_total'), pauseSeconds: one('kubekloud_list_collection_pause_seconds_total') },
    heapReleases: one('kubekloud_heap_releases_total'),
  };
}
const listCollections = async (metricsUrl: string) => (await serverCounters(metricsUrl)).listCollections;
const diffCounts = (a: { count: number; pauseSeconds: number }, b: { count: number; pauseSeconds: number }) => ({ count: a.count - b.count, pauseSeconds: Math.round((a.pauseSeconds - b.pauseSeconds) * 1000) / 1000 });

/** The watches among the plane's counts, as counted (not per instance): watch requests that ended, by resource, and watchers the API server ended for being slow. */
function planeWatches(counts: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(counts).filter(([k, v]) => v > 0 && (k.startsWith('WATCH:') || k.startsWith('terminated-watchers:'))));
}

/** Counts per instance, to three places. */
function perInstanceCounts(counts: Record<string, number>, n: number): Record<string, number> {
  return Object.fromEntries(Object.entries(counts).map(([k, v]) => [k, Math.round((v / n) * 1000) / 1000]));
}

/** Where two per-instance request counts differ by 0.05 or more, the largest difference first. */
function planeDifferences(ours: Record<string, number>, direct: Record<string, number>): string {
  const keys = [...new Set([...Object.keys(ours), ...Object.keys(direct)])];
  const diffs = keys.map((k) => [k, ours[k] ?? 0, direct[k] ?? 0] as const).filter(([, a, b]) => Math.abs(a - b) >= 0.05);
  diffs.sort((x, y) => Math.abs(y[1] - y[2]) - Math.abs(x[1] - x[2]));
  return diffs.map(([k, a, b]) => `${k} ${fmt(a, 2)}/${fmt(b, 2)}`).join(', ') || 'none';
}

/** One table's scans: sequential scans and the rows they read, index scans and the rows they fetched. */
type TableReads = { seqScans: number; seqRows: number; idxScans: number; idxRows: number };
const NO_READS: TableReads = { seqScans: 0, seqRows: 0, idxScans: 0, idxRows: 0 };

/** What a database did so far: transactions committed and rows read and written (pg_stat_database; the bench's own reads count too, a few per poll). */
async function dbLoad(url: string) {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const r = await c.query(
      `SELECT xact_commit::float8 AS commits, (tup_returned + tup_fetched)::float8 AS rows_read, (tup_inserted + tup_updated + tup_deleted)::float8 AS rows_written
         FROM pg_stat_database WHERE datname = current_database()`,
    );
    // Where the rows read come from: each table's sequential scans and index scans, and the rows each returned.
    const t = await c.query<{ relname: string; seq_scan: number; seq_tup_read: number; idx_scan: number; idx_tup_fetch: number }>(
      `SELECT relname, seq_scan::float8, seq_tup_read::float8, coalesce(idx_scan, 0)::float8 AS idx_scan, coalesce(idx_tup_fetch, 0)::float8 AS idx_tup_fetch
         FROM pg_stat_user_tables`,
    );
    const byTable: Record<string, TableReads> = Object.fromEntries(
      t.rows.map((x) => [x.relname, { seqScans: x.seq_scan, seqRows: x.seq_tup_read, idxScans: x.idx_scan, idxRows: x.idx_tup_fetch }]),
    );
    return { ...(r.rows[0] as { commits: number; rows_read: number; rows_written: number }), byTable };
  } finally {
    await c.end();
  }
}
const perInstanceLoad = (a: Awaited<ReturnType<typeof dbLoad>>, b: Awaited<ReturnType<typeof dbLoad>>, n: number) => {
  const per = (x: number) => Math.round((x / n) * 100) / 100;
  const byTable: Record<string, TableReads> = {};
  for (const [rel, after] of Object.entries(a.byTable)) {
    const before = b.byTable[rel] ?? NO_READS;
    const d: TableReads = {
      seqScans: per(after.seqScans - before.seqScans),
      seqRows: per(after.seqRows - before.seqRows),
      idxScans: per(after.idxScans - before.idxScans),
      idxRows: per(after.idxRows - before.idxRows),
    };
    if (Object.values(d).some((v) => v !== 0)) byTable[rel] = d;
  }
  return {
    commits: per(a.commits - b.commits),
    rowsRead: per(a.rows_read - b.rows_read),
    rowsWritten: per(a.rows_written - b.rows_written),
    /** Per instance, by table. */
    byTable,
  };
};

/** Log lines by message and what they name (a watch problem's context and error), counted; lines that are not JSON by their first 200 characters. */
function summariseLog(lines: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of lines) {
    if (!line.trim()) continue;
    let key: string;
    try {
      const o = JSON.parse(line) as { msg?: string; context?: string; err?: unknown };
      key = [o.msg, o.context, typeof o.err === 'string' ? o.err : (o.err as { message?: string } | undefined)?.message].filter(Boolean).join(': ').slice(0, 300);
    } catch {
      key = line.slice(0, 200);
    }
    out[key] = (out[key] ?? 0) + 1;
  }
  return out;
}

/** The ceiling's namespaces: one prefix, its namespaces gone before the next direct apply. */
const DIRECT_PREFIX = `${label}d`;

/** The ceiling's side of a pair: n instances in clusters of 10, applied directly, timed until all run. */
function applyDirectly(kind: 'container' | 'vm', n: number) {
  report.progress(`${kind}-${n}: direct server-side apply of the same objects (${n / 10} namespaces, ${n} ${kind === 'vm' ? 'VMs' : 'StatefulSets'})`);
  return directApply(
    kc,
    { installation: `${label}-direct`, prefix: DIRECT_PREFIX, kind, clusters: n / 10, size: 10, concurrency: CONCURRENCY, cpuMilli: CPU * 1000, memoryMib: MEMORY * 1024, image: kind === 'vm' ? 'quay.io/containerdisks/ubuntu:24.04' : IMAGE },
    (m) => report.tick('direct', m),
  );
}

/** The ceiling's objects deleted; `meanwhile` runs while their namespaces go, which this waits for. */
async function removeDirect<T>(n: number, meanwhile: () => Promise<T>): Promise<T> {
  await deleteNamespaces(kc, await namespacesWithPrefix(kc, DIRECT_PREFIX));
  const out = await meanwhile();
  await waitNamespacesGone(kc, DIRECT_PREFIX, Math.max(300_000, n * 60));
  return out;
}

/** Our side of a pair: the tenant POSTs n instances as clusters of 10 (10 POSTs at once); the POSTs' latencies go to `postLat`. */
async function postClusters(t: Tenant, kind: 'container' | 'vm', n: number, postLat: number[]) {
  report.progress(`${kind}-${n}: KubeKloud, ${n / 10} × POST /clusters/ (10 ${kind} instances each), then GET until all running`);
  await pool(Array.from({ length: n / 10 }, (_, k) => k), 10, async (k) => {
    const a = now();
    const r = await t.client.post('/api/v1/clusters/', { name: `${kind}-${k + 1}`, instance_type: kind, cpu_per_instance: CPU, memory_per_instance: MEMORY, instance_count: 10 });
    postLat.push(now() - a);
    if (r.status !== 201) throw new Error(`create: ${r.status} ${JSON.stringify(r.body)}`);
  });
}

/** Until every one of the tenant's n / 10 clusters reads running (each poll's answer time to `polls`): when that was. */
function allRunning(t: Tenant, kind: 'container' | 'vm', n: number, polls?: number[]): Promise<number> {
  return waitClusters(t.client, n / 10, 'running', `${kind}-${n}`, Math.max(600_000, n * 120), polls);
}

/**
 * The pairs after a size's first (time only, its figures already taken): each
 * side's time from the first write to all running, the order swapped from one
 * pair to the next (ours first, then the ceiling first, …), each side's
 * objects gone before the other starts.
 */
async function morePairs(s: BenchServer, kind: 'container' | 'vm', n: number, first: { ours: number; ceiling: number }, pairs: number) {
  const key = `${kind}-${n}`;
  const out = [{ order: 'ceiling first', ours: first.ours, ceiling: first.ceiling, ratio: first.ours / first.ceiling }];
  const ceiling = async () => {
    const d = await applyDirectly(kind, n);
    await removeDirect(n, async () => undefined);
    return d.seconds;
  };
  const ours = async () => {
    const t = await newTenant(s, n, CPU, MEMORY);
    const t0 = now();
    await postClusters(t, kind, n, []);
    const seconds = ((await allRunning(t, kind, n)) - t0) / 1000;
    const td = await teardown(s, t, `${key} teardown`);
    if (!td.quotaZero) throw new Error(`${key}: quota not zero after a teardown`);
    return seconds;
  };
  for (let i = 1; i < pairs; i++) {
    const oursFirst = i % 2 === 1;
    const a = await (oursFirst ? ours() : ceiling());
    const b = await (oursFirst ? ceiling() : ours());
    const pair = oursFirst ? { order: 'ours first', ours: a, ceiling: b } : { order: 'ceiling first', ours: b, ceiling: a };
    out.push({ ...pair, ratio: pair.ours / pair.ceiling });
    report.progress(`${key}: pair ${i + 1} of ${pairs} (${pair.order}): ${fmt(pair.ours)} s against ${fmt(pair.ceiling)} s, ${fmt(pair.ours / pair.ceiling, 2)}×`);
  }
  return out;
}

/**
 * n instances in clusters of 10: the same objects applied directly (the
 * ceiling), then through KubeKloud (POST, then GET until all running), then
 * torn down. Records time, Kubernetes calls, database load and the server's
 * resident memory (before, peak while converging, all running, after the teardown).
 * With `pairs` above one, that many pairs in all (morePairs), the ratio judged on their median.
 */
async function convergence(p: Part, s: BenchServer, dbUrl: string, kind: 'container' | 'vm', n: number, o: { operate: boolean; teardownTarget: boolean; ratioTarget?: number; resync?: boolean; settle?: boolean; pairs?: number }) {
  const clusters = n / 10;
  const key = `${kind}-${n}`;
  const rec: Record<string, any> = { kind, instances: n, clusters, concurrency: CONCURRENCY };
  // Ceiling first: the same objects, applied directly.
  const directCpu = cpuByProcess(s.pid);
  const directPlane = await planeRequests();
  const direct = await applyDirectly(kind, n);
  rec.direct = direct;
  rec.direct.cpu = cpuSpent(directCpu, cpuByProcess(s.pid), n, direct.seconds);
  const directPlaneCalls = diffCalls(await planeRequests(), directPlane).byKey;
  rec.direct.planeRequests = perInstanceCounts(directPlaneCalls, n);
  rec.direct.planeWatches = planeWatches(directPlaneCalls);
  const t = await removeDirect(n, () => newTenant(s, n, CPU, MEMORY));
  // KubeKloud: POST clusters of 10, then GET until every cluster is running.
  const before = await kubeCalls(s.metricsUrl);
  const planeBefore = await planeRequests();
  const relistsBefore = await watchRelists(s.metricsUrl);
  const linesBefore = s.lineCount();
  const loadBefore = await dbLoad(dbUrl);
  rec.memory = { rssBeforeMiB: rssMiB(s.pid).rss };
  const cpuBefore = cpuMs(s.pid);
  const machineBefore = cpuByProcess(s.pid);
  const sampler = rssSampler(s.pid);
  const t0 = now();
  const postLat: number[] = [];
  await postClusters(t, kind, n, postLat);
  rec.postsAcceptedSeconds = (now() - t0) / 1000;
  rec.postLatencyMs = summarise(postLat);
  const polls: number[] = [];
  const done = await allRunning(t, kind, n, polls);
  rec.cpu = cpuSpent(machineBefore, cpuByProcess(s.pid), n, (done - t0) / 1000);
  const planeCalls = diffCalls(await planeRequests(), planeBefore).byKey;
  rec.planeRequests = perInstanceCounts(planeCalls, n);
  rec.planeWatches = planeWatches(planeCalls);
  report.progress(`${key}: the plane's API server, per instance, KubeKloud against direct apply where they differ: ${planeDifferences(rec.planeRequests, rec.direct.planeRequests)}`);
  report.progress(`${key}: the plane's watches ended, as counted, KubeKloud ${JSON.stringify(rec.planeWatches)}; direct apply ${JSON.stringify(rec.direct.planeWatches)}`);
  rec.memory.rssPeakMiB = sampler.stop();
  // The waiting's own load on the server (each poll is the whole list), and the watches that had to list again meanwhile.
  rec.polls = { ...summarise(polls), totalSeconds: polls.reduce((a, b) => a + b, 0) / 1000 };
  rec.relists = diffCalls(await watchRelists(s.metricsUrl), relistsBefore).byKey;
  // What the server warned of meanwhile (it logs at warn): a watch that had to list again says why here.
  rec.serverWarnings = summariseLog(s.linesSince(linesBefore));
  if (Object.keys(rec.serverWarnings).length > 0) report.progress(`${key}: the server warned: ${JSON.stringify(rec.serverWarnings)}`);
  report.progress(`${key}: ${polls.length} polls of the list while waiting (p50 ${fmt(rec.polls.p50, 0)} ms, ${fmt(rec.polls.totalSeconds)} s in all); watch relists meanwhile: ${JSON.stringify(rec.relists)}`);
  rec.serverCpuMsPerInstance = (cpuMs(s.pid) - cpuBefore) / n;
  const running = rssMiB(s.pid);
  rec.memory.rssRunningMiB = running.rss;
  rec.memory.runningParts = { anonMiB: running.anon, fileMiB: running.file };
  rec.memory.heapRunning = await heap(s.metricsUrl);
  rec.seconds = (done - t0) / 1000;
  rec.instancesPerSecond = n / rec.seconds;
  rec.ratio = rec.seconds / direct.seconds;
  await sleep(1000); // let the last observations' calls land in /metrics, and PostgreSQL's statistics
  rec.economy = { createToRunning: perInstance(diffCalls(await kubeCalls(s.metricsUrl), before), n) };
  rec.database = { createToRunning: perInstanceLoad(await dbLoad(dbUrl), loadBefore, n) };
  const tables = Object.entries(rec.database.createToRunning.byTable as Record<string, TableReads>)
    .sort(([, x], [, y]) => y.seqRows + y.idxRows - (x.seqRows + x.idxRows))
    .slice(0, 6);
  report.progress(`${key}: rows read per instance, most first: ${tables.map(([rel, x]) => `${rel} ${x.seqRows} in ${x.seqScans} seq scans, ${x.idxRows} in ${x.idxScans} index scans`).join('; ')}`);
  const targets: string[] = [];
  const what = `${n} ${kind === 'vm' ? 'VMs' : 'containers'}`;
  // The ratio targets, judged on this pair, or with more pairs to come on their median once they have run.
  const pairs = o.pairs ?? 1;
  const ratioTargets = [
    ...(o.ratioTarget !== undefined ? [{ name: `${what} within ${o.ratioTarget}× ceiling`, most: o.ratioTarget }] : []),
    ...(kind === 'container' && n === 1000 ? [{ name: '1,000 containers within 1.5× ceiling', most: 1.5 }] : []),
  ];
  const judgeRatio = (ratio: number, of = '') => ratioTargets.map((x) => target(p, `${x.name}${of}`, ratio <= x.most, `${fmt(ratio, 2)}×`));
  if (pairs === 1) targets.push(...judgeRatio(rec.ratio));
  if (kind === 'container' && n === 100) targets.push(target(p, '100 containers running < 30 s', rec.seconds < 30, `${fmt(rec.seconds)} s`));
  if (kind === 'container' && n === 1000) targets.push(target(p, '1,000 containers < 120 s', rec.seconds < 120, `${fmt(rec.seconds)} s`));
  report.row('convergence', `${what}: POST → all running (s)`, fmt(rec.seconds), fmt(direct.seconds), fmt(rec.ratio, 2), targets.join('; '));
  report.row('convergence', `${what}: instances/s`, fmt(rec.instancesPerSecond), fmt(n / direct.seconds));
  report.row('cpu', `${key}: CPU ms / instance, plane + PostgreSQL + server + bench + other (busy cores)`, cpuLine(rec.cpu), cpuLine(rec.direct.cpu));
  const w = rec.economy.createToRunning.writesPerInstance;
  report.row('economy', `${key}: kube writes / instance, create→running`, fmt(w, 2), fmt(direct.applies / n, 2), '',
    kind === 'container' ? target(p, `<= 6 kube writes per container (${n})`, w <= 6, fmt(w, 2)) : '');

  if (o.operate) {
    const instances = (await Promise.all((await listAll(t.client)).map((c) => t.client.get(`/api/v1/clusters/${c.id}`)))).flatMap((r) => r.body.instances.map((i: any) => i.id));
    for (const [op, status] of [['stop', 'stopped'], ['start', 'running']] as const) {
      const b = await kubeCalls(s.metricsUrl);
      const a0 = now();
      const r = await openLoop(OPERATE_RATE, instances.length, async (i) => {
        const res = await t.client.post(`/api/v1/instances/${instances[i]}/operate`, { operation: op });
        return res.status === 200;
      });
      const settled = ((await waitClusters(t.client, clusters, status, `${key} ${op}`, 300_000)) - a0) / 1000;
      await sleep(500);
      rec[op] = { writes: r, convergedSeconds: settled, economy: perInstance(diffCalls(await kubeCalls(s.metricsUrl), b), n) };
      report.row('writes', `operate ${op} at ${OPERATE_RATE}/s: p50 / p99 ms`, `${fmt(r.p50)} / ${fmt(r.p99)}`, '', '', `${fmt(r.achievedPerSec)} /s achieved, ${r.errors} errors`);
      report.row('economy', `${key}: kube writes / instance, ${op}`, fmt(rec[op].economy.writesPerInstance, 2), '', '', `all ${status} after ${fmt(settled)} s`);
    }
  }
  if (o.resync) {
    // Managing all of them, a resync asked for (SIGHUP): every kind listed and judged again. Its
    // memory and CPU over the window after the ask (a resync has no end signal of its own).
    const relists0 = await watchRelists(s.metricsUrl);
    const cpu0 = cpuMs(s.pid);
    const sampler = rssSampler(s.pid);
    const heaps = heapSampler(s.metricsUrl);
    const collections0 = await listCollections(s.metricsUrl);
    process.kill(s.pid, 'SIGHUP');
    await sleep(RESYNC_WINDOW_MS);
    rec.resync = {
      windowSeconds: RESYNC_WINDOW_MS / 1000,
      rssPeakMiB: sampler.stop(),
      peakParts: { anonMiB: sampler.peakParts.anon, fileMiB: sampler.peakParts.file },
      heapSpacesMostMiB: await heaps.stop(),
      listCollections: diffCounts(await listCollections(s.metricsUrl), collections0),
      serverCpuMs: cpuMs(s.pid) - cpu0,
      relists: diffCalls(await watchRelists(s.metricsUrl), relists0).byKey,
    };
    report.row('footprint', `${key}: resync asked for (SIGHUP): RSS peak (MiB), server CPU (s) in ${RESYNC_WINDOW_MS / 1000} s`, `${fmt(rec.resync.rssPeakMiB)} / ${fmt(rec.resync.serverCpuMs / 1000)}`, '', '',
      target(p, `RSS <= ${RSS_GOAL_MIB} MiB during a resync of ${what}`, rec.resync.rssPeakMiB <= RSS_GOAL_MIB, `peak ${fmt(rec.resync.rssPeakMiB)} MiB`));
    report.progress(`${key}: relists after SIGHUP: ${JSON.stringify(rec.resync.relists)}`);
    report.progress(`${key}: full collections between list pages during the resync: ${rec.resync.listCollections.count} (${fmt(rec.resync.listCollections.pauseSeconds * 1000, 0)} ms in all)`);
    report.progress(`${key}: resident anonymous / file-backed (MiB), all running ${fmt(running.anon)} / ${fmt(running.file)}, at the resync's peak ${fmt(sampler.peakParts.anon)} / ${fmt(sampler.peakParts.file)}`);
    report.progress(`${key}: V8 spaces (MiB held) all running ${JSON.stringify(rec.memory.heapRunning.spacesMiB)}, the most during the resync ${JSON.stringify(rec.resync.heapSpacesMostMiB)}`);
  }
  // Kept before the teardown, so a teardown that fails leaves the convergence's figures in the file.
  p.data.scenarios.convergence ??= {};
  p.data.scenarios.convergence[key] = rec;
  save(p);
  const td = await teardown(s, t, `${key} teardown`);
  rec.teardown = td;
  rec.economy.delete = perInstance(td.kubeCalls, n);
  report.row('teardown', `${td.clusters} clusters (${n} inst.): namespaces gone (s)`, fmt(td.seconds), '', '',
    `${o.teardownTarget ? target(p, `teardown of ${td.clusters} clusters: quota exactly zero`, td.quotaZero, td.quotaZero ? 'zero' : 'NOT zero') : `quota ${td.quotaZero ? 'exactly zero' : 'NOT zero'}`}`);
  report.row('economy', `${key}: kube writes / instance, delete`, fmt(rec.economy.delete.writesPerInstance, 2));
  await sleep(AFTER_TEARDOWN_MS); // what the teardown let go, given time to be collected
  const afterTeardown = rssMiB(s.pid);
  rec.memory.rssAfterTeardownMiB = afterTeardown.rss;
  rec.memory.afterTeardownParts = { anonMiB: afterTeardown.anon, fileMiB: afterTeardown.file };
  if (o.settle) {
    // And a minute after: V8 gives a heap back once allocation has been quiet for a while
    // (its memory reducer), so 10 s may show garbage not yet returned rather than growth.
    await sleep(AFTER_TEARDOWN_SETTLE_MS - AFTER_TEARDOWN_MS);
    rec.memory.rssMinuteAfterTeardownMiB = rssMiB(s.pid).rss;
  }
  report.row('footprint', `${key}: RSS before / peak / all running / after teardown${o.settle ? ' (10 s, 60 s)' : ''} (MiB)`,
    `${fmt(rec.memory.rssBeforeMiB)} / ${fmt(rec.memory.rssPeakMiB)} / ${fmt(rec.memory.rssRunningMiB)} / ${fmt(rec.memory.rssAfterTeardownMiB)}${o.settle ? `, ${fmt(rec.memory.rssMinuteAfterTeardownMiB)}` : ''}`);
  save(p); // the same record, now with its teardown
  if (pairs > 1) {
    rec.pairs = await morePairs(s, kind, n, { ours: rec.seconds, ceiling: direct.seconds }, pairs);
    rec.ratioOfPairs = spread(rec.pairs.map((x: { ratio: number }) => x.ratio));
    const m = rec.ratioOfPairs;
    report.row('convergence', `${what}: ours / ceiling, median of ${pairs} pairs (spread)`, '', '', fmt(m.median, 2),
      [`${fmt(m.min, 2)}–${fmt(m.max, 2)}`, ...judgeRatio(m.median, ` (median of ${pairs} pairs)`)].join('; '));
    save(p);
  }
}

let conv: Part;

/** The plane (with the bench's fake nodes), recorded on the part, then a fresh database and the server on it, reconciler on. */
async function serverOnPlane(p: Part): Promise<{ db: TestDatabase; s: BenchServer; nodes: { before: number; after: number } }> {
  const plane = await ensurePlane();
  p.data.kubernetes = await kubernetesVersion(kc);
  const nodes = await ensureNodes(kc, NODES);
  p.data.plane = { nodesBefore: nodes.before, nodesAfter: nodes.after, apiURL: plane.apiURL };
  const db = await createTestDatabase();
  databases.push(db);
  const s = await startKubeKloud({ label, databaseUrl: db.url, adminToken, reconciler: true });
  servers.push(s);
  return { db, s, nodes };
}

async function plane() {
  conv = newPart('convergence', {
    containerSizes: SIZES,
    vms: VMS,
    clusterSize: 10,
    postsAtOnce: 10,
    createRatePerSecond: CREATE_RATE,
    createCount: CREATE_COUNT,
    operateRatePerSecond: OPERATE_RATE,
    nodes: NODES,
    cpuPerInstance: CPU,
    memoryPerInstanceGiB: MEMORY,
    image: IMAGE,
    reconcileConcurrency: CONCURRENCY,
  });
  parts.push(conv);
  report.header('On the local control plane: writes, convergence, teardown, API economy, footprint under load');
  const { db, s, nodes } = await serverOnPlane(conv);
  report.progress(`Kubernetes ${conv.data.kubernetes}; fake nodes ${nodes.before} → ${nodes.after} (${nodes.after * 110} pod slots)`);
  conv.data.scenarios.footprint ??= {};
  conv.data.scenarios.footprint.startupWithPlane = { healthMs: s.healthMs, readyMs: s.readyMs };
  report.row('footprint', 'start-up to /ready (reconciler, plane)', `${fmt(s.readyMs, 0)} ms`);

  // Writes: creates at a fixed arrival rate (1 container each), then deletes at the same rate.
  {
    const t = await newTenant(s, CREATE_COUNT);
    const statuses: Record<string, number> = {};
    const r = await openLoop(CREATE_RATE, CREATE_COUNT, async (i) => {
      const res = await t.client
        .post('/api/v1/clusters/', { name: `w-${i}`, instance_type: 'container', cpu_per_instance: CPU, memory_per_instance: MEMORY, instance_count: 1 })
        .catch((e) => ({ status: String((e as Error).cause ?? e) }));
      statuses[res.status] = (statuses[res.status] ?? 0) + 1;
      return res.status === 201;
    });
    const created = statuses['201'] ?? 0;
    if (created < CREATE_COUNT) report.progress(`writes: create answers ${JSON.stringify(statuses)}`);
    report.row('writes', `create cluster at ${CREATE_RATE}/s: p50 / p99 ms`, `${fmt(r.p50)} / ${fmt(r.p99)}`, '', '', `${fmt(r.achievedPerSec)} /s achieved, ${r.errors} errors`);
    const c0 = now();
    const settled = ((await waitClusters(t.client, created, 'running', 'writes: creates', 300_000)) - c0) / 1000;
    report.progress(`writes: all ${created} created clusters running ${fmt(settled)} s after the last POST`);
    const ids = (await listAll(t.client)).map((c) => c.id);
    const d = await openLoop(CREATE_RATE, ids.length, async (i) => (await t.client.delete(`/api/v1/clusters/${ids[i]}`)).status === 200);
    report.row('writes', `delete cluster at ${CREATE_RATE}/s: p50 / p99 ms`, `${fmt(d.p50)} / ${fmt(d.p99)}`, '', '', `${fmt(d.achievedPerSec)} /s achieved, ${d.errors} errors`);
    const g0 = now();
    for (;;) {
      const rows = (await listAll(t.client)).length;
      report.tick('writes-gone', `writes: ${rows} clusters still deleting`);
      if (rows === 0 || now() - g0 > 300_000) break;
      await sleep(500);
    }
    conv.data.scenarios.writes = { create: { ...r, statuses }, runningAfterLastPostSeconds: settled, delete: d, createdClusters: CREATE_COUNT, goneSeconds: (now() - g0) / 1000, quotaZero: await quotaZero(t.client) };
  }

  const largest = Math.max(...SIZES);
  for (const n of SIZES) {
    await convergence(conv, s, db.url, 'container', n, { operate: n === 100, teardownTarget: n === largest || n === 100 });
    if (n === largest) conv.data.scenarios.footprint.rssPeakLargestRunMiB = conv.data.scenarios.convergence[`container-${n}`].memory.rssPeakMiB;
  }
  conv.data.scenarios.writes.operate = { stop: conv.data.scenarios.convergence['container-100'].stop?.writes, start: conv.data.scenarios.convergence['container-100'].start?.writes };
  await convergence(conv, s, db.url, 'vm', VMS, { operate: false, teardownTarget: false });
  conv.data.scenarios.footprint.rssAfterPlaneRunsMiB = rssMiB(s.pid);
  conv.data.scenarios.footprint.heapAfterPlaneRuns = await heap(s.metricsUrl);
  const end = conv.data.scenarios.footprint;
  report.row('footprint', 'RSS after the plane runs (all deleted)', `${fmt(end.rssAfterPlaneRunsMiB.rss)} MiB`, '', '',
    `V8 heap used ${fmt(end.heapAfterPlaneRuns.usedMiB)} of ${fmt(end.heapAfterPlaneRuns.totalMiB)} MiB`);
  await s.stop();
}

// ---------------------------------------------------------------- 7. scale
/** The scale run's sizes: containers while the fake nodes hold their pods, VMs beyond (kwok runs them without pods). */
const SCALE: { kind: 'container' | 'vm'; n: number }[] = scaleSizes ?? (quick
  ? [{ kind: 'container', n: 100 }, { kind: 'vm', n: 500 }]
  : [{ kind: 'container', n: 100 }, { kind: 'container', n: 1000 }, { kind: 'vm', n: 5000 }, { kind: 'vm', n: 10_000 }]);
const SCALE_RATIO = 1.2;
/**
 * Ours/ceiling pairs per size up to 1,000 instances (`--scale-pairs`): a
 * ceiling of a few seconds moves by a fifth from one run to the next on two
 * shared cores, so those sizes are judged on the median ratio: of five, as
 * three pairs spread from 0.86 to 1.50 at 1,000 containers (about 4 minutes
 * more than three). Beyond, one pair (a pair there takes 5 to 10 minutes).
 */
const SCALE_PAIRS = Math.max(1, Number(flag('scale-pairs') ?? (quick ? 2 : 5)));
const pairsAt = (n: number) => (n <= 1000 ? SCALE_PAIRS : 1);
const RSS_GOAL_MIB = 200;
/** How long after a SIGHUP the scale run samples the resync it asked for: longer than a 10,000-VM resync takes here. */
const RESYNC_WINDOW_MS = quick ? 10_000 : 30_000;
/** When the server's memory is sampled after a teardown, and when the scale run samples it again. */
const AFTER_TEARDOWN_MS = 10_000;
const AFTER_TEARDOWN_SETTLE_MS = 60_000;

/** One server with its reconciler on, through every size in turn: time against the ceiling, memory, database load, Kubernetes writes. */
async function scale() {
  const p = newPart('scale', { sizes: SCALE, clusterSize: 10, postsAtOnce: 10, nodes: NODES, cpuPerInstance: CPU, memoryPerInstanceGiB: MEMORY, reconcileConcurrency: CONCURRENCY, ratioTarget: SCALE_RATIO, pairs: SCALE.map(({ kind, n }) => ({ kind, n, pairs: pairsAt(n) })), rssGoalMiB: RSS_GOAL_MIB, pollPause: POLL_PAUSE_RULE });
  parts.push(p);
  report.header('Scale, reconciler on: convergence beside its ceiling, memory, database load, Kubernetes writes');
  const { db, s } = await serverOnPlane(p);
  await sleep(quick ? 5_000 : 30_000); // started, elected, watching: idle
  const idle = { rssMiB: rssMiB(s.pid).rss, heap: await heap(s.metricsUrl) };
  p.data.scenarios.idle = idle;
  report.row('footprint', 'RSS idle, reconciler on (MiB)', fmt(idle.rssMiB), '', '', target(p, `RSS idle <= ${RSS_GOAL_MIB} MiB`, idle.rssMiB <= RSS_GOAL_MIB, `${fmt(idle.rssMiB)} MiB`));
  for (const { kind, n } of SCALE) {
    await convergence(p, s, db.url, kind, n, { operate: false, teardownTarget: true, ratioTarget: SCALE_RATIO, resync: true, settle: !quick, pairs: pairsAt(n) });
    const m = p.data.scenarios.convergence[`${kind}-${n}`].memory;
    const what = `${n} ${kind === 'vm' ? 'VMs' : 'containers'}`;
    target(p, `RSS <= ${RSS_GOAL_MIB} MiB converging and managing ${what}`, m.rssPeakMiB <= RSS_GOAL_MIB, `peak ${fmt(m.rssPeakMiB)} MiB`);
    target(p, `RSS <= ${RSS_GOAL_MIB} MiB after the teardown of ${what}`, m.rssAfterTeardownMiB <= RSS_GOAL_MIB, `${fmt(m.rssAfterTeardownMiB)} MiB`);
    if (m.rssMinuteAfterTeardownMiB !== undefined) target(p, `RSS <= ${RSS_GOAL_MIB} MiB a minute after the teardown of ${what}`, m.rssMinuteAfterTeardownMiB <= RSS_GOAL_MIB, `${fmt(m.rssMinuteAfterTeardownMiB)} MiB`);
  }
  await s.stop();
  save(p);
}

let interrupted = false;
process.on('SIGINT', () => {
  if (interrupted) process.exit(130);
  interrupted = true;
  console.error('\ninterrupted: stopping servers, dropping databases, deleting this run\'s namespaces');
  const part = parts[parts.length - 1];
  if (part) invalidate(part, 'interrupted before the end');
  void cleanup()
    .then(() => part && console.error(`written: ${save(part)}`))
    .finally(() => process.exit(130));
});
try {
  if (only.has('reads')) {
    await reads();
    save(parts[parts.length - 1]!);
  }
  if (only.has('plane')) await plane();
  if (only.has('scale')) await scale();
} catch (err) {
  const part = parts[parts.length - 1];
  if (part && !interrupted) {
    part.data.error = String((err as Error).stack ?? err);
    part.data.valid = false;
    part.data.invalidReasons.push(`failed: ${(err as Error).message}`);
  }
  console.error(`\nbenchmark failed: ${(err as Error).message}`);
  process.exitCode = 1;
} finally {
  await cleanup();
}
for (const p of parts) {
  const file = save(p);
  if (!p.data.valid) process.exitCode = 1;
  console.log(`\n${p.bench} (${mode} run, ${((now() - p.t0) / 60_000).toFixed(1)} min)${p.data.valid ? '' : ' — INVALID: ' + p.data.invalidReasons.join('; ')}`);
  for (const t of p.data.targets) console.log(`  ${t.met ? 'MET   ' : 'MISSED'} ${t.target}: ${t.figure}`);
  console.log(`written: ${file}`);
}
process.exit(process.exitCode ?? 0);
