// Isolation checks on the real plane (GET /api/v1/clusters/{id}/isolation,
// GET /api/v1/isolation): a fresh cluster passes every check; an outsider then
// breaks it with the Kubernetes API as the plane's admin — edits the default
// deny, adds a RoleBinding for a user `mallory`, runs a pod with an added
// capability and a ServiceAccount token — and each check fails with evidence.
// While no reconciler runs (a second server on the same database with its
// reconciler off) the owned failure stays; once one runs it is repaired and
// its check passes again, while the report goes on saying what KubeKloud will
// not repair. And with Kubernetes out of reach, the checks answer 503.
import { CoreV1Api, RbacAuthorizationV1Api } from '@kubernetes/client-node';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jsonPatch } from '../../src/kube/rest.ts';
import type { ApiClient } from '../support/api.ts';
import { eventually, loadTestKubeConfig, rejection, repoRoot } from '../support/kube.ts';
import { createTestDatabase, type TestDatabase } from '../support/postgres.ts';
import { createTenant, randomLabel, startServer, type ServerProcess } from '../support/server.ts';

const kc = loadTestKubeConfig();
const core = kc.makeApiClient(CoreV1Api);
const rbac = kc.makeApiClient(RbacAuthorizationV1Api);
const installation = randomLabel();
const adminToken = `admin-${installation}-isolation`;
const tmp = mkdtempSync(join(tmpdir(), 'kubekloud-isolation-'));

let db: TestDatabase;
let reconciling: ServerProcess | null = null;
let viewer: ServerProcess;
let owner: ApiClient;
let other: ApiClient;
let cluster: { id: number; namespace: string };

type Check = { name: string; passed: boolean; evidence: string; repair: 'automatic' | 'manual'; objects: string[] };
type Report = { cluster_id: number; namespace: string; passed: boolean; failing: number; checks: Check[] };

const start = (o: { reconciler: boolean; keepNamespaces: boolean; env?: Record<string, string> }) =>
  startServer({ databaseUrl: db.url, installation, adminToken, keepNamespaces: o.keepNamespaces, env: { KUBEKLOUD_RECONCILER: String(o.reconciler), ...o.env } });
const report = async (c: ApiClient = owner) => {
  const res = await c.get<Report>(`/api/v1/clusters/${cluster.id}/isolation`);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body;
};
const check = (r: Report, name: string) => r.checks.find((c) => c.name === name)!;
const failing = (r: Report) => r.checks.filter((c) => !c.passed).map((c) => c.name);

/** The CLI (bin/kubekloud.js) against `url` with `token`: its exit code and what it printed. */
function kk(url: string, token: string, args: string[]): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const env = { PATH: process.env.PATH ?? '', HOME: tmp, XDG_CONFIG_HOME: tmp, KUBEKLOUD_URL: url, KUBEKLOUD_TOKEN: token };
    const child = spawn(process.execPath, [join(repoRoot, 'bin', 'kubekloud.js'), ...args], { cwd: tmp, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('exit', (code) => resolve({ code, out }));
  });
}

beforeAll(async () => {
  db = await createTestDatabase();
  reconciling = await start({ reconciler: true, keepNamespaces: true });
  // Reads only: with its reconciler off, nothing this server does repairs what the test breaks.
  viewer = await start({ reconciler: false, keepNamespaces: true });
  // Tenants ask the viewer, which stays up while the reconciling server comes and goes.
  owner = viewer.admin.withToken((await createTenant(viewer.admin, { cpu: 2, memory: 2 })).user.token);
  other = viewer.admin.withToken((await createTenant(viewer.admin, { cpu: 1, memory: 1 })).user.token);
  const created = await reconciling.admin.withToken(owner.token!).request('POST', '/api/v1/clusters/?wait=60', {
    name: 'web',
    instance_type: 'container',
    cpu_per_instance: 0.25,
    memory_per_instance: 0.25,
    instance_count: 1,
    ports: [{ port: 8080 }],
  });
  expect(created.body.wait?.converged, JSON.stringify(created.body)).toBe(true);
  cluster = { id: created.body.id, namespace: created.body.namespace };
}, 90_000);

afterAll(async () => {
  await viewer?.stop();
  // The last server of the installation takes its namespaces with it.
  if (!reconciling) reconciling = await start({ reconciler: false, keepNamespaces: false }).catch(() => null);
  await reconciling?.stop();
  await db?.drop();
  rmSync(tmp, { recursive: true, force: true });
});

describe('isolation checks on the real plane', () => {
  it('a fresh cluster passes every check, for its owner and an admin; another tenant gets 404', async () => {
    const r = await report();
    expect(r.checks.map((c) => [c.name, c.passed])).toEqual([
      ['pod_security', true],
      ['network_policy', true],
      ['resource_quota', true],
      ['limit_range', true],
      ['pod_privileges', true],
      ['service_account_token', true],
      ['role_bindings', true],
    ]);
    expect(check(r, 'pod_security').evidence).toMatch(/enforces Pod Security level restricted/);
    expect(check(r, 'pod_privileges').evidence).toMatch(/^1 pod\(s\)/);
    expect((await report(viewer.admin)).passed).toBe(true);
    const theirs = await other.get(`/api/v1/clusters/${cluster.id}/isolation`);
    expect(theirs.status).toBe(404);
    expect(theirs.body.detail).toBe(`Cluster with id ${cluster.id} not found`);
    expect((await other.get('/api/v1/isolation')).status).toBe(403);
    expect(await kk(viewer.url, owner.token!, ['clusters', 'isolation', 'web'])).toMatchObject({ code: 0, out: expect.stringMatching(/every check passed/) });
  });

  it("an outsider's changes fail their checks with evidence; KubeKloud's own objects come back, the rest the report keeps naming", async () => {
    const ns = cluster.namespace;
    // The enforce label works: a privileged pod is refused outright.
    const refused = await rejection(() =>
      core.createNamespacedPod({ namespace: ns, body: { metadata: { name: 'root' }, spec: { containers: [{ name: 'sh', image: 'busybox', securityContext: { privileged: true } }] } } }),
    );
    expect(refused.code).toBe(403);
    expect(refused.message).toMatch(/violates PodSecurity "restricted/);
    // The reconciler stops; the outsider breaks things.
    await reconciling!.stop();
    reconciling = null;
    await jsonPatch(kc, { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'kubekloud-default-deny', namespace: ns } }, [
      { op: 'replace', path: '/spec/ingress', value: [{}] },
    ]);
    await rbac.createNamespacedRoleBinding({
      namespace: ns,
      body: { metadata: { name: 'let-mallory-in' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'edit' }, subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: 'mallory' }] },
    });
    // Allowed by "restricted", which lets a pod add NET_BIND_SERVICE and mount its token.
    await core.createNamespacedPod({
      namespace: ns,
      body: {
        metadata: { name: 'outsider' },
        spec: {
          securityContext: { runAsNonRoot: true, runAsUser: 1000, seccompProfile: { type: 'RuntimeDefault' } },
          containers: [{ name: 'sh', image: 'busybox', securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'], add: ['NET_BIND_SERVICE'] } } }],
        },
      },
    });

    const broken = await report();
    expect(failing(broken)).toEqual(['network_policy', 'pod_privileges', 'service_account_token', 'role_bindings']);
    expect(check(broken, 'network_policy')).toMatchObject({ repair: 'automatic', evidence: expect.stringMatching(/kubekloud-default-deny differs from its rendered form: spec\.ingress\[0\]\.from/) });
    expect(check(broken, 'pod_privileges')).toMatchObject({ repair: 'manual', objects: ['Pod/outsider'], evidence: 'pod outsider: container sh adds NET_BIND_SERVICE' });
    expect(check(broken, 'service_account_token')).toMatchObject({ repair: 'manual', objects: ['Pod/outsider'] });
    expect(check(broken, 'role_bindings')).toMatchObject({ repair: 'manual', objects: [`RoleBinding/${ns}/let-mallory-in`] });
    expect(check(broken, 'role_bindings').evidence).toContain(`RoleBinding ${ns}/let-mallory-in grants ClusterRole/edit in the namespace to User mallory`);
    const cliRun = await kk(viewer.url, owner.token!, ['clusters', 'isolation', String(cluster.id)]);
    expect(cliRun.code).toBe(1);
    expect(cliRun.out).toMatch(/4 check\(s\) failing/);
    expect(cliRun.out).toMatch(/role_bindings\s+FAIL\s+manual/);

    // The fleet view: failing first, only the failing checks; the metric counts them.
    const fleet = await viewer.admin.get<Report[]>('/api/v1/isolation');
    expect(fleet.status).toBe(200);
    expect(fleet.headers.get('x-total-count')).toBe('1');
    expect(fleet.body[0]).toMatchObject({ cluster_id: cluster.id, failing: 4 });
    expect(fleet.body[0]!.checks.map((c) => c.name)).toEqual(['network_policy', 'pod_privileges', 'service_account_token', 'role_bindings']);
    const metrics = (await viewer.metrics.get()).body;
    expect(metrics).toMatch(/^kubekloud_isolation_checks_failing\{check="role_bindings"\} 1$/m);
    expect(metrics).toMatch(/^kubekloud_isolation_checks_failing\{check="limit_range"\} 0$/m);
    expect((await kk(viewer.url, adminToken, ['isolation'])).code).toBe(1);

    // A reconciler again: the observer repairs what KubeKloud owns; the rest stays, still named.
    reconciling = await start({ reconciler: true, keepNamespaces: false });
    const after = await eventually(async () => {
      const r = await report();
      return check(r, 'network_policy').passed ? r : false;
    }, 30_000, 'the default deny repaired');
    expect(failing(after)).toEqual(['pod_privileges', 'service_account_token', 'role_bindings']);
    expect(after.checks.filter((c) => !c.passed).every((c) => c.repair === 'manual')).toBe(true);
  }, 60_000);

  it('answers 503 naming Kubernetes when it cannot be reached', async () => {
    const kubeconfig = join(tmp, 'unreachable.kubeconfig');
    writeFileSync(
      kubeconfig,
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'gone', cluster: { server: 'https://127.0.0.1:1', 'insecure-skip-tls-verify': true } }],
        users: [{ name: 'u', user: { token: 'x' } }],
        contexts: [{ name: 'gone', context: { cluster: 'gone', user: 'u' } }],
        'current-context': 'gone',
      }),
    );
    const cut = await start({ reconciler: false, keepNamespaces: true, env: { KUBECONFIG: kubeconfig } });
    try {
      const res = await cut.admin.get(`/api/v1/clusters/${cluster.id}/isolation`);
      expect(res.status).toBe(503);
      expect(res.body.detail).toMatch(/^Kubernetes could not be read for the isolation checks: Kubernetes API unreachable/);
      expect((await cut.admin.get('/api/v1/isolation')).status).toBe(503);
    } finally {
      await cut.stop();
    }
  });
});
