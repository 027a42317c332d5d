// What the observer's watches write for each event (src/reconciler/watches.ts
// recordedObservations): a pod or VM changes many times on its way up, and an
// event (or a resync's list) that observes nothing new must not cost a
// transaction; what is new is written, and the status follows it. On PGlite, with a transaction counter
// around the database.
import { describe, expect, it } from 'vitest';
import { ABSENT } from '../../src/domain/observations.ts';
import { recordedObservations } from '../../src/reconciler/watches.ts';
import type { Db } from '../../src/store/db.ts';
import { rowOf, seedCluster, seedUser, useStore } from '../support/stores.ts';

const PENDING = { present: true, phase: 'Pending', ready: false, restartCount: 0 };
const RUNNING = { present: true, phase: 'Running', ready: true, ip: '10.0.0.7', node: 'n1', restartCount: 0 };

describe('what a watch writes for an instance', () => {
  const s = useStore('pglite', 'users, clusters, instances RESTART IDENTITY CASCADE');

  /** The store, counting the transactions begun through it. */
  function counting(db: Db): { db: Db; transactions: () => number } {
    let n = 0;
    const wrapped = Object.create(db) as Db;
    wrapped.transaction = (fn) => {
      n++;
      return db.transaction(fn);
    };
    return { db: wrapped, transactions: () => n };
  }

  it('writes each new observation once, an event with nothing new not at all, and everything again after a failed write', async () => {
    const { instanceIds } = await seedCluster(s.db, await seedUser(s.db), 1);
    const id = instanceIds[0]!;
    await s.db.query("UPDATE instances SET applied = true, desired_gen = 1, synced_gen = 1, status = 'pending' WHERE id = $1", [id]);
    const c = counting(s.db);
    const recorded = recordedObservations();

    await recorded.record(c.db, id, PENDING);
    await recorded.record(c.db, id, PENDING); // a status update that changed nothing observed
    expect(c.transactions()).toBe(1);
    expect(await rowOf(s.db, 'instances', id)).toMatchObject({ status: 'starting', obs_phase: 'Pending' });

    await recorded.record(c.db, id, RUNNING);
    await recorded.record(c.db, id, { ...RUNNING });
    expect(c.transactions()).toBe(2);
    expect(await rowOf(s.db, 'instances', id)).toMatchObject({ status: 'running', ip: '10.0.0.7' });

    // A resync lists everything again: what was written and has not changed is not written again.
    recorded.relisting('resync');
    await recorded.record(c.db, id, RUNNING);
    expect(c.transactions()).toBe(2);

    // After a write that failed, the watch lists again not knowing what was written: everything is written again.
    await s.db.query("UPDATE instances SET status = 'starting' WHERE id = $1", [id]);
    recorded.relisting('failed');
    await recorded.record(c.db, id, RUNNING);
    expect(c.transactions()).toBe(3);
    expect(await rowOf(s.db, 'instances', id)).toMatchObject({ status: 'running' });

    // Gone, then back showing what it showed before: both written.
    await recorded.record(c.db, id, ABSENT);
    await recorded.record(c.db, id, RUNNING);
    expect(c.transactions()).toBe(5);
    expect(await rowOf(s.db, 'instances', id)).toMatchObject({ status: 'running', obs_present: true });
  });
});
