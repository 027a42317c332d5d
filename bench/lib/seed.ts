// Seeds a migrated database straight through SQL: tenants with quota usage
// matching their clusters, clusters already synced, instances running, and one
// bearer token per tenant (stored as its SHA-256 hash, as the API stores it).
import { createHash, randomBytes } from 'node:crypto';
import pg from 'pg';

export type SeededTenant = { userId: number; token: string; clusterIds: number[]; instanceIds: number[] };

export async function seed(
  databaseUrl: string,
  o: { prefix: string; tenants: number; clustersPerTenant: number; instancesPerCluster: number },
): Promise<SeededTenant[]> {
  const c = new pg.Client({ connectionString: databaseUrl });
  await c.connect();
  try {
    const cpu = 100; // millicores per instance
    const mem = 128; // MiB per instance
    const perTenant = o.clustersPerTenant * o.instancesPerCluster;
    await c.query('BEGIN');
    const users = await c.query<{ id: number }>(
      `INSERT INTO users (username, role, quota_cpu_milli, quota_memory_mib, quota_instances, used_cpu_milli, used_memory_mib, used_instances)
       SELECT 'bench-' || g, 'user', $2::int * 2, $3::int * 2, $4::int * 2, $2, $3, $4 FROM generate_series(1, $1::int) g
       RETURNING id`,
      [o.tenants, cpu * perTenant, mem * perTenant, perTenant],
    );
    const ids = users.rows.map((r) => r.id);
    const tokens = ids.map(() => `bench-${randomBytes(18).toString('base64url')}`);
    await c.query(
      `INSERT INTO tokens (user_id, name, token_hash) SELECT u, 'bench', h FROM unnest($1::int[], $2::text[]) AS x(u, h)`,
      [ids, tokens.map((t) => createHash('sha256').update(t, 'utf8').digest('hex'))],
    );
    await c.query(
      `INSERT INTO clusters (owner_id, name, namespace, instance_type, cpu_milli, memory_mib, instance_count, image, desired_gen, synced_gen)
       SELECT u, 'web-' || k, 'seed-' || u || '-' || k, 'container', $2, $3, $4, 'docker.io/nginxinc/nginx-unprivileged:1.27-alpine', 1, 1
         FROM unnest($1::int[]) AS u, generate_series(1, $5::int) AS k`,
      [ids, cpu, mem, o.instancesPerCluster, o.clustersPerTenant],
    );
    await c.query(`UPDATE clusters SET namespace = $1 || '-' || id || '-' || name WHERE namespace LIKE 'seed-%'`, [o.prefix]);
    await c.query(
      `INSERT INTO instances (cluster_id, ordinal, name, desired, status, obs_present, obs_phase, obs_ready, ip, node,
                              applied, desired_gen, synced_gen)
       SELECT c.id, o, c.name || '-' || o, 'running', 'running', true, 'Running', true,
              '10.244.' || (c.id % 250) || '.' || o, 'kk-node-' || (c.id % 3), true, 1, 1
         FROM clusters c, generate_series(1, $1::int) AS o
        WHERE c.owner_id = ANY($2::int[])`,
      [o.instancesPerCluster, ids],
    );
    await c.query('COMMIT');
    await c.query('ANALYZE');
    const cl = await c.query<{ owner_id: number; id: number }>('SELECT owner_id, id FROM clusters WHERE owner_id = ANY($1::int[]) ORDER BY id', [ids]);
    const inst = await c.query<{ owner_id: number; id: number }>(
      'SELECT c.owner_id, i.id FROM instances i JOIN clusters c ON c.id = i.cluster_id WHERE c.owner_id = ANY($1::int[]) ORDER BY i.id',
      [ids],
    );
    return ids.map((userId, k) => ({
      userId,
      token: tokens[k]!,
      clusterIds: cl.rows.filter((r) => r.owner_id === userId).map((r) => r.id),
      instanceIds: inst.rows.filter((r) => r.owner_id === userId).map((r) => r.id),
    }));
  } finally {
    await c.end();
  }
}
