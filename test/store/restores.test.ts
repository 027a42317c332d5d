// The end of a restore (src/reconciler/snapshots.ts finish, over
// src/store/instances.ts finishRestoreOf) on PostgreSQL and PGlite. The
// instance was stopped for the restore, but the watches may not have recorded
// that yet: its stored status can still say 'running', from the pod or VMI it
// had before. Once the restore is done it must not read 'running' (a ?wait= on
// the restore would answer at once) until the new pod or VMI is seen.
import { describe, expect, it } from 'vitest';
import { Claim } from '../../src/reconciler/claims.ts';
import { finish } from '../../src/reconciler/snapshots.ts';
import { recordObservation, recordVmiObservation } from '../../src/service/status.ts';
import type { Kube } from '../../src/kube/client.ts';
import type { RestoreRow } from '../../src/store/snapshots.ts';
import { claimDueInstances } from '../../src/store/work.ts';
import { BACKENDS, rowOf, seedCluster, seedUser, useStore } from '../support/stores.ts';

const WORKER = 'restorer';

describe.each(BACKENDS)('the end of a restore on %s', (backend) => {
  const s = useStore(backend, 'users, clusters, instances, snapshots, snapshot_restores RESTART IDENTITY CASCADE');

  /**
   * An instance of a `kind` cluster that ran (and was seen running), asked to
   * stop for a restore that is now restoring, its row claimed by the reconciler.
   */
  async function restoring(kind: 'container' | 'vm'): Promise<{ id: number; restore: RestoreRow; claim: Claim }> {
    const owner = await seedUser(s.db);
    const { clusterId, instanceIds } = await seedCluster(s.db, owner, 1);
    const id = instanceIds[0]!;
    await s.db.query('UPDATE clusters SET instance_type = $2 WHERE id = $1', [clusterId, kind]);
    await s.db.query("UPDATE instances SET applied = true, desired_gen = 1, synced_gen = 1, status = 'starting' WHERE id = $1", [id]);
    if (kind === 'vm') {
      await recordObservation(s.db, id, { present: true, phase: null, ready: true, vmStatus: 'Running' });
      await recordVmiObservation(s.db, id, { ip: '10.0.0.9', node: 'n1', paused: false, restart: 0 });
    } else {
      await recordObservation(s.db, id, { present: true, phase: 'Running', ready: true, restartCount: 0 });
    }
    expect(await rowOf(s.db, 'instances', id)).toMatchObject({ status: 'running' });
    // The restore asked it to stop; what the watches saw of it has not changed since.
    await s.db.query("UPDATE instances SET desired = 'stopped', desired_gen = 2 WHERE id = $1", [id]);
    const [snap] = await s.db.query<{ id: number }>(
      `INSERT INTO snapshots (instance_id, owner_id, name, object_name, kind, size_gb, phase) VALUES ($1, $2, 'first', 'snap-1', $3, 1, 'ready') RETURNING id`,
      [id, owner, kind === 'vm' ? 'vm' : 'volume'],
    );
    const [restore] = await s.db.query<RestoreRow>(
      `INSERT INTO snapshot_restores (snapshot_id, instance_id, phase, resume) VALUES ($1, $2, 'restoring', 'running') RETURNING *`,
      [snap!.id, id],
    );
    const sentAt = performance.now();
    const [claimed] = await claimDueInstances(s.db, WORKER, 1);
    expect(claimed?.id).toBe(id);
    return { id, restore: restore!, claim: new Claim('instances', id, WORKER, claimed!.claim_epoch, sentAt, 30_000) };
  }

  const ctx = () => ({ db: s.db, kube: {} as Kube }); // finishing writes rows only

  it("a container: not 'running' on its old pod, 'running' once the new one is ready", async () => {
    const { id, restore, claim } = await restoring('container');
    await finish(ctx(), restore, { rootDisk: null, dataClaim: null }, 'done', null, claim);
    expect(await rowOf(s.db, 'instances', id)).toMatchObject({ desired: 'running', status: 'starting', restart_count: 1, applied_restart_count: 1 });
    expect((await s.db.query('SELECT phase FROM snapshot_restores WHERE id = $1', [restore.id]))[0]).toEqual({ phase: 'done' });

    // The old pod, reported late, does not bring it back.
    await recordObservation(s.db, id, { present: true, phase: 'Running', ready: true, restartCount: 0 });
    expect(await rowOf(s.db, 'instances', id)).toMatchObject({ status: 'starting' });
    await recordObservation(s.db, id, { present: true, phase: 'Running', ready: true, restartCount: 1 });
    expect(await rowOf(s.db, 'instances', id)).toMatchObject({ status: 'running' });
  });

  it("a VM: not 'running' on its old VMI, 'running' once one of the new generation runs", async () => {
    const { id, restore, claim } = await restoring('vm');
    await finish(ctx(), restore, { rootDisk: 'restore-1-rootdisk', dataClaim: 'restore-1-data' }, 'done', null, claim);
    expect(await rowOf(s.db, 'instances', id)).toMatchObject({ desired: 'running', status: 'starting', restart_count: 1, root_disk: 'restore-1-rootdisk' });

    // Still the old VMI (generation 0), reported again: not running.
    await recordObservation(s.db, id, { present: true, phase: null, ready: true, vmStatus: 'Running' });
    await recordVmiObservation(s.db, id, { ip: '10.0.0.9', node: 'n1', paused: false, restart: 0 });
    expect(await rowOf(s.db, 'instances', id)).toMatchObject({ status: 'starting' });
    await recordVmiObservation(s.db, id, { ip: '10.0.0.10', node: 'n1', paused: false, restart: 1 });
    expect(await rowOf(s.db, 'instances', id)).toMatchObject({ status: 'running' });
  });
});
