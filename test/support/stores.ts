// The two databases the store runs on, for tests that must pass on both: a
// throwaway PostgreSQL database (test/support/postgres.ts) and an in-memory
// PGlite, each migrated, plus small seeding helpers over plain SQL.
import { afterAll, beforeAll, beforeEach } from 'vitest';
import { openPostgres, type Db } from '../../src/store/db.ts';
import { migrate } from '../../src/store/migrate.ts';
import { openMigratedPglite } from './pgliteImage.ts';
import { createTestDatabase, type TestDatabase } from './postgres.ts';

export const BACKENDS = ['postgres', 'pglite'] as const;
export type Backend = (typeof BACKENDS)[number];

export type TestStore = {
  backend: Backend;
  db: Db;
  /** The PostgreSQL database (null on PGlite), for a second pool or for pg_stat_activity. */
  pg: TestDatabase | null;
  close(): Promise<void>;
};

export async function openStore(backend: Backend, opts: { max?: number } = {}): Promise<TestStore> {
  if (backend === 'pglite') {
    const db = await openMigratedPglite();
    return { backend, db, pg: null, close: () => db.close() };
  }
  const pg = await createTestDatabase();
  const db = openPostgres(pg.url, opts);
  await migrate(db);
  return {
    backend,
    db,
    pg,
    async close() {
      await db.close();
      await pg.drop();
    },
  };
}

/** How many backends of this store's PostgreSQL database wait for a lock now (the database's own signal that a transaction is blocked). */
export async function lockWaiters(s: TestStore): Promise<number> {
  if (!s.pg) throw new Error('lock waits are PostgreSQL only');
  return (await s.pg.query<{ n: number }>("SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"))[0]!.n;
}

/**
 * For a describe block: opens the store before its tests, empties `tables` (a
 * TRUNCATE list) before each, and closes it after. The handle is filled in by
 * beforeAll, so use it inside tests only.
 */
export function useStore(backend: Backend, tables: string): TestStore {
  const handle = {} as TestStore;
  beforeAll(async () => {
    Object.assign(handle, await openStore(backend));
  });
  afterAll(async () => {
    await handle.close?.();
  });
  beforeEach(async () => {
    await handle.db.query(`TRUNCATE ${tables}`);
  });
  return handle;
}

let seq = 0;

export async function seedUser(db: Db, quota: { cpuMilli?: number; memoryMib?: number; instances?: number } = {}): Promise<number> {
  const rows = await db.query<{ id: number }>(
    `INSERT INTO users (username, role, quota_cpu_milli, quota_memory_mib, quota_instances) VALUES ($1, 'user', $2, $3, $4) RETURNING id`,
    [`u${++seq}-${Math.random().toString(36).slice(2, 8)}`, quota.cpuMilli ?? 100_000, quota.memoryMib ?? 100_000, quota.instances ?? 1000],
  );
  return rows[0]!.id;
}

/** A container cluster whose own work is done (in sync, active), with `instances` due instance rows. */
export async function seedCluster(db: Db, ownerId: number, instances = 1): Promise<{ clusterId: number; instanceIds: number[] }> {
  const name = `c${++seq}`;
  const [c] = await db.query<{ id: number }>(
    `INSERT INTO clusters (owner_id, name, namespace, instance_type, cpu_milli, memory_mib, instance_count, image, desired_gen, synced_gen)
     VALUES ($1, $2, $3, 'container', 500, 512, $4, 'img:1', 1, 1) RETURNING id`,
    [ownerId, name, `kk-${name}-${Math.random().toString(36).slice(2, 8)}`, instances],
  );
  const ids: number[] = [];
  for (let o = 1; o <= instances; o++) {
    const [i] = await db.query<{ id: number }>(`INSERT INTO instances (cluster_id, ordinal, name, desired) VALUES ($1, $2, $3, 'running') RETURNING id`, [
      c!.id,
      o,
      `${name}-${o}`,
    ]);
    ids.push(i!.id);
  }
  return { clusterId: c!.id, instanceIds: ids };
}

/** Lets a claim's lease run out now, as the database's clock sees it. */
export async function expireClaim(db: Db, table: 'clusters' | 'instances', id: number): Promise<void> {
  await db.query(`UPDATE ${table} SET claimed_until = now() - interval '1 second' WHERE id = $1`, [id]);
}

export async function rowOf<T = Record<string, any>>(db: Db, table: 'clusters' | 'instances', id: number): Promise<T | null> {
  return (await db.query<T>(`SELECT * FROM ${table} WHERE id = $1`, [id]))[0] ?? null;
}

/** Polls `check` until it holds (every `everyMs`), or fails after `timeoutMs` naming `what`. */
export async function until(check: () => Promise<boolean> | boolean, what: string, timeoutMs = 10_000, everyMs = 20): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (performance.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** A promise with its resolver, to hold one side of a race at a chosen point. */
export function gate(): { promise: Promise<void>; open(): void } {
  let open!: () => void;
  const promise = new Promise<void>((r) => (open = r));
  return { promise, open };
}
