// Fairness (OWASP API4): one tenant at its caps does not move another
// tenant's list latency by more than 20 %. Not a test (the suite has no timed
// tests): a benchmark that exits 1 when the target is missed.
//
//   npm run bench:fairness
//
// One server (the built `dist/main.mjs`, PostgreSQL, reconciler off so that a
// ?wait= holds its seat for its whole time), tenants A and B seeded with 10
// clusters of 10 instances each. B's GET /api/v1/clusters/ is timed
// (ROUNDS x REQUESTS, CONCURRENCY at a time: FAIRNESS_CONCURRENCY, default 4,
// which keeps this machine's two cores busy on B alone) first alone (A holds nothing),
// then while A holds its caps: every event stream it may open, every ?wait=
// it may hold, and its live tokens at the cap, and keeps knocking on all three
// (HAMMER_RATE requests a second, each answered 429). Alone and loaded rounds
// alternate (which comes first too), so drift of the shared machine's load
// falls on both. The per-token request
// limit is lifted (it would throttle B's own measuring); the write limit per
// user stays at its default.
// A runs in a process of its own (bench/lib/fairnessTenantA.ts), so that its
// streams and knocks do not share the event loop that times B.
// Writes its figures through writeResults: bench/results/<date>-<commit>-fairness.json.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { repoRoot } from '../test/support/kube.ts';
import { createTestDatabase } from '../test/support/postgres.ts';
import { ensurePlane } from '../testenv/harness/plane.ts';
import { seed, type SeededTenant } from './lib/seed.ts';
import { serverNodeFlags, startKubeKloud } from './lib/server.ts';
import { runStamp, writeResults } from './lib/results.ts';
import { cpuMs, fmt, loadavg, machine, now, sleep, summarise } from './lib/util.ts';

const REQUESTS = Number(process.env.FAIRNESS_REQUESTS ?? 750);
const ROUNDS = Number(process.env.FAIRNESS_ROUNDS ?? 8);
const CONCURRENCY = Number(process.env.FAIRNESS_CONCURRENCY ?? 4);
const HAMMER_RATE = Number(process.env.FAIRNESS_KNOCK_RATE ?? 50);
const CAPS = { streams: 10, waits: 10, tokens: 50 };
const TARGET_RATIO = 1.2;
/** What A holds (for finding what costs B): streams, waits, tokens; all by default. */
const HOLD = (process.env.FAIRNESS_HOLD ?? 'streams,waits,tokens').split(',');

const stamp = runStamp();
const startMachine = machine();
const label = `f${randomBytes(6).toString('hex').replace(/[^a-z0-9]/g, '').slice(0, 5)}`;
await ensurePlane({ log: (line) => console.log(line) });
const db = await createTestDatabase();
const server = await startKubeKloud({
  label,
  databaseUrl: db.url,
  adminToken: `admin-${label}-${randomBytes(12).toString('hex')}`,
  reconciler: false,
  env: {
    KUBEKLOUD_WRITE_RATE_LIMIT_RPS: '20',
    KUBEKLOUD_WRITE_RATE_LIMIT_BURST: '60',
    KUBEKLOUD_MAX_EVENT_STREAMS_PER_USER: String(CAPS.streams),
    KUBEKLOUD_MAX_WAITS_PER_USER: String(CAPS.waits),
    KUBEKLOUD_MAX_TOKENS_PER_USER: String(CAPS.tokens),
  },
});
let stopA = () => {};

try {
  const [a, b] = (await seed(db.url, { prefix: label, tenants: 2, clustersPerTenant: 10, instancesPerCluster: 10 })) as [SeededTenant, SeededTenant];
  const headers = (t: SeededTenant, json = false) => ({ authorization: `Bearer ${t.token}`, ...(json ? { 'content-type': 'application/json' } : {}) });
  const api = (path: string) => `${server.url}/api/v1${path}`;

  /** B's list, REQUESTS times, CONCURRENCY at a time: the latencies in ms. */
  const serverCpu = { alone: 0, loaded: 0 };
  let phase: 'alone' | 'loaded' = 'alone';
  async function measureB(): Promise<number[]> {
    const out: number[] = [];
    let next = 0;
    const cpu0 = cpuMs(server.pid);
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next++ < REQUESTS) {
          const t0 = now();
          const res = await fetch(api('/clusters/'), { headers: headers(b) });
          await res.arrayBuffer();
          out.push(now() - t0);
          if (res.status !== 200) throw new Error(`B's list answered ${res.status}`);
        }
      }),
    );
    // The server's CPU over B's requests: what A's holding and knocking cost the process B shares.
    serverCpu[phase] += cpuMs(server.pid) - cpu0;
    return out;
  }

  // Warm-up (JIT, pool).
  await measureB();

  // Tenant A, in a process of its own.
  const child = spawn(process.execPath, ['--import', 'tsx', join(repoRoot, 'bench', 'lib', 'fairnessTenantA.ts')], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    env: {
      PATH: process.env.PATH ?? '',
      FAIRNESS_URL: server.url,
      FAIRNESS_TOKEN: a.token,
      FAIRNESS_CLUSTERS: JSON.stringify(a.clusterIds),
      FAIRNESS_CAPS: JSON.stringify(CAPS),
      FAIRNESS_HOLD: HOLD.join(','),
      FAIRNESS_KNOCK_RATE: String(HAMMER_RATE),
    },
  });
  stopA = () => child.kill();
  const replies: string[] = [];
  let replied: (() => void) | null = null;
  child.on('message', (m: string) => {
    replies.push(m);
    replied?.();
  });
  const nextReply = async () => {
    while (replies.length === 0) await new Promise<void>((r) => (replied = r));
    return replies.shift()!;
  };
  const askA = async (what: string) => {
    child.send(what);
    return nextReply();
  };
  if ((await nextReply()) !== 'ready') throw new Error('tenant A did not start');

  const alone: number[] = [];
  const loaded: number[] = [];
  const rounds: { alone: ReturnType<typeof summarise>; loaded: ReturnType<typeof summarise>; loadavg: number[] }[] = [];
  const measureLoaded = async () => {
    await askA('take');
    phase = 'loaded';
    const l = await measureB();
    phase = 'alone';
    await askA('release');
    return l;
  };
  for (let r = 0; r < ROUNDS; r++) {
    // Every other round measures A at its caps first, so that neither phase always runs second.
    let a1: number[];
    let l1: number[];
    if (r % 2 === 0) {
      a1 = await measureB();
      l1 = await measureLoaded();
    } else {
      l1 = await measureLoaded();
      a1 = await measureB();
    }
    alone.push(...a1);
    loaded.push(...l1);
    rounds.push({ alone: summarise(a1), loaded: summarise(l1), loadavg: loadavg() });
    console.log(`round ${r + 1}: B alone p50 ${fmt(summarise(a1).p50, 2)} p99 ${fmt(summarise(a1).p99, 2)} ms; A at its caps p50 ${fmt(summarise(l1).p50, 2)} p99 ${fmt(summarise(l1).p99, 2)} ms`);
  }
  const answersToA = JSON.parse(await askA('stats')) as Record<string, number>;
  child.send('exit');
  const s0 = summarise(alone);
  const s1 = summarise(loaded);
  const ratio = s1.p99 / s0.p99;
  const met = ratio <= TARGET_RATIO;
  console.log(`B's GET /api/v1/clusters/ (${s0.count} requests each, ${CONCURRENCY} at a time):`);
  console.log(`  alone           p50 ${fmt(s0.p50, 2)} ms  p99 ${fmt(s0.p99, 2)} ms`);
  console.log(`  A at its caps   p50 ${fmt(s1.p50, 2)} ms  p99 ${fmt(s1.p99, 2)} ms`);
  console.log(`  p99 ratio ${ratio.toFixed(3)} (target <= ${TARGET_RATIO}): ${met ? 'MET' : 'MISSED'}`);
  const perRequest = (ms: number, n: number) => fmt(ms / n, 3);
  console.log(`  server CPU per B request: alone ${perRequest(serverCpu.alone, s0.count)} ms, A at its caps ${perRequest(serverCpu.loaded, s1.count)} ms (A's own requests included)`);
  console.log(`  A's answers: ${Object.entries(answersToA).map(([k, v]) => `${k}: ${v}`).join(', ')}`);
  const file = writeResults(
    'fairness',
    {
      machine: startMachine,
      serverNodeFlags: serverNodeFlags(),
      notes: 'Shared 2-core machine: other work may run at the same time; figures are noisy.',
      caps: CAPS,
      hold: HOLD,
      rounds: ROUNDS,
      requestsPerRound: REQUESTS,
      requestsPerPhase: REQUESTS * ROUNDS,
      concurrency: CONCURRENCY,
      hammerRatePerSecond: HAMMER_RATE,
      alone: s0,
      atCaps: s1,
      perRound: rounds,
      p99Ratio: ratio,
      target: TARGET_RATIO,
      met,
      answersToA,
      serverCpuMsPerBRequest: { alone: serverCpu.alone / s0.count, atCaps: serverCpu.loaded / s1.count },
      loadavgAtEnd: loadavg(),
    },
    stamp,
  );
  console.log(`written: ${file}`);
  process.exitCode = met ? 0 : 1;
} finally {
  stopA();
  await server.stop();
  await db.drop();
}
