// Snapshots through the API, without Kubernetes: what may be snapshotted and
// restored, the storage quota they hold (refused with 403 and nothing changed
// when it does not fit, released on delete, scale-in and cluster delete), and
// the 4xx answers naming each problem. The snapshot's readiness is written as
// the observer writes it (src/store/snapshots.ts); the Kubernetes side is
// test/e2e/snapshots.test.ts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordSnapshotPhase } from '../../src/store/snapshots.ts';
import { buildTestApp, type TestApp } from '../support/app.ts';

let t: TestApp;
beforeAll(async () => {
  t = await buildTestApp();
});
afterAll(() => t.close());

const spec = (over: Record<string, unknown> = {}) => ({ name: 'db', instance_type: 'container', cpu_per_instance: 0.5, memory_per_instance: 0.5, instance_count: 2, volume_size: 3, ...over });
const used = async (userId: number) => (await t.db.query<{ used_storage_gb: number }>('SELECT used_storage_gb FROM users WHERE id = $1', [userId]))[0]!.used_storage_gb;
const rows = async () => ({
  snapshots: (await t.db.query('SELECT id FROM snapshots')).length,
  restores: (await t.db.query('SELECT id FROM snapshot_restores')).length,
});
const desired = async (id: number) => (await t.db.query<{ desired: string }>('SELECT desired FROM instances WHERE id = $1', [id]))[0]!.desired;

describe('snapshots through the API', () => {
  it('reserve the instance disks of the storage quota, list newest first, refuse what does not fit with 403 and change nothing', async () => {
    const u = await t.tenant({ cpu: 4, memory: 4 });
    await t.call('PATCH', `/api/v1/users/${u.id}`, undefined, { quota_storage_gb: 10 });
    const c = await t.call('POST', '/api/v1/clusters/', u.token, spec());
    expect(c.status).toBe(201);
    const [a, b] = c.body.instances;
    expect(await used(u.id)).toBe(6);

    const s1 = await t.call('POST', `/api/v1/instances/${a.id}/snapshots`, u.token, { name: 'before-upgrade' });
    expect(s1.status, JSON.stringify(s1.body)).toBe(201);
    expect(s1.body).toMatchObject({ instance_id: a.id, name: 'before-upgrade', kind: 'volume', status: 'creating', size_gb: 3, k8s_resource_name: `${a.instance_name}-snap-${s1.body.id}`, last_restore: null });
    expect(await used(u.id)).toBe(9);
    expect((await t.call('GET', '/api/v1/users/me/quota', u.token)).body).toMatchObject({ used_storage_gb: 9, available_storage_gb: 1 });

    const before = { ...(await rows()), used: await used(u.id) };
    const over = await t.call('POST', `/api/v1/instances/${b.id}/snapshots`, u.token, {});
    expect(over.status).toBe(403);
    expect(over.body.detail).toBe(
      'Quota exceeded: requested cpu 0 cores, memory 0 GB, 0 instances, storage 3 GB, 0 load balancers; available cpu 3 cores, memory 3 GB, 8 instances, storage 1 GB, 5 load balancers',
    );
    expect({ ...(await rows()), used: await used(u.id) }).toEqual(before);

    // A second one, named by default.
    await t.call('PATCH', `/api/v1/users/${u.id}`, undefined, { quota_storage_gb: 20 });
    const s2 = await t.call('POST', `/api/v1/instances/${a.id}/snapshots`, u.token, {});
    expect(s2.status).toBe(201);
    expect(s2.body.name).toBe(`snap-${s2.body.id}`);
    const list = await t.call('GET', `/api/v1/instances/${a.id}/snapshots`, u.token);
    expect(list.body.total).toBe(2);
    expect(list.body.items.map((s: { id: number }) => s.id)).toEqual([s2.body.id, s1.body.id]);

    // Deleting releases its storage at once; it shows as deleting until its object is gone.
    const del = await t.call('DELETE', `/api/v1/instances/${a.id}/snapshots/${s2.body.id}`, u.token);
    expect(del.status).toBe(200);
    expect(del.body.detail).toEqual({ snapshot_id: s2.body.id, storage_released: 3 });
    expect(await used(u.id)).toBe(9);
    expect((await t.call('GET', `/api/v1/instances/${a.id}/snapshots/${s2.body.id}`, u.token)).body.status).toBe('deleting');
    expect((await t.call('DELETE', `/api/v1/instances/${a.id}/snapshots/${s2.body.id}`, u.token)).status).toBe(404);

    // Scale-in takes the removed instance's snapshots with it; the cluster's delete the rest.
    await t.call('PATCH', `/api/v1/users/${u.id}`, undefined, { quota_storage_gb: 30 });
    expect((await t.call('POST', `/api/v1/instances/${b.id}/snapshots`, u.token, {})).status).toBe(201);
    expect(await used(u.id)).toBe(12);
    const scaled = await t.call('PATCH', `/api/v1/clusters/${c.body.id}`, u.token, { instance_count: 1 });
    expect(scaled.status).toBe(200);
    expect(await used(u.id)).toBe(6); // a's volume and snapshot
    expect((await t.call('DELETE', `/api/v1/clusters/${c.body.id}`, u.token)).status).toBe(200);
    expect(await used(u.id)).toBe(0);
  });

  it('restore only a ready snapshot, one at a time, stopping a running instance first and saying so', async () => {
    const u = await t.tenant({ cpu: 4, memory: 4 });
    const c = await t.call('POST', '/api/v1/clusters/', u.token, spec({ name: 'web', instance_count: 1 }));
    const i = c.body.instances[0];
    const s = await t.call('POST', `/api/v1/instances/${i.id}/snapshots`, u.token, {});
    const creating = await t.call('POST', `/api/v1/instances/${i.id}/snapshots/${s.body.id}/restore`, u.token);
    expect(creating.status).toBe(409);
    expect(creating.body.detail).toBe(`Snapshot 'snap-${s.body.id}' is creating; only a ready snapshot can be restored`);

    await recordSnapshotPhase(t.db, s.body.id, 'ready', null); // as the observer records it
    const before = await rows();
    const restored = await t.call('POST', `/api/v1/instances/${i.id}/snapshots/${s.body.id}/restore`, u.token);
    expect(restored.status, JSON.stringify(restored.body)).toBe(202);
    expect(restored.body.message).toBe(`Instance '${i.instance_name}' was running: it is stopped for the restore of snapshot 'snap-${s.body.id}', and started again once restored`);
    expect(restored.body.detail).toMatchObject({ instance_id: i.id, snapshot_id: s.body.id, stopped_first: true, restore: { phase: 'stopping', resume_status: 'running', finished_at: null } });
    expect(await rows()).toEqual({ ...before, restores: before.restores + 1 });
    expect(await desired(i.id)).toBe('stopped');
    expect((await t.call('GET', `/api/v1/instances/${i.id}/snapshots/${s.body.id}`, u.token)).body.last_restore).toMatchObject({ id: restored.body.detail.restore_id, phase: 'stopping' });

    // While it runs: no second restore, no operation, no new snapshot, and the snapshot stays.
    const again = await t.call('POST', `/api/v1/instances/${i.id}/snapshots/${s.body.id}/restore`, u.token);
    expect([again.status, again.body.detail]).toEqual([409, `Instance '${i.instance_name}' is already being restored (restore ${restored.body.detail.restore_id}, stopping)`]);
    const start = await t.call('POST', `/api/v1/instances/${i.id}/operate`, u.token, { operation: 'start' });
    expect([start.status, start.body.detail]).toEqual([409, `Instance '${i.instance_name}' is being restored from a snapshot (restore ${restored.body.detail.restore_id}, stopping); it returns to running once restored`]);
    expect((await t.call('POST', `/api/v1/instances/${i.id}/snapshots`, u.token, {})).status).toBe(409);
    const del = await t.call('DELETE', `/api/v1/instances/${i.id}/snapshots/${s.body.id}`, u.token);
    expect([del.status, del.body.detail]).toEqual([409, `Snapshot 'snap-${s.body.id}' is being restored onto instance '${i.instance_name}'; delete it once the restore is done`]);
    expect(await desired(i.id)).toBe('stopped');
  });

  it('answer what cannot be snapshotted, bad input and other tenants with a 4xx that names it, changing nothing', async () => {
    const u = await t.tenant({ cpu: 4, memory: 4 });
    const other = await t.tenant({ cpu: 4, memory: 4 });
    const plain = await t.call('POST', '/api/v1/clusters/', u.token, spec({ name: 'plain', instance_count: 1, volume_size: undefined }));
    const vm = await t.call('POST', '/api/v1/clusters/', u.token, spec({ name: 'vm', instance_type: 'vm', instance_count: 1, volume_size: undefined, image: 'quay.io/containerdisks/ubuntu:24.04' }));
    expect(vm.status, JSON.stringify(vm.body)).toBe(201);
    const withVolume = await t.call('POST', '/api/v1/clusters/', u.token, spec({ name: 'vol', instance_count: 1 }));
    expect([plain.status, vm.status, withVolume.status]).toEqual([201, 201, 201]);
    const id = withVolume.body.instances[0].id;
    const before = { ...(await rows()), used: await used(u.id) };

    const noVolume = await t.call('POST', `/api/v1/instances/${plain.body.instances[0].id}/snapshots`, u.token, {});
    expect([noVolume.status, noVolume.body.detail]).toEqual([409, `Instance '${plain.body.instances[0].instance_name}' cannot be snapshotted: the instance has no volume to snapshot (its cluster was created without volume_size)`]);
    const noDisk = await t.call('POST', `/api/v1/instances/${vm.body.instances[0].id}/snapshots`, u.token, {});
    expect(noDisk.status).toBe(409);
    expect(noDisk.body.detail).toMatch(/the VM has no persistent disk to snapshot .*disk_size or volume_size/);
    for (const [body, field] of [[{ name: 'Not_Valid' }, 'name'], [{ name: 'x'.repeat(64) }, 'name'], [{ size: 3 }, 'size']] as const) {
      const res = await t.call('POST', `/api/v1/instances/${id}/snapshots`, u.token, body);
      expect(res.status, JSON.stringify(body)).toBe(422);
      expect(JSON.stringify(res.body.detail)).toContain(field);
    }
    expect((await t.call('POST', `/api/v1/instances/${id}/snapshots`, other.token, {})).status).toBe(404);
    expect((await t.call('GET', `/api/v1/instances/${id}/snapshots`, other.token)).status).toBe(404);
    expect((await t.call('POST', `/api/v1/instances/999999/snapshots`, u.token, {})).status).toBe(404);
    expect((await t.call('POST', `/api/v1/instances/${id}/snapshots`, null, {})).status).toBe(401);
    expect({ ...(await rows()), used: await used(u.id) }).toEqual(before);

    // A name is unique per instance.
    expect((await t.call('POST', `/api/v1/instances/${id}/snapshots`, u.token, { name: 'nightly' })).status).toBe(201);
    const dup = await t.call('POST', `/api/v1/instances/${id}/snapshots`, u.token, { name: 'nightly' });
    expect([dup.status, dup.body.detail]).toEqual([409, `Instance '${withVolume.body.instances[0].instance_name}' already has a snapshot named 'nightly'`]);
    expect(await used(u.id)).toBe(before.used + 3);
    expect((await t.call('GET', `/api/v1/instances/${id}/snapshots/999999`, u.token)).status).toBe(404);
  });

  it('keep_disks on a scale-in keeps the removed VMs\' disks holding their storage, until each is deleted or the cluster is', async () => {
    const u = await t.tenant({ cpu: 4, memory: 4 });
    const vm = await t.call('POST', '/api/v1/clusters/', u.token, spec({ name: 'vms', instance_type: 'vm', instance_count: 3, volume_size: 2, image: 'quay.io/containerdisks/ubuntu:24.04' }));
    expect(vm.status, JSON.stringify(vm.body)).toBe(201);
    const plainVm = await t.call('POST', '/api/v1/clusters/', u.token, spec({ name: 'plain', instance_type: 'vm', instance_count: 1, volume_size: undefined, image: 'quay.io/containerdisks/ubuntu:24.04' }));
    const box = await t.call('POST', '/api/v1/clusters/', u.token, spec({ name: 'box', instance_count: 2 }));
    expect(await used(u.id)).toBe(12);
    const keptRows = async () => (await t.db.query('SELECT id FROM kept_disks')).length;
    const before = { kept: await keptRows(), used: await used(u.id) };
    for (const [id, body, msg] of [
      [vm.body.id, { instance_count: 4, keep_disks: true }, 'applies to a scale-in only'],
      [vm.body.id, { keep_disks: true }, 'goes with instance_count'],
      [plainVm.body.id, { instance_count: 1, keep_disks: true }, 'only VMs with a persistent disk'],
      [box.body.id, { instance_count: 1, keep_disks: true }, 'only VMs with a persistent disk'],
    ] as const) {
      const res = await t.call('PATCH', `/api/v1/clusters/${id}`, u.token, body);
      expect(res.status, JSON.stringify(body)).toBe(422);
      expect(JSON.stringify(res.body.detail)).toContain(msg);
    }
    expect({ kept: await keptRows(), used: await used(u.id) }).toEqual(before);

    const scaled = await t.call('PATCH', `/api/v1/clusters/${vm.body.id}`, u.token, { instance_count: 1, keep_disks: true });
    expect(scaled.status, JSON.stringify(scaled.body)).toBe(200);
    expect(scaled.body.detail).toMatchObject({ removed: 2, disks_kept: 2 });
    expect(await used(u.id)).toBe(12); // the kept disks still hold their storage
    const list = await t.call('GET', `/api/v1/clusters/${vm.body.id}/disks`, u.token);
    expect(list.body.items.map((d: { instance_name: string; kind: string; k8s_resource_name: string; size_gb: number }) => [d.instance_name, d.kind, d.k8s_resource_name, d.size_gb])).toEqual([
      ['vms-2', 'data', 'vms-2-data', 2],
      ['vms-3', 'data', 'vms-3-data', 2],
    ]);
    // The namespace's quota is rendered from the row: it holds the kept claims.
    expect((await t.db.query('SELECT kept_storage_gb, kept_claims FROM clusters WHERE id = $1', [vm.body.id]))[0]).toEqual({ kept_storage_gb: 4, kept_claims: 2 });

    const other = await t.tenant();
    expect((await t.call('GET', `/api/v1/clusters/${vm.body.id}/disks`, other.token)).status).toBe(404);
    expect((await t.call('DELETE', `/api/v1/clusters/${vm.body.id}/disks/${list.body.items[0].id}`, other.token)).status).toBe(404);
    const del = await t.call('DELETE', `/api/v1/clusters/${vm.body.id}/disks/${list.body.items[0].id}`, u.token);
    expect([del.status, del.body.detail]).toEqual([200, { disk_id: list.body.items[0].id, storage_released: 2 }]);
    expect(await used(u.id)).toBe(10);
    expect((await t.call('GET', `/api/v1/clusters/${vm.body.id}/disks`, u.token)).body.items.map((d: { status: string }) => d.status)).toEqual(['deleting', 'kept']);
    expect((await t.call('DELETE', `/api/v1/clusters/${vm.body.id}/disks/${list.body.items[0].id}`, u.token)).status).toBe(404);
    const gone = await t.call('DELETE', `/api/v1/clusters/${vm.body.id}`, u.token);
    expect(gone.body.detail.storage_released).toBe(4); // its own instance's disk and the kept one
    expect(await used(u.id)).toBe(6);
  });
});
