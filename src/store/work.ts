// The reconciler's queue lives in the tables: a row is due while
// desired_gen > synced_gen. Claims use FOR UPDATE SKIP LOCKED plus a lease, so
// several replicas never work on one row at once, and a replica that dies
// leaves work another picks up when the lease runs out.
//
// Every claim takes a new epoch (claim_epoch), and every write that ends a
// reconcile names the epoch it claimed with: a replica whose lease ran out and
// whose row was claimed again since changes nothing (the write matches no row).
import type { Queryable } from './db.ts';
import type { ClusterRow } from './clusters.ts';
import { lockedInIdOrder, type InstanceRow } from './instances.ts';
import type { ObservedRow } from './observations.ts';

export const DEFAULT_LEASE_SECONDS = 30;

/** Who holds a claim: the worker and the epoch its claim took. */
export type ClaimRef = { worker: string; epoch: number };

export type Claimed<T> = T & { claimed_gen: number; claim_epoch: number };
export type ClaimedCluster = Claimed<ClusterRow>;
/**
 * A claimed instance with whether it has snapshot or restore work, read by the
 * claim itself: most reconciles have none and skip those reads. Every change to
 * an instance's snapshots or restores makes its row due again (under its lock),
 * so work that arrives after the claim is seen by the next one.
 */
export type ClaimedInstance = Claimed<InstanceRow> & { restoring: boolean; snapshot_work: boolean };

/** The RETURNING columns of a claimed instance (`i`): the row, its claimed generation, its snapshot and restore flags. */
export const CLAIMED_INSTANCE = `i.*, i.desired_gen AS claimed_gen,
       EXISTS (SELECT 1 FROM snapshot_restores r WHERE r.instance_id = i.id AND r.phase IN ('stopping', 'restoring')) AS restoring,
       EXISTS (SELECT 1 FROM snapshots s WHERE s.instance_id = i.id AND (s.desired = 'deleted' OR s.phase = 'creating')) AS snapshot_work`;

export type WorkTable = 'clusters' | 'instances';

/** Held by the worker ($2) under the epoch ($3) it claimed the row with; `alias`: the table's, where a join makes the columns ambiguous. */
const fenceOn = (alias?: string) => (alias ? `${alias}.claimed_by = $2 AND ${alias}.claim_epoch = $3` : 'claimed_by = $2 AND claim_epoch = $3');
const FENCE = fenceOn();

export async function claimDueClusters(q: Queryable, worker: string, limit: number, leaseSeconds = DEFAULT_LEASE_SECONDS): Promise<ClaimedCluster[]> {
  return q.query<ClaimedCluster>(
    `UPDATE clusters c SET claimed_by = $1, claimed_until = now() + make_interval(secs => $3), claim_epoch = c.claim_epoch + 1
      WHERE c.id IN (SELECT id FROM clusters
                      WHERE desired_gen > synced_gen AND next_attempt_at <= now()
                        AND (claimed_until IS NULL OR claimed_until < now())
                      ORDER BY next_attempt_at LIMIT $2 FOR NO KEY UPDATE SKIP LOCKED)
      RETURNING c.*, c.desired_gen AS claimed_gen`,
    [worker, limit, leaseSeconds],
  );
}

/**
 * Instances are due only once their cluster is in sync: the namespace exists and
 * its quota already counts them (a scale-out raises it before the new pods come).
 * The cluster is looked up for each due instance (a subquery the planner does
 * not turn into a join): joined, the planner misjudges how many clusters are in
 * sync (a comparison of two columns) and walked every cluster on every claim,
 * 3.5 ms at 1,000 clusters; driven by the index of due instances it is 0.5 ms
 * there, its cost bounded by the due instances (during a burst of creates,
 * those of clusters not yet in sync are passed over) rather than the fleet.
 */
export async function claimDueInstances(q: Queryable, worker: string, limit: number, leaseSeconds = DEFAULT_LEASE_SECONDS): Promise<ClaimedInstance[]> {
  return q.query<ClaimedInstance>(
    `UPDATE instances i SET claimed_by = $1, claimed_until = now() + make_interval(secs => $3), claim_epoch = i.claim_epoch + 1
      WHERE i.id IN (SELECT i2.id FROM instances i2
                      WHERE i2.desired_gen > i2.synced_gen AND i2.next_attempt_at <= now()
                        AND (i2.claimed_until IS NULL OR i2.claimed_until < now())
                        AND (SELECT c.synced_gen = c.desired_gen AND c.state = 'active' FROM clusters c WHERE c.id = i2.cluster_id)
                      ORDER BY i2.next_attempt_at LIMIT $2 FOR UPDATE OF i2 SKIP LOCKED)
      RETURNING ${CLAIMED_INSTANCE}`,
    [worker, limit, leaseSeconds],
  );
}

/**
 * Extends the leases of claims a worker still holds; returns the ids of those it
 * holds (a claim missing from the answer was lost: its lease ran out and another
 * replica claimed the row, or the row is gone).
 */
export async function renewClaims(q: Queryable, table: WorkTable, worker: string, leaseSeconds: number, held: { id: number; epoch: number }[]): Promise<number[]> {
  if (held.length === 0) return [];
  // The rows locked in id order first (an UPDATE … FROM locks them in its
  // join's order, the order the claims were listed): else a renewal and an
  // observation batch could each wait for a row the other holds.
  const locked = lockedInIdOrder(table, 'claimed_by = $1 AND (id, claim_epoch) IN (SELECT h.id, h.epoch FROM unnest($3::int[], $4::int[]) AS h(id, epoch))');
  const rows = await q.query<{ id: number }>(
    `WITH lk AS (${locked})
     UPDATE ${table} t SET claimed_until = now() + make_interval(secs => $2)
       FROM lk WHERE t.id = lk.id
      RETURNING t.id`,
    [worker, leaseSeconds, held.map((h) => h.id), held.map((h) => h.epoch)],
  );
  return rows.map((r) => r.id);
}

/** The claimed generation of a cluster is in Kubernetes; a newer request keeps it due. False: the claim was lost. */
export async function markClusterSynced(q: Queryable, id: number, claim: ClaimRef, gen: number): Promise<boolean> {
  const rows = await q.query(
    `UPDATE clusters SET synced_gen = GREATEST(synced_gen, $4), attempts = 0, claimed_by = NULL, claimed_until = NULL,
            message = NULL, drift = NULL, waiting_on_kube = false, synced_at = now(), updated_at = now()
      WHERE id = $1 AND ${FENCE} RETURNING id`,
    [id, claim.worker, claim.epoch, gen],
  );
  return rows.length > 0;
}

/** An instance whose claimed generation is in Kubernetes, restarts included, and the claim it was reconciled under. */
export type SyncedMark = { id: number; claim: ClaimRef; gen: number; appliedRestartCount: number };

/**
 * Marks claimed instances synced, all in one statement, under their rows'
 * locks (taken in id order, as every statement that locks several instances
 * takes them). Answers each row it marked as it left it, with what its status
 * derives from (in a transaction, locked until it ends); an instance missing
 * from the answer was not held under that claim (the claim was lost).
 */
export async function markInstancesSynced(q: Queryable, marks: SyncedMark[]): Promise<Map<number, ObservedRow>> {
  if (marks.length === 0) return new Map();
  const held = 'i.id = m.id AND i.claimed_by = m.worker AND i.claim_epoch = m.epoch';
  const rows = await q.query<ObservedRow>(
    `WITH m AS (SELECT * FROM unnest($1::int[], $2::text[], $3::int[], $4::int[], $5::int[]) AS m(id, worker, epoch, gen, restarts)),
     lk AS (SELECT i.id FROM instances i JOIN m ON ${held} ORDER BY i.id FOR UPDATE OF i)
     UPDATE instances i SET synced_gen = GREATEST(i.synced_gen, m.gen), attempts = 0, claimed_by = NULL, claimed_until = NULL,
            message = NULL, drift = NULL, waiting_on_kube = false, applied = true, failure = NULL,
            applied_restart_count = GREATEST(i.applied_restart_count, m.restarts), synced_at = now(), updated_at = now()
       FROM m, clusters c
      WHERE ${held} AND i.id IN (SELECT id FROM lk) AND c.id = i.cluster_id
      RETURNING i.*, c.instance_type, i.xmin::text AS row_version`,
    [marks.map((m) => m.id), marks.map((m) => m.claim.worker), marks.map((m) => m.claim.epoch), marks.map((m) => m.gen), marks.map((m) => m.appliedRestartCount)],
  );
  return new Map(rows.map((r) => [r.id, r]));
}

/** One instance marked synced (markInstancesSynced); null: the claim was lost. */
export async function markInstanceSynced(q: Queryable, id: number, claim: ClaimRef, gen: number, appliedRestartCount: number): Promise<ObservedRow | null> {
  return (await markInstancesSynced(q, [{ id, claim, gen, appliedRestartCount }])).get(id) ?? null;
}

/** Puts a claimed row back to be tried again after `delayMs` (failure or waiting). False: the claim was lost. */
export async function requeue(
  q: Queryable,
  table: WorkTable,
  id: number,
  claim: ClaimRef,
  delayMs: number,
  message: string | null,
  opts: { countAttempt: boolean; failure?: string | null; waitingOnKube?: boolean },
): Promise<boolean> {
  const params: unknown[] = [id, claim.worker, claim.epoch, delayMs, opts.countAttempt ? 1 : 0, message, opts.waitingOnKube ?? false];
  const failureSet = table === 'instances' && opts.failure !== undefined ? `, failure = $${params.push(opts.failure)}` : '';
  const rows = await q.query(
    `UPDATE ${table} SET next_attempt_at = now() + make_interval(secs => $4::float8 / 1000),
            attempts = attempts + $5, message = $6, waiting_on_kube = $7, claimed_by = NULL, claimed_until = NULL${failureSet}, updated_at = now()
      WHERE id = $1 AND ${FENCE} RETURNING id`,
    params,
  );
  return rows.length > 0;
}

/** Removes a row whose objects are gone from Kubernetes. False: the claim was lost. */
export async function deleteClaimedRow(q: Queryable, table: WorkTable, id: number, claim: ClaimRef): Promise<boolean> {
  const rows = await q.query(`DELETE FROM ${table} WHERE id = $1 AND ${FENCE} RETURNING id`, [id, claim.worker, claim.epoch]);
  return rows.length > 0;
}

/** Lets go of a claim without recording anything (the work was dropped). */
export async function releaseClaim(q: Queryable, table: WorkTable, id: number, claim: ClaimRef): Promise<void> {
  await q.query(`UPDATE ${table} SET claimed_by = NULL, claimed_until = NULL WHERE id = $1 AND ${FENCE}`, [id, claim.worker, claim.epoch]);
}

/**
 * Kubernetes is ready again: every row backing off because it was out of reach
 * is due now, with its backoff reset, rather than when its backoff runs out.
 * Returns how many.
 */
export async function retryWaitingOnKube(q: Queryable): Promise<number> {
  let n = 0;
  for (const table of ['clusters', 'instances'] as const) {
    const rows = await q.query(
      `UPDATE ${table} SET next_attempt_at = now(), waiting_on_kube = false, attempts = 0
        WHERE waiting_on_kube AND desired_gen > synced_gen RETURNING id`,
    );
    n += rows.length;
  }
  return n;
}

/**
 * Drift found: makes a row that is in sync at generation `gen` due again, and
 * says why. A row that moved on since (a newer request, already due) is left
 * alone: its own reconcile will apply what it wants. The same drift found
 * again within two minutes of its last repair waits 0.5 s, 1 s, 2 s … up to
 * 30 s, so a drift that keeps coming back (a tool fighting KubeKloud) costs few
 * writes; a different one is repaired at once. Returns how many repairs of
 * this drift in a row this is, or 0 when nothing was asked.
 */
export async function requestRepair(q: Queryable, table: WorkTable, id: number, gen: number, reason: string): Promise<number> {
  const again = `repaired_at > now() - interval '2 minutes' AND last_repair = $3`;
  const rows = await q.query<{ repairs: number }>(
    `UPDATE ${table} SET desired_gen = desired_gen + 1, attempts = 0, drift = $3, updated_at = now(),
            repairs = CASE WHEN ${again} THEN repairs + 1 ELSE 1 END,
            next_attempt_at = now() + make_interval(secs => CASE WHEN ${again} THEN least(30, 0.5 * power(2, least(repairs, 10) - 1)) ELSE 0 END),
            last_repair = $3, repaired_at = now()
      WHERE id = $1 AND desired_gen = synced_gen AND synced_gen = $2 RETURNING repairs`,
    [id, gen, reason],
  );
  return rows[0]?.repairs ?? 0;
}

/**
 * A deleted cluster whose namespace is gone: due now instead of at its next
 * look (the reconciler then removes its row). Returns whether it was waiting.
 */
export async function hurryDeletedCluster(q: Queryable, id: number): Promise<boolean> {
  const rows = await q.query(
    "UPDATE clusters SET next_attempt_at = now() WHERE id = $1 AND state = 'deleting' AND claimed_by IS NULL AND next_attempt_at > now() RETURNING id",
    [id],
  );
  return rows.length > 0;
}

/** The database's clock now (rows' synced_at is in its time). */
export async function databaseTime(q: Queryable): Promise<Date> {
  const rows = await q.query<{ now: Date }>('SELECT now() AS now');
  return new Date(rows[0]!.now);
}

/**
 * Whether the installation is converging now: a row's work is due (claimed or
 * not), or an instance's status moved within the last `withinSeconds` (the
 * reconcilers' work is done, but Kubernetes is still bringing instances up or
 * down). An instance stuck in one status does not count.
 */
export async function convergingNow(q: Queryable, withinSeconds: number): Promise<boolean> {
  const rows = await q.query<{ busy: boolean }>(
    `SELECT EXISTS (SELECT 1 FROM clusters WHERE desired_gen > synced_gen AND next_attempt_at <= now())
         OR EXISTS (SELECT 1 FROM instances WHERE desired_gen > synced_gen AND next_attempt_at <= now())
         OR EXISTS (SELECT 1 FROM instances WHERE updated_at > now() - make_interval(secs => $1)) AS busy`,
    [withinSeconds],
  );
  return rows[0]?.busy === true;
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
