// Fenced claims (src/store/work.ts, src/reconciler/claims.ts) on PostgreSQL and PGlite:
// a worker whose row was claimed again changes nothing, renewals extend only claims
// still held, and generation races with user and repair requests leave the row due.
import { describe, expect, it } from 'vitest';
import { Claim, ClaimKeeper, LostClaim } from '../../src/reconciler/claims.ts';
import { setDesired } from '../../src/store/instances.ts';
import {
  claimDueClusters,
  claimDueInstances,
  deleteClaimedRow,
  markClusterSynced,
  markInstanceSynced,
  markInstancesSynced,
  releaseClaim,
  renewClaims,
  requestRepair,
  requeue,
  convergingNow,
} from '../../src/store/work.ts';
import { BACKENDS, expireClaim, rowOf, seedCluster, seedUser, useStore } from '../support/stores.ts';

describe.each(BACKENDS)('claims on %s', (backend) => {
  const s = useStore(backend, 'users, clusters, instances, snapshots, snapshot_restores RESTART IDENTITY CASCADE');

  /** One due instance, claimed by A, whose lease then ran out, and claimed again by B. */
  async function takenOver() {
    const { instanceIds } = await seedCluster(s.db, await seedUser(s.db), 1);
    const id = instanceIds[0]!;
    const [a] = await claimDueInstances(s.db, 'worker-a', 10);
    expect(a).toMatchObject({ id, claimed_by: 'worker-a', claim_epoch: 1, claimed_gen: 1 });
    expect(await claimDueInstances(s.db, 'worker-b', 10)).toEqual([]); // A's lease is live
    await expireClaim(s.db, 'instances', id);
    const [b] = await claimDueInstances(s.db, 'worker-b', 10);
    expect(b).toMatchObject({ id, claimed_by: 'worker-b', claim_epoch: 2, claimed_gen: 1 });
    return { id, a: { worker: 'worker-a', epoch: a!.claim_epoch }, b: { worker: 'worker-b', epoch: b!.claim_epoch } };
  }

  describe('fencing', () => {
    it('refuses every write of a worker whose row was claimed again, and changes nothing', async () => {
      const { id, a } = await takenOver();
      const before = await rowOf(s.db, 'instances', id);
      expect(await markInstanceSynced(s.db, id, a, 1, 0)).toBeNull();
      expect(await requeue(s.db, 'instances', id, a, 60_000, 'stale worker', { countAttempt: true, failure: 'stale', waitingOnKube: true })).toBe(false);
      expect(await deleteClaimedRow(s.db, 'instances', id, a)).toBe(false);
      await releaseClaim(s.db, 'instances', id, a);
      expect(await rowOf(s.db, 'instances', id)).toEqual(before);
      expect(before).toMatchObject({ claimed_by: 'worker-b', claim_epoch: 2, synced_gen: 0, applied: false, failure: null });
    });
    it("lets the new holder's writes through", async () => {
      const { id, b } = await takenOver();
      expect(await requeue(s.db, 'instances', id, b, 0, 'Kubernetes: timeout', { countAttempt: true })).toBe(true);
      expect(await rowOf(s.db, 'instances', id)).toMatchObject({ claimed_by: null, claimed_until: null, attempts: 1, message: 'Kubernetes: timeout', synced_gen: 0 });
      const [again] = await claimDueInstances(s.db, 'worker-b', 10);
      expect(again).toMatchObject({ id, claim_epoch: 3 });
      const claim = { worker: 'worker-b', epoch: 3 };
      expect(await markInstanceSynced(s.db, id, claim, 1, 0)).not.toBeNull();
      expect(await rowOf(s.db, 'instances', id)).toMatchObject({ synced_gen: 1, applied: true, attempts: 0, message: null, claimed_by: null });
    });
    it('lets only the new holder delete the row', async () => {
      const { id, a, b } = await takenOver();
      expect(await deleteClaimedRow(s.db, 'instances', id, a)).toBe(false);
      expect(await deleteClaimedRow(s.db, 'instances', id, b)).toBe(true);
      expect(await rowOf(s.db, 'instances', id)).toBeNull();
    });
    it('fences a worker against its own older claim of the same row', async () => {
      const { instanceIds } = await seedCluster(s.db, await seedUser(s.db), 1);
      const id = instanceIds[0]!;
      const [first] = await claimDueInstances(s.db, 'worker-a', 10);
      await expireClaim(s.db, 'instances', id);
      const [second] = await claimDueInstances(s.db, 'worker-a', 10);
      expect(second!.claim_epoch).toBe(first!.claim_epoch + 1);
      expect(await markInstanceSynced(s.db, id, { worker: 'worker-a', epoch: first!.claim_epoch }, 1, 0)).toBeNull();
      expect(await markInstanceSynced(s.db, id, { worker: 'worker-a', epoch: second!.claim_epoch }, 1, 0)).not.toBeNull();
    });
    it('marks a batch in one statement: the instances still held are synced, a lost claim among them changes nothing', async () => {
      const { id: lost, a, b } = await takenOver();
      const { instanceIds } = await seedCluster(s.db, await seedUser(s.db), 3);
      const claimed = await claimDueInstances(s.db, 'worker-a', 10);
      expect(claimed.map((c) => c.id).sort((x, y) => x - y)).toEqual(instanceIds);
      const before = await rowOf(s.db, 'instances', lost);
      // Out of id order, with different epochs and generations, and worker A's stale claim of the row B holds.
      const marks = [...claimed].reverse().map((c, k) => ({ id: c.id, claim: { worker: 'worker-a', epoch: c.claim_epoch }, gen: c.claimed_gen, appliedRestartCount: k }));
      const synced = await markInstancesSynced(s.db, [...marks, { id: lost, claim: a, gen: 1, appliedRestartCount: 0 }]);
      expect([...synced.keys()].sort((x, y) => x - y)).toEqual(instanceIds);
      for (const m of marks) {
        expect(synced.get(m.id)).toMatchObject({ id: m.id, synced_gen: 1, applied: true, claimed_by: null, applied_restart_count: m.appliedRestartCount, instance_type: 'container' });
        expect(await rowOf(s.db, 'instances', m.id)).toMatchObject({ synced_gen: 1, applied: true, claimed_by: null, applied_restart_count: m.appliedRestartCount });
      }
      expect(await rowOf(s.db, 'instances', lost)).toEqual(before);
      expect((await markInstancesSynced(s.db, [{ id: lost, claim: b, gen: 1, appliedRestartCount: 0 }])).has(lost)).toBe(true);
    });
    it('fences cluster claims the same way', async () => {
      const user = await seedUser(s.db);
      const { clusterId } = await seedCluster(s.db, user, 0);
      await s.db.query('UPDATE clusters SET desired_gen = 2 WHERE id = $1', [clusterId]);
      const [a] = await claimDueClusters(s.db, 'worker-a', 10);
      expect(a).toMatchObject({ id: clusterId, claim_epoch: 1, claimed_gen: 2 });
      await expireClaim(s.db, 'clusters', clusterId);
      const [b] = await claimDueClusters(s.db, 'worker-b', 10);
      expect(b).toMatchObject({ id: clusterId, claim_epoch: 2 });
      const staleA = { worker: 'worker-a', epoch: 1 };
      expect(await markClusterSynced(s.db, clusterId, staleA, 2)).toBe(false);
      expect(await requeue(s.db, 'clusters', clusterId, staleA, 0, 'x', { countAttempt: true })).toBe(false);
      expect(await deleteClaimedRow(s.db, 'clusters', clusterId, staleA)).toBe(false);
      expect(await rowOf(s.db, 'clusters', clusterId)).toMatchObject({ synced_gen: 1, claimed_by: 'worker-b', attempts: 0 });
      expect(await markClusterSynced(s.db, clusterId, { worker: 'worker-b', epoch: 2 }, 2)).toBe(true);
      expect(await rowOf(s.db, 'clusters', clusterId)).toMatchObject({ synced_gen: 2, claimed_by: null });
    });
    it('never hands one due row to two workers at once', async () => {
      await seedCluster(s.db, await seedUser(s.db), 6);
      const batches = await Promise.all(['w1', 'w2', 'w3', 'w4'].map((w) => claimDueInstances(s.db, w, 3)));
      const ids = batches.flat().map((r) => r.id);
      expect(new Set(ids).size).toBe(ids.length);
      expect(ids).toHaveLength(6);
    });
  });

  describe('snapshot and restore work', () => {
    // The reconciler reads snapshots and restores only when the claim says it has some.
    it('says with the claimed row whether it has snapshots to settle or a restore under way', async () => {
      const userId = await seedUser(s.db);
      const { instanceIds } = await seedCluster(s.db, userId, 4);
      const [none, creating, deleted, restoring] = instanceIds as [number, number, number, number];
      const snapshot = async (instanceId: number, name: string, phase: string, desired = 'present') =>
        (
          await s.db.query<{ id: number }>(
            `INSERT INTO snapshots (instance_id, owner_id, name, object_name, kind, size_gb, phase, desired) VALUES ($1, $2, $3, $3, 'vm', 1, $4, $5) RETURNING id`,
            [instanceId, userId, name, phase, desired],
          )
        )[0]!.id;
      await snapshot(none, 'ready-one', 'ready');
      await snapshot(creating, 'being-made', 'creating');
      await snapshot(deleted, 'going', 'ready', 'deleted');
      const from = await snapshot(restoring, 'restored', 'ready');
      await s.db.query(`INSERT INTO snapshot_restores (snapshot_id, instance_id, phase, resume) VALUES ($1, $2, 'restoring', 'running')`, [from, restoring]);
      const claimed = new Map((await claimDueInstances(s.db, 'worker-a', 10)).map((r) => [r.id, { restoring: r.restoring, snapshot_work: r.snapshot_work }]));
      expect(Object.fromEntries(claimed)).toEqual({
        [none]: { restoring: false, snapshot_work: false },
        [creating]: { restoring: false, snapshot_work: true },
        [deleted]: { restoring: false, snapshot_work: true },
        [restoring]: { restoring: true, snapshot_work: false },
      });
    });
  });

  describe('renewal', () => {
    it('extends only the claims a worker still holds, and returns only those', async () => {
      const { instanceIds } = await seedCluster(s.db, await seedUser(s.db), 3);
      const [i1, i2, i3] = instanceIds as [number, number, number];
      const mine = await claimDueInstances(s.db, 'worker-a', 10, 2);
      expect(mine.map((r) => r.id).sort()).toEqual([i1, i2, i3]);
      const held = mine.map((r) => ({ id: r.id, epoch: r.claim_epoch }));
      // i2: lost to B after its lease ran out; i3: finished (no longer claimed).
      await expireClaim(s.db, 'instances', i2);
      const [stolen] = await claimDueInstances(s.db, 'worker-b', 10, 2);
      expect(stolen!.id).toBe(i2);
      expect(await markInstanceSynced(s.db, i3, { worker: 'worker-a', epoch: held.find((h) => h.id === i3)!.epoch }, 1, 0)).not.toBeNull();
      const untilOf = async (id: number) => (await rowOf(s.db, 'instances', id))!.claimed_until as Date | null;
      const stolenUntil = await untilOf(i2);

      expect(await renewClaims(s.db, 'instances', 'worker-a', 600, held)).toEqual([i1]);
      const [{ left }] = (await s.db.query<{ left: number }>('SELECT EXTRACT(EPOCH FROM claimed_until - now())::float8 AS left FROM instances WHERE id = $1', [i1])) as [
        { left: number },
      ];
      expect(left).toBeGreaterThan(500);
      expect(await untilOf(i2)).toEqual(stolenUntil);
      expect(await untilOf(i3)).toBeNull();
      expect(await renewClaims(s.db, 'instances', 'worker-b', 600, [{ id: i2, epoch: stolen!.claim_epoch }])).toEqual([i2]);
    });
    it('renews a claim whose lease ran out if no one claimed the row since', async () => {
      const { instanceIds } = await seedCluster(s.db, await seedUser(s.db), 1);
      const [a] = await claimDueInstances(s.db, 'worker-a', 10);
      await expireClaim(s.db, 'instances', instanceIds[0]!);
      expect(await renewClaims(s.db, 'instances', 'worker-a', 30, [{ id: a!.id, epoch: a!.claim_epoch }])).toEqual([a!.id]);
      expect(await claimDueInstances(s.db, 'worker-b', 10)).toEqual([]);
    });
    it('renews nothing for an empty set', async () => {
      expect(await renewClaims(s.db, 'instances', 'worker-a', 30, [])).toEqual([]);
    });
    it('tells the claim keeper which claims were lost, and those claims refuse further work', async () => {
      const { instanceIds } = await seedCluster(s.db, await seedUser(s.db), 2);
      const sentAt = performance.now();
      const rows = await claimDueInstances(s.db, 'worker-a', 10, 30);
      const lost: number[] = [];
      const keeper = new ClaimKeeper(s.db, 'worker-a', 30, (c) => lost.push(c.id));
      const claims = keeper.take('instances', rows, sentAt);
      await expireClaim(s.db, 'instances', instanceIds[1]!);
      await claimDueInstances(s.db, 'worker-b', 10, 30);
      await keeper.renew();
      expect(lost).toEqual([instanceIds[1]]);
      const kept = claims.find((c) => c.id === instanceIds[0])!;
      const gone = claims.find((c) => c.id === instanceIds[1])!;
      expect(() => kept.check()).not.toThrow();
      expect(kept.timeoutMs()).toBeGreaterThan(0);
      expect(() => gone.check()).toThrow(LostClaim);
      expect(() => gone.timeoutMs()).toThrow(/another replica claimed it/);
      await keeper.stop();
    });
  });

  it('says the installation converges while work is due (claimed or not) or statuses moved lately, not while it only waits', async () => {
    const converging = () => convergingNow(s.db, 10);
    const quietSince = (table: string) => s.db.query(`UPDATE ${table} SET updated_at = now() - interval '1 minute'`);
    expect(await converging()).toBe(false);
    const { clusterId, instanceIds } = await seedCluster(s.db, await seedUser(s.db), 1);
    expect(await converging()).toBe(true);
    const [c] = await claimDueInstances(s.db, 'worker-a', 10);
    await quietSince('instances');
    expect(await converging()).toBe(true); // being done
    expect(await requeue(s.db, 'instances', instanceIds[0]!, { worker: 'worker-a', epoch: c!.claim_epoch }, 60_000, 'later', { countAttempt: true })).toBe(true);
    expect(await converging()).toBe(true); // its row just changed
    await quietSince('instances');
    expect(await converging()).toBe(false); // due in a minute, and nothing moved for a minute
    await s.db.query("UPDATE instances SET status = 'starting', updated_at = now() WHERE id = $1", [instanceIds[0]]);
    expect(await converging()).toBe(true); // a status moved: Kubernetes is bringing it up
    await quietSince('instances');
    await s.db.query('UPDATE clusters SET desired_gen = desired_gen + 1 WHERE id = $1', [clusterId]);
    expect(await converging()).toBe(true); // a cluster's own work counts too
  });

  describe('generation races', () => {
    it('keeps a row due when the user asks for something new while generation G is being applied', async () => {
      const { instanceIds } = await seedCluster(s.db, await seedUser(s.db), 1);
      const id = instanceIds[0]!;
      const [a] = await claimDueInstances(s.db, 'worker-a', 10);
      expect(a!.claimed_gen).toBe(1);
      await setDesired(s.db, id, 'stopped', 'stopping'); // gen 2, while gen 1 is in flight
      expect(await claimDueInstances(s.db, 'worker-b', 10)).toEqual([]); // still A's
      expect(await markInstanceSynced(s.db, id, { worker: 'worker-a', epoch: a!.claim_epoch }, a!.claimed_gen, 0)).not.toBeNull();
      expect(await rowOf(s.db, 'instances', id)).toMatchObject({ synced_gen: 1, desired_gen: 2, desired: 'stopped', claimed_by: null });
      const [next] = await claimDueInstances(s.db, 'worker-b', 10);
      expect(next).toMatchObject({ id, claimed_gen: 2, desired: 'stopped' });
    });
    it('never moves synced_gen backwards', async () => {
      const { instanceIds } = await seedCluster(s.db, await seedUser(s.db), 1);
      const id = instanceIds[0]!;
      await s.db.query('UPDATE instances SET desired_gen = 5, synced_gen = 4 WHERE id = $1', [id]);
      const [a] = await claimDueInstances(s.db, 'worker-a', 10);
      expect(await markInstanceSynced(s.db, id, { worker: 'worker-a', epoch: a!.claim_epoch }, 3, 0)).not.toBeNull();
      expect((await rowOf(s.db, 'instances', id))!.synced_gen).toBe(4);
    });
    it('asks for a repair only of a row in sync at the generation judged', async () => {
      const { instanceIds } = await seedCluster(s.db, await seedUser(s.db), 1);
      const id = instanceIds[0]!;
      // Due (gen 1 not applied yet): a repair is not needed, its own reconcile applies it.
      expect(await requestRepair(s.db, 'instances', id, 0, 'x')).toBe(0);
      expect(await requestRepair(s.db, 'instances', id, 1, 'x')).toBe(0);
      const [a] = await claimDueInstances(s.db, 'worker-a', 10);
      await markInstanceSynced(s.db, id, { worker: 'worker-a', epoch: a!.claim_epoch }, 1, 0);
      expect(await requestRepair(s.db, 'instances', id, 0, 'judged at an older generation')).toBe(0);
      expect((await rowOf(s.db, 'instances', id))!.drift).toBeNull();
      expect(await requestRepair(s.db, 'instances', id, 1, 'StatefulSet changed')).toBe(1);
      expect(await rowOf(s.db, 'instances', id)).toMatchObject({ desired_gen: 2, synced_gen: 1, drift: 'StatefulSet changed', attempts: 0 });
      // A second observer event for the same drift asks nothing more.
      expect(await requestRepair(s.db, 'instances', id, 1, 'again')).toBe(0);
      expect((await rowOf(s.db, 'instances', id))!.desired_gen).toBe(2);
      const [repair] = await claimDueInstances(s.db, 'worker-b', 10);
      expect(repair).toMatchObject({ id, claimed_gen: 2, drift: 'StatefulSet changed' });
      expect(await markInstanceSynced(s.db, id, { worker: 'worker-b', epoch: repair!.claim_epoch }, 2, 0)).not.toBeNull();
      expect(await rowOf(s.db, 'instances', id)).toMatchObject({ synced_gen: 2, drift: null });
    });
    it('backs off repairs that come in a row, so a drift that keeps coming back costs few writes', async () => {
      const { instanceIds } = await seedCluster(s.db, await seedUser(s.db), 1);
      const id = instanceIds[0]!;
      const delays: number[] = [];
      for (let gen = 1; gen <= 6; gen++) {
        const [c] = await claimDueInstances(s.db, 'worker-a', 10);
        if (!c) await s.db.query('UPDATE instances SET next_attempt_at = now() WHERE id = $1', [id]); // skip the wait
        const [claim] = c ? [c] : await claimDueInstances(s.db, 'worker-a', 10);
        expect(await markInstanceSynced(s.db, id, { worker: 'worker-a', epoch: claim!.claim_epoch }, gen, 0)).not.toBeNull();
        expect(await requestRepair(s.db, 'instances', id, gen, 'scaled to 0 again')).toBe(gen);
        const [{ ms }] = (await s.db.query<{ ms: number }>('SELECT round(extract(epoch FROM next_attempt_at - now()) * 1000)::int AS ms FROM instances WHERE id = $1', [id])) as [{ ms: number }];
        delays.push(ms);
      }
      // Immediately, then 0.5 s, 1 s, 2 s, 4 s, 8 s (give or take the statement's own time).
      expect(delays[0]).toBeLessThanOrEqual(0);
      for (const [k, want] of [[1, 500], [2, 1000], [3, 2000], [4, 4000], [5, 8000]] as const) {
        expect(Math.abs(delays[k]! - want)).toBeLessThan(200);
      }
      // Another drift of the same row is repaired at once.
      {
        await s.db.query('UPDATE instances SET next_attempt_at = now() WHERE id = $1', [id]);
        const [c] = await claimDueInstances(s.db, 'worker-a', 10);
        await markInstanceSynced(s.db, id, { worker: 'worker-a', epoch: c!.claim_epoch }, 7, 0);
        expect(await requestRepair(s.db, 'instances', id, 7, 'given another image')).toBe(1);
        const [{ ms }] = (await s.db.query<{ ms: number }>('SELECT round(extract(epoch FROM next_attempt_at - now()) * 1000)::int AS ms FROM instances WHERE id = $1', [id])) as [{ ms: number }];
        expect(ms).toBeLessThanOrEqual(0);
      }
      // Two minutes later the count starts again.
      await s.db.query("UPDATE instances SET repaired_at = now() - interval '3 minutes', next_attempt_at = now() WHERE id = $1", [id]);
      const [c] = await claimDueInstances(s.db, 'worker-a', 10);
      await markInstanceSynced(s.db, id, { worker: 'worker-a', epoch: c!.claim_epoch }, 8, 0);
      expect(await requestRepair(s.db, 'instances', id, 8, 'given another image')).toBe(1);
    });
    it('does not ask for a repair once a user request moved the row on', async () => {
      const { instanceIds } = await seedCluster(s.db, await seedUser(s.db), 1);
      const id = instanceIds[0]!;
      const [a] = await claimDueInstances(s.db, 'worker-a', 10);
      await markInstanceSynced(s.db, id, { worker: 'worker-a', epoch: a!.claim_epoch }, 1, 0);
      // The observer judged at gen 1; the user stops the instance before it asks.
      await setDesired(s.db, id, 'stopped', 'stopping');
      expect(await requestRepair(s.db, 'instances', id, 1, 'replicas changed')).toBe(0);
      expect(await rowOf(s.db, 'instances', id)).toMatchObject({ desired_gen: 2, drift: null });
    });
    it('asks a cluster in sync for a repair the same way', async () => {
      const { clusterId } = await seedCluster(s.db, await seedUser(s.db), 0);
      expect(await requestRepair(s.db, 'clusters', clusterId, 0, 'x')).toBe(0);
      expect(await requestRepair(s.db, 'clusters', clusterId, 1, 'ResourceQuota changed')).toBe(1);
      expect(await rowOf(s.db, 'clusters', clusterId)).toMatchObject({ desired_gen: 2, synced_gen: 1, drift: 'ResourceQuota changed' });
      const [c] = await claimDueClusters(s.db, 'worker-a', 10);
      expect(await markClusterSynced(s.db, clusterId, { worker: 'worker-a', epoch: c!.claim_epoch }, 2)).toBe(true);
      expect(await rowOf(s.db, 'clusters', clusterId)).toMatchObject({ synced_gen: 2, drift: null });
    });
  });
});

describe('Claim deadlines (no database)', () => {
  it('gives a call only the time the claim has left, and gives up a margin before the lease ends', () => {
    const leaseMs = 10_000;
    const c = new Claim('instances', 1, 'w', 1, performance.now(), leaseMs);
    expect(c.timeoutMs()).toBeLessThanOrEqual(leaseMs - Claim.marginMs(leaseMs));
    const old = new Claim('instances', 1, 'w', 1, performance.now() - leaseMs + Claim.marginMs(leaseMs) - 1, leaseMs);
    expect(() => old.check()).toThrow(/lease ran out/);
    old.renewedAt(performance.now());
    expect(() => old.check()).not.toThrow();
  });
});
