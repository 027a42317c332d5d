// The database gateway: one small interface over a PostgreSQL pool (pg) or an
// embedded PGlite, so the rest of the code never knows which it talks to.
import pg from 'pg';
import { mkdirSync } from 'node:fs';
import { DomainError } from '../domain/errors.ts';
import { isConnectionError } from './errors.ts';

export interface Queryable {
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>;
  /** Runs a script of several statements without parameters (migrations). */
  exec(sql: string): Promise<void>;
}

/**
 * A handle inside a transaction. Functions that read a row and write what they
 * derived from it take this, not a plain Queryable, so their row lock holds
 * until the write (a lock taken outside a transaction ends with its statement).
 */
export type Tx = Queryable & { readonly inTransaction: true };

export type PoolStats = { total: number; idle: number; waiting: number };

/** What a notification connection reports: each payload on its channel, and its end (an error, or none when closed on purpose). */
export type ListenHandlers = { message(payload: string): void; ended(err: Error | null): void };

/** A notification connection; closing it ends it without `ended` being called. */
export type ListenHandle = { close(): Promise<void> };

export interface Db extends Queryable {
  readonly kind: 'postgres' | 'pglite';
  /** Runs `fn` in one transaction; inside it use only the handle it is given. */
  transaction<T>(fn: (tx: Tx) => Promise<T>): Promise<T>;
  poolStats(): PoolStats;
  /**
   * Opens a connection of its own, named `name` (PostgreSQL's
   * application_name), that listens on `channel`. Resolves once it listens.
   */
  listen(channel: string, name: string, on: ListenHandlers): Promise<ListenHandle>;
  /** The embedded database only: a dump of its data directory, which openPglite can start from. */
  image?(): Promise<Blob>;
  close(): Promise<void>;
}

// int8 and numeric come back as strings by default; ours fit in a double.
pg.types.setTypeParser(20, (v) => Number(v));
pg.types.setTypeParser(1700, (v) => Number(v));

/**
 * The database being out of reach is a domain fact (503), not a query's
 * failure: the gateway says so, so no layer above has to know pg's error codes.
 */
function unreachable(err: unknown): unknown {
  return isConnectionError(err) ? new DomainError('unavailable', 'The database is unreachable; try again shortly') : err;
}
const orUnreachable = async <T>(fn: () => Promise<T>): Promise<T> => {
  try {
    return await fn();
  } catch (err) {
    throw unreachable(err);
  }
};

/**
 * Statements outside a transaction run prepared, one per distinct text and
 * connection: PostgreSQL parses each text once per connection instead of on
 * every call (the observer's and the claims' statements run thousands of times
 * a minute). Inside a transaction statements stay unnamed, so nothing a
 * transaction does can meet a stale prepared statement (below). The texts are
 * the code's own, a bounded set; past MAX_PREPARED distinct texts the rest run
 * unnamed.
 */
const MAX_PREPARED = 500;
const preparedNames = new Map<string, string>();
function prepared(text: string, values: unknown[]): pg.QueryConfig {
  let name = preparedNames.get(text);
  if (name === undefined && preparedNames.size < MAX_PREPARED) preparedNames.set(text, (name = `kubekloud_${preparedNames.size + 1}`));
  return name === undefined ? { text, values } : { name, text, values };
}

/**
 * A statement prepared before a newer replica's migration changed the columns
 * it answers (`SELECT *`, `RETURNING *`) fails once on each connection that
 * prepared it (SQLSTATE 0A000). The pool drops a connection whose query failed;
 * the statement is run again unnamed.
 */
const isStalePlan = (err: unknown): boolean =>
  (err as { code?: unknown } | null)?.code === '0A000' && /cached plan must not change result type/.test(String((err as Error).message));

/** The connections of a replica's main pool (requests and reconciler work). */
export const POOL_SIZE = 20;
/** The pool that renews leases and claims, apart from the work they guard (src/main.ts). */
export const LEASES_POOL_SIZE = 1;
/** The connection each `listen` holds open (one channel per replica: src/service/notifications.ts). */
export const LISTENER_CONNECTIONS = 1;
/**
 * What one API replica may hold open at once: the main pool, the one that
 * renews leases and the one that listens for notifications. PostgreSQL's
 * `max_connections` is sized from it (k8s manifests).
 */
export const CONNECTIONS_PER_REPLICA = POOL_SIZE + LEASES_POOL_SIZE + LISTENER_CONNECTIONS;

export function openPostgres(url: string, opts: { max?: number; applicationName?: string } = {}): Db {
  const pool = new pg.Pool({
    connectionString: url,
    max: opts.max ?? POOL_SIZE,
    // Fail fast when PostgreSQL is down: requests answer 503 instead of hanging.
    connectionTimeoutMillis: 3000,
    idleTimeoutMillis: 30_000,
    statement_timeout: 10_000,
    application_name: opts.applicationName ?? 'kubekloud',
  });
  // An idle client losing its connection must not crash the process.
  pool.on('error', () => {});
  return {
    kind: 'postgres',
    async query<T>(sql: string, params?: unknown[]) {
      const res = await orUnreachable(async () => {
        if (!params) return pool.query(sql);
        try {
          return await pool.query(prepared(sql, params));
        } catch (err) {
          if (!isStalePlan(err)) throw err;
          return pool.query(sql, params);
        }
      });
      return res.rows as T[];
    },
    async exec(sql: string) {
      await orUnreachable(() => pool.query(sql));
    },
    async transaction<T>(fn: (tx: Tx) => Promise<T>) {
      const client = await orUnreachable(() => pool.connect());
      // The pool listens for errors only on idle clients: a checked-out one
      // losing its connection between two queries (PostgreSQL stopped or
      // restarted) would raise an unhandled 'error' and end the process.
      let broken: Error | undefined;
      const onError = (err: Error) => {
        broken = err;
      };
      client.on('error', onError);
      try {
        await client.query('BEGIN');
        const tx: Tx = {
          inTransaction: true,
          async query<R>(sql: string, params?: unknown[]) {
            return (await orUnreachable(() => client.query(sql, params as unknown[]))).rows as R[];
          },
          async exec(sql: string) {
            await orUnreachable(() => client.query(sql));
          },
        };
        const out = await fn(tx);
        await client.query('COMMIT');
        return out;
      } catch (err) {
        await client.query('ROLLBACK').catch(() => {});
        throw unreachable(err);
      } finally {
        client.removeListener('error', onError);
        client.release(broken); // a broken client is discarded, not reused
      }
    },
    poolStats: () => ({ total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount }),
    async listen(channel, name, on) {
      // Not from the pool: it stays connected, and idle, for as long as it listens.
      const client = new pg.Client({ connectionString: url, application_name: name, connectionTimeoutMillis: 3000, keepAlive: true });
      let closing = false;
      let ended = false;
      const end = (err: Error | null) => {
        if (ended || closing) return;
        ended = true;
        on.ended(err);
      };
      client.on('notification', (n) => {
        if (n.channel === channel) on.message(n.payload ?? '');
      });
      client.on('error', (err) => {
        end(err);
        client.end().catch(() => {});
      });
      client.on('end', () => end(new Error('the notification connection closed')));
      try {
        await client.connect();
        await client.query(`LISTEN ${pg.escapeIdentifier(channel)}`);
      } catch (err) {
        closing = true;
        await client.end().catch(() => {});
        throw unreachable(err);
      }
      return {
        async close() {
          closing = true;
          await client.end().catch(() => {});
        },
      };
    },
    close: () => pool.end(),
  };
}

/**
 * The embedded database, in `dataDir` (null: in memory). `image`: start from
 * this dump of a data directory (PGlite's dumpDataDir) instead of an empty
 * one, which skips initdb.
 */
export async function openPglite(dataDir: string | null, opts: { image?: Blob } = {}): Promise<Db> {
  const { PGlite } = await import('@electric-sql/pglite');
  if (dataDir) mkdirSync(dataDir, { recursive: true });
  const db = await PGlite.create({ ...(dataDir ? { dataDir } : {}), ...(opts.image ? { loadDataDir: opts.image } : {}) });
  let busy = 0;
  return {
    kind: 'pglite',
    async query<T>(sql: string, params?: unknown[]) {
      busy++;
      try {
        return (await db.query<T>(sql, params as unknown[])).rows;
      } finally {
        busy--;
      }
    },
    async exec(sql: string) {
      await db.exec(sql);
    },
    async transaction<T>(fn: (tx: Tx) => Promise<T>) {
      busy++;
      try {
        return await db.transaction(async (t) =>
          fn({
            inTransaction: true,
            async query<R>(sql: string, params?: unknown[]) {
              return (await t.query<R>(sql, params as unknown[])).rows;
            },
            async exec(sql: string) {
              await t.exec(sql);
            },
          }),
        );
      } finally {
        busy--;
      }
    },
    poolStats: () => ({ total: 1, idle: busy > 0 ? 0 : 1, waiting: Math.max(0, busy - 1) }),
    // One process has the embedded database: its connection is the only one, and never drops.
    async listen(channel, _name, on) {
      const unlisten = await db.listen(channel, (payload) => on.message(payload));
      return { close: () => unlisten() };
    },
    image: async () => (await db.dumpDataDir('none')) as Blob,
    close: () => db.close(),
  };
}
