// Live changes of a running cluster (src/service/rollouts.ts, src/store/rollouts.ts)
// on PostgreSQL and PGlite: the quota difference reserved or refused before
// anything changes, refusals that change nothing, and the roll's state machine:
// one instance at a time, the next only once the one before runs again, a
// failure that stops it, and a patch back that rolls only what had changed.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.ts';
import { DomainError } from '../../src/domain/errors.ts';
import { createCluster, getCluster } from '../../src/service/clusters.ts';
import type { Principal, Services } from '../../src/service/context.ts';
import { advanceRollout, changeClusterSpec } from '../../src/service/rollouts.ts';
import { recordObservation } from '../../src/service/status.ts';
import { BACKENDS, openStore, seedUser, type TestStore } from '../support/stores.ts';

const HOUR = 3_600_000;

describe.each(BACKENDS)('live changes on %s', (backend) => {
  let s: TestStore;
  let services: Services;
  beforeAll(async () => {
    s = await openStore(backend);
    services = { db: s.db, config: loadConfig({}), wake: () => {} };
  });
  afterAll(async () => {
    await s?.close();
  });

  type Inst = { id: number; ordinal: number; spec_gen: number; restart_count: number; desired_gen: number; synced_gen: number; image: string | null; status: string };
  const instancesOf = (clusterId: number) =>
    s.db.query<Inst>(`SELECT id, ordinal, spec_gen, restart_count, desired_gen, synced_gen, spec->>'image' AS image, status FROM instances WHERE cluster_id = $1 ORDER BY ordinal`, [
      clusterId,
    ]);
  const usage = async (userId: number) =>
    (await s.db.query<{ cpu: number; mem: number; lbs: number }>('SELECT used_cpu_milli AS cpu, used_memory_mib AS mem, used_load_balancers AS lbs FROM users WHERE id = $1', [userId]))[0]!;
  /** What the reconciler and the watches record once an instance's latest request is in Kubernetes and its new pod is ready. */
  const comesBack = async (i: Inst) => {
    await s.db.query('UPDATE instances SET synced_gen = desired_gen, applied = true WHERE id = $1', [i.id]);
    await recordObservation(s.db, i.id, { present: true, phase: 'Running', ready: true, restartCount: i.restart_count });
  };
  const step = (clusterId: number, timeoutMs = HOUR) => s.db.transaction((tx) => advanceRollout(tx, clusterId, timeoutMs));
  /** Running clusters: every instance in sync and ready, as after create on the plane. */
  const settle = async (clusterId: number) => {
    for (const i of await instancesOf(clusterId)) await comesBack(i);
  };
  const refusal = async (p: Promise<unknown>) => {
    const err = await p.then(() => null, (e) => e);
    expect(err).toBeInstanceOf(DomainError);
    return err as DomainError;
  };

  async function tenant(quota: { cpuMilli: number; memoryMib: number }) {
    const userId = await seedUser(s.db, quota);
    const p: Principal = { userId, username: 'tenant', role: 'user', tokenId: 0, scopes: ['read', 'write'], clusterIds: null };
    const c = await createCluster(services, p, { name: 'web', instance_type: 'container', cpu_per_instance: 0.5, memory_per_instance: 0.5, instance_count: 3, image: 'registry.example/app:1' });
    await settle(c.id);
    return { userId, p, id: c.id };
  }

  it('refuses a change over quota with 403 and one that cannot be made live with 422, changing nothing', async () => {
    const { userId, p, id } = await tenant({ cpuMilli: 2000, memoryMib: 4096 });
    const before = { cluster: await getCluster(services, p, id), usage: await usage(userId), instances: await instancesOf(id) };
    // 3 × 0.25 more cores: 2.25 > 2.
    const over = await refusal(changeClusterSpec(services, p, id, { cpu_per_instance: 0.75, image: 'registry.example/app:2' }));
    expect(over.kind).toBe('quota');
    const fixed = await refusal(changeClusterSpec(services, p, id, { instance_type: 'vm' } as never));
    expect(fixed.kind).toBe('invalid');
    expect(fixed.message).toMatch(/instance_type: cannot be changed on a running cluster/);
    const kind = await refusal(changeClusterSpec(services, p, id, { user_data: '#cloud-config\n' }));
    expect(kind.message).toMatch(/user_data: applies to vm clusters only/);
    expect(await getCluster(services, p, id)).toEqual(before.cluster);
    expect(await usage(userId)).toEqual(before.usage);
    expect(await instancesOf(id)).toEqual(before.instances);
  });

  it('reserves the difference, rolls one instance at a time, and is done when the last is back', async () => {
    const { userId, p, id } = await tenant({ cpuMilli: 4000, memoryMib: 4096 });
    expect(await usage(userId)).toMatchObject({ cpu: 1500, mem: 1536 });
    const out = await changeClusterSpec(services, p, id, { cpu_per_instance: 1, image: 'registry.example/app:2' });
    expect(out).toEqual({ generation: 2, toRoll: 3 });
    expect(await usage(userId)).toMatchObject({ cpu: 3000, mem: 1536 });
    const view = await getCluster(services, p, id);
    expect(view).toMatchObject({ image: 'registry.example/app:2', image_source: 'registry.example/app:2', cpu_per_instance: 1 });
    expect(view.rollout).toEqual({ generation: 2, updated: 0, total: 3, state: 'rolling', message: null });

    for (const ordinal of [1, 2, 3]) {
      let rows = await instancesOf(id);
      const changing = rows.find((r) => r.ordinal === ordinal)!;
      // Only this one is on the new spec and not back; the later ones keep the old spec.
      expect(changing).toMatchObject({ spec_gen: 2, restart_count: 1, image: null, status: 'starting' });
      expect(changing.desired_gen).toBeGreaterThan(changing.synced_gen);
      for (const r of rows.filter((r) => r.ordinal > ordinal)) expect(r).toMatchObject({ spec_gen: 1, restart_count: 0, image: 'registry.example/app:1', status: 'running' });
      // Not back yet: however often the reconciler looks, nothing else rolls.
      expect((await step(id))?.type).toBe('wait');
      expect((await step(id))?.type).toBe('wait');
      expect((await instancesOf(id)).filter((r) => r.spec_gen === 2 && r.status !== 'running')).toHaveLength(1);
      // Synced but its pod not ready: still waiting.
      await s.db.query('UPDATE instances SET synced_gen = desired_gen, applied = true WHERE id = $1', [changing.id]);
      expect((await step(id))?.type).toBe('wait');
      // The old pod (made for the earlier restart count) is seen ready: it is on its way out, not back.
      await recordObservation(s.db, changing.id, { present: true, phase: 'Running', ready: true, restartCount: 0 });
      expect((await step(id))?.type).toBe('wait');
      rows = await instancesOf(id);
      await comesBack(rows.find((r) => r.ordinal === ordinal)!);
      const d = await step(id);
      expect(d?.type).toBe(ordinal < 3 ? 'roll' : 'done');
      expect((await getCluster(services, p, id)).rollout).toMatchObject({ updated: ordinal, total: 3, state: ordinal < 3 ? 'rolling' : 'done' });
    }
    expect(await step(id)).toBeNull();
    const [cluster] = await s.db.query<{ peak_cpu_milli: number | null }>('SELECT peak_cpu_milli FROM clusters WHERE id = $1', [id]);
    expect(cluster!.peak_cpu_milli).toBeNull();
  });

  it('stops a roll whose instance does not come back, and a patch back rolls back only what changed', async () => {
    const { userId, p, id } = await tenant({ cpuMilli: 4000, memoryMib: 4096 });
    await changeClusterSpec(services, p, id, { image: 'registry.example/app:broken' });
    // The first instance never comes back: past the time allowed, the roll fails and rolls nothing more.
    const failed = await step(id, 0);
    expect(failed).toMatchObject({ type: 'failed', message: expect.stringMatching(/^web-1 was not running again within 0 s/) });
    expect((await getCluster(services, p, id)).rollout).toMatchObject({ generation: 2, updated: 0, state: 'failed' });
    expect(await step(id)).toBeNull();
    expect((await instancesOf(id)).map((r) => r.spec_gen)).toEqual([2, 1, 1]);

    // Back to the image that ran: the two instances that never changed are on generation 3 at once, and only web-1 rolls.
    const back = await changeClusterSpec(services, p, id, { image: 'registry.example/app:1' });
    expect(back).toEqual({ generation: 3, toRoll: 1 });
    let rows = await instancesOf(id);
    expect(rows.map((r) => [r.spec_gen, r.restart_count, r.image])).toEqual([
      [3, 2, null],
      [3, 0, null],
      [3, 0, null],
    ]);
    await comesBack(rows[0]!);
    expect((await step(id))?.type).toBe('done');
    expect((await getCluster(services, p, id)).rollout).toEqual({ generation: 3, updated: 3, total: 3, state: 'done', message: null });
    expect(await usage(userId)).toMatchObject({ cpu: 1500, mem: 1536 });
    rows = await instancesOf(id);
    expect(rows.every((r) => r.status === 'running')).toBe(true);
  });

  it('a change the pod refuses (image pull) fails the roll with the reason', async () => {
    const { p, id } = await tenant({ cpuMilli: 4000, memoryMib: 4096 });
    await changeClusterSpec(services, p, id, { env: { MODE: 'new' } });
    const [first] = await instancesOf(id);
    await s.db.query('UPDATE instances SET synced_gen = desired_gen, applied = true WHERE id = $1', [first!.id]);
    await recordObservation(s.db, first!.id, { present: true, phase: 'Pending', ready: false, restartCount: 1, message: 'ImagePullBackOff' });
    await s.db.query(`UPDATE instances SET failure = 'Kubernetes rejected the StatefulSet: forbidden' WHERE id = $1`, [first!.id]);
    expect(await step(id)).toMatchObject({ type: 'failed', message: 'web-1: Kubernetes rejected the StatefulSet: forbidden' });
  });

  it('steps taken at once (several replicas, a PATCH and the loop) roll one instance, not several', async () => {
    const { p, id } = await tenant({ cpuMilli: 4000, memoryMib: 4096 });
    await changeClusterSpec(services, p, id, { image: 'registry.example/app:2' });
    await comesBack((await instancesOf(id))[0]!);
    const decisions = await Promise.all(Array.from({ length: 8 }, () => step(id)));
    expect(decisions.filter((d) => d?.type === 'roll')).toHaveLength(1);
    expect((await instancesOf(id)).map((r) => r.spec_gen)).toEqual([2, 2, 1]);
  });

  it('a change equal to the running spec rolls nothing', async () => {
    const { p, id } = await tenant({ cpuMilli: 4000, memoryMib: 4096 });
    expect(await changeClusterSpec(services, p, id, { image: 'registry.example/app:1', cpu_per_instance: 0.5 })).toEqual({ generation: null, toRoll: 0 });
    expect((await getCluster(services, p, id)).rollout).toBeUndefined();
  });
});
