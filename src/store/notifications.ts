// The notification channel every replica listens on (payloads: see
// migrations/022_notifications.sql and src/domain/notifications.ts), and
// which replicas are listening right now: those with a notification
// connection open, named LISTENER_PREFIX + the replica's name.
import type { Queryable } from './db.ts';

export const CHANNEL = 'kubekloud';
export const LISTENER_PREFIX = 'kubekloud-listen:';

/** Sends `payload` to every listening replica (inside a transaction: when it commits). */
export async function notify(q: Queryable, payload: string): Promise<void> {
  await q.query('SELECT pg_notify($1, $2)', [CHANNEL, payload]);
}

export type LiveListener = { pid: number; replica: string };

/** The replicas listening now: one notification connection each, to this database (another database on the same server is another installation). */
export async function liveListeners(q: Queryable): Promise<LiveListener[]> {
  const rows = await q.query<{ pid: number; name: string }>(
    `SELECT pid, application_name AS name FROM pg_stat_activity
      WHERE application_name LIKE $1 || '%' AND backend_type = 'client backend' AND datname = current_database()`,
    [LISTENER_PREFIX],
  );
  return rows.map((r) => ({ pid: r.pid, replica: r.name.slice(LISTENER_PREFIX.length) }));
}

/** Ends a replica's notification connection from the database's side (the replica then stops trusting what it cached). */
export async function dropListener(q: Queryable, pid: number): Promise<void> {
  await q.query('SELECT pg_terminate_backend($1)', [pid]);
}
