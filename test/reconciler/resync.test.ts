// A resync (periodic, SIGHUP, or a lease that lapsed and came back) lists the
// watched kinds one after another, on the real API server: what a resync holds
// in memory is one kind's page at a time, not every kind's at once (at 10,000
// VMs four kinds are 10,000 objects long). The test counts the list requests
// in flight through the real client.
import { afterAll, describe, expect, it } from 'vitest';
import { createKube, type Kube } from '../../src/kube/client.ts';
import { OWNED_KINDS } from '../../src/reconciler/observer.ts';
import { Reconciler } from '../../src/reconciler/reconciler.ts';
import { loadTestKubeConfig } from '../support/kube.ts';
import { randomLabel } from '../support/server.ts';
import { openStore, until, type TestStore } from '../support/stores.ts';

const kc = loadTestKubeConfig();
let store: TestStore | null = null;
let reconciler: Reconciler | null = null;
afterAll(async () => {
  await reconciler?.stop();
  await store?.close();
});

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
    const kinds = OWNED_KINDS.length + 6; // pods, VMIs, DataVolumes, two snapshot kinds, nodes
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
