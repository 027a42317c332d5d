// A cluster's history: what was asked of it and by whom, how its instances
// moved, what drift was taken back and what its schedules did. Each entry is
// written in the transaction of what it records (store/history.ts).
import { invalid, notFound, type FieldProblem } from '../domain/errors.ts';
import * as clusters from '../store/clusters.ts';
import type { Queryable } from '../store/db.ts';
import { insertHistory, insertInstanceHistory, listHistory, type HistoryEntry, type HistoryKind } from '../store/history.ts';
import { timeParam } from './audit.ts';
import { actsAsAdmin, ownerScope, type Principal, type Services } from './context.ts';
import { historyView } from './views.ts';

const DEFAULT_PAGE = 50;

/** A desired-state change of a cluster, and who made it. */
export async function recordChange(tx: Queryable, p: Principal, clusterId: number, message: string, detail?: Record<string, unknown>): Promise<void> {
  await insertHistory(tx, { clusterId, kind: 'change', actor: p.username, message: `${p.username} ${message}`, detail: detail ?? null });
}

/** A desired-state change of one instance, and who made it. */
export async function recordInstanceChange(tx: Queryable, p: Principal, instanceId: number, message: string, detail?: Record<string, unknown>): Promise<void> {
  await insertInstanceHistory(tx, instanceId, { kind: 'change', actor: p.username, message: `${p.username} ${message}`, detail: detail ?? null });
}

/** The entry of an instance's status moving: from what to what, with Kubernetes' reason when it failed. */
export function transitionEntry(instance: { clusterId: number; instanceId: number; instanceName: string }, from: string, to: string, failure: string | null): HistoryEntry {
  const reason = to === 'failed' && failure ? failure : null;
  return {
    ...instance,
    kind: 'status',
    message: `${instance.instanceName}: ${from} → ${to}${reason ? `: ${reason}` : ''}`,
    detail: { from, to, ...(reason ? { reason } : {}) },
  };
}

/** An instance's status moved (see transitionEntry). */
export async function recordTransition(
  tx: Queryable,
  instance: { clusterId: number; instanceId: number; instanceName: string },
  from: string,
  to: string,
  failure: string | null,
): Promise<void> {
  await insertHistory(tx, transitionEntry(instance, from, to, failure));
}

/** Drift taken back: an object KubeKloud owns was changed or deleted outside it, and is applied again. */
export async function recordRepair(tx: Queryable, owner: { table: 'clusters' | 'instances'; id: number }, kind: string, why: string): Promise<void> {
  const e = { kind: 'repair' as const, message: `Repaired ${kind}: ${why}`, detail: { object_kind: kind, why } };
  if (owner.table === 'instances') await insertInstanceHistory(tx, owner.id, e);
  else await insertHistory(tx, { clusterId: owner.id, ...e });
}

/**
 * A cluster's history, newest first. Its owner reads it while the cluster
 * exists (being deleted included); an admin also after, by id.
 */
export async function clusterHistory(s: Services, p: Principal, id: number, q: { kind?: HistoryKind[]; since?: string; limit?: number; offset?: number }) {
  const row = await clusters.findCluster(s.db, id, ownerScope(p));
  if (!row && !(actsAsAdmin(p) && p.clusterIds === null)) throw notFound(`Cluster with id ${id}`);
  const problems: FieldProblem[] = [];
  const since = timeParam(q.since, 'since', problems);
  if (problems.length > 0) throw invalid(problems);
  const { rows, total } = await listHistory(
    s.db,
    id,
    { ...(q.kind ? { kinds: q.kind } : {}), ...(since ? { since } : {}) },
    { limit: q.limit ?? DEFAULT_PAGE, offset: q.offset ?? 0 },
  );
  if (!row && total === 0) throw notFound(`Cluster with id ${id}`);
  return { items: rows.map(historyView), total };
}
