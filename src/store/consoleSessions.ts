// Console sessions: the seats open serial and VNC sessions hold
// (migration 012). Taking a seat counts the open, live seats of the same token
// on the same instance under a transaction-scoped advisory lock on the
// instance, so two replicas taking the last seat at once cannot both get it.
import type { Queryable, Tx } from './db.ts';

export type ConsoleKind = 'serial' | 'vnc';

/** Advisory lock class of console seats (the second key is the instance id); distinct from locks.ts's single-key locks. */
const SEAT_LOCK_CLASS = 7041;

export type NewSeat = { instanceId: number; userId: number; tokenId: number; kind: ConsoleKind; replica: string; requestId: string };

/**
 * Takes a seat for the token on the instance if it holds fewer than `limit`
 * open ones (rows whose holder has stopped renewing them do not count).
 * Returns the seat's id, or null when the limit is reached.
 */
export async function takeSeat(tx: Tx, s: NewSeat, limit: number, aliveSeconds: number): Promise<number | null> {
  await tx.query('SELECT pg_advisory_xact_lock($1::int, $2::int)', [SEAT_LOCK_CLASS, s.instanceId]);
  const [counted] = await tx.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM console_sessions
      WHERE token_id = $1 AND instance_id = $2 AND closed_at IS NULL AND alive_until > now()`,
    [s.tokenId, s.instanceId],
  );
  if (counted!.n >= limit) return null;
  const [row] = await tx.query<{ id: number }>(
    `INSERT INTO console_sessions (instance_id, user_id, token_id, kind, replica, request_id, alive_until)
     VALUES ($1, $2, $3, $4, $5, $6, now() + make_interval(secs => $7)) RETURNING id`,
    [s.instanceId, s.userId, s.tokenId, s.kind, s.replica, s.requestId, aliveSeconds],
  );
  return row!.id;
}

/** Keeps the seats alive (and their byte counts current) while their sessions run. */
export async function renewSeats(q: Queryable, seats: { id: number; toInstance: number; fromInstance: number }[], aliveSeconds: number): Promise<void> {
  if (seats.length === 0) return;
  await q.query(
    `UPDATE console_sessions s SET alive_until = now() + make_interval(secs => $4), bytes_to_instance = x.t, bytes_from_instance = x.f
       FROM unnest($1::bigint[], $2::bigint[], $3::bigint[]) AS x(id, t, f)
      WHERE s.id = x.id AND s.closed_at IS NULL`,
    [seats.map((x) => x.id), seats.map((x) => x.toInstance), seats.map((x) => x.fromInstance), aliveSeconds],
  );
}

/** Frees the seat: the session ended, for `reason`, having carried these bytes. */
export async function releaseSeat(q: Queryable, id: number, o: { reason: string; toInstance: number; fromInstance: number }): Promise<void> {
  await q.query(
    `UPDATE console_sessions SET closed_at = now(), close_reason = $2, bytes_to_instance = $3, bytes_from_instance = $4
      WHERE id = $1 AND closed_at IS NULL`,
    [id, o.reason, o.toInstance, o.fromInstance],
  );
}
