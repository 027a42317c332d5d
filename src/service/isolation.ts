// Isolation checks: a cluster's namespace, read live from Kubernetes, judged
// against what KubeKloud renders for it (src/domain/isolation.ts). The reads
// come through the IsolationReads main.ts hands the HTTP app, so nothing here
// imports the Kubernetes client; without them, or when Kubernetes does not
// answer, the checks answer 503. Read only: a failing check the reconciler
// owns is repaired by the observer, not here.
import type { IsolationReport } from '../contract/schemas.ts';
import { DomainError, notFound } from '../domain/errors.ts';
import { checkIsolation, failingByCheck, type IsolationCheckName, type IsolationReads, type LiveState } from '../domain/isolation.ts';
import { checkWholeList, pageToRead } from '../domain/paging.ts';
import { MANAGER, renderClusterObjects } from '../domain/render.ts';
import * as clusters from '../store/clusters.ts';
import type { ClusterRow } from '../store/clusters.ts';
import { ownerScope, type Principal, type Services } from './context.ts';
import { requireAdmin } from './users.ts';
import { clusterSpecOf } from './spec.ts';

const kubernetesUnavailable = (err: unknown) =>
  new DomainError('unavailable', `Kubernetes could not be read for the isolation checks: ${(err as Error)?.message ?? String(err)}`.slice(0, 500));

async function readLive(reads: IsolationReads | undefined, read: (r: IsolationReads) => Promise<LiveState>): Promise<LiveState> {
  if (!reads) throw new DomainError('unavailable', 'Isolation checks need Kubernetes, which this server is not connected to');
  try {
    return await read(reads);
  } catch (err) {
    throw kubernetesUnavailable(err);
  }
}

function reportOf(s: Services, row: ClusterRow, live: LiveState, now: Date): IsolationReport {
  const rendered = renderClusterObjects(clusterSpecOf(row, s.config.installation));
  const checks = checkIsolation(row.namespace, rendered, live, { installation: s.config.installation, manager: MANAGER });
  const failing = checks.filter((c) => !c.passed).length;
  return {
    cluster_id: row.id,
    cluster_name: row.name,
    owner_id: row.owner_id,
    namespace: row.namespace,
    checked_at: now.toISOString(),
    passed: failing === 0,
    failing,
    converging: row.desired_gen > row.synced_gen,
    checks,
  };
}

/** GET /clusters/{id}/isolation: the owner's or an admin's; another tenant's cluster is not found. */
export async function clusterIsolation(s: Services, reads: IsolationReads | undefined, p: Principal, id: number): Promise<IsolationReport> {
  const row = await clusters.findCluster(s.db, id, ownerScope(p), { activeOnly: true });
  if (!row) throw notFound(`Cluster with id ${id}`);
  const live = await readLive(reads, (r) => r.namespace(row.namespace));
  return reportOf(s, row, live, new Date());
}

/**
 * GET /isolation (admins): every live cluster checked from one read of each
 * kind, the failing ones first (most failing checks first, then by id), each
 * with only its failing checks; and how many clusters fail each check, for the
 * metric.
 */
export async function fleetIsolation(
  s: Services,
  reads: IsolationReads | undefined,
  p: Principal,
  query: { limit?: number; offset?: number },
): Promise<{ items: IsolationReport[]; total: number; failing: Record<IsolationCheckName, number> }> {
  requireAdmin(p);
  const page = pageToRead(query.limit, query.offset);
  const rows = (await clusters.listEveryCluster(s.db)).filter((r) => r.state === 'active');
  const live = await readLive(reads, (r) => r.everything());
  const now = new Date();
  const reports = rows.map((r) => reportOf(s, r, live, now)).sort((a, b) => b.failing - a.failing || a.cluster_id - b.cluster_id);
  const items = reports.slice(page.offset, page.offset + (page.limit ?? reports.length)).map((r) => ({ ...r, checks: r.checks.filter((c) => !c.passed) }));
  checkWholeList(page, items.length, reports.length, 'clusters');
  return { items, total: reports.length, failing: failingByCheck(reports) };
}
