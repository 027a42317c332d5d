// import-python end to end: a database in the Python service's schema and the
// objects that service makes on the local control plane, imported by the
// server's own entry point (dry run first, then for real, then again), and a
// KubeKloud server on the result answering the Python tokens: the same
// VirtualMachines (same UIDs) and one replacement per container pod, the new
// pod Ready before the old one went.
import { CoreV1Api, CustomObjectsApi, Watch, type V1Pod } from '@kubernetes/client-node';
import { spawn } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { ApiClient } from '../support/api.ts';
import { eventually, loadTestKubeConfig, repoRoot, testKubeconfigPath } from '../support/kube.ts';
import { createTestDatabase, type TestDatabase } from '../support/postgres.ts';
import { randomLabel, SERVER_ENTRY, SERVER_NODE_FLAGS, startServer, type ServerProcess } from '../support/server.ts';
import { childMark } from '../support/children.ts';

const kc = loadTestKubeConfig();
const core = kc.makeApiClient(CoreV1Api);
const custom = kc.makeApiClient(CustomObjectsApi);
const installation = randomLabel();
const vmCluster = `pyvm-${installation}`;
const webCluster = `pyweb-${installation}`;
const ALICE = 'alice-python-token-0123456789';
const BOB = 'bob-tok'; // shorter than today's minimum: kept, reported weak
let pyDb: TestDatabase;
let target: TestDatabase;
let server: ServerProcess | null = null;

afterAll(async () => {
  await server?.stop();
  for (const ns of [`${vmCluster}-ns`, `${webCluster}-ns`]) await core.deleteNamespace({ name: ns }).catch(() => {});
  await pyDb?.drop();
  await target?.drop();
});

/** The tables the Python service's SQLAlchemy models create on PostgreSQL (app/models.py). */
const PYTHON_SCHEMA = `
CREATE TYPE instancetype AS ENUM ('VM', 'CONTAINER');
CREATE TYPE instancestatus AS ENUM ('RUNNING', 'STOPPED', 'SUSPENDED', 'PENDING', 'FAILED');
CREATE TABLE users (
  id serial PRIMARY KEY,
  username varchar NOT NULL,
  token varchar NOT NULL,
  quota_cpu double precision NOT NULL,
  quota_memory double precision NOT NULL,
  used_cpu double precision,
  used_memory double precision,
  created_at timestamp without time zone
);
CREATE UNIQUE INDEX ix_users_username ON users (username);
CREATE UNIQUE INDEX ix_users_token ON users (token);
CREATE INDEX ix_users_id ON users (id);
CREATE TABLE clusters (
  id serial PRIMARY KEY,
  name varchar NOT NULL,
  namespace varchar NOT NULL,
  instance_type instancetype NOT NULL,
  cpu_per_instance double precision NOT NULL,
  memory_per_instance double precision NOT NULL,
  instance_count integer NOT NULL,
  owner_id integer NOT NULL REFERENCES users (id),
  created_at timestamp without time zone
);
CREATE UNIQUE INDEX ix_clusters_name ON clusters (name);
CREATE UNIQUE INDEX ix_clusters_namespace ON clusters (namespace);
CREATE INDEX ix_clusters_id ON clusters (id);
CREATE TABLE instances (
  id serial PRIMARY KEY,
  cluster_id integer NOT NULL REFERENCES clusters (id),
  instance_name varchar NOT NULL,
  status instancestatus,
  k8s_resource_name varchar,
  created_at timestamp without time zone,
  updated_at timestamp without time zone
);
CREATE UNIQUE INDEX ix_instances_instance_name ON instances (instance_name);
CREATE INDEX ix_instances_id ON instances (id);
`;

/** What the Python service's k8s_service.py creates for one instance. */
const pythonPod = (name: string, ns: string) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace: ns, labels: { app: name, 'managed-by': 'cmp', 'instance-type': 'container' } },
  spec: {
    containers: [{ name: 'main', image: 'nginx:latest', resources: { requests: { cpu: '0.5', memory: '512Mi' }, limits: { cpu: '0.5', memory: '512Mi' } } }],
    restartPolicy: 'Always',
  },
});
const pythonVm = (name: string, ns: string) => ({
  apiVersion: 'kubevirt.io/v1',
  kind: 'VirtualMachine',
  metadata: { name, namespace: ns, labels: { app: name, 'managed-by': 'cmp', 'instance-type': 'vm' } },
  spec: {
    running: true,
    template: {
      metadata: { labels: { 'kubevirt.io/vm': name } },
      spec: {
        domain: { cpu: { cores: 1 }, resources: { requests: { memory: '1Gi' } }, devices: { disks: [{ name: 'containerdisk', disk: { bus: 'virtio' } }] } },
        volumes: [{ name: 'containerdisk', containerDisk: { image: 'kubevirt/cirros-container-disk-demo' } }],
      },
    },
  },
});

const vmNames = [0, 1].map((n) => `${vmCluster}-instance-${n}`);
const podNames = [0, 1].map((n) => `${webCluster}-instance-${n}`);

async function seedPython() {
  pyDb = await createTestDatabase();
  await pyDb.query(PYTHON_SCHEMA);
  await pyDb.query(
    `INSERT INTO users (username, token, quota_cpu, quota_memory, used_cpu, used_memory, created_at) VALUES
       ('alice', $1, 8, 16, 2, 2, now()), ('bob', $2, 4, 4, 1, 1, now())`,
    [ALICE, BOB],
  );
  await pyDb.query(
    `INSERT INTO clusters (name, namespace, instance_type, cpu_per_instance, memory_per_instance, instance_count, owner_id, created_at) VALUES
       ($1::text, $1::text || '-ns', 'VM', 1, 1, 2, 1, now()), ($2::text, $2::text || '-ns', 'CONTAINER', 0.5, 0.5, 2, 2, now())`,
    [vmCluster, webCluster],
  );
  for (const [cluster, names] of [[1, vmNames], [2, podNames]] as const) {
    for (const n of names) {
      await pyDb.query("INSERT INTO instances (cluster_id, instance_name, status, k8s_resource_name, created_at, updated_at) VALUES ($1, $2, 'RUNNING', $2, now(), now())", [cluster, n]);
    }
  }
  // The objects, as the Python service made them (its labels, spec.running on VMs, bare pods).
  for (const c of [vmCluster, webCluster]) {
    await core.createNamespace({ body: { metadata: { name: `${c}-ns`, labels: { 'managed-by': 'cmp', 'cluster-namespace': 'true' } } } });
  }
  for (const n of vmNames) {
    await custom.createNamespacedCustomObject({ group: 'kubevirt.io', version: 'v1', namespace: `${vmCluster}-ns`, plural: 'virtualmachines', body: pythonVm(n, `${vmCluster}-ns`) });
    // KubeVirt would run it: its status says so (the local plane only plays a VM with a runStrategy).
    await custom.patchNamespacedCustomObjectStatus(
      { group: 'kubevirt.io', version: 'v1', namespace: `${vmCluster}-ns`, plural: 'virtualmachines', name: n, body: [{ op: 'add', path: '/status', value: { printableStatus: 'Running', ready: true, created: true } }] },
    );
  }
  for (const n of podNames) await core.createNamespacedPod({ namespace: `${webCluster}-ns`, body: pythonPod(n, `${webCluster}-ns`) as any });
  await eventually(async () => {
    const pods = await core.listNamespacedPod({ namespace: `${webCluster}-ns` });
    return pods.items.length === 2 && pods.items.every((p) => p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'));
  }, 30_000, 'the Python pods Ready');
}

type Run = { code: number | null; stdout: string; stderr: string; ms: number };
function runImport(args: string[]): Promise<Run> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    const proc = spawn(process.execPath, [...SERVER_NODE_FLAGS, SERVER_ENTRY, 'import-python', '--from', pyDb.url, '--json', ...args], {
      cwd: repoRoot,
      env: { PATH: process.env.PATH ?? '', DATABASE_URL: target.url, KUBECONFIG: testKubeconfigPath, KUBEKLOUD_INSTALLATION: installation, KUBEKLOUD_NAMESPACE_PREFIX: installation, ...childMark() },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (d) => (stdout += d));
    proc.stderr.on('data', (d) => (stderr += d));
    proc.on('exit', (code) => resolve({ code, stdout, stderr, ms: Date.now() - t0 }));
  });
}

const pythonRows = () => pyDb.query("SELECT 'u' AS t, row_to_json(u)::text AS r FROM users u UNION ALL SELECT 'c', row_to_json(c)::text FROM clusters c UNION ALL SELECT 'i', row_to_json(i)::text FROM instances i ORDER BY 1, 2");
const vmState = async () =>
  Promise.all(vmNames.map(async (n) => (await custom.getNamespacedCustomObject({ group: 'kubevirt.io', version: 'v1', namespace: `${vmCluster}-ns`, plural: 'virtualmachines', name: n })) as any));
const podsOf = async (ns: string) => (await core.listNamespacedPod({ namespace: ns })).items;
const ready = (p: any) => Boolean(p.status?.conditions?.some((c: any) => c.type === 'Ready' && c.status === 'True'));

describe('import-python', () => {
  it('takes a Python installation over: tokens keep working, VMs adopted in place, each container replaced once, a second run changes nothing', async () => {
    await seedPython();
    target = await createTestDatabase();
    const rowsBefore = await pythonRows();
    const vmsBefore = await vmState();
    const podsBefore = await podsOf(`${webCluster}-ns`);

    // Dry run: a report, and nothing written anywhere.
    const dry = await runImport(['--dry-run']);
    expect(dry.code, dry.stderr).toBe(0);
    const dryReport = JSON.parse(dry.stdout);
    expect(dryReport.dryRun).toBe(true);
    expect(dryReport.weakTokens).toEqual(['bob']);
    const dryActions = dryReport.actions.map((a: any) => `${a.action} ${a.subject} ${a.name}`);
    for (const n of vmNames) expect(dryActions).toContain(`adopt vm ${vmCluster}-ns/${n}`);
    for (const n of podNames) expect(dryActions).toContain(`replace container ${webCluster}-ns/${n}`);
    expect((await target.query("SELECT to_regclass('users')::text AS t"))[0]!.t).toBeNull();
    expect((await vmState()).map((v) => v.metadata.resourceVersion)).toEqual(vmsBefore.map((v) => v.metadata.resourceVersion));
    expect((await podsOf(`${webCluster}-ns`)).map((p) => p.metadata!.resourceVersion)).toEqual(podsBefore.map((p) => p.metadata!.resourceVersion));
    expect((await core.readNamespace({ name: `${vmCluster}-ns` })).metadata!.labels!['app.kubernetes.io/managed-by']).toBeUndefined();

    // The real run, watched: after every change the plane reports, each container instance
    // has a Ready pod, and an old pod goes only after its replacement was Ready. Watches from
    // the resourceVersion of a list see every change in order, so nothing falls between samples.
    const seen = { newReadyAt: new Map<string, number>(), oldGoneAt: new Map<string, number>(), vmStatuses: new Set<string>(), gaps: 0, together: 0, ended: [] as string[] };
    let step = 0;
    const podList = await core.listNamespacedPod({ namespace: `${webCluster}-ns` });
    const pods = new Map(podList.items.map((p) => [p.metadata!.name!, p]));
    const vmList = (await custom.listNamespacedCustomObject({ group: 'kubevirt.io', version: 'v1', namespace: `${vmCluster}-ns`, plural: 'virtualmachines' })) as any;
    for (const v of vmList.items) seen.vmStatuses.add(v.status?.printableStatus ?? 'none');
    const judgePods = () => {
      step++;
      let replacing = 0;
      for (const n of podNames) {
        const oldPod = pods.get(n);
        const newPod = pods.get(`${n}-0`);
        if (newPod && ready(newPod) && !seen.newReadyAt.has(n)) seen.newReadyAt.set(n, step);
        if (!oldPod && !seen.oldGoneAt.has(n)) seen.oldGoneAt.set(n, step);
        if (!(oldPod && ready(oldPod)) && !(newPod && ready(newPod))) seen.gaps++;
        if (oldPod && newPod) replacing++;
      }
      seen.together = Math.max(seen.together, replacing);
    };
    let watching = true;
    const watch = new Watch(kc);
    const ended = (what: string) => (err: unknown) => void (watching && seen.ended.push(`${what}: ${String(err)}`));
    const watches = [
      await watch.watch(
        `/api/v1/namespaces/${webCluster}-ns/pods`,
        { resourceVersion: podList.metadata!.resourceVersion },
        (type, p: V1Pod) => {
          if (type === 'DELETED') pods.delete(p.metadata!.name!);
          else pods.set(p.metadata!.name!, p);
          judgePods();
        },
        ended('pods'),
      ),
      await watch.watch(
        `/apis/kubevirt.io/v1/namespaces/${vmCluster}-ns/virtualmachines`,
        { resourceVersion: vmList.metadata.resourceVersion },
        (_type, v: any) => seen.vmStatuses.add(v.status?.printableStatus ?? 'none'),
        ended('virtualmachines'),
      ),
    ];
    const real = await runImport([]);
    // The import has answered; wait until the watch has delivered the state a list now shows.
    const rvs = (items: V1Pod[]) => items.map((p) => `${p.metadata!.name} ${p.metadata!.resourceVersion}`).sort().join(',');
    await eventually(async () => seen.ended.length > 0 || rvs((await podsOf(`${webCluster}-ns`))) === rvs([...pods.values()]), 30_000, 'the pod watch caught up');
    watching = false;
    for (const w of watches) w.abort();
    expect(seen.ended).toEqual([]);
    expect(real.code, `${real.stdout}\n${real.stderr}`).toBe(0);
    const report = JSON.parse(real.stdout);
    expect(report.changed).toBe(true);
    expect(report.notTakenOver.filter((s: string) => s.includes(installation))).toEqual([]);
    expect(report.weakTokens).toEqual(['bob']);
    const replaced = report.actions.filter((a: any) => a.action === 'replace');
    expect(replaced.map((a: any) => a.name).sort()).toEqual(podNames.map((n) => `${webCluster}-ns/${n}`).sort());
    for (const n of podNames) {
      expect(seen.newReadyAt.has(n) && seen.oldGoneAt.has(n), `${n}: its replacement seen Ready and it seen gone`).toBe(true);
      expect(seen.newReadyAt.get(n)!, `${n} went before its replacement was Ready`).toBeLessThan(seen.oldGoneAt.get(n)!);
    }
    expect(seen.gaps).toBe(0);
    expect(seen.together).toBe(1); // one at a time
    expect([...seen.vmStatuses]).toEqual(['Running']); // never stopped on the way
    const vmsAfter = await vmState();
    expect(vmsAfter.map((v) => v.metadata.uid)).toEqual(vmsBefore.map((v) => v.metadata.uid));
    for (const v of vmsAfter) {
      expect(v.spec.running).toBeUndefined();
      expect(v.spec.runStrategy).toBe('Always');
      expect(v.metadata.labels['kubekloud.io/installation']).toBe(installation);
      expect(v.metadata.managedFields.some((m: any) => m.manager === 'kubekloud')).toBe(true);
    }
    expect(await pythonRows()).toEqual(rowsBefore);
    process.stdout.write(
      `[import-python] dry run ${dry.ms} ms, import ${real.ms} ms (report ${report.durationMs} ms); replacements ${replaced.map((a: any) => `${a.ms} ms`).join(', ')}\n`,
    );

    // KubeKloud on the imported database, answering the Python tokens.
    server = await startServer({ databaseUrl: target.url, installation });
    const alice = new ApiClient(server.url, ALICE);
    const bob = new ApiClient(server.url, BOB);
    const [vc] = (await alice.get('/api/v1/clusters/')).body.items ?? (await alice.get('/api/v1/clusters/')).body;
    expect(vc.name).toBe(vmCluster);
    expect(vc.namespace).toBe(`${vmCluster}-ns`);
    const vmDetail = (await alice.get(`/api/v1/clusters/${vc.id}`)).body;
    expect(vmDetail.instances.map((i: any) => i.name ?? i.instance_name).sort()).toEqual(vmNames);
    const webList = (await bob.get('/api/v1/clusters/')).body;
    const wc = (webList.items ?? webList)[0];
    expect(wc.name).toBe(webCluster);
    const webDetail = (await bob.get(`/api/v1/clusters/${wc.id}`)).body;
    await eventually(async () => (await alice.get(`/api/v1/clusters/${vc.id}`)).body.instances.every((i: any) => i.status === 'running'), 30_000, 'VMs running');
    await eventually(async () => (await bob.get(`/api/v1/clusters/${wc.id}`)).body.instances.every((i: any) => i.status === 'running'), 30_000, 'containers running');

    for (const [client, inst] of [...vmDetail.instances.map((i: any) => [alice, i]), ...webDetail.instances.map((i: any) => [bob, i])] as [ApiClient, any][]) {
      for (const operation of ['stop', 'start']) {
        const r = await client.request('POST', `/api/v1/instances/${inst.id}/operate?wait=60`, { operation });
        expect(r.status, JSON.stringify(r.body)).toBeLessThan(300);
        await eventually(async () => (await client.get(`/api/v1/instances/${inst.id}`)).body.status === (operation === 'stop' ? 'stopped' : 'running'), 30_000, `${inst.id} ${operation}`);
      }
    }
    expect((await vmState()).map((v) => v.metadata.uid)).toEqual(vmsBefore.map((v) => v.metadata.uid));
    const podsNow = await podsOf(`${webCluster}-ns`);
    expect(podsNow.map((p) => p.metadata!.name).sort()).toEqual(podNames.map((n) => `${n}-0`).sort());

    // A second run changes nothing and says so.
    const again = await runImport([]);
    expect(again.code, again.stderr).toBe(0);
    const second = JSON.parse(again.stdout);
    expect(second.changed).toBe(false);
    expect(second.actions.filter((a: any) => a.action !== 'unchanged')).toEqual([]);
    expect((await target.query<{ n: number }>('SELECT count(*)::int AS n FROM users'))[0]!.n).toBe(3); // the admin, alice, bob
    expect((await vmState()).map((v) => v.metadata.uid)).toEqual(vmsBefore.map((v) => v.metadata.uid));
    expect(await pythonRows()).toEqual(rowsBefore);
  }, 240_000);
});
