// Power schedules and expiry of clusters: the owner's use cases (list, add,
// delete a schedule; set or clear an expiry), and the scheduler's one pass
// (`runDue`), which the elected replica's loop calls (src/reconciler/scheduler.ts).
//
// Exactly once: each due time is a row of schedule_runs, inserted (ON CONFLICT
// DO NOTHING) in the transaction that takes its action and advances the
// schedule. A replica that finds the row there does nothing, so a due time runs
// once whichever replica, and however many, get to it — across restarts and
// failovers too, since nothing but that committed transaction marks it done.
import { compatibleStatus } from '../domain/compatibleStatus.ts';
import { invalid, notFound, type FieldProblem } from '../domain/errors.ts';
import { checkExpiry } from '../domain/expiry.ts';
import { planTransition } from '../domain/lifecycle.ts';
import { insertHistory } from '../store/history.ts';
import { recordAudit } from './audit.ts';
import * as clusters from '../store/clusters.ts';
import type { Db, Queryable, Tx } from '../store/db.ts';
import * as instances from '../store/instances.ts';
import * as schedules from '../store/schedules.ts';
import { activeRestore } from '../store/snapshots.ts';
import { cronProblem, latestDue, nextRunAfter, timeZoneProblem } from './cron.ts';
import { markClusterDeleted } from './clusters.ts';
import { ownerScope, type Principal, type Services } from './context.ts';
import { refreshStatus } from './status.ts';
import type { CreateSchedule, Schedule, ScheduleList, ScheduleRun, SetExpiry } from '../contract/schemas.ts';

/** At most this many schedules per cluster. */
export const MAX_SCHEDULES_PER_CLUSTER = 20;

const field = (name: string, msg: string): FieldProblem => ({ loc: ['body', name], msg, type: 'value_error' });
const clusterNotFound = (id: number) => notFound(`Cluster with id ${id}`);

export function scheduleView(r: schedules.ScheduleRow): Schedule {
  return {
    id: r.id,
    cluster_id: r.cluster_id,
    action: r.action,
    cron: r.cron,
    time_zone: r.time_zone,
    next_run_at: r.next_due_at.toISOString(),
    created_at: r.created_at.toISOString(),
  };
}

export function runView(r: schedules.ScheduleRunRow): ScheduleRun {
  return {
    id: r.id,
    schedule_id: r.schedule_id,
    action: r.action,
    due_at: r.due_at.toISOString(),
    ran_at: r.ran_at.toISOString(),
    outcome: r.outcome,
    detail: r.detail,
  };
}

async function liveCluster(q: Queryable, p: Principal, id: number, lock = false) {
  const row = await clusters.findCluster(q, id, ownerScope(p), { activeOnly: true, lock });
  if (!row) throw clusterNotFound(id);
  return row;
}

export async function listSchedules(s: Services, p: Principal, clusterId: number): Promise<ScheduleList> {
  await liveCluster(s.db, p, clusterId);
  const rows = await schedules.listSchedules(s.db, clusterId);
  const runs = await schedules.listRuns(s.db, clusterId);
  return { items: rows.map(scheduleView), total: rows.length, runs: runs.map(runView) };
}

export async function addSchedule(s: Services, p: Principal, clusterId: number, input: CreateSchedule): Promise<Schedule> {
  const timeZone = input.time_zone ?? 'UTC';
  const problems: FieldProblem[] = [];
  const cronWrong = cronProblem(input.cron);
  if (cronWrong) problems.push(field('cron', cronWrong));
  const zoneWrong = timeZoneProblem(timeZone);
  if (zoneWrong) problems.push(field('time_zone', zoneWrong));
  // A cluster that is not the caller's is not found, before anything about the body is said.
  await liveCluster(s.db, p, clusterId);
  if (problems.length) throw invalid(problems);
  const next = nextRunAfter({ cron: input.cron, timeZone }, new Date());
  if (!next) throw invalid([field('cron', 'never matches a time to come')]);
  return s.db.transaction(async (tx) => {
    await liveCluster(tx, p, clusterId, true);
    if ((await schedules.listSchedules(tx, clusterId)).length >= MAX_SCHEDULES_PER_CLUSTER) {
      throw invalid([field('cron', `a cluster has at most ${MAX_SCHEDULES_PER_CLUSTER} schedules; delete one first`)]);
    }
    return scheduleView(await schedules.insertSchedule(tx, { cluster_id: clusterId, action: input.action, cron: input.cron.trim(), time_zone: timeZone, next_due_at: next }));
  });
}

export async function deleteSchedule(s: Services, p: Principal, clusterId: number, scheduleId: number) {
  await s.db.transaction(async (tx) => {
    await liveCluster(tx, p, clusterId, true);
    if (!(await schedules.deleteSchedule(tx, clusterId, scheduleId))) throw notFound(`Schedule with id ${scheduleId}`);
  });
  return { message: `Schedule ${scheduleId} deleted`, detail: { cluster_id: clusterId, schedule_id: scheduleId } };
}

/** Sets (or, with expires_at null, clears) the cluster's expiry. */
export async function setExpiry(s: Services, p: Principal, clusterId: number, input: SetExpiry): Promise<void> {
  await liveCluster(s.db, p, clusterId);
  const expiry = checkExpiry(input, new Date());
  await s.db.transaction(async (tx) => {
    await liveCluster(tx, p, clusterId, true);
    await schedules.setExpiry(tx, clusterId, expiry);
  });
}

// The scheduler.

export type SchedulerDeps = { db: Db; wake: () => void };
export type Ran = { clusterId: number; scheduleId: number | null; action: schedules.RunAction; dueAt: Date; outcome: schedules.RunOutcome };

/** Stops or starts every instance of a locked cluster that can be; the others are left as they are. */
async function powerCluster(tx: Tx, clusterId: number, action: 'stop' | 'start') {
  const live = (await instances.listInstancesOf(tx, [clusterId])).filter((i) => i.desired !== 'deleted');
  let changed = 0;
  for (const i of instances.inIdOrder(live)) {
    if (await activeRestore(tx, i.id)) continue; // it returns to what it was once restored
    const plan = planTransition(action, i.desired, compatibleStatus(i.status, i.desired));
    if (!plan.ok) continue; // already stopped (or started), or suspended
    await instances.setDesired(tx, i.id, plan.desired, i.status);
    await refreshStatus(tx, i.id);
    changed++;
  }
  return { instances_changed: changed, instances_unchanged: live.length - changed };
}

async function act(tx: Tx, row: clusters.ClusterRow, action: schedules.RunAction): Promise<{ outcome: schedules.RunOutcome; detail: Record<string, unknown> }> {
  if (action === 'delete') return { outcome: 'done', detail: await markClusterDeleted(tx, row) };
  const detail = await powerCluster(tx, row.id, action);
  return { outcome: detail.instances_changed > 0 ? 'done' : 'nothing_to_do', detail };
}

async function record(tx: Tx, runId: number, row: clusters.ClusterRow, what: { scheduleId: number | null; action: schedules.RunAction; dueAt: Date }, done: { outcome: schedules.RunOutcome; detail: Record<string, unknown> }) {
  await schedules.finishRun(tx, runId, done.outcome, done.detail);
  await recordAudit(tx, {
    actorId: null,
    actor: 'scheduler',
    method: 'SCHEDULE',
    route: what.scheduleId === null ? '/api/v1/clusters/:id/expiry' : '/api/v1/clusters/:id/schedules/:schedule_id',
    target: String(row.id),
    statusCode: 200,
    requestId: `schedule-run-${runId}`,
    detail: { action: what.action, schedule_id: what.scheduleId, due_at: what.dueAt.toISOString(), run_id: runId, outcome: done.outcome, ...done.detail },
  });
  const by = what.scheduleId === null ? 'its expiry' : `schedule ${what.scheduleId}`;
  const did = what.action === 'delete' ? `deleted '${row.name}'` : done.outcome === 'done' ? `${what.action === 'stop' ? 'stopped' : 'started'} ${String(done.detail.instances_changed)} instance(s)` : `had nothing to ${what.action}`;
  await insertHistory(tx, {
    clusterId: row.id,
    kind: 'schedule',
    actor: 'scheduler',
    message: `The scheduler ${did}, as ${by} said for ${what.dueAt.toISOString()}`,
    detail: { action: what.action, schedule_id: what.scheduleId, due_at: what.dueAt.toISOString(), run_id: runId, outcome: done.outcome },
  });
}

/**
 * Runs one due time of a schedule, if it is still due and has not run: under
 * the cluster's and the schedule's locks, the latest of its times that has come
 * (after downtime, the latest missed one, once) is recorded, acted on, and the
 * schedule advanced past now — one transaction. Null when there was nothing to do.
 */
export async function runSchedule(db: Db, due: schedules.DueSchedule): Promise<Ran | null> {
  return db.transaction(async (tx) => {
    const row = await clusters.findCluster(tx, due.cluster_id, null, { activeOnly: true, lock: true });
    if (!row) return null;
    const sched = await schedules.lockSchedule(tx, due.id);
    if (!sched || sched.next_due_at.getTime() > sched.now.getTime()) return null; // deleted, or run and advanced meanwhile
    const spec = { cron: sched.cron, timeZone: sched.time_zone };
    const dueAt = latestDue(spec, sched.next_due_at, sched.now);
    const next = nextRunAfter(spec, sched.now);
    // A schedule with no time to come keeps its last one (it never comes again: the run is recorded).
    if (next) await schedules.advanceSchedule(tx, sched.id, next);
    const runId = await schedules.claimRun(tx, { cluster_id: row.id, schedule_id: sched.id, action: sched.action, due_at: dueAt });
    if (runId === null) return null; // this due time has run already
    const done = await act(tx, row, sched.action);
    await record(tx, runId, row, { scheduleId: sched.id, action: sched.action, dueAt }, done);
    return { clusterId: row.id, scheduleId: sched.id, action: sched.action, dueAt, outcome: done.outcome };
  });
}

/** Runs a cluster's expiry, if it is still the one found due and has not run: one transaction. */
export async function runExpiry(db: Db, due: schedules.DueExpiry): Promise<Ran | null> {
  return db.transaction(async (tx) => {
    const row = await clusters.findCluster(tx, due.cluster_id, null, { activeOnly: true, lock: true });
    // Gone, or its expiry changed since it was found due.
    if (!row || row.expires_at?.getTime() !== due.expires_at.getTime() || row.expire_action !== due.expire_action) return null;
    const runId = await schedules.claimRun(tx, { cluster_id: row.id, schedule_id: null, action: due.expire_action, due_at: due.expires_at });
    if (runId === null) return null; // this expiry has run already
    const done = await act(tx, row, due.expire_action);
    await record(tx, runId, row, { scheduleId: null, action: due.expire_action, dueAt: due.expires_at }, done);
    return { clusterId: row.id, scheduleId: null, action: due.expire_action, dueAt: due.expires_at, outcome: done.outcome };
  });
}

/**
 * One pass of the scheduler: every due schedule and expiry (up to `limit` of
 * each), each in its own transaction, in the order of the times they run for
 * (after downtime, a schedule's latest missed time): a stop at 19:00 and a
 * start at 07:00 the next day, both missed, leave the cluster started.
 */
export async function runDue(d: SchedulerDeps, limit = 100): Promise<Ran[]> {
  const tasks: { at: number; run: () => Promise<Ran | null> }[] = [];
  for (const due of await schedules.dueSchedules(d.db, limit)) {
    tasks.push({ at: latestDue({ cron: due.cron, timeZone: due.time_zone }, due.next_due_at, due.now).getTime(), run: () => runSchedule(d.db, due) });
  }
  for (const due of await schedules.dueExpiries(d.db, limit)) tasks.push({ at: due.expires_at.getTime(), run: () => runExpiry(d.db, due) });
  tasks.sort((x, y) => x.at - y.at);
  const ran: Ran[] = [];
  for (const t of tasks) {
    const r = await t.run();
    if (r) ran.push(r);
  }
  if (ran.length > 0) d.wake();
  return ran;
}
