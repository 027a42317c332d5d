// Power schedules and expiry of clusters (migration 021), and the record of
// what the scheduler ran (schedule_runs). Every tenant-scoped read is scoped
// through the cluster, which the service has found under its owner first.
import type { Queryable, Tx } from './db.ts';

export type ScheduleAction = 'stop' | 'start';
export type ExpireAction = 'stop' | 'delete';
export type RunAction = ScheduleAction | 'delete';

export type ScheduleRow = {
  id: number;
  cluster_id: number;
  action: ScheduleAction;
  cron: string;
  time_zone: string;
  next_due_at: Date;
  created_at: Date;
};

export type RunOutcome = 'done' | 'nothing_to_do';

export type ScheduleRunRow = {
  id: number;
  cluster_id: number;
  /** null: the cluster's expiry. */
  schedule_id: number | null;
  action: RunAction;
  due_at: Date;
  ran_at: Date;
  outcome: RunOutcome;
  detail: Record<string, unknown>;
};

export async function insertSchedule(q: Queryable, s: Omit<ScheduleRow, 'id' | 'created_at'>): Promise<ScheduleRow> {
  const rows = await q.query<ScheduleRow>(
    `INSERT INTO cluster_schedules (cluster_id, action, cron, time_zone, next_due_at)
     VALUES ($1, $2, $3, $4, $5) RETURNING *`,
    [s.cluster_id, s.action, s.cron, s.time_zone, s.next_due_at],
  );
  return rows[0]!;
}

export async function listSchedules(q: Queryable, clusterId: number): Promise<ScheduleRow[]> {
  return q.query<ScheduleRow>('SELECT * FROM cluster_schedules WHERE cluster_id = $1 ORDER BY id', [clusterId]);
}

/** Whether the schedule existed (on this cluster) and is gone now. */
export async function deleteSchedule(q: Queryable, clusterId: number, scheduleId: number): Promise<boolean> {
  const rows = await q.query('DELETE FROM cluster_schedules WHERE id = $1 AND cluster_id = $2 RETURNING id', [scheduleId, clusterId]);
  return rows.length > 0;
}

export async function setExpiry(q: Queryable, clusterId: number, expiry: { at: Date; action: ExpireAction } | null): Promise<void> {
  await q.query('UPDATE clusters SET expires_at = $2, expire_action = $3, updated_at = now() WHERE id = $1', [clusterId, expiry?.at ?? null, expiry?.action ?? null]);
}

/** The latest runs of a cluster's schedules and expiry, newest first. */
export async function listRuns(q: Queryable, clusterId: number, limit = 20): Promise<ScheduleRunRow[]> {
  return q.query<ScheduleRunRow>('SELECT * FROM schedule_runs WHERE cluster_id = $1 ORDER BY due_at DESC, id DESC LIMIT $2', [clusterId, limit]);
}

// The scheduler's side.

export type DueSchedule = { id: number; cluster_id: number; next_due_at: Date; cron: string; time_zone: string; now: Date };
export type DueExpiry = { cluster_id: number; expires_at: Date; expire_action: ExpireAction };

/** Schedules of live clusters whose next time has come (by the database's clock). */
export async function dueSchedules(q: Queryable, limit: number): Promise<DueSchedule[]> {
  return q.query<DueSchedule>(
    `SELECT s.id, s.cluster_id, s.next_due_at, s.cron, s.time_zone, now() AS now FROM cluster_schedules s JOIN clusters c ON c.id = s.cluster_id
     WHERE c.state = 'active' AND s.next_due_at <= now() ORDER BY s.next_due_at LIMIT $1`,
    [limit],
  );
}

/** Live clusters past their expiry that no run has recorded yet. */
export async function dueExpiries(q: Queryable, limit: number): Promise<DueExpiry[]> {
  return q.query<DueExpiry>(
    `SELECT c.id AS cluster_id, c.expires_at, c.expire_action FROM clusters c
     WHERE c.state = 'active' AND c.expires_at <= now()
       AND NOT EXISTS (SELECT 1 FROM schedule_runs r WHERE r.schedule_id IS NULL AND r.cluster_id = c.id AND r.due_at = c.expires_at)
     ORDER BY c.expires_at LIMIT $1`,
    [limit],
  );
}

/** The schedule, locked until the transaction ends, with the database's time; null when it is gone. */
export async function lockSchedule(tx: Tx, id: number): Promise<(ScheduleRow & { now: Date }) | null> {
  const rows = await tx.query<ScheduleRow & { now: Date }>('SELECT *, now() AS now FROM cluster_schedules WHERE id = $1 FOR UPDATE', [id]);
  return rows[0] ?? null;
}

export async function advanceSchedule(tx: Tx, id: number, nextDueAt: Date): Promise<void> {
  await tx.query('UPDATE cluster_schedules SET next_due_at = $2 WHERE id = $1', [id, nextDueAt]);
}

/**
 * Records that this due time runs, unless it already has: true when this
 * transaction is the one to run it. Inserted in the transaction that takes the
 * action, so a due time runs exactly once across replicas, restarts and failovers.
 */
export async function claimRun(tx: Tx, r: { cluster_id: number; schedule_id: number | null; action: RunAction; due_at: Date }): Promise<number | null> {
  const rows = await tx.query<{ id: number }>(
    `INSERT INTO schedule_runs (cluster_id, schedule_id, action, due_at, outcome)
     VALUES ($1, $2, $3, $4, 'done') ON CONFLICT DO NOTHING RETURNING id`,
    [r.cluster_id, r.schedule_id, r.action, r.due_at],
  );
  return rows[0]?.id ?? null;
}

export async function finishRun(tx: Tx, id: number, outcome: RunOutcome, detail: Record<string, unknown>): Promise<void> {
  await tx.query('UPDATE schedule_runs SET outcome = $2, detail = $3 WHERE id = $1', [id, outcome, JSON.stringify(detail)]);
}
