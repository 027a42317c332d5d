// Row locks on instances are taken in id order by every statement that locks
// several at once, so that two transactions never wait on each other in a
// cycle: PostgreSQL would end one with a deadlock error, which a DELETE of a
// just-created cluster answered as a 500 while the observer stored a batch of
// its pods' observations, and which two observation batches (VMs' and VMIs')
// met at 5,000 VMs, the VMI statement writing its rows in its join's order,
// and which a renewal of a replica's claims met at 10,000 VMs beside an
// observation batch, the renewal locking its rows in the order it listed them.
import { describe, expect, it } from 'vitest';
import { markInstancesDeleted } from '../../src/store/instances.ts';
import { writeObservations, writeVmiObservations } from '../../src/store/observations.ts';
import { stepRollout } from '../../src/store/rollouts.ts';
import { renewClaims } from '../../src/store/work.ts';
import { gate, lockWaiters, seedCluster, seedUser, until, useStore } from '../support/stores.ts';

const RUNNING = { present: true, phase: 'Running', ready: true };

describe('instance row locks, on postgres', () => {
  const s = useStore('postgres', 'users, clusters, instances RESTART IDENTITY CASCADE');

  /**
   * An observation batch holding the cluster's lowest instance while `other`
   * runs; once `other` waits for a lock, the batch goes on to the highest. Both
   * must end without an error.
   */
  async function besideAnObservationBatch(instances: number[], other: () => Promise<unknown>) {
    const [first, last] = [instances[0]!, instances[instances.length - 1]!];

    const holding = gate();
    const goOn = gate();
    const batch = s.db.transaction(async (tx) => {
      await writeObservations(tx, [{ id: first, o: RUNNING }]);
      holding.open();
      await goOn.promise;
      await writeObservations(tx, [{ id: last, o: RUNNING }]);
    });
    await holding.promise;
    const second = other();
    let settled = false;
    void second.finally(() => (settled = true)).catch(() => {});
    await until(async () => settled || (await lockWaiters(s)) === 1, 'the other transaction waiting for a row lock, or done');
    goOn.open();
    const [a, b] = await Promise.allSettled([batch, second]);
    expect([a.status, b.status, a.status === 'rejected' ? String(a.reason) : '', b.status === 'rejected' ? String(b.reason) : '']).toEqual(['fulfilled', 'fulfilled', '', '']);
  }

  /**
   * A cluster of three whose ids are 10, 11 and 12: a statement that locks rows in
   * the order of a hash of their ids (a semi-join on `id IN (…)`) takes these
   * 12, 11, 10 on PostgreSQL 15, the opposite of id order.
   */
  async function cluster() {
    await s.db.query('ALTER SEQUENCE instances_id_seq RESTART WITH 10');
    return seedCluster(s.db, await seedUser(s.db), 3);
  }

  it('a delete of every instance of a cluster', async () => {
    const { clusterId, instanceIds } = await cluster();
    await besideAnObservationBatch(instanceIds, () => s.db.transaction((tx) => markInstancesDeleted(tx, clusterId, 'all')));
  });

  it('a scale-in', async () => {
    const { clusterId, instanceIds } = await cluster();
    await besideAnObservationBatch(instanceIds.slice(1), () => s.db.transaction((tx) => markInstancesDeleted(tx, clusterId, 2)));
  });

  it('a step of a roll', async () => {
    const { clusterId, instanceIds } = await cluster();
    await s.db.query("UPDATE clusters SET spec_gen = 2, rollout_state = 'rolling' WHERE id = $1", [clusterId]);
    // Numbers in the opposite order to ids, as scale-ins and scale-outs can leave them.
    await s.db.query('UPDATE instances SET ordinal = 100 - ordinal WHERE cluster_id = $1', [clusterId]);
    await besideAnObservationBatch(instanceIds, () => s.db.transaction((tx) => stepRollout(tx, clusterId, 60_000)));
  });

  /** Enough other rows that PostgreSQL looks each id up by its index, in the order given. */
  async function padded(instanceIds: number[]) {
    await s.db.query(
      `INSERT INTO instances (cluster_id, ordinal, name, desired) SELECT c.id, g, 'pad-' || g, 'running' FROM clusters c, generate_series(100, 5099) g WHERE c.id = (SELECT cluster_id FROM instances WHERE id = $1)`,
      [instanceIds[0]],
    );
    await s.db.query('ANALYZE instances');
  }

  it('a batch of VMI observations', async () => {
    const { instanceIds } = await cluster();
    await padded(instanceIds);
    const vmis = [...instanceIds].reverse().map((id) => ({ id, o: { ip: '10.0.0.9', node: 'node-1', paused: false, restart: 0 } }));
    await besideAnObservationBatch(instanceIds, () => writeVmiObservations(s.db, vmis));
  });

  it("a renewal of a replica's claims", async () => {
    const { instanceIds } = await cluster();
    await padded(instanceIds);
    await s.db.query("UPDATE instances SET claimed_by = 'worker-a', claimed_until = now() + interval '1 minute', claim_epoch = 1 WHERE id = ANY($1)", [instanceIds]);
    // The claim keeper lists what it holds in the order it claimed it, which need not be id order.
    const held = [...instanceIds].reverse().map((id) => ({ id, epoch: 1 }));
    let renewed: number[] = [];
    await besideAnObservationBatch(instanceIds, async () => (renewed = await renewClaims(s.db, 'instances', 'worker-a', 60, held)));
    expect(renewed.sort()).toEqual(instanceIds);
  });
});
