// Fairness (issue 16, OWASP API4): one tenant at its caps does not move another
// tenant's list latency by more than 20 %. Not a test (the suite has no timed
// tests): a benchmark that exits 1 when the target is missed.
//
//   npm run bench:fairness
//
// One server (the built `dist/main.mjs`, PostgreSQL, reconciler off so that a
// ?wait= holds its seat for its whole time), tenants A and B seeded with 10
// clusters of 10 instances each. B's GET /api/v1/clusters/ is timed
// (ROUNDS x REQUESTS, CONCURRENCY at a time) first alone (A holds nothing),
// then while A holds its caps: every event stream it may open, every ?wait=
// it may hold, and its live tokens at the cap, and keeps knocking on all three
// (HAMMER_RATE requests a second, each answered 429). Alone and loaded rounds
// alternate (which comes first too), so drift of the shared machine's load
// falls on both. The per-token request
// limit is lifted (it would throttle B's own measuring); the write limit per
// user stays at its default.
// Writes bench/results/fairness.json.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { repoRoot } from '../test/support/kube.ts';
import { createTestDatabase } from '../test/support/postgres.ts';
import { ensurePlane } from '../testenv/harness/plane.ts';
import { seed, type SeededTenant } from './lib/seed.ts';
import { startKubeKloud } from './lib/server.ts';
import { fmt, gitCommit, loadavg, machine, now, sleep, summarise } from './lib/util.ts';

const REQUESTS = Number(process.env.FAIRNESS_REQUESTS ?? 750);
const ROUNDS = Number(process.env.FAIRNESS_ROUNDS ?? 8);
const CONCURRENCY = 4;
const HAMMER_RATE = Number(process.env.FAIRNESS_KNOCK_RATE ?? 50);
const CAPS = { streams: 10, waits: 10, tokens: 50 };
const TARGET_RATIO = 1.2;
/** What A holds (for finding what costs B): streams, waits, tokens; all by default. */
const HOLD = (process.env.FAIRNESS_HOLD ?? 'streams,waits,tokens').split(',');

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
const statuses = new Map<string, number>();
const count = (what: string, status: number) => statuses.set(`${what} ${status}`, (statuses.get(`${what} ${status}`) ?? 0) + 1);

const held: AbortController[] = [];

try {
  const [a, b] = (await seed(db.url, { prefix: label, tenants: 2, clustersPerTenant: 10, instancesPerCluster: 10 })) as [SeededTenant, SeededTenant];
  const headers = (t: SeededTenant, json = false) => ({ authorization: `Bearer ${t.token}`, ...(json ? { 'content-type': 'application/json' } : {}) });
  const api = (path: string) => `${server.url}/api/v1${path}`;

  /** B's list, REQUESTS times, CONCURRENCY at a time: the latencies in ms. */
  async function measureB(): Promise<number[]> {
    const out: number[] = [];
    let next = 0;
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
    return out;
  }

  const openStream = async (clusterId: number) => {
    const c = new AbortController();
    const res = await fetch(api(`/clusters/${clusterId}/events`), { headers: headers(a), signal: c.signal });
    count('stream', res.status);
    if (res.status !== 200) {
      await res.arrayBuffer();
      return false;
    }
    held.push(c);
    void (async () => {
      try {
        for await (const _ of res.body!) {
          /* drain */
        }
      } catch {
        /* aborted */
      }
    })();
    return true;
  };
  const suspendAndWait = async (clusterId: number, seconds: number) => {
    const c = new AbortController();
    held.push(c);
    const res = await fetch(api(`/clusters/${clusterId}/suspend?wait=${seconds}`), { method: 'POST', headers: headers(a), signal: c.signal }).catch(() => null);
    if (res) {
      count('wait', res.status);
      await res.arrayBuffer().catch(() => {});
    }
  };
  /** One more token for A: 201, 'cap' (429 at the live-token cap) or 'limited' (429 from the write rate limit), with its Retry-After. */
  const createToken = async () => {
    const res = await fetch(api('/users/me/tokens'), { method: 'POST', headers: headers(a, true), body: JSON.stringify({ name: 'hammer' }) });
    const body = (await res.json()) as { detail?: string };
    const kind = res.status === 429 ? (body.detail?.includes('live tokens') ? 'cap' : 'rate limit') : String(res.status);
    count(res.status === 429 ? `token (${kind})` : 'token', res.status);
    return { kind, retryAfter: Number(res.headers.get('retry-after') ?? 1) };
  };

  // Warm-up (JIT, pool).
  await measureB();

  /** A takes its caps: every event stream and ?wait= it may hold, and its live tokens up to the cap. */
  async function takeCaps(): Promise<Promise<void>[]> {
    let streams = 0;
    for (let k = 0; HOLD.includes('streams') && streams < CAPS.streams; k++) if (await openStream(a.clusterIds[k % 10]!)) streams++;
    const waits: Promise<void>[] = [];
    for (let k = 0; HOLD.includes('waits') && k < CAPS.waits; k++) waits.push(suspendAndWait(a.clusterIds[k]!, 600));
    for (; HOLD.includes('tokens'); ) {
      const t = await createToken();
      if (t.kind === 'cap') break;
      if (t.kind === 'rate limit') await sleep(t.retryAfter * 1000);
      else if (t.kind !== '201') throw new Error(`token create answered ${t.kind}`);
    }
    await sleep(500); // the waits are all seated
    return waits;
  }
  /** A lets go of its streams and waits, and revokes its tokens but the seeded one: B is alone again. */
  async function releaseCaps(waits: Promise<void>[]): Promise<void> {
    for (const c of held.splice(0)) c.abort();
    await Promise.allSettled(waits);
    const tokens = (await (await fetch(api('/users/me/tokens'), { headers: headers(a) })).json()) as { id: number; name: string }[];
    for (const t of tokens) {
      if (t.name !== 'hammer') continue;
      // Revokes are writes too: past the write rate limit, wait as told.
      for (;;) {
        const res = await fetch(api(`/users/me/tokens/${t.id}`), { method: 'DELETE', headers: headers(a) });
        await res.arrayBuffer();
        if (res.status !== 429) break;
        await sleep(Number(res.headers.get('retry-after') ?? 1) * 1000);
      }
    }
    await sleep(500);
  }
  let hammering = false;
  /** A keeps knocking on all three caps, HAMMER_RATE requests a second, each refused. */
  const hammer = async () => {
    let k = 0;
    while (hammering) {
      const t0 = now();
      const which = k++ % 3;
      if (which === 0) await createToken();
      else if (which === 1) await openStream(a.clusterIds[k % 10]!);
      else await suspendAndWait(a.clusterIds[k % 10]!, 600);
      await sleep(Math.max(0, 1000 / HAMMER_RATE - (now() - t0)));
    }
  };

  const alone: number[] = [];
  const loaded: number[] = [];
  const rounds: { alone: ReturnType<typeof summarise>; loaded: ReturnType<typeof summarise>; loadavg: number[] }[] = [];
  const measureLoaded = async () => {
    const waits = await takeCaps();
    hammering = HAMMER_RATE > 0;
    const h = hammering ? hammer() : Promise.resolve();
    const l = await measureB();
    hammering = false;
    await h;
    await releaseCaps(waits);
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
  const s0 = summarise(alone);
  const s1 = summarise(loaded);
  const ratio = s1.p99 / s0.p99;
  const met = ratio <= TARGET_RATIO;
  console.log(`B's GET /api/v1/clusters/ (${s0.count} requests each, ${CONCURRENCY} at a time):`);
  console.log(`  alone           p50 ${fmt(s0.p50, 2)} ms  p99 ${fmt(s0.p99, 2)} ms`);
  console.log(`  A at its caps   p50 ${fmt(s1.p50, 2)} ms  p99 ${fmt(s1.p99, 2)} ms`);
  console.log(`  p99 ratio ${ratio.toFixed(3)} (target <= ${TARGET_RATIO}): ${met ? 'MET' : 'MISSED'}`);
  console.log(`  A's answers: ${[...statuses].map(([k, v]) => `${k}: ${v}`).join(', ')}`);
  const dir = join(repoRoot, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, 'fairness.json'),
    JSON.stringify(
      {
        date: new Date().toISOString(),
        commit: gitCommit(),
        node: process.version,
        machine: machine(),
        notes: 'Shared 2-core machine: other work may run at the same time; figures are noisy.',
        caps: CAPS,
        requestsPerPhase: REQUESTS * ROUNDS,
        concurrency: CONCURRENCY,
        hammerRatePerSecond: HAMMER_RATE,
        alone: s0,
        atCaps: s1,
        rounds,
        p99Ratio: ratio,
        target: TARGET_RATIO,
        met,
        answersToA: Object.fromEntries(statuses),
      },
      null,
      2,
    ) + '\n',
  );
  process.exitCode = met ? 0 : 1;
} finally {
  for (const c of held) c.abort();
  await server.stop();
  await db.drop();
}
