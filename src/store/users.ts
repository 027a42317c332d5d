// Users, their quota totals and their usage. Usage lives on the user row so a
// reservation is one conditional UPDATE: concurrent requests on any replica
// serialise on the row and can never exceed the quota.
import type { Resources } from '../domain/quota.ts';
import type { Queryable } from './db.ts';

export type Role = 'admin' | 'user';

export type UserRow = {
  id: number;
  username: string;
  role: Role;
  quota_cpu_milli: number;
  quota_memory_mib: number;
  quota_instances: number;
  used_cpu_milli: number;
  used_memory_mib: number;
  used_instances: number;
  quota_storage_gb: number;
  quota_load_balancers: number;
  used_storage_gb: number;
  used_load_balancers: number;
  created_at: Date;
  updated_at: Date;
  /** Set by an admin: every token of the user is refused. */
  disabled_at: Date | null;
};

export const userTotals = (u: UserRow): Resources => ({
  cpuMilli: u.quota_cpu_milli,
  memoryMib: u.quota_memory_mib,
  instances: u.quota_instances,
  storageGb: u.quota_storage_gb,
  loadBalancers: u.quota_load_balancers,
});
export const userUsage = (u: UserRow): Resources => ({
  cpuMilli: u.used_cpu_milli,
  memoryMib: u.used_memory_mib,
  instances: u.used_instances,
  storageGb: u.used_storage_gb,
  loadBalancers: u.used_load_balancers,
});

export async function insertUser(
  q: Queryable,
  u: { username: string; role: Role; quota: Resources },
): Promise<UserRow> {
  const rows = await q.query<UserRow>(
    `INSERT INTO users (username, role, quota_cpu_milli, quota_memory_mib, quota_instances, quota_storage_gb, quota_load_balancers)
     VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING *`,
    [u.username, u.role, u.quota.cpuMilli, u.quota.memoryMib, u.quota.instances, u.quota.storageGb, u.quota.loadBalancers],
  );
  return rows[0]!;
}

export async function findUserById(q: Queryable, id: number, opts: { lock?: boolean } = {}): Promise<UserRow | null> {
  const rows = await q.query<UserRow>(`SELECT * FROM users WHERE id = $1${opts.lock ? ' FOR NO KEY UPDATE' : ''}`, [id]);
  return rows[0] ?? null;
}

export async function findUserByUsername(q: Queryable, username: string): Promise<UserRow | null> {
  const rows = await q.query<UserRow>('SELECT * FROM users WHERE username = $1', [username]);
  return rows[0] ?? null;
}

/** Users in id order; `limit` null: all of them from `offset`. */
export async function listUsers(q: Queryable, limit: number | null, offset: number): Promise<UserRow[]> {
  return q.query<UserRow>('SELECT * FROM users ORDER BY id LIMIT $1 OFFSET $2', [limit, offset]);
}

export async function updateUser(
  q: Queryable,
  id: number,
  patch: { quota?: Resources; role?: Role; disabled?: boolean },
): Promise<UserRow | null> {
  const rows = await q.query<UserRow>(
    `UPDATE users SET
       quota_cpu_milli = COALESCE($2, quota_cpu_milli),
       quota_memory_mib = COALESCE($3, quota_memory_mib),
       quota_instances = COALESCE($4, quota_instances),
       role = COALESCE($5, role),
       quota_storage_gb = COALESCE($6, quota_storage_gb),
       quota_load_balancers = COALESCE($7, quota_load_balancers),
       disabled_at = CASE WHEN $8::boolean IS NULL THEN disabled_at WHEN $8 THEN COALESCE(disabled_at, now()) ELSE NULL END,
       updated_at = now()
     WHERE id = $1 RETURNING *`,
    [
      id,
      patch.quota?.cpuMilli ?? null,
      patch.quota?.memoryMib ?? null,
      patch.quota?.instances ?? null,
      patch.role ?? null,
      patch.quota?.storageGb ?? null,
      patch.quota?.loadBalancers ?? null,
      patch.disabled ?? null,
    ],
  );
  return rows[0] ?? null;
}

export async function deleteUser(q: Queryable, id: number): Promise<boolean> {
  const rows = await q.query('DELETE FROM users WHERE id = $1 RETURNING id', [id]);
  return rows.length > 0;
}

/** Adds `demand` to the user's usage if it fits the quota; null when it does not. */
export async function reserveQuota(q: Queryable, userId: number, demand: Resources): Promise<UserRow | null> {
  const rows = await q.query<UserRow>(
    `UPDATE users SET
       used_cpu_milli = used_cpu_milli + $2,
       used_memory_mib = used_memory_mib + $3,
       used_instances = used_instances + $4,
       used_storage_gb = used_storage_gb + $5,
       used_load_balancers = used_load_balancers + $6,
       updated_at = now()
     WHERE id = $1
       AND used_cpu_milli + $2 <= quota_cpu_milli
       AND used_memory_mib + $3 <= quota_memory_mib
       AND used_instances + $4 <= quota_instances
       AND used_storage_gb + $5 <= quota_storage_gb
       AND used_load_balancers + $6 <= quota_load_balancers
     RETURNING *`,
    [userId, demand.cpuMilli, demand.memoryMib, demand.instances, demand.storageGb, demand.loadBalancers],
  );
  return rows[0] ?? null;
}

export async function releaseQuota(q: Queryable, userId: number, amount: Resources): Promise<void> {
  await q.query(
    `UPDATE users SET
       used_cpu_milli = GREATEST(0, used_cpu_milli - $2),
       used_memory_mib = GREATEST(0, used_memory_mib - $3),
       used_instances = GREATEST(0, used_instances - $4),
       used_storage_gb = GREATEST(0, used_storage_gb - $5),
       used_load_balancers = GREATEST(0, used_load_balancers - $6),
       updated_at = now()
     WHERE id = $1`,
    [userId, amount.cpuMilli, amount.memoryMib, amount.instances, amount.storageGb, amount.loadBalancers],
  );
}

export async function countClustersOwned(q: Queryable, userId: number): Promise<number> {
  const rows = await q.query<{ n: number }>('SELECT count(*)::int AS n FROM clusters WHERE owner_id = $1', [userId]);
  return rows[0]?.n ?? 0;
}
