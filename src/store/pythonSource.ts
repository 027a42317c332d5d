// The earlier Python service's database, read for `import-python`. Opened read
// only at the session level and read in one read-only, repeatable-read
// transaction, so the import never writes to it and sees one consistent state.
// Its tables are the ones its SQLAlchemy models create: enums are PostgreSQL
// enum types holding the member names (`VM`, `RUNNING`), hence the casts.
import pg from 'pg';
import { pythonEnum, type PythonCluster, type PythonInstallation, type PythonInstance, type PythonUser } from '../domain/pythonImport.ts';

export async function readPythonInstallation(url: string): Promise<PythonInstallation> {
  const client = new pg.Client({ connectionString: url, application_name: 'kubekloud-import-python' });
  await client.connect();
  try {
    await client.query('SET default_transaction_read_only = on');
    await client.query('BEGIN TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const users = await client.query<{ id: number; username: string; token: string; quota_cpu: number; quota_memory: number; used_cpu: number | null; used_memory: number | null }>(
      'SELECT id, username, token, quota_cpu::float8 AS quota_cpu, quota_memory::float8 AS quota_memory, used_cpu::float8 AS used_cpu, used_memory::float8 AS used_memory FROM users ORDER BY id',
    );
    const clusters = await client.query<{ id: number; name: string; namespace: string; instance_type: string; cpu_per_instance: number; memory_per_instance: number; instance_count: number; owner_id: number }>(
      `SELECT id, name, namespace, instance_type::text AS instance_type, cpu_per_instance::float8 AS cpu_per_instance,
              memory_per_instance::float8 AS memory_per_instance, instance_count, owner_id
         FROM clusters ORDER BY id`,
    );
    const instances = await client.query<{ id: number; cluster_id: number; instance_name: string; status: string | null; k8s_resource_name: string | null }>(
      'SELECT id, cluster_id, instance_name, status::text AS status, k8s_resource_name FROM instances ORDER BY id',
    );
    await client.query('COMMIT');
    return {
      users: users.rows.map(
        (u): PythonUser => ({ id: u.id, username: u.username, token: u.token, quotaCpu: u.quota_cpu, quotaMemory: u.quota_memory, usedCpu: u.used_cpu, usedMemory: u.used_memory }),
      ),
      clusters: clusters.rows.map(
        (c): PythonCluster => ({
          id: c.id,
          name: c.name,
          namespace: c.namespace,
          kind: pythonEnum(c.instance_type) === 'vm' ? 'vm' : 'container',
          cpuPerInstance: c.cpu_per_instance,
          memoryPerInstance: c.memory_per_instance,
          instanceCount: c.instance_count,
          ownerId: c.owner_id,
        }),
      ),
      instances: instances.rows.map(
        (i): PythonInstance => ({ id: i.id, clusterId: i.cluster_id, name: i.instance_name, status: pythonEnum(i.status), resourceName: i.k8s_resource_name }),
      ),
    };
  } finally {
    await client.end();
  }
}
