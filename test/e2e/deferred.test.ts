// Drift made while an instance has work pending, after that work applied its
// objects and before it was marked done: a VM halted and its Service deleted in
// that window. The observer cannot repair them then (the row is not in sync),
// and the work will not look at them again; once the row is marked synced, the
// observer judges them again and has them repaired — told by the rows' change,
// not by a periodic resync (pushed to an hour here). While changes cannot be
// heard (no notification connection), it looks for the rows' end by polling.
//
// The test plays the replica whose reconcile is in that window: it takes the
// instance's claim for a new generation (as a repair or an operation would
// make), edits behind the API's back, waits until the observer has deferred
// both objects and seen the VM stopped, and marks the row synced as that
// reconcile would.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKube } from '../../src/kube/client.ts';
import { deleteObject, jsonPatch } from '../../src/kube/rest.ts';
import { Reconciler } from '../../src/reconciler/reconciler.ts';
import { openPostgres, type Db, type Queryable } from '../../src/store/db.ts';
import { markInstanceSynced } from '../../src/store/work.ts';
import { eventually, loadTestKubeConfig } from '../support/kube.ts';
import { createTestDatabase, type TestDatabase } from '../support/postgres.ts';
import { renderedFormProblems, type ClusterView } from '../support/rendered.ts';
import { createTenant, startServer, type ServerProcess } from '../support/server.ts';
import type { ApiClient } from '../support/api.ts';

const kc = loadTestKubeConfig();

const metricOf = async (server: ServerProcess, name: string) => {
  const text = (await server.metrics.get()).body as string;
  return Number(new RegExp(`^${name} (\\d+)`, 'm').exec(text)?.[1] ?? NaN);
};

/** A converged VM cluster of one instance with a Service. */
async function oneVm(client: ApiClient, server: ServerProcess): Promise<ClusterView> {
  const created = await client.request('POST', '/api/v1/clusters/?wait=60', { name: 'vm', instance_type: 'vm', cpu_per_instance: 0.5, memory_per_instance: 0.5, instance_count: 1, ports: [{ port: 22 }] });
  expect(created.body.wait?.converged, JSON.stringify(created.body)).toBe(true);
  const view = (await client.get(`/api/v1/clusters/${created.body.id}`)).body as ClusterView;
  expect(await renderedFormProblems(kc, view, server.installation)).toEqual([]);
  return view;
}

/**
 * Another replica's reconcile of a new generation of the instance, its objects
 * applied (they already were), not yet marked synced; then the VM halted and
 * its Service deleted behind the API's back. Answers how to mark it synced.
 */
async function driftWhilePending(db: TestDatabase, view: ClusterView): Promise<() => Promise<void>> {
  const instance = view.instances[0]!;
  const [claim] = await db.query<{ gen: number; epoch: number; restarts: number }>(
    `UPDATE instances SET desired_gen = desired_gen + 1, claimed_by = 'another-replica', claimed_until = now() + interval '10 minutes',
            claim_epoch = claim_epoch + 1
      WHERE id = $1 RETURNING desired_gen AS gen, claim_epoch AS epoch, restart_count AS restarts`,
    [instance.id],
  );
  const vm = { apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachine', metadata: { name: instance.instance_name, namespace: view.namespace } };
  await jsonPatch(kc, vm, [{ op: 'replace', path: '/spec/runStrategy', value: 'Halted' }]);
  await deleteObject(kc, { apiVersion: 'v1', kind: 'Service', metadata: { name: instance.instance_name, namespace: view.namespace } }, 'Background');
  const rows: Queryable = { query: (sql, params) => db.query(sql, params), exec: () => Promise.reject(new Error('not used')) };
  return async () => {
    expect(await markInstanceSynced(rows, instance.id, { worker: 'another-replica', epoch: claim!.epoch }, claim!.gen, claim!.restarts)).not.toBeNull();
  };
}

/** The VM's last change seen too (KubeVirt stopped it): no event of either object comes after the row is synced. */
async function vmSeenStopped(db: TestDatabase, view: ClusterView) {
  await eventually(
    async () => (await db.query<{ s: string }>('SELECT obs_vm_status AS s FROM instances WHERE id = $1', [view.instances[0]!.id]))[0]?.s === 'Stopped',
    15_000,
    'the VM seen stopped',
  );
}

async function bothRepaired(view: ClusterView, installation: string, context: () => string) {
  let last: string[] = [];
  await eventually(async () => (last = await renderedFormProblems(kc, view, installation)).length === 0, 20_000, 'both repaired').catch((e) => {
    throw new Error(`${String(e)}\nstill wrong: ${last.join('\n')}\n${context()}`);
  });
}

describe('drift made while work was pending on its instance', () => {
  let db: TestDatabase;
  let server: ServerProcess;
  let client: ApiClient;
  beforeAll(async () => {
    db = await createTestDatabase();
    server = await startServer({ databaseUrl: db.url, env: { KUBEKLOUD_RESYNC_SECONDS: '3600' } });
    ({ client } = await createTenant(server.admin, { cpu: 4, memory: 4 }));
  });
  afterAll(async () => {
    await server?.stop();
    await db?.drop();
  });

  it('is repaired once that work is marked done, without a resync', async () => {
    const view = await oneVm(client, server);
    const markSynced = await driftWhilePending(db, view);
    await eventually(async () => (await metricOf(server, 'kubekloud_observer_deferred_objects')) === 2, 15_000, 'both objects deferred while the row is pending');
    await vmSeenStopped(db, view);
    expect(await renderedFormProblems(kc, view, server.installation)).toHaveLength(2); // nothing repaired them meanwhile

    await markSynced();
    await bothRepaired(view, server.installation, () => server.output().slice(-2000));
    // The repair's own events can be deferred in their turn while its row is pending; none stays so.
    await eventually(async () => (await metricOf(server, 'kubekloud_observer_deferred_objects')) === 0, 15_000, 'nothing left deferred');
    // One repair of the instance puts back both (its reconcile applies all it renders).
    const repairs = (await client.get(`/api/v1/clusters/${view.id}/history?kind=repair`)).body as { items: { message: string }[] };
    expect(repairs.items.map((e) => e.message)).toEqual([expect.stringMatching(/^Repaired (VirtualMachine: .*runStrategy|Service: .*deleted outside KubeKloud)/)]);
    await eventually(async () => (await client.get(`/api/v1/clusters/${view.id}`)).body.instances[0].status === 'running', 30_000, 'the VM running again');
  });
});

describe('drift made while work was pending, changes not heard', () => {
  let db: TestDatabase;
  let server: ServerProcess;
  let store: Db;
  let reconciler: Reconciler | null = null;
  beforeAll(async () => {
    db = await createTestDatabase();
    server = await startServer({ databaseUrl: db.url, env: { KUBEKLOUD_RESYNC_SECONDS: '3600', KUBEKLOUD_OBSERVER_LEASE_SECONDS: '3' } });
    store = openPostgres(db.url);
  });
  afterAll(async () => {
    await reconciler?.stop();
    await store?.close();
    await server?.stop(); // its namespaces go
    await db?.drop();
  });

  it('is repaired once that work is marked done, found by polling the rows', async () => {
    const { client } = await createTenant(server.admin, { cpu: 4, memory: 4 });
    const view = await oneVm(client, server);
    // From here the installation's reconciler runs in this process, with no notification connection: it polls.
    await server.kill();
    const deferred: number[] = [];
    const warnings: string[] = [];
    reconciler = new Reconciler({
      db: store,
      kube: createKube(kc),
      workerId: 'polling-observer',
      installation: server.installation,
      concurrency: 2,
      resyncSeconds: 3600,
      observerLeaseSeconds: 3,
      log: { info: () => {}, warn: (o, msg) => void warnings.push(`${msg} ${JSON.stringify(o)}`) },
      onObserverDeferred: (n) => void deferred.push(n),
    });
    reconciler.start();
    await eventually(async () => reconciler!.observerSynced, 20_000, 'the observer lease taken over, every kind listed');
    expect(deferred.filter((n) => n > 0)).toEqual([]);

    const markSynced = await driftWhilePending(db, view);
    await eventually(async () => deferred.at(-1) === 2, 15_000, 'both objects deferred while the row is pending');
    await vmSeenStopped(db, view);
    expect(await renderedFormProblems(kc, view, server.installation)).toHaveLength(2);

    await markSynced();
    await bothRepaired(view, server.installation, () => warnings.join('\n'));
    // The repair's own events can be deferred in their turn while its row is pending; none stays so.
    await eventually(async () => deferred.at(-1) === 0, 15_000, 'nothing left deferred');
  });
});
