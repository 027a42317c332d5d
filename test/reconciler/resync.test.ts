// A resync (periodic, SIGHUP, or a lease that lapsed and came back) lists the
// watched kinds one after another, on the real API server: what a resync holds
// in memory is one kind's page at a time, not every kind's at once (at 10,000
// VMs four kinds are 10,000 objects long). The test counts the list requests
// in flight through the real client. The periodic resync waits while work is
// due or statuses move (src/reconciler/resyncTiming.ts), and runs once it is
// done.
import { afterAll, describe, expect, it } from 'vitest';
import { createKube, type Kube } from '../../src/kube/client.ts';
import { OWNED_KINDS } from '../../src/reconciler/observer.ts';
import { Reconciler } from '../../src/reconciler/reconciler.ts';
import { RESYNC_RECHECK_MS } from '../../src/reconciler/resyncTiming.ts';
import { loadTestKubeConfig } from '../support/kube.ts';
import { randomLabel } from '../support/server.ts';
import { claimDueInstances, markInstanceSynced } from '../../src/store/work.ts';
import { openStore, seedCluster, seedUser, until, type TestStore } from '../support/stores.ts';

const kc = loadTestKubeConfig();
let store: TestStore | null = null;
let reconciler: Reconciler | null = null;
afterAll(async () => {
  await reconciler?.stop();
  await store?.close();
});

/** Every kind the observer lists: those it owns, and pods, VMIs, DataVolumes, two snapshot kinds, nodes. */
const KINDS = OWNED_KINDS.length + 6;

/** The real client, counting its list requests in flight (and the most at once since `reset`). */
function countingLists(kube: Kube) {
  let now = 0;
  let most = 0;
  const counted: Kube = {
    ...kube,
    async listPage(...args) {
      most = Math.max(most, ++now);
      try {
        return await kube.listPage(...args);
      } finally {
        now--;
      }
    },
  };
  return {
    kube: counted,
    get inFlight() {
      return now;
    },
    get most() {
      return most;
    },
    reset: () => (most = now),
  };
}

describe('a resync', () => {
  it('lists every watched kind again, one kind at a time', async () => {
    store = await openStore('postgres');
    const lists = countingLists(createKube(kc));
    const relists: { kind: string; reason: string }[] = [];
    const problems: string[] = [];
    reconciler = new Reconciler({
      db: store.db,
      kube: lists.kube,
      workerId: 'resync-test',
      installation: randomLabel(),
      concurrency: 2,
      resyncSeconds: 3600,
      log: { info: () => {}, warn: (o, msg) => void problems.push(`${msg} ${JSON.stringify(o)}`) },
      onRelist: (kind, reason) => void relists.push({ kind, reason }),
    });
    reconciler.start();
    const kinds = KINDS;
    const listed = (reason: string) => new Set(relists.filter((r) => r.reason === reason).map((r) => r.kind));
    await until(() => listed('start').size === kinds && lists.inFlight === 0, 'the first lists', 30_000);
    // The first lists go together (a fresh observer has nothing in memory).
    expect(lists.most).toBeGreaterThan(1);

    lists.reset();
    expect(reconciler.resync()).toBe(true);
    await until(() => listed('resync').size === kinds && lists.inFlight === 0, 'every kind listed again', 30_000);
    expect(lists.most).toBe(1);
    expect(problems).toEqual([]);
  }, 60_000);
});

describe('the periodic resync', () => {
  it('waits while the installation converges, and runs once it is done', async () => {
    const own = await openStore('postgres');
    // Work due that this replica cannot do: an instance another replica holds a claim on.
    const [instanceId] = (await seedCluster(own.db, await seedUser(own.db), 1)).instanceIds as [number];
    const [held] = await claimDueInstances(own.db, 'another-replica', 10, 600);
    expect(held?.id).toBe(instanceId);
    const relists: string[] = [];
    const postponed: number[] = [];
    const problems: string[] = [];
    const periodic = new Reconciler({
      db: own.db,
      kube: createKube(kc),
      workerId: 'resync-timing-test',
      installation: randomLabel(),
      concurrency: 2,
      resyncSeconds: 12, // more than two looks while work is due (RESYNC_RECHECK_MS apart)
      log: { info: () => {}, warn: (o, msg) => void problems.push(`${msg} ${JSON.stringify(o)}`) },
      onRelist: (kind, reason) => void (reason === 'resync' && relists.push(kind)),
      onResyncPostponed: (ms) => void postponed.push(ms),
    });
    try {
      periodic.start();
      await until(() => postponed.length > 0, 'the periodic resync put off', 30_000);
      expect(relists).toEqual([]);
      expect(postponed).toEqual([RESYNC_RECHECK_MS]);

      // The other replica's work is done: the next look finds none due, and the resync runs.
      expect(await markInstanceSynced(own.db, instanceId, { worker: 'another-replica', epoch: held!.claim_epoch }, held!.claimed_gen, 0)).not.toBeNull();
      // And nothing has moved for a while (its status settled): no longer converging.
      await own.db.query("UPDATE instances SET updated_at = now() - interval '1 minute'");
      await until(() => new Set(relists).size === KINDS, 'every kind listed by the periodic resync', 30_000);
      // It ran at the first look after, not once a whole period had passed (12 s more).
      expect(postponed).toEqual([RESYNC_RECHECK_MS]);
      expect(problems).toEqual([]);
    } finally {
      await periodic.stop();
      await own.close();
    }
  }, 60_000);
});
