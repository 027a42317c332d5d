// Tenant A of the fairness benchmark (bench/fairness.ts), in a process of its
// own so that its streams and knocks do not share the event loop that times
// tenant B. Driven over IPC: 'take' (take every cap, start knocking), then
// 'release' (stop knocking, let go of the caps); each answered when done, and
// 'stats' with the status of every answer A got.
import { now, sleep } from './util.ts';

const url = process.env.FAIRNESS_URL!;
const token = process.env.FAIRNESS_TOKEN!;
const clusterIds = JSON.parse(process.env.FAIRNESS_CLUSTERS!) as number[];
const CAPS = JSON.parse(process.env.FAIRNESS_CAPS!) as { streams: number; waits: number; tokens: number };
const HOLD = process.env.FAIRNESS_HOLD!.split(',');
const HAMMER_RATE = Number(process.env.FAIRNESS_KNOCK_RATE);

const a = { clusterIds };
const headers = (_t: unknown, json = false) => ({ authorization: `Bearer ${token}`, ...(json ? { 'content-type': 'application/json' } : {}) });
const api = (path: string) => `${url}/api/v1${path}`;
const statuses = new Map<string, number>();
const count = (what: string, status: number) => statuses.set(`${what} ${status}`, (statuses.get(`${what} ${status}`) ?? 0) + 1);
const held: AbortController[] = [];

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


let waits: Promise<void>[] = [];
let knocking: Promise<void> = Promise.resolve();
process.on('message', (m: string) => {
  void (async () => {
    if (m === 'take') {
      waits = await takeCaps();
      hammering = HAMMER_RATE > 0;
      knocking = hammering ? hammer() : Promise.resolve();
      process.send!('taken');
    } else if (m === 'release') {
      hammering = false;
      await knocking;
      await releaseCaps(waits);
      process.send!('released');
    } else if (m === 'stats') {
      process.send!(JSON.stringify(Object.fromEntries(statuses)));
    } else if (m === 'exit') {
      for (const c of held.splice(0)) c.abort();
      process.exit(0);
    }
  })();
});
process.send!('ready');
