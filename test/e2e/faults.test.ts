// Faults the API survives: a crash mid-provisioning, objects deleted or
// added behind its back, Kubernetes or PostgreSQL out of reach.
import { AdmissionregistrationV1Api, AppsV1Api, CoreV1Api, NetworkingV1Api } from '@kubernetes/client-node';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, loadTestKubeConfig, testKubeconfigPath } from '../support/kube.ts';
import { createTestDatabase, type TestDatabase } from '../support/postgres.ts';
import { kubeconfigVia, startProxy } from '../support/proxy.ts';
import { createTenant, isObserverLeader, randomLabel, SERVER_ENTRY, SERVER_NODE_FLAGS, startServer, type ServerProcess } from '../support/server.ts';

const kc = loadTestKubeConfig();
const apps = kc.makeApiClient(AppsV1Api);
const core = kc.makeApiClient(CoreV1Api);
const stsNames = async (namespace: string) => (await apps.listNamespacedStatefulSet({ namespace })).items.map((s) => s.metadata!.name!).sort();

// Each server gets a database of its own: servers sharing one would share its work.
const servers: ServerProcess[] = [];
const databases: TestDatabase[] = [];
async function freshDb(): Promise<TestDatabase> {
  const db = await createTestDatabase();
  databases.push(db);
  return db;
}
afterAll(async () => {
  await Promise.all(servers.map((s) => s.stop()));
  await Promise.all(databases.map((d) => d.drop()));
});

const FAST_LEASE = { KUBEKLOUD_CLAIM_LEASE_SECONDS: '3' };

describe('a server killed mid-provisioning', () => {
  it('leaves work that a restarted server finishes, with no duplicate or missing objects', async () => {
    const db = await freshDb();
    const installation = randomLabel();
    const adminToken = `admin-${installation}-0123456789`;
    const first = await startServer({ databaseUrl: db.url, installation, adminToken, env: FAST_LEASE });
    const { client } = await createTenant(first.admin, { cpu: 10, memory: 10 });
    const created = (await client.post('/api/v1/clusters/', { name: 'crash', instance_type: 'container', cpu_per_instance: 0.5, memory_per_instance: 0.5, instance_count: 8 })).body;
    await first.kill();
    const second = await startServer({ databaseUrl: db.url, installation, adminToken, env: FAST_LEASE });
    servers.push(second);
    const again = second.admin.withToken(client.token!);
    await eventually(async () => (await again.get(`/api/v1/clusters/${created.id}`)).body.status === 'running', 60_000, 'converged after crash');
    expect(await stsNames(created.namespace)).toEqual(Array.from({ length: 8 }, (_, k) => `crash-${k + 1}`).sort());
    expect((await core.listNamespacedPod({ namespace: created.namespace })).items).toHaveLength(8);
  });
});

describe('drift and orphans', () => {
  let server: ServerProcess;
  beforeAll(async () => {
    server = await startServer({ databaseUrl: (await freshDb()).url });
    servers.push(server);
  });

  it('brings back a managed StatefulSet deleted behind its back', async () => {
    const { client } = await createTenant(server.admin, { cpu: 2, memory: 2 });
    const c = (await client.request('POST', '/api/v1/clusters/?wait=45', { name: 'drift', instance_type: 'container', cpu_per_instance: 0.5, memory_per_instance: 0.5, instance_count: 2 })).body;
    expect(c.wait.converged).toBe(true);
    const old = await apps.readNamespacedStatefulSet({ name: 'drift-1', namespace: c.namespace });
    await apps.deleteNamespacedStatefulSet({ name: 'drift-1', namespace: c.namespace });
    await eventually(async () => {
      const now = await apps.readNamespacedStatefulSet({ name: 'drift-1', namespace: c.namespace }).catch(() => null);
      return now !== null && now.metadata!.uid !== old.metadata!.uid;
    }, 30_000, 'StatefulSet recreated');
    await eventually(async () => (await client.get(`/api/v1/clusters/${c.id}`)).body.status === 'running', 45_000, 'running again');
  });

  it('puts back a namespace fence deleted behind its back', async () => {
    const fenced = await startServer({ env: { KUBEKLOUD_RESYNC_SECONDS: '2' } });
    servers.push(fenced);
    const { client } = await createTenant(fenced.admin, { cpu: 1, memory: 1 });
    const c = (await client.request('POST', '/api/v1/clusters/?wait=45', { name: 'fence', instance_type: 'container', cpu_per_instance: 0.5, memory_per_instance: 0.5, instance_count: 1 })).body;
    const net = kc.makeApiClient(NetworkingV1Api);
    await net.deleteNamespacedNetworkPolicy({ name: 'kubekloud-default-deny', namespace: c.namespace });
    await core.deleteNamespacedResourceQuota({ name: 'kubekloud-quota', namespace: c.namespace });
    await eventually(async () => {
      const back = await net.readNamespacedNetworkPolicy({ name: 'kubekloud-default-deny', namespace: c.namespace }).catch(() => null);
      const quota = await core.readNamespacedResourceQuota({ name: 'kubekloud-quota', namespace: c.namespace }).catch(() => null);
      return back !== null && quota !== null;
    }, 45_000, 'network policy and quota restored');
  });

  it('removes a labelled StatefulSet that has no instance row', async () => {
    const { client } = await createTenant(server.admin, { cpu: 1, memory: 1 });
    const c = (await client.request('POST', '/api/v1/clusters/?wait=45', { name: 'orph', instance_type: 'container', cpu_per_instance: 0.5, memory_per_instance: 0.5, instance_count: 1 })).body;
    // An instance id the database did issue, but to another cluster: no row of
    // this cluster renders it. (An id never issued is left in place instead:
    // test/domain/judge.test.ts.)
    const other = (await client.request('POST', '/api/v1/clusters/?wait=45', { name: 'other', instance_type: 'container', cpu_per_instance: 0.5, memory_per_instance: 0.5, instance_count: 1 })).body;
    const foreignId = String(other.instances[0].id);
    const sts = await apps.readNamespacedStatefulSet({ name: 'orph-1', namespace: c.namespace });
    const labels = { ...sts.metadata!.labels!, 'kubekloud.io/instance': foreignId };
    await apps.createNamespacedStatefulSet({
      namespace: c.namespace,
      body: { metadata: { name: 'stray', labels }, spec: { ...sts.spec!, replicas: 0, selector: { matchLabels: { 'kubekloud.io/instance': foreignId } }, template: { ...sts.spec!.template, metadata: { labels } } } },
    });
    await eventually(async () => !(await stsNames(c.namespace)).includes('stray'), 30_000, 'orphan removed');
    expect(await stsNames(c.namespace)).toEqual(['orph-1']);
  });
});

describe('Kubernetes out of reach', () => {
  it('still accepts and records requests, says why in /ready, and converges once it is back without waiting out its backoff', async () => {
    const target = /server:\s*https:\/\/([^:\s]+):(\d+)/.exec((await import('node:fs')).readFileSync(testKubeconfigPath, 'utf8'))!;
    const proxy = await startProxy(target[1]!, Number(target[2]));
    const kubeconfig = join(mkdtempSync(join(tmpdir(), 'kubekloud-kc-')), 'kubeconfig');
    kubeconfigVia(testKubeconfigPath, kubeconfig, proxy.port);
    const db = await freshDb();
    const server = await startServer({ databaseUrl: db.url, env: { KUBECONFIG: kubeconfig } });
    servers.push(server);
    try {
      const { client } = await createTenant(server.admin, { cpu: 2, memory: 2 });
      await proxy.cut();
      const ready = await server.admin.get('/ready');
      expect(ready.status).toBe(503);
      expect(ready.body.detail).toContain('kubernetes');
      expect(ready.body.checks.database).toBe('ok');
      const created = await client.post('/api/v1/clusters/', { name: 'later', instance_type: 'container', cpu_per_instance: 0.5, memory_per_instance: 0.5, instance_count: 2 });
      expect(created.status).toBe(201);
      // Let the outage last until the cluster's retry is pushed 10 s or more away.
      type Row = { waiting_on_kube: boolean; attempts: number; due_in_ms: number; next_attempt_at: Date; synced_at: Date | null };
      const row = async () =>
        (await db.query<Row>(
          `SELECT waiting_on_kube, attempts, next_attempt_at, synced_at,
                  (extract(epoch FROM next_attempt_at - now()) * 1000)::int AS due_in_ms FROM clusters WHERE id = $1`,
          [created.body.id],
        ))[0]!;
      const backingOff = await eventually(async () => {
        const r = await row();
        return r.waiting_on_kube && r.due_in_ms > 10_000 ? r : undefined;
      }, 60_000, 'the cluster backing off while Kubernetes is away');
      expect(backingOff.attempts).toBeGreaterThanOrEqual(4);
      expect((await client.get(`/api/v1/clusters/${created.body.id}`)).body.instances.map((i: { status: string }) => i.status)).toEqual(['pending', 'pending']);

      await proxy.restore();
      await eventually(async () => (await client.get(`/api/v1/clusters/${created.body.id}`)).body.status === 'running', 90_000, 'converged after Kubernetes came back');
      // It was retried when Kubernetes came back, not when its backoff ran out.
      const after = await row();
      expect(after.waiting_on_kube).toBe(false);
      expect(after.synced_at!.getTime()).toBeLessThan(backingOff.next_attempt_at.getTime());
      expect((await server.admin.get('/ready')).status).toBe(200);
    } finally {
      await proxy.close();
    }
  });
});

describe('a 5xx about one object', () => {
  it('backs off an object a failing admission webhook refuses, instead of retrying it every second', async () => {
    const db = await freshDb();
    const installation = randomLabel();
    const admission = kc.makeApiClient(AdmissionregistrationV1Api);
    const name = `kubekloud-test-refuse-${installation}`;
    // A webhook nobody answers, for this installation's StatefulSets only: the API server answers 500.
    await admission.createValidatingWebhookConfiguration({
      body: {
        metadata: { name },
        webhooks: [
          {
            name: 'refuse.kubekloud.test',
            admissionReviewVersions: ['v1'],
            sideEffects: 'None',
            failurePolicy: 'Fail',
            timeoutSeconds: 2,
            clientConfig: { url: 'https://127.0.0.1:1/refuse' },
            namespaceSelector: { matchLabels: { 'kubekloud.io/installation': installation } },
            rules: [{ apiGroups: ['apps'], apiVersions: ['v1'], operations: ['CREATE', 'UPDATE'], resources: ['statefulsets'] }],
          },
        ],
      },
    });
    try {
      const server = await startServer({ databaseUrl: db.url, installation });
      servers.push(server);
      const { client } = await createTenant(server.admin, { cpu: 1, memory: 1 });
      const c = (await client.post('/api/v1/clusters/', { name: 'hooked', instance_type: 'container', cpu_per_instance: 0.5, memory_per_instance: 0.5, instance_count: 1 })).body;
      type Row = { attempts: number; waiting_on_kube: boolean; message: string | null };
      const row = async () => (await db.query<Row>('SELECT attempts, waiting_on_kube, message FROM instances WHERE id = $1', [c.instances[0].id]))[0]!;
      const first = await eventually(async () => {
        const r = await row();
        return r.attempts >= 1 ? r : undefined;
      }, 30_000, 'the first refused attempt');
      expect(first.message).toContain('webhook');
      expect(first.waiting_on_kube).toBe(true); // a 5xx: it could have been Kubernetes being away
      await new Promise((r) => setTimeout(r, 15_000));
      // Backing off (0.5, 1, 2, 4, 8 s …) gives about 5 attempts in 15 s; retrying every second would give 15.
      const later = await row();
      expect(later.attempts).toBeGreaterThan(first.attempts);
      expect(later.attempts).toBeLessThanOrEqual(first.attempts + 7);
      expect((await client.get(`/api/v1/instances/${c.instances[0].id}`)).body.status).toBe('pending');
    } finally {
      await admission.deleteValidatingWebhookConfiguration({ name });
    }
  });
});

describe('PostgreSQL out of reach', () => {
  it('answers 503 fast, keeps /health up, and recovers without a manual step', async () => {
    const proxy = await startProxy('127.0.0.1', 5432);
    const url = new URL((await freshDb()).url);
    url.host = `127.0.0.1:${proxy.port}`;
    const server = await startServer({ databaseUrl: url.toString() });
    servers.push(server);
    try {
      const { client } = await createTenant(server.admin, { cpu: 1, memory: 1 });
      await proxy.cut();
      const started = Date.now();
      const res = await client.get('/api/v1/clusters/');
      const elapsed = Date.now() - started;
      expect(res.status, server.output()).toBe(503);
      expect(res.body.detail).toContain('database');
      expect(elapsed).toBeLessThan(1500);
      expect((await server.admin.get('/health')).status).toBe(200);
      expect((await server.admin.get('/ready')).status).toBe(503);
      await proxy.restore();
      await eventually(async () => (await client.get('/api/v1/clusters/')).status === 200, 15_000, 'recovered');
      expect((await server.admin.get('/ready')).status).toBe(200);
    } finally {
      await proxy.close();
    }
  });
});

describe('process lifecycle', () => {
  it('drains an in-flight request on SIGTERM, then exits 0', async () => {
    const server = await startServer();
    const { client } = await createTenant(server.admin, { cpu: 1, memory: 1 });
    const c = (await client.post('/api/v1/clusters/', { name: 'drain', instance_type: 'container', cpu_per_instance: 0.5, memory_per_instance: 0.5, instance_count: 1 })).body;
    // A request that holds the connection for a while: wait for a state it will not reach.
    const inFlight = client.request('POST', `/api/v1/instances/${c.instances[0].id}/operate?wait=3`, { operation: 'stop' });
    await new Promise((r) => setTimeout(r, 300));
    const exited = server.stop();
    const res = await inFlight;
    expect(res.status).toBe(200);
    expect(res.body.detail.new_status).toBe('stopped');
    expect(await exited, server.output()).toBe(0);
  });

  it('lists every watched kind again on SIGHUP, and keeps serving', async () => {
    const server = await startServer();
    try {
      await eventually(() => isObserverLeader(server), 30_000, 'the observer lease');
      /** kubekloud_watch_relists_total by kind, for one reason. */
      const relists = async (reason: string) => {
        const text = (await server.metrics.get()).body;
        const out = new Map<string, number>();
        for (const m of text.matchAll(/^kubekloud_watch_relists_total\{kind="([^"]+)",reason="([^"]+)"\} (\S+)$/gm)) if (m[2] === reason) out.set(m[1]!, Number(m[3]));
        return out;
      };
      const started = await eventually(async () => ((await relists('start')).size > 0 ? relists('start') : false), 30_000, 'the first lists');
      const before = await relists('resync');
      server.proc.kill('SIGHUP');
      await eventually(async () => {
        const after = await relists('resync');
        return [...started.keys()].every((kind) => (after.get(kind) ?? 0) > (before.get(kind) ?? 0));
      }, 30_000, 'a resync of every kind listed at start');
      expect((await fetch(`${server.url}/health`)).status).toBe(200);
      expect(server.output()).toContain('SIGHUP: listing every watched kind again');
    } finally {
      expect(await server.stop()).toBe(0);
    }
  });

  it('refuses to start on bad configuration with one line per problem', async () => {
    const { spawnSync } = await import('node:child_process');
    const { repoRoot } = await import('../support/kube.ts');
    const run = spawnSync(process.execPath, [...SERVER_NODE_FLAGS, SERVER_ENTRY], {
      cwd: repoRoot,
      env: { PATH: process.env.PATH, PORT: 'x', KUBEKLOUD_ADMIN_TOKEN: 'short', DATABASE_URL: 'mysql://nope' },
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(run.status).toBe(2);
    const lines = run.stderr.trim().split('\n');
    expect(lines).toHaveLength(3);
    expect(lines).toEqual(
      expect.arrayContaining([expect.stringContaining('PORT'), expect.stringContaining('DATABASE_URL'), expect.stringContaining('KUBEKLOUD_ADMIN_TOKEN')]),
    );
  });
});
