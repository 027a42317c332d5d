// Status derivation under concurrency (src/service/status.ts over src/store/observations.ts) on PostgreSQL
// and PGlite: an observation committed while refreshStatus holds the row is not
// overwritten by an older status, nor by one derived without the lock from an older version of the row, and 'repairing' comes and goes with a repair.
import { describe, expect, it } from 'vitest';
import type { Tx } from '../../src/store/db.ts';
import { transitionEntry } from '../../src/service/history.ts';
import { recordObservation, recordObservations, recordVmiObservation, refreshStatus, storeStatusesOf } from '../../src/service/status.ts';
import { setStatusesIfUnchanged, writeObservation, type ObservedRow } from '../../src/store/observations.ts';
import { claimDueInstances, markInstanceSynced, requestRepair } from '../../src/store/work.ts';
import { BACKENDS, gate, lockWaiters, rowOf, seedCluster, seedUser, until, useStore } from '../support/stores.ts';

const RUNNING = { present: true, phase: 'Running', ready: true };
const GONE = { present: false, phase: null, ready: false };

describe.each(BACKENDS)('instance status on %s', (backend) => {
  const s = useStore(backend, 'users, clusters, instances RESTART IDENTITY CASCADE');

  /** An applied instance whose stored status ('pending') is stale: it should read 'starting'. */
  async function appliedInstance(): Promise<number> {
    const { instanceIds } = await seedCluster(s.db, await seedUser(s.db), 1);
    const id = instanceIds[0]!;
    await s.db.query("UPDATE instances SET applied = true, desired_gen = 1, synced_gen = 1, status = 'pending' WHERE id = $1", [id]);
    return id;
  }


  it('does not overwrite an observation committed while refreshStatus held the row', async () => {
    const id = await appliedInstance();
    const readDone = gate();
    const release = gate();
    // refreshStatus, paused right after it read the row (the read that must lock it).
    const refreshing = s.db.transaction(async (tx) => {
      const paused: Tx = {
        inTransaction: true,
        exec: (sql) => tx.exec(sql),
        async query<T>(sql: string, params?: unknown[]) {
          const rows = await tx.query<T>(sql, params);
          if (/^\s*SELECT/i.test(sql)) {
            readDone.open();
            await release.promise;
          }
          return rows;
        },
      };
      return refreshStatus(paused, id);
    });
    await readDone.promise;
    let observed = false;
    const observing = recordObservation(s.db, id, RUNNING).then((found) => {
      observed = true;
      return found;
    });
    try {
      if (s.pg) {
        // The observation waits for the row lock refreshStatus holds, rather than committing under it.
        await until(async () => (await lockWaiters(s)) > 0 || observed, 'the observation to wait for the row lock');
      }
      expect(observed).toBe(false);
    } finally {
      release.open(); // never leave the transaction open, even when failing
    }
    expect(await refreshing).toBe('starting'); // derived from what it read: no pod yet
    expect(await observing).toBe(true);
    expect(await rowOf(s.db, 'instances', id)).toMatchObject({ obs_present: true, obs_ready: true, status: 'running' });
  });

  it('derives from an observation being written when refreshStatus starts, once it is committed', async () => {
    const id = await appliedInstance();
    const written = gate();
    const commit = gate();
    const writing = s.db.transaction(async (tx) => {
      await tx.query("UPDATE instances SET obs_present = true, obs_phase = 'Running', obs_ready = true WHERE id = $1", [id]);
      written.open();
      await commit.promise;
    });
    await written.promise;
    let done = false;
    const refreshing = s.db.transaction((tx) => refreshStatus(tx, id)).finally(() => (done = true));
    try {
      if (s.pg) await until(async () => (await lockWaiters(s)) > 0 || done, 'refreshStatus to wait for the row lock');
      expect(done).toBe(false);
    } finally {
      commit.open();
    }
    await writing;
    expect(await refreshing).toBe('running');
    expect((await rowOf(s.db, 'instances', id))!.status).toBe('running');
  });

  it('ends with the status of the last observation when many race with status refreshes', async () => {
    const id = await appliedInstance();
    const work: Promise<unknown>[] = [];
    for (let k = 0; k < 20; k++) {
      work.push(recordObservation(s.db, id, k % 2 === 0 ? GONE : RUNNING));
      work.push(s.db.transaction((tx) => refreshStatus(tx, id)));
    }
    await Promise.all(work);
    await recordObservation(s.db, id, RUNNING);
    await Promise.all(Array.from({ length: 10 }, () => s.db.transaction((tx) => refreshStatus(tx, id))));
    expect((await rowOf(s.db, 'instances', id))!.status).toBe('running');
  });

  it('shows repairing while a repair of a stopped workload is under way, and clears it when applied', async () => {
    const { instanceIds } = await seedCluster(s.db, await seedUser(s.db), 1);
    const id = instanceIds[0]!;
    const [first] = await claimDueInstances(s.db, 'worker-a', 10);
    await s.db.transaction(async (tx) => {
      expect(await markInstanceSynced(tx, id, { worker: 'worker-a', epoch: first!.claim_epoch }, 1, 0)).not.toBeNull();
      expect(await refreshStatus(tx, id)).toBe('starting');
    });
    await recordObservation(s.db, id, RUNNING);
    expect((await rowOf(s.db, 'instances', id))!.status).toBe('running');

    // Running and ready: a drift that left it so does not change what the tenant sees.
    const asked = await s.db.transaction(async (tx) => (await requestRepair(tx, 'instances', id, 1, 'label changed')) > 0 && refreshStatus(tx, id));
    expect(asked).toBe('running');
    const [fix] = await claimDueInstances(s.db, 'worker-a', 10);
    await s.db.transaction(async (tx) => {
      await markInstanceSynced(tx, id, { worker: 'worker-a', epoch: fix!.claim_epoch }, fix!.claimed_gen, 0);
      await refreshStatus(tx, id);
    });

    // Someone scales the StatefulSet to zero: the pod goes, the observer asks for a repair.
    await recordObservation(s.db, id, GONE);
    expect((await rowOf(s.db, 'instances', id))!.status).toBe('starting');
    const status = await s.db.transaction(async (tx) => (await requestRepair(tx, 'instances', id, 2, 'StatefulSet web-1: spec.replicas')) > 0 && refreshStatus(tx, id));
    expect(status).toBe('repairing');
    // Observations during the repair keep it repairing until the pod is back.
    await recordObservation(s.db, id, { present: true, phase: 'Pending', ready: false });
    expect((await rowOf(s.db, 'instances', id))!.status).toBe('repairing');

    // A second repair in a row waits half a second; skip the wait.
    await s.db.query('UPDATE instances SET next_attempt_at = now() WHERE id = $1', [id]);
    const [repair] = await claimDueInstances(s.db, 'worker-b', 10);
    await s.db.transaction(async (tx) => {
      expect(await markInstanceSynced(tx, id, { worker: 'worker-b', epoch: repair!.claim_epoch }, repair!.claimed_gen, 0)).not.toBeNull();
      expect(await refreshStatus(tx, id)).toBe('starting');
    });
    await recordObservation(s.db, id, RUNNING);
    expect(await rowOf(s.db, 'instances', id)).toMatchObject({ status: 'running', drift: null });
  });

  it('puts a stale status right from an observation equal to the stored one', async () => {
    const id = await appliedInstance();
    await recordObservation(s.db, id, RUNNING);
    expect((await rowOf(s.db, 'instances', id))!.status).toBe('running');
    // Another writer left the status behind what the row says (its observation is unchanged).
    await s.db.query("UPDATE instances SET status = 'starting' WHERE id = $1", [id]);
    expect(await recordObservation(s.db, id, RUNNING)).toBe(true);
    expect((await rowOf(s.db, 'instances', id))!.status).toBe('running');
    // And a VMI observation equal to the stored one does the same for a VM's row.
    await s.db.query("UPDATE instances SET status = 'starting' WHERE id = $1", [id]);
    expect(await recordVmiObservation(s.db, id, { ip: null, node: null, paused: false, restart: null })).not.toBeNull();
    expect((await rowOf(s.db, 'instances', id))!.status).toBe('running');
  });

  it('stores a status derived without the lock only while the row is the version it was derived from', async () => {
    const id = await appliedInstance();
    // History outlives its rows (it is not emptied between tests): this test's entries only.
    const last = (await s.db.query<{ last: number }>('SELECT COALESCE(max(id), 0)::int AS last FROM cluster_history'))[0]!.last;
    const history = async () =>
      (await s.db.query<{ message: string }>("SELECT message FROM cluster_history WHERE id > $1 AND kind = 'status' ORDER BY id", [last])).map((r) => r.message);
    const entry = (row: ObservedRow) => transitionEntry({ clusterId: row.cluster_id, instanceId: id, instanceName: row.name }, row.status, 'running', null);
    const seen = (await writeObservation(s.db, id, RUNNING))!;
    expect(seen).toMatchObject({ status: 'pending', obs_ready: true });
    // Another observation is written before the status: the row is not that version any more.
    await writeObservation(s.db, id, { present: true, phase: 'Running', ready: false });
    expect((await setStatusesIfUnchanged(s.db, [{ row: seen, status: 'running', entry: entry(seen) }])).has(id)).toBe(false);
    expect(await rowOf(s.db, 'instances', id)).toMatchObject({ status: 'pending', obs_ready: false });
    expect(await history()).toEqual([]);
    // Derived from the row as it is now: stored, with its history entry, in the one statement.
    const now = (await writeObservation(s.db, id, RUNNING))!;
    expect((await setStatusesIfUnchanged(s.db, [{ row: now, status: 'running', entry: entry(now) }])).has(id)).toBe(true);
    expect((await rowOf(s.db, 'instances', id))!.status).toBe('running');
    expect(await history()).toEqual([`${now.name}: pending → running`]);
  });

  it('stores the status of a row the reconciler marks synced in the same transaction, with its history entry', async () => {
    const { instanceIds } = await seedCluster(s.db, await seedUser(s.db), 1);
    const id = instanceIds[0]!;
    const last = (await s.db.query<{ last: number }>('SELECT COALESCE(max(id), 0)::int AS last FROM cluster_history'))[0]!.last;
    const [claimed] = await claimDueInstances(s.db, 'worker-a', 10);
    const claim = { worker: 'worker-a', epoch: claimed!.claim_epoch };
    expect(await markInstanceSynced(s.db, id, { ...claim, epoch: claim.epoch + 1 }, 1, 0)).toBeNull(); // not the claim held
    await s.db.transaction(async (tx) => {
      const synced = await markInstanceSynced(tx, id, claim, 1, 0);
      expect(synced).toMatchObject({ status: 'pending', synced_gen: 1 }); // as marking it synced left it
      await storeStatusesOf(tx, [synced!]);
    });
    expect(await rowOf(s.db, 'instances', id)).toMatchObject({ status: 'starting', synced_gen: 1, applied: true, claimed_by: null });
    const history = await s.db.query<{ message: string }>("SELECT message FROM cluster_history WHERE id > $1 AND kind = 'status'", [last]);
    expect(history.map((h) => h.message)).toEqual([`${claimed!.name}: pending → starting`]);
  });

  it('stores many observations in one statement: the last of one instance counts, a missing row is left out, an unchanged row answered as it is', async () => {
    const { instanceIds } = await seedCluster(s.db, await seedUser(s.db), 3);
    const [a, b, c] = instanceIds as [number, number, number];
    await s.db.query("UPDATE instances SET applied = true, desired_gen = 1, synced_gen = 1, status = 'starting' WHERE id = ANY($1::int[])", [instanceIds]);
    await recordObservation(s.db, c, RUNNING);
    const unchanged = (await rowOf(s.db, 'instances', c))!;
    const last = (await s.db.query<{ last: number }>('SELECT COALESCE(max(id), 0)::int AS last FROM cluster_history'))[0]!.last;
    const found = await recordObservations(s.db, [
      { id: a, o: GONE },
      { id: b, o: { present: true, phase: 'Pending', ready: false } },
      { id: 999_999, o: RUNNING },
      { id: a, o: RUNNING },
      { id: c, o: RUNNING },
    ]);
    expect([...found].sort((x, y) => x - y)).toEqual([a, b, c]);
    expect(await rowOf(s.db, 'instances', a)).toMatchObject({ obs_present: true, obs_ready: true, status: 'running' });
    expect(await rowOf(s.db, 'instances', b)).toMatchObject({ obs_present: true, obs_phase: 'Pending', obs_ready: false, status: 'starting' });
    expect(await rowOf(s.db, 'instances', c)).toEqual(unchanged);
    const history = await s.db.query<{ instance_id: number; message: string }>("SELECT instance_id, message FROM cluster_history WHERE id > $1 AND kind = 'status'", [last]);
    expect(history).toEqual([{ instance_id: a, message: `${(await rowOf(s.db, 'instances', a))!.name}: starting → running` }]);
  });

  it('stores many statuses in one statement, each only while its row is the version it was derived from', async () => {
    const { instanceIds } = await seedCluster(s.db, await seedUser(s.db), 2);
    const [a, b] = instanceIds as [number, number];
    await s.db.query("UPDATE instances SET applied = true, desired_gen = 1, synced_gen = 1, status = 'starting' WHERE id = ANY($1::int[])", [instanceIds]);
    const [rowA, rowB] = [(await writeObservation(s.db, a, RUNNING))!, (await writeObservation(s.db, b, RUNNING))!];
    await writeObservation(s.db, b, GONE); // b moved on
    const entry = (row: ObservedRow) => transitionEntry({ clusterId: row.cluster_id, instanceId: row.id, instanceName: row.name }, row.status, 'running', null);
    const stored = await setStatusesIfUnchanged(s.db, [rowA, rowB].map((row) => ({ row, status: 'running' as const, entry: entry(row) })));
    expect([...stored]).toEqual([a]);
    expect((await rowOf(s.db, 'instances', a))!.status).toBe('running');
    expect((await rowOf(s.db, 'instances', b))!.status).toBe('starting');
  });

  it('reports a missing row as gone', async () => {
    expect(await recordObservation(s.db, 999_999, RUNNING)).toBe(false);
    expect(await recordVmiObservation(s.db, 999_999, { ip: null, node: null, paused: false, restart: null })).toBeNull();
    expect(await s.db.transaction((tx) => refreshStatus(tx, 999_999))).toBeNull();
  });
});
