// The PostgreSQL primary lost and its synchronous standby promoted, under a
// write load: two servers of this run's own in streaming replication, the API
// reaching them through one proxy address (a Service or a virtual IP that
// moves), the replication link lost first so the primary holds commits its
// standby never got, then the primary stopped with `pg_ctl -m immediate`, the
// standby promoted and the proxy pointed at it.
//
// Why synchronous replication (synchronous_standby_names naming the standby,
// synchronous_commit = on): a COMMIT is acknowledged only once the standby has
// flushed its WAL, so whatever the API answered 2xx for is on the standby when
// it is promoted. What the primary committed while its standby was away was
// never acknowledged (the COMMIT was still waiting), so losing it with the
// primary loses nothing a client was told had happened; the client's retry
// with the same Idempotency-Key runs it again on the new primary. With
// asynchronous replication the same cut loses acknowledged writes.
import { CoreV1Api } from '@kubernetes/client-node';
import { afterAll, describe, expect, it } from 'vitest';
import { loadTestKubeConfig } from '../support/kube.ts';
import { startProxy, type CuttableProxy } from '../support/proxy.ts';
import { startServer } from '../support/server.ts';
import { startLoad, summarise, waitConverged, type LoadResult, type Sample } from './support/load.ts';
import { startReplicatedPostgres } from './support/pg.ts';
import { clearTenants, LOAD_ENV, record, sleep, tenants } from './support/scenario.ts';

const kc = loadTestKubeConfig();
const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await Promise.resolve(c()).catch(() => {});
});

/** How long the primary runs without its standby before it is stopped: commits wait meanwhile. */
const LINK_LOST_MS = 3000;
const CONVERGE_WITHIN_MS = 120_000;

/** Answer times of the successful attempts of `kind` requests (writes: any non-read), sorted. */
function answeredAt(r: LoadResult, writes: boolean): number[] {
  const ok = (s: Sample) => s.status > 0 && s.status < 500;
  return r.samples
    .filter((s) => (s.kind !== 'read') === writes && ok(s))
    .map((s) => s.ends?.at(-1) ?? s.at + s.ms)
    .sort((a, b) => a - b);
}

/** The longest stretch after `from` in which no such request was answered: the outage as clients saw it. */
function longestGap(times: number[], from: number, to: number): { ms: number; from: number; to: number } {
  let best = { ms: 0, from, to: from };
  let prev = Math.max(...times.filter((t) => t <= from), from - 60_000);
  for (const t of times.filter((x) => x > from && x <= to)) {
    if (t - prev > best.ms) best = { ms: t - prev, from: prev, to: t };
    prev = t;
  }
  return best;
}

describe('PostgreSQL primary lost, its synchronous standby promoted, under load', () => {
  it('loses no acknowledged write, applies none twice, resumes writes and converges', async () => {
    let link!: CuttableProxy;
    const pg = await startReplicatedPostgres({ replicationVia: async (primaryPort) => (link = await startProxy('127.0.0.1', primaryPort)).port });
    cleanups.push(() => pg.destroy(), () => link.close());
    // The one address the API knows: the primary now, the standby after the switch.
    const front = await startProxy('127.0.0.1', pg.primary.port);
    cleanups.push(() => front.close());
    const server = await startServer({ databaseUrl: `postgres://postgres@127.0.0.1:${front.port}/postgres`, env: LOAD_ENV });
    cleanups.push(() => server.stop());
    const ts = await tenants([server.admin], 3);

    const load = startLoad({ tenants: ts, rps: 10, durationMs: 10 * 60_000 });
    await sleep(10_000);
    const before = {
      syncState: await pg.primary.sql(`SELECT sync_state FROM pg_stat_replication WHERE application_name = '${pg.standbyName}'`),
      synchronousStandbyNames: await pg.primary.sql('SHOW synchronous_standby_names'),
      synchronousCommit: await pg.primary.sql('SHOW synchronous_commit'),
    };

    // The fault: the standby's link goes first, then the primary.
    const linkLostAt = Date.now();
    await link.cut();
    await sleep(LINK_LOST_MS);
    const stoppedAt = Date.now();
    await pg.primary.stop('immediate');
    const primaryGoneAt = Date.now();
    await pg.standby.promote();
    const promotedAt = Date.now();
    front.retarget('127.0.0.1', pg.standby.port);
    const switchedAt = Date.now();
    const after = {
      inRecovery: await pg.standby.sql('SELECT pg_is_in_recovery()'),
      synchronousStandbyNames: await pg.standby.sql('SHOW synchronous_standby_names'),
    };

    // The load goes on on the new primary; writes caught by the switch retry with their keys.
    await sleep(30_000);
    const stopAskedAt = Date.now();
    const result = await load.stop();
    const converged = await waitConverged(kc, ts, server.installation, CONVERGE_WITHIN_MS);

    // Every cluster the client was told exists (201, or applied-but-unanswered and then read) is
    // there, with every instance it was given. waitConverged checked no cluster exists that the
    // client did not create (nothing applied twice) and the quota equals what exists.
    const lost: string[] = [];
    for (const t of ts) {
      for (const c of t.clusters.filter((x) => !x.deleted)) {
        const got = await t.clients[0]!.get(`/api/v1/clusters/${c.id}`);
        if (got.status !== 200) {
          lost.push(`${t.name}: cluster ${c.id} (${c.name}): ${got.status}`);
          continue;
        }
        const have = new Set((got.body.instances as { id: number }[]).map((i) => i.id));
        for (const i of c.instances) if (!have.has(i.id)) lost.push(`${t.name}: instance ${i.id} of cluster ${c.id} (${c.name})`);
      }
    }
    // Nothing left in Kubernetes by a write that died with the old primary: every namespace of
    // the installation belongs to a cluster the client holds (or is on its way out).
    const live = new Set(ts.flatMap((t) => t.clusters.filter((c) => !c.deleted).map((c) => c.namespace)));
    const namespaces = (await kc.makeApiClient(CoreV1Api).listNamespace({ labelSelector: `kubekloud.io/installation=${server.installation}` })).items;
    const ghosts = namespaces.filter((n) => !n.metadata?.deletionTimestamp && !live.has(n.metadata!.name!)).map((n) => n.metadata!.name!);

    const writes = result.samples.filter((s) => s.kind !== 'read');
    const caught = writes.filter((s) => s.trail.some((x) => x <= 0 || x >= 500 || x === 409));
    // Up to when the load stopped sending: after that only stragglers are answered, and the
    // gap before the last of them is the load winding down, not an outage.
    const writeGap = longestGap(answeredAt(result, true), linkLostAt - 1, stopAskedAt);
    const readGap = longestGap(answeredAt(result, false), linkLostAt - 1, stopAskedAt);
    const slowest = [...caught].sort((a, b) => b.ms - a.ms)[0];
    const firstWriteAfterSwitch = answeredAt(result, true).find((t) => t > switchedAt);
    const figures = {
      replication: { before, after },
      linkLostMs: stoppedAt - linkLostAt,
      stopMs: primaryGoneAt - stoppedAt,
      promoteMs: promotedAt - primaryGoneAt,
      // Downtime as clients saw it: the longest stretch with no write (read) answered, and when.
      writeOutageMs: writeGap.ms,
      writeOutageFromLinkLossMs: writeGap.from - linkLostAt,
      readOutageMs: readGap.ms,
      firstWriteAnsweredMsAfterSwitch: firstWriteAfterSwitch ? firstWriteAfterSwitch - switchedAt : -1,
      writes: writes.length,
      writesRetried: writes.filter((s) => s.attempts > 1).length,
      writesCaughtBySwitch: caught.length,
      writesAppliedAnswerLost: writes.filter((s) => s.appliedUnanswered).length,
      slowestCaughtWriteMs: Math.max(0, ...caught.map((s) => s.ms)),
      // Its statuses in order: a run of 409 "still in progress" is a key whose write died with
      // the old primary after the key was recorded; it runs again once the key is abandoned (60 s).
      slowestCaughtWrite: slowest ? `${slowest.kind} ${slowest.trail.join('>')} ${slowest.ms} ms` : null,
      caughtTrails: caught.slice(0, 12).map((s) => `${s.kind} ${s.trail.join('>')} ${s.ms} ms`),
      convergedMsAfterLoad: converged.ms,
      convergedMsAfterSwitch: Date.now() - switchedAt,
      clusters: converged.last.clusters,
      instances: converged.last.instances,
      all: summarise(result),
      aroundSwitch: summarise(result, { from: linkLostAt - 1000, to: switchedAt + 5000 }),
      lost,
      ghosts,
    };
    const serverErrors = server.output().split('\n').filter((l) => /"level":(50|60)/.test(l) && !/database unreachable/.test(l)).slice(-5);
    record('postgresql-primary-switch', { ...figures, serverErrors });

    expect(before).toEqual({ syncState: 'sync', synchronousStandbyNames: pg.standbyName, synchronousCommit: 'on' });
    expect(after).toEqual({ inRecovery: 'f', synchronousStandbyNames: '' });
    // The switch did catch writes in flight, or it tested nothing.
    expect(figures.writesCaughtBySwitch).toBeGreaterThan(0);
    expect(lost).toEqual([]);
    expect(ghosts).toEqual([]);
    // Every write got a real answer in the end: retried with its key, none ended in 5xx.
    expect(figures.all.writesFailed).toBe(0);
    expect(figures.firstWriteAnsweredMsAfterSwitch).toBeGreaterThanOrEqual(0);
    expect(figures.firstWriteAnsweredMsAfterSwitch).toBeLessThan(10_000);
    await clearTenants(ts);
  });
});
