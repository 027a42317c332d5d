// Cluster names (src/service/clusters.ts createCluster over src/store/clusters.ts)
// on PostgreSQL and PGlite: an owner's active clusters have distinct names, a
// cluster being deleted frees its name, and names are per owner.
import { beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.ts';
import { createCluster, deleteCluster } from '../../src/service/clusters.ts';
import type { Principal, Services } from '../../src/service/context.ts';
import { activeClusterNamed } from '../../src/store/clusters.ts';
import { BACKENDS, seedCluster, seedUser, useStore } from '../support/stores.ts';

describe.each(BACKENDS)('cluster names on %s', (backend) => {
  const s = useStore(backend, 'users, clusters, instances RESTART IDENTITY CASCADE');
  let services: Services;
  beforeAll(() => {
    services = { db: s.db, config: loadConfig({}), wake: () => {} };
  });
  const tenant = async (): Promise<Principal> => ({ userId: await seedUser(s.db), username: 'tenant', role: 'user', tokenId: 0, scopes: ['read', 'write'], clusterIds: null });
  const create = (p: Principal, name: string) =>
    createCluster(services, p, { name, instance_type: 'container', cpu_per_instance: 0.5, memory_per_instance: 0.5, instance_count: 1 });
  const usedInstances = async (userId: number) => (await s.db.query<{ n: number }>('SELECT used_instances AS n FROM users WHERE id = $1', [userId]))[0]!.n;

  it("refuses a name the owner's active cluster has, reserving nothing", async () => {
    const p = await tenant();
    await create(p, 'web');
    await expect(create(p, 'web')).rejects.toMatchObject({ kind: 'conflict', message: "Cluster with name 'web' already exists" });
    expect(await usedInstances(p.userId)).toBe(1);
  });

  it('gives the name of a cluster being deleted to a new one', async () => {
    const p = await tenant();
    const first = await create(p, 'web');
    await deleteCluster(services, p, first.id);
    const second = await create(p, 'web');
    expect(second.id).not.toBe(first.id);
  });

  it('keeps names per owner', async () => {
    await create(await tenant(), 'web');
    await expect(create(await tenant(), 'web')).resolves.toMatchObject({ name: 'web' });
  });

  it('creates one of several simultaneous clusters of one name', async () => {
    const p = await tenant();
    const results = await Promise.allSettled([create(p, 'race'), create(p, 'race'), create(p, 'race')]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    for (const r of results) if (r.status === 'rejected') expect(r.reason).toMatchObject({ kind: 'conflict' });
    expect(await usedInstances(p.userId)).toBe(1);
  });

  it('tells whether an owner has an active cluster of a name', async () => {
    const owner = await seedUser(s.db);
    const { clusterId } = await seedCluster(s.db, owner, 0);
    const [{ name }] = (await s.db.query<{ name: string }>('SELECT name FROM clusters WHERE id = $1', [clusterId])) as [{ name: string }];
    expect(await activeClusterNamed(s.db, owner, name)).toBe(true);
    expect(await activeClusterNamed(s.db, owner, 'other')).toBe(false);
    expect(await activeClusterNamed(s.db, await seedUser(s.db), name)).toBe(false);
    await s.db.query("UPDATE clusters SET state = 'deleting' WHERE id = $1", [clusterId]);
    expect(await activeClusterNamed(s.db, owner, name)).toBe(false);
  });
});
