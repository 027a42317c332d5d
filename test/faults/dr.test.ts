// Disaster-recovery drills of docs/OPERATIONS.md › Disaster recovery, run on the
// fault plane (they delete a node and the kubekloud-api namespace, which the
// main plane's tests share; the fault suite runs one file at a time):
//
// - Node failure: with the dev overlay applied, the fake node holding an API
//   pod is deleted. kwok pods run no process, so whether the API "keeps
//   answering" is judged by the plane's own signal: the ready endpoints of the
//   API Service's EndpointSlices, watched throughout.
// - Namespace loss: tenants and clusters made through a real API process, a
//   dump taken the way the backup CronJob takes it (its own script), writes
//   after the dump, then the API, its database and the kubekloud-api namespace
//   lost; the namespace redeployed, the dump restored into a fresh database
//   with k8s/scripts/restore-db.sh, and a new API process on it. The tenants'
//   tokens work and their namespaces and workloads are adopted, not recreated;
//   what was written after the dump is lost from the database, and the test says
//   what that was; the objects of a cluster made after the dump are left in
//   place, since they name an id the restored database never issued.
import { join } from 'node:path';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { AppsV1Api, AutoscalingV2Api, CoreV1Api, CustomObjectsApi, DiscoveryV1Api, NetworkingV1Api, Watch, type V1Deployment, type V1Node, type V1Pod } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApiClient } from '../support/api.ts';
import { eventually, gone, loadTestKubeConfig } from '../support/kube.ts';
import { createTestDatabase, type TestDatabase } from '../support/postgres.ts';
import { renderedFormProblems } from '../support/rendered.ts';
import { createTenant, randomLabel, startServer, type ServerProcess } from '../support/server.ts';
import { createOverlayVolumes, find, k8sDir, kubectlOk, render, run, stageK8s, type Manifest, type Staged } from '../deploy/fixture.ts';
import { record } from './support/scenario.ts';

const NS = 'kubekloud-api';
const SERVICE = 'kubekloud-api-service';
const HPA = 'kubekloud-api-hpa';
const PVS = { 'postgres-data': 'kubekloud-drill-postgres-data', 'kubekloud-backups': 'kubekloud-drill-backups' } as const;

const kc = loadTestKubeConfig();
const core = kc.makeApiClient(CoreV1Api);
const apps = kc.makeApiClient(AppsV1Api);
const custom = kc.makeApiClient(CustomObjectsApi);
const discovery = kc.makeApiClient(DiscoveryV1Api);
const autoscaling = kc.makeApiClient(AutoscalingV2Api);
const networking = kc.makeApiClient(NetworkingV1Api);
let staged: Staged;
let objects: Manifest[];
/** A node the drill deleted, as it was, to be put back for the scenarios after this file. */
let deletedNode: V1Node | null = null;
const cleanups: (() => Promise<unknown> | unknown)[] = [];


/** Fresh volumes for the overlay's two claims (the plane has no provisioner), as a new cluster's storage would be: empty. */
async function freshVolumes(): Promise<void> {
  for (const pv of Object.values(PVS)) await core.deletePersistentVolume({ name: pv }).catch(() => {});
  for (const pv of Object.values(PVS)) await eventually(() => gone(() => core.readPersistentVolume({ name: pv })), 60_000, `PV ${pv} to be gone`);
  await createOverlayVolumes(core, NS, PVS);
}

/** The dev overlay, applied as docs/OPERATIONS.md says (server-side); the namespace first, as cluster.test.ts does. */
function applyOverlay(): void {
  const namespaces = objects.filter((o) => o.kind === 'Namespace');
  kubectlOk(['apply', '--server-side', '--field-manager=kubekloud-deploy', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: namespaces }) });
  kubectlOk(['apply', '--server-side', '--field-manager=kubekloud-deploy', '-k', join(staged.dir, 'overlays/dev')]);
}

const isReady = (p: V1Pod) => p.status?.phase === 'Running' && !p.metadata?.deletionTimestamp && (p.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
const apiPods = async () => (await core.listNamespacedPod({ namespace: NS, labelSelector: 'app=kubekloud-api' })).items;

type Slice = { metadata?: { name?: string; resourceVersion?: string }; endpoints?: { conditions?: { ready?: boolean }; targetRef?: { uid?: string; name?: string }; addresses?: string[] }[] };
const readyIn = (s: Slice) => (s.endpoints ?? []).filter((e) => e.conditions?.ready === true).map((e) => e.targetRef?.name ?? e.addresses?.[0] ?? '?');
const sliceSelector = `kubernetes.io/service-name=${SERVICE}`;
async function readyEndpoints(): Promise<string[]> {
  const list = await discovery.listNamespacedEndpointSlice({ namespace: NS, labelSelector: sliceSelector });
  return [...new Set((list.items as Slice[]).flatMap(readyIn))];
}

/** A Deployment's rollout is complete: its controller has seen the latest spec and every replica it asks for is updated, available and ready. */
const rolledOut = (d: V1Deployment) => {
  const want = d.spec?.replicas ?? 0;
  const s = d.status ?? {};
  return (
    want > 0 &&
    s.observedGeneration === d.metadata?.generation &&
    (s.replicas ?? 0) === want &&
    (s.updatedReplicas ?? 0) === want &&
    (s.readyReplicas ?? 0) === want &&
    (s.availableReplicas ?? 0) === want
  );
};

/**
 * The overlay deployed, judged by the plane's own signals: the HPA has raised
 * the API Deployment to its floor (the manifest leaves `replicas` to it), both
 * Deployments are rolled out, and the Service has one ready endpoint per API
 * replica. Where the pods landed is not waited for: that is what the drill tests.
 */
async function waitDeployed(timeoutMs = 120_000): Promise<V1Pod[]> {
  let last = '';
  return eventually(
    async () => {
      const floor = (await autoscaling.readNamespacedHorizontalPodAutoscaler({ namespace: NS, name: HPA })).spec.minReplicas ?? 1;
      const api = await apps.readNamespacedDeployment({ namespace: NS, name: 'kubekloud-api' });
      const pg = await apps.readNamespacedDeployment({ namespace: NS, name: 'postgres' });
      const pods = (await apiPods()).filter(isReady);
      const endpoints = await readyEndpoints();
      last = `HPA floor ${floor}, API replicas ${api.spec?.replicas} (${JSON.stringify(api.status)}), PostgreSQL rolled out ${rolledOut(pg)}, ready API pods ${pods.length}, ready endpoints ${endpoints.length}`;
      const want = api.spec?.replicas ?? 0;
      return want >= floor && rolledOut(api) && rolledOut(pg) && pods.length === want && endpoints.length === want ? pods : false;
    },
    timeoutMs,
    'the API Deployment at the HPA floor and rolled out, PostgreSQL rolled out, a ready endpoint per API pod',
  ).catch((e) => {
    throw new Error(`${String(e)}\nlast seen: ${last}`);
  });
}

/**
 * Watches the API Service's EndpointSlices from a list's resourceVersion and
 * keeps, after every event, how many distinct endpoints are ready: the plane's
 * own view of whether the Service has somewhere to send a request. The client
 * ends a watch that has been silent for 30 s; it is resumed from the last
 * resourceVersion seen, which loses no event. Any other end (a 410, an error)
 * is kept, and "throughout" is then not known.
 */
async function watchReadyEndpoints() {
  const slices = new Map<string, string[]>();
  const timeline: { at: number; ready: number; names: string[] }[] = [];
  const note = () => {
    const names = [...new Set([...slices.values()].flat())].sort();
    timeline.push({ at: Date.now(), ready: names.length, names });
  };
  const list = await discovery.listNamespacedEndpointSlice({ namespace: NS, labelSelector: sliceSelector });
  for (const s of list.items as Slice[]) slices.set(s.metadata!.name!, readyIn(s));
  note();
  let resourceVersion = list.metadata!.resourceVersion!;
  let ended: unknown = null;
  let stopped = false;
  let resumed = 0;
  let ctl: AbortController | null = null;
  const start = async (): Promise<void> => {
    ctl = await new Watch(kc).watch(
      `/apis/discovery.k8s.io/v1/namespaces/${NS}/endpointslices`,
      { labelSelector: sliceSelector, resourceVersion, allowWatchBookmarks: true },
      (type, obj: Slice & { code?: number }) => {
        if (type === 'ERROR') {
          ended = `watch error: ${JSON.stringify(obj)}`;
          return;
        }
        if (obj.metadata?.resourceVersion) resourceVersion = obj.metadata.resourceVersion;
        if (type === 'BOOKMARK') return;
        if (type === 'DELETED') slices.delete(obj.metadata!.name!);
        else slices.set(obj.metadata!.name!, readyIn(obj));
        note();
      },
      (err) => {
        if (stopped || ended) return;
        const silent = err instanceof Error && err.name === 'TimeoutError';
        if (silent || err === null || err === undefined) {
          resumed++;
          start().catch((e) => (ended = e));
        } else ended = err;
      },
    );
  };
  await start();
  return {
    timeline,
    /** The fewest ready endpoints seen from `from` on (the count standing at `from` included). */
    minSince(from: number) {
      const standing = timeline.filter((x) => x.at <= from).at(-1);
      return Math.min(...[...(standing ? [standing] : []), ...timeline.filter((x) => x.at > from)].map((x) => x.ready));
    },
    ended: () => ended,
    resumed: () => resumed,
    stop: () => {
      stopped = true;
      ctl?.abort();
    },
  };
}

/** Puts back a node this file deleted, the way the plane's harness made it; kwok makes it Ready. */
async function restoreNode(): Promise<void> {
  if (!deletedNode) return;
  const n = deletedNode;
  if (await gone(() => core.readNode({ name: n.metadata!.name! }))) {
    await core.createNode({
      body: {
        apiVersion: 'v1',
        kind: 'Node',
        metadata: { name: n.metadata!.name, labels: n.metadata!.labels, annotations: n.metadata!.annotations },
        status: { capacity: n.status?.capacity, allocatable: n.status?.allocatable },
      },
    });
  }
  await eventually(
    async () => ((await core.readNode({ name: n.metadata!.name! })).status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True'),
    60_000,
    `node ${n.metadata!.name} Ready again`,
  );
  deletedNode = null;
}

beforeAll(async () => {
  await eventually(() => gone(() => core.readNamespace({ name: NS })), 120_000, `namespace ${NS} from an earlier run to be gone`);
  staged = stageK8s();
  objects = render(staged, 'overlays/dev').objects;
  await freshVolumes();
  applyOverlay();
}, 300_000);

/** Installations whose tenant namespaces the drills made; they must be gone before the next file runs. */
const installations: string[] = [];

afterAll(async () => {
  // Leave the plane as the other fault files expect it: every node back, no
  // kubekloud-api namespace, no volume or cluster-wide object of the overlay,
  // no tenant namespace of ours. A step that fails fails the file.
  const failed: string[] = [];
  const step = async (what: string, fn: () => unknown) => {
    try {
      await fn();
    } catch (e) {
      failed.push(`${what}: ${String(e)}`);
    }
  };
  for (const c of cleanups.reverse()) await step('cleanup', c);
  await step('putting the node back', restoreNode);
  await step(`deleting namespace ${NS}`, async () => {
    await core.deleteNamespace({ name: NS }).catch((e) => ((e as { code?: number }).code === 404 ? null : Promise.reject(e)));
    await eventually(() => gone(() => core.readNamespace({ name: NS })), 120_000, `namespace ${NS} to be gone`);
  });
  await step('deleting the volumes', async () => {
    for (const pv of Object.values(PVS)) await core.deletePersistentVolume({ name: pv }).catch((e) => ((e as { code?: number }).code === 404 ? null : Promise.reject(e)));
    for (const pv of Object.values(PVS)) await eventually(() => gone(() => core.readPersistentVolume({ name: pv })), 60_000, `PV ${pv} to be gone`);
  });
  if (objects) {
    await step("deleting the overlay's cluster-wide objects", () => {
      const clusterWide = objects.filter((o) => !o.metadata.namespace && o.kind !== 'Namespace');
      kubectlOk(['delete', '--ignore-not-found', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: clusterWide }) });
    });
  }
  for (const installation of installations) {
    await step(`tenant namespaces of ${installation}`, async () => {
      const selector = `kubekloud.io/installation=${installation}`;
      for (const n of (await core.listNamespace({ labelSelector: selector })).items) await core.deleteNamespace({ name: n.metadata!.name! }).catch(() => {});
      await eventually(async () => (await core.listNamespace({ labelSelector: selector })).items.length === 0, 120_000, `the namespaces of ${installation} to be gone`);
    });
  }
  staged?.cleanup();
  if (failed.length > 0) throw new Error(`the plane was not put back:\n${failed.join('\n')}`);
}, 400_000);

describe('DR drill: a node holding an API pod fails', () => {
  it('reschedules the pod on another node while the Service keeps a ready endpoint throughout', async () => {
    const pods = await waitDeployed();
    const victim = pods[0]!;
    const node = victim.spec!.nodeName!;
    const others = pods.slice(1);
    const placement = Object.fromEntries(pods.map((p) => [p.metadata!.name!, p.spec!.nodeName!]));
    const watch = await watchReadyEndpoints();
    cleanups.push(() => watch.stop());
    deletedNode = await core.readNode({ name: node });

    // The node is gone for good, as when its machine is removed: its Node object is deleted.
    const deletedAt = Date.now();
    await core.deleteNode({ name: node });
    // Every 250 ms: when the old pod went, when its replacement appeared, was scheduled, became ready.
    const known = new Set(pods.map((p) => p.metadata!.uid!));
    const seen: { victimGone?: number; created?: number; scheduled?: number; ready?: number; node?: string; name?: string } = {};
    await eventually(
      async () => {
        const now = Date.now();
        const current = await apiPods();
        if (seen.victimGone === undefined && !current.some((p) => p.metadata?.uid === victim.metadata!.uid)) seen.victimGone = now;
        const fresh = current.find((p) => !known.has(p.metadata!.uid!) && !p.metadata?.deletionTimestamp);
        if (fresh) {
          seen.created ??= now;
          seen.name = fresh.metadata!.name;
          if (fresh.spec?.nodeName) {
            seen.scheduled ??= now;
            seen.node = fresh.spec.nodeName;
          }
          if (isReady(fresh)) seen.ready ??= now;
        }
        return seen.ready !== undefined && seen.victimGone !== undefined;
      },
      240_000,
      `the API pod of deleted node ${node} to be replaced by a ready pod`,
    );
    const endpointsBack = await eventually(async () => ((await readyEndpoints()).length === pods.length ? Date.now() : false), 60_000, `${pods.length} ready endpoints again`);
    watch.stop();
    const minReady = watch.minSince(deletedAt);
    const firstDrop = watch.timeline.find((x) => x.at > deletedAt && !x.names.includes(victim.metadata!.name!));
    const figures = {
      node,
      placement,
      victim: victim.metadata!.name,
      replacement: { pod: seen.name, node: seen.node },
      // When the Service stopped sending to the lost pod (its endpoint left the slices).
      victimEndpointGoneMs: firstDrop ? firstDrop.at - deletedAt : null,
      // The pod garbage collector removes a pod bound to a deleted node after a 40 s quarantine.
      oldPodGoneMs: seen.victimGone! - deletedAt,
      replacementCreatedMs: seen.created! - deletedAt,
      replacementScheduledMs: seen.scheduled! - deletedAt,
      rescheduledReadyMs: seen.ready! - deletedAt,
      endpointsBackMs: endpointsBack - deletedAt,
      minReadyEndpoints: minReady,
      endpointTimeline: watch.timeline.filter((x) => x.at >= deletedAt - 1000).map((x) => `${x.at - deletedAt} ms: ${x.names.join(' ') || '(none)'}`),
      watchResumed: watch.resumed(),
      watchEnded: watch.ended() === null ? null : String(watch.ended()),
    };
    record('dr-node-failure', figures);
    await restoreNode();

    expect(watch.ended(), 'the EndpointSlice watch ended early: "throughout" is not known').toBeNull();
    expect(minReady, `the Service had no ready endpoint after ${node} was deleted; pods were on ${JSON.stringify(placement)}`).toBeGreaterThanOrEqual(1);
    expect(seen.node).not.toBe(node);
    // Spread again: the replacement does not join a surviving replica on its node.
    expect(others.map((p) => p.spec!.nodeName)).not.toContain(seen.node);
  });
});

describe('DR drill: the kubekloud-api namespace and the database are lost, restored from the last dump', () => {
  const query = async (db: TestDatabase, sql: string) => db.query(sql);
  /** The CronJob's command and environment, as the overlay renders them; its script mapped to the file its ConfigMap is made from. */
  function runBackup(db: TestDatabase, dir: string): string {
    const cj = find(objects, 'CronJob', 'kubekloud-db-backup');
    const c = cj.spec.jobTemplate.spec.template.spec.containers[0];
    const env = Object.fromEntries(c.env.filter((e: { value?: string }) => 'value' in e).map((e: { name: string; value: string }) => [e.name, e.value]));
    const [shell, script] = c.command as [string, string];
    const url = new URL(db.url);
    const r = run(shell, [script.replace('/scripts/', join(k8sDir, 'base/backup/'))], {
      env: { PATH: process.env.PATH, ...env, PGHOST: url.hostname, PGPORT: url.port || '5432', PGUSER: decodeURIComponent(url.username), PGPASSWORD: decodeURIComponent(url.password), PGDATABASE: db.name, BACKUP_DIR: dir },
    });
    if (r.code !== 0) throw new Error(`backup.sh failed: ${r.stderr}`);
    const dumps = readdirSync(dir).filter((f) => /^kubekloud-\d{8}T\d{6}Z\.dump$/.test(f));
    if (dumps.length !== 1) throw new Error(`expected one dump in ${dir}, found ${dumps.join(', ')}`);
    return join(dir, dumps[0]!);
  }

  type Inventory = Map<string, string>;
  /** kind/namespace/name → UID of every object of the installation: namespaces, their fences, workloads and Services. */
  async function inventory(installation: string): Promise<Inventory> {
    const selector = `kubekloud.io/installation=${installation}`;
    const out: Inventory = new Map();
    for (const n of (await core.listNamespace({ labelSelector: selector })).items) if (!n.metadata?.deletionTimestamp) out.set(`Namespace/${n.metadata!.name}`, n.metadata!.uid!);
    for (const s of (await apps.listStatefulSetForAllNamespaces({ labelSelector: selector })).items) out.set(`StatefulSet/${s.metadata!.namespace}/${s.metadata!.name}`, s.metadata!.uid!);
    for (const s of (await core.listServiceForAllNamespaces({ labelSelector: selector })).items) out.set(`Service/${s.metadata!.namespace}/${s.metadata!.name}`, s.metadata!.uid!);
    for (const q of (await core.listResourceQuotaForAllNamespaces({ labelSelector: selector })).items) out.set(`ResourceQuota/${q.metadata!.namespace}/${q.metadata!.name}`, q.metadata!.uid!);
    for (const l of (await core.listLimitRangeForAllNamespaces({ labelSelector: selector })).items) out.set(`LimitRange/${l.metadata!.namespace}/${l.metadata!.name}`, l.metadata!.uid!);
    for (const n of (await networking.listNetworkPolicyForAllNamespaces({ labelSelector: selector })).items) out.set(`NetworkPolicy/${n.metadata!.namespace}/${n.metadata!.name}`, n.metadata!.uid!);
    const vms = (await custom.listClusterCustomObject({ group: 'kubevirt.io', version: 'v1', plural: 'virtualmachines', labelSelector: selector })) as {
      items: { metadata: { namespace: string; name: string; uid: string } }[];
    };
    for (const v of vms.items) out.set(`VirtualMachine/${v.metadata.namespace}/${v.metadata.name}`, v.metadata.uid);
    return out;
  }
  const inNamespace = (inv: Inventory, ns: string) => [...inv.keys()].filter((k) => k === `Namespace/${ns}` || k.includes(`/${ns}/`));

  const create = async (client: ApiClient, body: Record<string, unknown>) => {
    const r = await client.post('/api/v1/clusters/?wait=90', { cpu_per_instance: 0.25, memory_per_instance: 0.25, ...body });
    if (r.status !== 201 || r.body.wait?.converged !== true) throw new Error(`creating ${String(body.name)}: ${r.status} ${JSON.stringify(r.body).slice(0, 400)}`);
    return r.body as { id: number; name: string; namespace: string; instances: { id: number; instance_name: string }[] };
  };

  it('redeploys, restores the dump into a fresh database, and a new API adopts the tenant namespaces; writes after the dump are lost', async () => {
    await waitDeployed();
    const source = await createTestDatabase();
    cleanups.push(() => source.drop());
    const installation = randomLabel();
    installations.push(installation);
    // The admin token is the operator's, kept in the secret store (k8s/base/secrets/api.env).
    const adminToken = `admin-${installation}-0123456789`;
    let a: ServerProcess | null = await startServer({ databaseUrl: source.url, installation, adminToken, keepNamespaces: true });
    cleanups.push(() => a?.kill());
    const quota = { cpu: 10, memory: 20, instances: 20 };
    const alice = await createTenant(a.admin, quota, `alice-${installation}`);
    const bob = await createTenant(a.admin, quota, `bob-${installation}`);
    const web = await create(alice.client, { name: 'web', instance_type: 'container', instance_count: 2, ports: [{ port: 8080 }] });
    const vmc = await create(alice.client, { name: 'vmc', instance_type: 'vm', instance_count: 1 });
    const db = await create(bob.client, { name: 'db', instance_type: 'container', instance_count: 1 });
    const before = await inventory(installation);

    // The nightly backup, the CronJob's way.
    const backupDir = mkdtempSync(join(tmpdir(), 'kubekloud-drill-backups-'));
    cleanups.push(() => rmSync(backupDir, { recursive: true, force: true }));
    const dumpedAt = Date.now();
    const dump = runBackup(source, backupDir);

    // Work after the dump: a cluster, an operation, a tenant. The restore will lose them.
    const late = await create(alice.client, { name: 'late', instance_type: 'container', instance_count: 1 });
    const stop = await bob.client.post(`/api/v1/instances/${db.instances[0]!.id}/operate?wait=90`, { operation: 'stop' });
    expect(stop.status, JSON.stringify(stop.body)).toBe(200);
    const carol = await createTenant(a.admin, quota, `carol-${installation}`);
    const dbSts = { namespace: db.namespace, name: db.instances[0]!.instance_name };
    await eventually(async () => (await apps.readNamespacedStatefulSet(dbSts)).spec?.replicas === 0, 60_000, 'the stopped instance scaled to 0');
    const lastWriteAt = Date.now();

    // The disaster: the namespace goes, and with it the API pods and PostgreSQL's volume.
    const disasterAt = Date.now();
    await a.kill();
    a = null;
    await source.drop();
    await core.deleteNamespace({ name: NS });
    await eventually(() => gone(() => core.readNamespace({ name: NS })), 180_000, `namespace ${NS} to be gone`);
    const namespaceGoneAt = Date.now();

    // Recovery, as docs/OPERATIONS.md › 4 says: redeploy, restore the off-cluster dump, start the API.
    await freshVolumes();
    applyOverlay();
    await waitDeployed();
    const redeployedAt = Date.now();
    const target = await createTestDatabase();
    cleanups.push(() => target.drop());
    const restore = run('bash', [join(k8sDir, 'scripts/restore-db.sh')], { env: { PATH: process.env.PATH, BACKUP_FILE: dump, TARGET_DATABASE_URL: target.url } });
    expect(restore.code, restore.stderr).toBe(0);
    const restoredAt = Date.now();
    const b = await startServer({ databaseUrl: target.url, installation, adminToken });
    cleanups.push(() => b.stop());
    const apiUpAt = Date.now();

    const aliceB = b.admin.withToken(alice.client.token!);
    const bobB = b.admin.withToken(bob.client.token!);
    const carolB = b.admin.withToken(carol.client.token!);
    // Recovered: the tenants' tokens work; every cluster of the dump is there with its instances
    // running and its namespace in its rendered form; what came after the dump is gone from Kubernetes too.
    const problems = async (): Promise<string[]> => {
      const p: string[] = [];
      for (const [who, client, mine] of [
        ['alice', aliceB, [web, vmc]],
        ['bob', bobB, [db]],
      ] as const) {
        const list = await client.get('/api/v1/clusters/');
        if (list.status !== 200) {
          p.push(`${who}: list ${list.status}`);
          continue;
        }
        for (const c of mine) {
          const got = await client.get(`/api/v1/clusters/${c.id}`);
          if (got.status !== 200) {
            p.push(`${who}: cluster ${c.name}: ${got.status}`);
            continue;
          }
          for (const i of got.body.instances) if (i.status !== 'running' || i.desired_status !== 'running') p.push(`${who}: ${c.name}/${i.instance_name} is ${i.status}, wants ${i.desired_status}`);
          p.push(...(await renderedFormProblems(kc, got.body, installation)));
        }
      }
      // The cluster made after the dump names an id the restored database never
      // issued: its namespace is left in place (and reported), not collected as a stray.
      const lateNs = await core.readNamespace({ name: late.namespace }).catch((e) => ((e as { code?: number }).code === 404 ? null : Promise.reject(e)));
      if (!lateNs || lateNs.metadata?.deletionTimestamp) p.push(`namespace ${late.namespace} of the cluster made after the dump was ${lateNs ? 'deleted' : 'removed'}`);
      if (!b.output().includes('object from beyond this database left in place')) p.push('the objects of the cluster made after the dump were not reported');
      return p;
    };
    let left: string[] = [];
    await eventually(async () => (left = await problems()).length === 0, 180_000, 'the restored installation to converge').catch((e) => {
      throw new Error(`${String(e)}\nstill wrong:\n${left.join('\n')}\nAPI output:\n${b.output().slice(-3000)}`);
    });
    const recoveredAt = Date.now();
    const after = await inventory(installation);

    // Adopted, not recreated: the same objects, by UID, and nothing more.
    const kept = [...before.keys()];
    const sameUids = kept.filter((k) => after.get(k) === before.get(k));
    const changed = kept.filter((k) => after.get(k) !== before.get(k)).map((k) => `${k}: ${before.get(k)} -> ${after.get(k) ?? 'missing'}`);
    const lateObjects = inNamespace(after, late.namespace);
    const extra = [...after.keys()].filter((k) => !before.has(k) && !lateObjects.includes(k));
    const lostWrites = {
      lateCluster: { get: (await aliceB.get(`/api/v1/clusters/${late.id}`)).status, objectsLeft: lateObjects },
      stopOfDb: { desired: (await bobB.get(`/api/v1/clusters/${db.id}`)).body.instances[0].desired_status, replicas: (await apps.readNamespacedStatefulSet(dbSts)).spec?.replicas },
      carolToken: (await carolB.get('/api/v1/clusters/')).status,
    };
    const restoredCounts = await query(target, 'SELECT (SELECT count(*) FROM users) AS users, (SELECT count(*) FROM clusters) AS clusters, (SELECT count(*) FROM instances) AS instances');
    const figures = {
      dumpBytes: Number(run('stat', ['-c', '%s', dump]).stdout.trim()),
      writesAfterDumpMs: lastWriteAt - dumpedAt,
      namespaceDeleteMs: namespaceGoneAt - disasterAt,
      redeployMs: redeployedAt - namespaceGoneAt,
      restoreMs: restoredAt - redeployedAt,
      apiStartMs: apiUpAt - restoredAt,
      adoptedMsAfterApiStart: recoveredAt - apiUpAt,
      recoveryMsFromRedeploy: recoveredAt - namespaceGoneAt,
      recoveryMsFromDisaster: recoveredAt - disasterAt,
      // RPO of the drill: everything written after the dump.
      dataLostWindowMs: disasterAt - dumpedAt,
      objects: kept.length,
      sameUids: sameUids.length,
      changed,
      extra,
      lostWrites,
      restoredCounts,
    };
    record('dr-namespace-loss', figures);

    expect(changed).toEqual([]);
    expect(extra).toEqual([]);
    expect(sameUids.length).toBe(kept.length);
    // What was compared: 3 namespaces, each with its quota, limit range and default-deny policy (web also its exposed-ports policy); 3 StatefulSets, a VM, web's 2 Services.
    const kinds = (kind: string) => kept.filter((k) => k.startsWith(`${kind}/`)).length;
    expect({ ns: kinds('Namespace'), rq: kinds('ResourceQuota'), lr: kinds('LimitRange'), np: kinds('NetworkPolicy'), sts: kinds('StatefulSet'), vm: kinds('VirtualMachine'), svc: kinds('Service') }).toEqual({
      ns: 3,
      rq: 3,
      lr: 3,
      np: 4,
      sts: 3,
      vm: 1,
      svc: 2,
    });
    // What was written after the dump is lost from the database: the cluster, the stop, the tenant.
    // The cluster's objects in Kubernetes are not deleted: they name an id the restored
    // database never issued, so they are left for the operator (its namespace, its workload).
    expect(lostWrites.lateCluster.get).toBe(404);
    expect(lostWrites.lateCluster.objectsLeft).toEqual(expect.arrayContaining([`Namespace/${late.namespace}`, expect.stringMatching(new RegExp(`^StatefulSet/${late.namespace}/`))]));
    expect(lostWrites.stopOfDb).toEqual({ desired: 'running', replicas: 1 });
    expect(lostWrites.carolToken).toBe(401);
  });
});
