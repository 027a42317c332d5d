// Quota under concurrent scaling and creates (src/service/clusters.ts) on PostgreSQL and PGlite:
// many scale-outs and scale-ins at once against a quota that fits only some never push
// usage past the quota, and usage ends equal to what the live instances hold.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.ts';
import { DomainError } from '../../src/domain/errors.ts';
import { createCluster, deleteCluster, scaleCluster } from '../../src/service/clusters.ts';
import type { Principal, Services } from '../../src/service/context.ts';
import { BACKENDS, openStore, seedUser, type TestStore } from '../support/stores.ts';

type Usage = { used_cpu_milli: number; used_memory_mib: number; used_instances: number; quota_cpu_milli: number; quota_memory_mib: number; quota_instances: number };

describe.each(BACKENDS)('quota under concurrent scaling on %s', (backend) => {
  let s: TestStore;
  let services: Services;
  beforeAll(async () => {
    s = await openStore(backend);
    services = { db: s.db, config: loadConfig({}), wake: () => {} };
  });
  afterAll(async () => {
    await s?.close();
  });

  const usageOf = async (userId: number) => (await s.db.query<Usage>('SELECT * FROM users WHERE id = $1', [userId]))[0]!;
  /** What the user's live (not being deleted) instances hold, summed from the instance rows. */
  const liveSum = async (userId: number) =>
    (
      await s.db.query<{ cpu: number; mem: number; n: number }>(
        `SELECT COALESCE(sum(c.cpu_milli), 0)::int AS cpu, COALESCE(sum(c.memory_mib), 0)::int AS mem, count(i.id)::int AS n
           FROM instances i JOIN clusters c ON c.id = i.cluster_id WHERE c.owner_id = $1 AND i.desired <> 'deleted'`,
        [userId],
      )
    )[0]!;

  it('never exceeds the quota, and ends with usage equal to the live instances', async () => {
    // 12 instances of 0.5 cores / 0.5 GB fit; cpu allows 7 cores (14 instances), memory 8 GB (16).
    const userId = await seedUser(s.db, { cpuMilli: 7000, memoryMib: 8192, instances: 12 });
    const p: Principal = { userId, username: 'tenant', role: 'user', tokenId: 0, scopes: ['read', 'write'], clusterIds: null };
    const clusters = [];
    for (let k = 0; k < 4; k++) {
      clusters.push(await createCluster(services, p, { name: `c${k}`, instance_type: 'container', cpu_per_instance: 0.5, memory_per_instance: 0.5, instance_count: 1 }));
    }
    expect(await usageOf(userId)).toMatchObject({ used_instances: 4, used_cpu_milli: 2000, used_memory_mib: 2048 });

    const over: Usage[] = [];
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const u = await usageOf(userId);
        if (u.used_instances > u.quota_instances || u.used_cpu_milli > u.quota_cpu_milli || u.used_memory_mib > u.quota_memory_mib) over.push(u);
        await new Promise((r) => setImmediate(r));
      }
    })();

    // 40 requests at once: every cluster asked for 5, 6, 2, 4, ... instances; only some fit.
    // 10 never fits (the other three clusters hold at least one each); 1 always does.
    const targets = [5, 6, 2, 4, 6, 1, 5, 3, 10, 4];
    const outcomes = await Promise.all(
      clusters.flatMap((c, k) =>
        targets.map((n, j) =>
          scaleCluster(services, p, c.id, targets[(j + k) % targets.length]!).then(
            () => 'scaled',
            (err: unknown) => (err instanceof DomainError && err.kind === 'quota' ? 'quota' : `unexpected: ${String(err)}`),
          ),
        ),
      ),
    );
    sampling = false;
    await sampler;

    expect(outcomes.filter((o) => o !== 'scaled' && o !== 'quota')).toEqual([]);
    expect(outcomes.filter((o) => o === 'quota').length).toBeGreaterThanOrEqual(4); // the quota did bite
    expect(outcomes).toContain('scaled');
    expect(over).toEqual([]);
    const u = await usageOf(userId);
    const live = await liveSum(userId);
    expect(u.used_instances).toBeLessThanOrEqual(12);
    expect({ cpu: u.used_cpu_milli, mem: u.used_memory_mib, n: u.used_instances }).toEqual(live);
    // Each cluster's recorded size is what it has live.
    for (const c of clusters) {
      const [row] = await s.db.query<{ instance_count: number; live: number }>(
        `SELECT c.instance_count, (SELECT count(*)::int FROM instances i WHERE i.cluster_id = c.id AND i.desired <> 'deleted') AS live FROM clusters c WHERE c.id = $1`,
        [c.id],
      );
      expect(row!.instance_count).toBe(row!.live);
    }

    // Everything released again on delete.
    for (const c of clusters) await deleteCluster(services, p, c.id);
    expect(await usageOf(userId)).toMatchObject({ used_instances: 0, used_cpu_milli: 0, used_memory_mib: 0 });
  });

  // Storage and load balancers are reserved in the same conditional UPDATE as the rest:
  // many creates racing for the last of either never reserve more than the quota.
  it.each([
    ['storage', { storage: 25, lbs: 1000 }, { volume_size: 5 }],
    ['load balancers', { storage: 1_000_000, lbs: 5 }, { ports: [{ port: 80 }], service_type: 'LoadBalancer' as const, expose: 'cluster' as const }],
  ])('never over-reserves %s when creates race for the last of it', async (_what, q, extra) => {
    const userId = await seedUser(s.db, { cpuMilli: 1_000_000, memoryMib: 1_000_000, instances: 1000 });
    await s.db.query('UPDATE users SET quota_storage_gb = $2, quota_load_balancers = $3 WHERE id = $1', [userId, q.storage, q.lbs]);
    const p: Principal = { userId, username: `racer-${_what}`, role: 'user', tokenId: 0, scopes: ['read', 'write'], clusterIds: null };
    // Each create holds 2 instances: 10 GB of storage, or 3 load balancers (two instances and the cluster's own).
    const outcomes = await Promise.all(
      Array.from({ length: 12 }, (_, k) =>
        createCluster(services, p, { name: `r${k}`, instance_type: 'container', cpu_per_instance: 0.1, memory_per_instance: 0.125, instance_count: 2, ...extra }).then(
          () => 'created',
          (e: unknown) => (e instanceof DomainError && e.kind === 'quota' ? 'quota' : `unexpected: ${String(e)}`),
        ),
      ),
    );
    expect(outcomes.filter((o) => o.startsWith('unexpected'))).toEqual([]);
    expect(outcomes.filter((o) => o === 'created')).toHaveLength(_what === 'storage' ? 2 : 1);
    const [u] = await s.db.query<{ used_storage_gb: number; used_load_balancers: number; quota_storage_gb: number; quota_load_balancers: number }>(
      'SELECT * FROM users WHERE id = $1',
      [userId],
    );
    expect(u!.used_storage_gb).toBeLessThanOrEqual(u!.quota_storage_gb);
    expect(u!.used_load_balancers).toBeLessThanOrEqual(u!.quota_load_balancers);
    expect(u!.used_storage_gb).toBe(_what === 'storage' ? 20 : 0);
    expect(u!.used_load_balancers).toBe(_what === 'storage' ? 0 : 3);

    // Scaling releases and reserves per instance, the cluster's own load balancer stays; delete releases all.
    const [c] = await s.db.query<{ id: number }>('SELECT id FROM clusters WHERE owner_id = $1 ORDER BY id LIMIT 1', [userId]);
    await scaleCluster(services, p, c!.id, 1);
    const afterScale = (await s.db.query<{ used_storage_gb: number; used_load_balancers: number }>('SELECT * FROM users WHERE id = $1', [userId]))[0]!;
    expect([afterScale.used_storage_gb, afterScale.used_load_balancers]).toEqual(_what === 'storage' ? [15, 0] : [0, 2]);
    for (const row of await s.db.query<{ id: number }>("SELECT id FROM clusters WHERE owner_id = $1 AND state = 'active'", [userId])) {
      await deleteCluster(services, p, row.id);
    }
    expect(await s.db.query('SELECT used_storage_gb, used_load_balancers FROM users WHERE id = $1', [userId])).toEqual([{ used_storage_gb: 0, used_load_balancers: 0 }]);
  });

  it('lets concurrent creates and scale-outs of one tenant share the quota without over-committing', async () => {
    const userId = await seedUser(s.db, { cpuMilli: 100_000, memoryMib: 100_000, instances: 10 });
    const p: Principal = { userId, username: 'tenant2', role: 'user', tokenId: 0, scopes: ['read', 'write'], clusterIds: null };
    const base = await createCluster(services, p, { name: 'base', instance_type: 'container', cpu_per_instance: 1, memory_per_instance: 1, instance_count: 2 });
    const outcomes = await Promise.all([
      ...Array.from({ length: 8 }, (_, k) =>
        createCluster(services, p, { name: `n${k}`, instance_type: 'container', cpu_per_instance: 1, memory_per_instance: 1, instance_count: 2 }).then(
          () => 'created',
          (e: unknown) => (e instanceof DomainError && e.kind === 'quota' ? 'quota' : `unexpected: ${String(e)}`),
        ),
      ),
      ...Array.from({ length: 8 }, (_, k) =>
        scaleCluster(services, p, base.id, 3 + (k % 4)).then(
          () => 'scaled',
          (e: unknown) => (e instanceof DomainError && e.kind === 'quota' ? 'quota' : `unexpected: ${String(e)}`),
        ),
      ),
    ]);
    expect(outcomes.filter((o) => o.startsWith('unexpected'))).toEqual([]);
    const u = await usageOf(userId);
    expect(u.used_instances).toBeLessThanOrEqual(10);
    expect({ cpu: u.used_cpu_milli, mem: u.used_memory_mib, n: u.used_instances }).toEqual(await liveSum(userId));
  });
});
