// Rolls of a live change (src/domain/rollout.ts decides): the cluster's spec
// generation, each instance's, and the step from one instance to the next.
// Every step runs in one transaction under the cluster's row lock, so two
// replicas (or a PATCH and the reconciler) never roll two instances at once,
// and a crash leaves the roll where the last committed step put it.
import { decideRollout, type RollableSpec, type RolloutDecision, type RollingInstance } from '../domain/rollout.ts';
import type { Queryable, Tx } from './db.ts';
import { instancesLockedInIdOrder } from './instances.ts';

/**
 * A new spec for the cluster (its row locked by the caller): instances without
 * a spec of their own keep the one they run (`previous`); an instance whose
 * spec is already the new one (a patch back) is on the new generation at once.
 * Returns the new generation.
 */
export async function beginRollout(tx: Tx, clusterId: number, previous: RollableSpec, next: RollableSpec, peak: { cpuMilli: number; memoryMib: number }): Promise<number> {
  const [{ spec_gen: gen }] = (await tx.query<{ spec_gen: number }>(
    `UPDATE clusters SET spec_gen = spec_gen + 1, cpu_milli = $2, memory_mib = $3, image = $4, image_source = $5, env = $6, ports = $7,
            service_type = $8, ssh_keys = $9, user_data = $10, rollout_state = 'rolling', rollout_message = NULL,
            peak_cpu_milli = GREATEST(COALESCE(peak_cpu_milli, 0), $11), peak_memory_mib = GREATEST(COALESCE(peak_memory_mib, 0), $12),
            desired_gen = desired_gen + 1, next_attempt_at = now(), attempts = 0, updated_at = now()
      WHERE id = $1 RETURNING spec_gen`,
    [
      clusterId,
      next.cpu_milli,
      next.memory_mib,
      next.image,
      next.image_source,
      JSON.stringify(next.env),
      JSON.stringify(next.ports),
      next.service_type,
      JSON.stringify(next.ssh_keys),
      next.user_data,
      peak.cpuMilli,
      peak.memoryMib,
    ],
  )) as [{ spec_gen: number }];
  await tx.query(
    `WITH lk AS (${instancesLockedInIdOrder("cluster_id = $1 AND desired <> 'deleted'")})
     UPDATE instances i SET spec = $2 FROM lk WHERE i.id = lk.id AND i.spec IS NULL`,
    [clusterId, JSON.stringify(previous)],
  );
  // Those rows are locked by now. jsonb equality ignores key order; ports' protocol is always stored.
  await tx.query(`UPDATE instances SET spec = NULL, spec_gen = $2 WHERE cluster_id = $1 AND spec = $3::jsonb AND desired <> 'deleted'`, [
    clusterId,
    gen,
    JSON.stringify(next),
  ]);
  return gen;
}

/** The rollable specs instances keep of earlier generations (for the quota's peak). */
export async function keptSpecs(q: Queryable, clusterId: number): Promise<RollableSpec[]> {
  const rows = await q.query<{ spec: RollableSpec }>(`SELECT spec FROM instances WHERE cluster_id = $1 AND spec IS NOT NULL AND desired <> 'deleted'`, [clusterId]);
  return rows.map((r) => r.spec);
}

type Row = {
  id: number;
  ordinal: number;
  name: string;
  spec_gen: number;
  desired: string;
  synced: boolean;
  status: string;
  failure: string | null;
  message: string | null;
  rolled_at: Date | null;
};

/**
 * One step of the cluster's roll, if it is rolling: decides (src/domain/rollout.ts)
 * and applies. Rolling an instance renders it with the cluster's spec and
 * raises its restart count, so the pod or VM made before it never counts as
 * running again. Returns the decision (null: not rolling).
 */
export async function stepRollout(tx: Tx, clusterId: number, timeoutMs: number): Promise<RolloutDecision | null> {
  const [cluster] = await tx.query<{ spec_gen: number; rollout_state: string | null; state: string; now: Date }>(
    `SELECT spec_gen, rollout_state, state, now() AS now FROM clusters WHERE id = $1 FOR UPDATE`,
    [clusterId],
  );
  if (!cluster || cluster.state !== 'active' || cluster.rollout_state !== 'rolling') return null;
  const rows = await tx.query<Row>(
    `SELECT id, ordinal, name, spec_gen, desired, desired_gen = synced_gen AS synced, status, failure, message, rolled_at
       FROM instances WHERE cluster_id = $1 AND desired <> 'deleted' ORDER BY id FOR UPDATE`, // locked in id order (instancesLockedInIdOrder)
    [clusterId],
  );
  rows.sort((a, b) => a.ordinal - b.ordinal);
  const instances: RollingInstance[] = rows.map((r) => ({
    id: r.id,
    ordinal: r.ordinal,
    name: r.name,
    specGen: r.spec_gen,
    desired: r.desired,
    synced: r.synced,
    running: r.status === 'running',
    failure: r.failure ?? (r.status === 'failed' ? (r.message ?? 'failed') : null),
    rolledAt: r.rolled_at,
  }));
  const d = decideRollout(cluster.spec_gen, instances, cluster.now, timeoutMs);
  if (d.type === 'roll') {
    await tx.query(
      `UPDATE instances SET spec = NULL, spec_gen = $2, restart_count = restart_count + 1, obs_ready = false, rolled_at = now(),
              desired_gen = desired_gen + 1, next_attempt_at = now(), attempts = 0, updated_at = now()
        WHERE id = $1`,
      [d.instanceId, cluster.spec_gen],
    );
  }
  const state = d.type === 'done' ? 'done' : d.type === 'failed' ? 'failed' : 'rolling';
  await tx.query(
    `UPDATE clusters SET rollout_state = $2, rollout_message = $3, rollout_updated = $4, rollout_total = $5, updated_at = now(),
            -- Done: the namespace quota goes back to what the cluster's spec needs.
            peak_cpu_milli = CASE WHEN $2 = 'done' THEN NULL ELSE peak_cpu_milli END,
            peak_memory_mib = CASE WHEN $2 = 'done' THEN NULL ELSE peak_memory_mib END,
            desired_gen = desired_gen + CASE WHEN $2 = 'done' AND peak_cpu_milli IS NOT NULL THEN 1 ELSE 0 END
      WHERE id = $1 AND (rollout_state, rollout_message, rollout_updated, rollout_total) IS DISTINCT FROM ($2, $3, $4, $5)`,
    [clusterId, state, d.type === 'failed' ? d.message : null, d.updated, d.total],
  );
  return d;
}

/** Clusters with a roll under way. */
export async function rollingClusters(q: Queryable): Promise<number[]> {
  return (await q.query<{ id: number }>(`SELECT id FROM clusters WHERE rollout_state = 'rolling' ORDER BY id`)).map((r) => r.id);
}
