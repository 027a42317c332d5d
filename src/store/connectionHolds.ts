// Connections users hold open, one row each (the connection_holds table), so
// the per-user caps count them across every replica. A row names its replica;
// rows of replicas no longer listening (src/store/notifications.ts) do not
// count and are removed by the next take of the same user and kind.
import type { Queryable, Tx } from './db.ts';
import { LISTENER_PREFIX } from './notifications.ts';

/** A wait's row still counts this long past its deadline (its answer being written); later it is one whose release was lost. */
const STALE_WAIT_SECONDS = 60;

export type HoldKind = 'event_streams' | 'waits';

/**
 * Takes a hold unless the user already holds `cap` of `kind` on live
 * replicas: those listening for notifications, or with `onlyThisReplica`
 * this one alone (one process owns an embedded database; rows of an earlier
 * process are left over from a crash). Returns the new hold's id, or the
 * count held and the soonest known end (null: some held one has none) when
 * at the cap.
 */
export async function takeHold(
  tx: Tx,
  h: { userId: number; kind: HoldKind; replica: string; until: Date | null; cap: number; onlyThisReplica: boolean },
): Promise<{ id: number } | { held: number; soonest: Date | null }> {
  // One take at a time per user and kind: the count holds until this transaction ends.
  await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`hold:${h.kind}:${h.userId}`]);
  let held = await countLive(tx, h.userId, h.kind);
  if (held.held >= h.cap) {
    // At the cap: rows of replicas that are gone no longer count; remove them and count again.
    await tx.query(
      h.onlyThisReplica
        ? 'DELETE FROM connection_holds WHERE user_id = $1 AND kind = $2 AND replica <> $3'
        : `DELETE FROM connection_holds
            WHERE user_id = $1 AND kind = $2
              AND $3 || replica NOT IN (SELECT application_name FROM pg_stat_activity
                                         WHERE application_name LIKE $3 || '%' AND datname = current_database())`,
      [h.userId, h.kind, h.onlyThisReplica ? h.replica : LISTENER_PREFIX],
    );
    held = await countLive(tx, h.userId, h.kind);
    if (held.held >= h.cap) return held;
  }
  const [taken] = await tx.query<{ id: number }>(
    'INSERT INTO connection_holds (user_id, kind, replica, until) VALUES ($1, $2, $3, $4) RETURNING id',
    [h.userId, h.kind, h.replica, h.until],
  );
  return { id: taken!.id };
}

async function countLive(tx: Tx, userId: number, kind: HoldKind): Promise<{ held: number; soonest: Date | null }> {
  const [row] = await tx.query<{ held: number; soonest: Date | null; open_ended: boolean }>(
    `SELECT count(*)::int AS held, min(until) AS soonest, bool_or(until IS NULL) AS open_ended
       FROM connection_holds
      WHERE user_id = $1 AND kind = $2 AND (until IS NULL OR until > now() - make_interval(secs => $3))`,
    [userId, kind, STALE_WAIT_SECONDS],
  );
  return { held: row!.held, soonest: row!.open_ended || row!.soonest === null ? null : new Date(row!.soonest) };
}

export async function releaseHold(q: Queryable, id: number): Promise<void> {
  await q.query('DELETE FROM connection_holds WHERE id = $1', [id]);
}

/** How many of `kind` the user holds, on any replica. */
export async function countHolds(q: Queryable, userId: number, kind: HoldKind): Promise<number> {
  const [row] = await q.query<{ n: number }>('SELECT count(*)::int AS n FROM connection_holds WHERE user_id = $1 AND kind = $2', [userId, kind]);
  return row!.n;
}
