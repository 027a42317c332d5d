// The observer lease and the claims are renewed on a connection of their own
// (ReconcilerOptions.leases, `kubekloud-leases` in the server): a pool kept
// busy by the reconciler's and the observer's work must not hold renewals
// back. Here every connection of the work pool sleeps for twice the lease.
import { afterAll, describe, expect, it } from 'vitest';
import { createKube } from '../../src/kube/client.ts';
import { Reconciler } from '../../src/reconciler/reconciler.ts';
import { openPostgres, type Db } from '../../src/store/db.ts';
import { loadTestKubeConfig } from '../support/kube.ts';
import { randomLabel } from '../support/server.ts';
import { openStore, until, type TestStore } from '../support/stores.ts';

const kc = loadTestKubeConfig();
let store: TestStore | null = null;
let leases: Db | null = null;
let reconciler: Reconciler | null = null;
afterAll(async () => {
  await reconciler?.stop();
  await leases?.close();
  await store?.close();
});

describe('the observer lease', () => {
  it('stays held while the work pool is saturated, renewed on its own connection', async () => {
    store = await openStore('postgres', { max: 2 });
    leases = openPostgres(store.pg!.url, { max: 1, applicationName: 'kubekloud-leases' });
    const leaseProblems: string[] = [];
    reconciler = new Reconciler({
      db: store.db,
      leases,
      kube: createKube(kc),
      workerId: 'lease-connection-test',
      installation: randomLabel(),
      concurrency: 2,
      resyncSeconds: 3600,
      observerLeaseSeconds: 3,
      log: { info: () => {}, warn: (o, msg) => void (/lease/.test(msg) && leaseProblems.push(`${msg} ${JSON.stringify(o)}`)) },
    });
    reconciler.start();
    await until(() => reconciler!.observerSynced, 'the observer leading, every kind listed', 30_000);

    let samples = 0;
    let doubted = 0;
    const sampler = setInterval(() => {
      samples++;
      if (!reconciler!.observing) doubted++;
    }, 5);
    try {
      // Both connections of the pool busy for 6 s: a renewal through it would wait (and time out) past the 3 s lease.
      await Promise.all([store.db.query('SELECT pg_sleep(6)'), store.db.query('SELECT pg_sleep(6)')]);
    } finally {
      clearInterval(sampler);
    }
    expect(samples).toBeGreaterThan(100);
    expect(doubted).toBe(0);
    expect(leaseProblems).toEqual([]);
  }, 60_000);
});
