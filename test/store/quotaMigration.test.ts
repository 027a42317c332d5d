// Migration 013 on an installation that already has tenants: each one's storage
// and load balancers in use are counted as a create would have counted them,
// nobody ends up over quota, and the bootstrap admin keeps a quota nothing reaches.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openPglite, type Db } from '../../src/store/db.ts';
import { listMigrations, migrate } from '../../src/store/migrate.ts';

const NEW = 13;
let db: Db;
beforeAll(async () => {
  db = await openPglite(null);
  // The schema as it was before storage and load balancers were counted.
  await db.query('CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())');
  for (const m of listMigrations().filter((x) => x.version < NEW)) {
    await db.exec(m.sql);
    await db.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [m.version, m.name]);
  }
});
afterAll(() => db?.close());

async function user(name: string, role = 'user'): Promise<number> {
  return (await db.query<{ id: number }>(`INSERT INTO users (username, role, quota_cpu_milli, quota_memory_mib, quota_instances) VALUES ($1, $2, 100000, 100000, 100) RETURNING id`, [name, role]))[0]!.id;
}
async function cluster(owner: number, c: { name: string; volume?: number; type?: string; expose?: string; ports?: number; live: number; dead?: number; state?: string }) {
  const ports = JSON.stringify(Array.from({ length: c.ports ?? 1 }, (_, k) => ({ port: 8000 + k, protocol: 'TCP' })));
  const [row] = await db.query<{ id: number }>(
    `INSERT INTO clusters (owner_id, name, namespace, instance_type, cpu_milli, memory_mib, instance_count, image, ports, service_type, volume_size_gb, expose, state)
     VALUES ($1, $2, $3, 'container', 100, 128, $4, 'img:1', $5, $6, $7, $8, $9) RETURNING id`,
    [owner, c.name, `kk-${owner}-${c.name}`, c.live, ports, c.type ?? 'ClusterIP', c.volume ?? null, c.expose ?? 'instances', c.state ?? 'active'],
  );
  for (let k = 1; k <= c.live + (c.dead ?? 0); k++) {
    await db.query(`INSERT INTO instances (cluster_id, ordinal, name, desired) VALUES ($1, $2, $3, $4)`, [row!.id, k, `${c.name}-${k}`, k <= c.live ? 'running' : 'deleted']);
  }
}

describe('migration 013: storage and load balancers in the quota', () => {
  it('counts what existing tenants hold and raises no quota below it', async () => {
    const small = await user('small');
    const big = await user('big');
    const idle = await user('idle');
    const admin = await user('admin', 'admin');
    await cluster(small, { name: 'db', volume: 10, live: 2, dead: 1 }); // 20 GB: the deleted instance holds nothing
    await cluster(small, { name: 'lb', type: 'LoadBalancer', expose: 'cluster', live: 2 }); // 2 + the cluster's own
    await cluster(small, { name: 'np', type: 'NodePort', live: 3 }); // no load balancer
    await cluster(small, { name: 'gone', volume: 50, type: 'LoadBalancer', live: 0, dead: 2, state: 'deleting' });
    await cluster(big, { name: 'huge', volume: 60, type: 'LoadBalancer', live: 3 }); // 180 GB, 3 LBs
    await cluster(big, { name: 'noports', type: 'LoadBalancer', ports: 0, live: 2 }); // no Service, no LB

    expect(await migrate(db)).toContain(NEW);
    const rows = await db.query<{ id: number; quota_storage_gb: number; quota_load_balancers: number; used_storage_gb: number; used_load_balancers: number }>(
      'SELECT id, quota_storage_gb, quota_load_balancers, used_storage_gb, used_load_balancers FROM users ORDER BY id',
    );
    const of = (id: number) => rows.find((r) => r.id === id);
    expect(of(small)).toMatchObject({ used_storage_gb: 20, used_load_balancers: 3, quota_storage_gb: 100, quota_load_balancers: 5 });
    expect(of(big)).toMatchObject({ used_storage_gb: 180, used_load_balancers: 3, quota_storage_gb: 180, quota_load_balancers: 5 });
    expect(of(idle)).toMatchObject({ used_storage_gb: 0, used_load_balancers: 0, quota_storage_gb: 100, quota_load_balancers: 5 });
    expect(of(admin)).toMatchObject({ quota_storage_gb: 1_000_000, quota_load_balancers: 100_000 });
  });
});
