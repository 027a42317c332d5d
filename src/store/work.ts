// The reconciler's queue lives in the tables: a row is due while
// desired_gen > synced_gen. Claims use FOR UPDATE SKIP LOCKED plus a lease, so
// several replicas never work on one row at once, and a replica that dies
// leaves work another picks up when the lease runs out.
import type { Queryable } from './db.ts';
import type { ClusterRow } from './clusters.ts';
import type { InstanceRow } from './instances.ts';

export const DEFAULT_LEASE_SECONDS = 30;

export type Claimed<T> = T & { claimed_gen: number };

export async function claimDueClusters(q: Queryable, worker: string, limit: number, leaseSeconds = DEFAULT_LEASE_SECONDS): Promise<Claimed<ClusterRow>[]> {
  return q.query<Claimed<ClusterRow>>(
    `UPDATE clusters c SET claimed_by = $1, claimed_until = now() + make_interval(secs => $3)
      WHERE c.id IN (SELECT id FROM clusters
                      WHERE desired_gen > synced_gen AND next_attempt_at <= now()
                        AND (claimed_until IS NULL OR claimed_until < now())
                      ORDER BY next_attempt_at LIMIT $2 FOR NO KEY UPDATE SKIP LOCKED)
      RETURNING c.*, c.desired_gen AS claimed_gen`,
    [worker, limit, leaseSeconds],
  );
}

export type ClaimedInstance = Claimed<InstanceRow>;

/**
 * Instances are due only once their cluster is in sync: the namespace exists and
 * its quota already counts them (a scale-out raises it before the new pods come).
 */
export async function claimDueInstances(q: Queryable, worker: string, limit: number, leaseSeconds = DEFAULT_LEASE_SECONDS): Promise<ClaimedInstance[]> {
  return q.query<ClaimedInstance>(
    `UPDATE instances i SET claimed_by = $1, claimed_until = now() + make_interval(secs => $3)
      WHERE i.id IN (SELECT i2.id FROM instances i2 JOIN clusters c ON c.id = i2.cluster_id
                      WHERE i2.desired_gen > i2.synced_gen AND i2.next_attempt_at <= now()
                        AND (i2.claimed_until IS NULL OR i2.claimed_until < now())
                        AND c.synced_gen = c.desired_gen AND c.state = 'active'
                      ORDER BY i2.next_attempt_at LIMIT $2 FOR UPDATE OF i2 SKIP LOCKED)
      RETURNING i.*, i.desired_gen AS claimed_gen`,
    [worker, limit, leaseSeconds],
  );
}

type Table = 'clusters' | 'instances';

/** The claimed generation is now in Kubernetes; a newer request keeps the row due. */
export async function markSynced(q: Queryable, table: Table, id: number, gen: number, extra = ''): Promise<void> {
  await q.query(
    `UPDATE ${table} SET synced_gen = GREATEST(synced_gen, $2), attempts = 0, claimed_by = NULL, claimed_until = NULL,
            message = NULL, waiting_on_kube = false${extra}, updated_at = now()
      WHERE id = $1`,
    [id, gen],
  );
}

/** Puts a claimed row back to be tried again after `delayMs` (failure or waiting). */
export async function requeue(
  q: Queryable,
  table: Table,
  id: number,
  delayMs: number,
  message: string | null,
  opts: { countAttempt: boolean; failure?: string | null; waitingOnKube?: boolean },
): Promise<void> {
  const params: unknown[] = [id, delayMs, opts.countAttempt ? 1 : 0, message, opts.waitingOnKube ?? false];
  const failureSet = table === 'instances' && opts.failure !== undefined ? `, failure = $${params.push(opts.failure)}` : '';
  await q.query(
    `UPDATE ${table} SET next_attempt_at = now() + make_interval(secs => $2::float8 / 1000),
            attempts = attempts + $3, message = $4, waiting_on_kube = $5, claimed_by = NULL, claimed_until = NULL${failureSet}, updated_at = now()
      WHERE id = $1`,
    params,
  );
}

/**
 * Kubernetes is ready again: every row backing off because it was out of reach
 * is due now rather than when its backoff runs out. Returns how many.
 */
export async function retryWaitingOnKube(q: Queryable): Promise<number> {
  let n = 0;
  for (const table of ['clusters', 'instances'] as const) {
    const rows = await q.query(
      `UPDATE ${table} SET next_attempt_at = now(), waiting_on_kube = false
        WHERE waiting_on_kube AND desired_gen > synced_gen RETURNING id`,
    );
    n += rows.length;
  }
  return n;
}

/**
 * Makes clusters whose fences were last applied more than `olderThanSeconds`
 * ago due again, so an edited or deleted quota, limit range or network policy
 * is put back. Safe from every replica at once: a cluster already due is skipped.
 */
export async function requestStaleClusterResync(q: Queryable, olderThanSeconds: number, limit = 500): Promise<number> {
  const rows = await q.query(
    `UPDATE clusters SET desired_gen = desired_gen + 1, next_attempt_at = now()
      WHERE id IN (SELECT id FROM clusters WHERE state = 'active' AND desired_gen = synced_gen
                     AND synced_at < now() - make_interval(secs => $1) ORDER BY synced_at LIMIT $2)
      RETURNING id`,
    [olderThanSeconds, limit],
  );
  return rows.length;
}

/** Asks for a fresh reconcile of an instance (drift: its object vanished). */
export async function requestInstanceSync(q: Queryable, id: number): Promise<void> {
  await q.query(
    'UPDATE instances SET desired_gen = desired_gen + 1, next_attempt_at = now() WHERE id = $1 AND desired_gen <= synced_gen',
    [id],
  );
}

export async function deleteInstanceRow(q: Queryable, id: number): Promise<void> {
  await q.query('DELETE FROM instances WHERE id = $1', [id]);
}

/** How much work is due and how late the oldest is (metrics). */
export async function queueDepth(q: Queryable): Promise<{ depth: number; lagSeconds: number }> {
  const rows = await q.query<{ depth: number; lag: number | null }>(
    `SELECT count(*)::int AS depth, EXTRACT(EPOCH FROM now() - min(next_attempt_at))::float8 AS lag FROM (
       SELECT next_attempt_at FROM clusters WHERE desired_gen > synced_gen
       UNION ALL SELECT next_attempt_at FROM instances WHERE desired_gen > synced_gen) due`,
  );
  return { depth: rows[0]?.depth ?? 0, lagSeconds: Math.max(0, rows[0]?.lag ?? 0) };
}
