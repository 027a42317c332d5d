// After a full list, the observer confirms (a GET each) what settled rows render
// but the list did not show (`unlisted` in src/reconciler/watches.ts). Rows
// applied after the list was taken are left out: in the middle of a convergence
// they are thousands, their objects may be newer than the list, and confirming
// them one by one held the kind's watch back for minutes while no status moved.
import { describe, expect, it } from 'vitest';
import { objectKey, type Expected } from '../../src/reconciler/judge.ts';
import { unlisted } from '../../src/reconciler/watches.ts';
import { claimDueClusters, claimDueInstances, databaseTime, markClusterSynced, markInstanceSynced } from '../../src/store/work.ts';
import { BACKENDS, seedCluster, seedUser, useStore } from '../support/stores.ts';

const INSTALLATION = 'unlisted';

async function collect(gen: AsyncGenerator<Expected[]>): Promise<Expected[]> {
  const out: Expected[] = [];
  for await (const page of gen) out.push(...page);
  return out;
}

describe.each(BACKENDS)('what a full list is missing, on %s', (backend) => {
  const s = useStore(backend, 'users, clusters, instances RESTART IDENTITY CASCADE');

  /** Cluster `early` (instances a, b) and cluster `late` (instance c); a and `early` applied before the list, b, c and `late` after. */
  async function appliedAroundAList() {
    const user = await seedUser(s.db);
    const early = await seedCluster(s.db, user, 2);
    const late = await seedCluster(s.db, user, 1);
    const claims = new Map((await claimDueInstances(s.db, 'w', 10)).map((c) => [c.id, { worker: 'w', epoch: c.claim_epoch }]));
    await s.db.query('UPDATE clusters SET desired_gen = 2 WHERE id = $1', [late.clusterId]);
    const [lateClaim] = await claimDueClusters(s.db, 'w', 10);
    const [a, b] = early.instanceIds as [number, number];
    const c = late.instanceIds[0]!;
    expect(await markInstanceSynced(s.db, a, claims.get(a)!, 1, 0)).not.toBeNull();
    await new Promise((r) => setTimeout(r, 20));
    const listedAt = await databaseTime(s.db);
    await new Promise((r) => setTimeout(r, 20));
    expect(await markInstanceSynced(s.db, b, claims.get(b)!, 1, 0)).not.toBeNull();
    expect(await markInstanceSynced(s.db, c, claims.get(c)!, 1, 0)).not.toBeNull();
    expect(await markClusterSynced(s.db, late.clusterId, { worker: 'w', epoch: lateClaim!.claim_epoch }, 2)).toBe(true);
    return { listedAt, early: early.clusterId, late: late.clusterId, a, b, c };
  }

  it('counts only rows applied before the list was taken', async () => {
    const t = await appliedAroundAList();
    const workloads = await collect(unlisted(s.db, INSTALLATION, 'StatefulSet', new Set(), t.listedAt));
    expect(workloads.map((e) => e.owner)).toEqual([{ table: 'instances', id: t.a, gen: 1 }]);
    const namespaces = await collect(unlisted(s.db, INSTALLATION, 'Namespace', new Set(), t.listedAt));
    expect(namespaces.map((e) => e.owner)).toEqual([{ table: 'clusters', id: t.early, gen: 1 }]);
  });

  it('counts everything settled when the list came after every row, and nothing the list showed', async () => {
    const t = await appliedAroundAList();
    const now = await databaseTime(s.db);
    const all = await collect(unlisted(s.db, INSTALLATION, 'StatefulSet', new Set(), now));
    expect(all.map((e) => e.owner.id).sort()).toEqual([t.a, t.b, t.c].sort());
    const seen = new Set(all.map((e) => objectKey(e.obj.kind, e.obj.metadata.namespace, e.obj.metadata.name)));
    expect(await collect(unlisted(s.db, INSTALLATION, 'StatefulSet', seen, now))).toEqual([]);
  });
});
