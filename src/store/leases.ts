// The observer lease: which replica of an installation runs the watches, drift
// repair, orphan collection and periodic resyncs. Modelled on Kubernetes'
// coordination.k8s.io Lease (holder, duration, renew time, transitions), kept in
// PostgreSQL so that every time is the database's clock.
import type { Queryable } from './db.ts';

export type LeaseHold = { epoch: number; acquired: boolean };

/**
 * Takes the lease if it is free or expired, or renews it if `holder` has it.
 * Returns the epoch (which grows with every change of holder) and whether this
 * call took it over, or null when another holder's lease is still live.
 */
export async function acquireOrRenewLease(q: Queryable, name: string, holder: string, seconds: number): Promise<LeaseHold | null> {
  // Every CTE sees the row as it was before the upsert: the holder changed (or
  // there was none) exactly when this call took the lease.
  const rows = await q.query<{ epoch: number; acquired: boolean }>(
    `WITH before AS (SELECT holder FROM observer_leases WHERE name = $1),
          taken AS (
            INSERT INTO observer_leases AS l (name, holder, epoch, acquired_at, renewed_at, expires_at)
            VALUES ($1, $2, 1, now(), now(), now() + make_interval(secs => $3))
            ON CONFLICT (name) DO UPDATE
              SET holder = $2,
                  epoch = CASE WHEN l.holder = $2 THEN l.epoch ELSE l.epoch + 1 END,
                  acquired_at = CASE WHEN l.holder = $2 THEN l.acquired_at ELSE now() END,
                  renewed_at = now(), expires_at = now() + make_interval(secs => $3)
              WHERE l.holder = $2 OR l.expires_at < now()
            RETURNING epoch)
     SELECT taken.epoch, (SELECT holder FROM before) IS DISTINCT FROM $2 AS acquired FROM taken`,
    [name, holder, seconds],
  );
  return rows[0] ?? null;
}

/** Gives the lease up at once (a replica shutting down), so another takes over without waiting for it to expire. */
export async function releaseLease(q: Queryable, name: string, holder: string): Promise<void> {
  await q.query("UPDATE observer_leases SET expires_at = now() - interval '1 second' WHERE name = $1 AND holder = $2", [name, holder]);
}

export async function leaseHolder(q: Queryable, name: string): Promise<{ holder: string; epoch: number; live: boolean } | null> {
  const rows = await q.query<{ holder: string; epoch: number; live: boolean }>(
    'SELECT holder, epoch, expires_at > now() AS live FROM observer_leases WHERE name = $1',
    [name],
  );
  return rows[0] ?? null;
}
