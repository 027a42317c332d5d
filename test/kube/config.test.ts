// The server's own reading of kubeconfigs and of the pod's service account
// (src/kube/config.ts), against the real API server: each way of
// authenticating is judged by what the API server lets that identity do, not
// by the headers sent.
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { load } from 'js-yaml';
import { CoreV1Api, RbacAuthorizationV1Api } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKube } from '../../src/kube/client.ts';
import { loadClusterAccess } from '../../src/kube/config.ts';
import { KubeError } from '../../src/kube/errors.ts';
import { createTestNamespace, deleteNamespace, loadTestKubeConfig, testKubeconfigPath } from '../support/kube.ts';

type Doc = {
  'current-context': string;
  contexts: { name: string; context: { cluster: string; user: string } }[];
  clusters: { name: string; cluster: Record<string, unknown> }[];
  users: { name: string; user: Record<string, unknown> }[];
};

const admin = loadTestKubeConfig();
const doc = load(readFileSync(testKubeconfigPath, 'utf8')) as Doc;
const context = doc.contexts.find((c) => c.name === doc['current-context'])!.context;
const cluster = doc.clusters.find((c) => c.name === context.cluster)!.cluster;
const adminUser = doc.users.find((u) => u.name === context.user)!.user;
const server = new URL(String(cluster.server));
const ca = Buffer.from(String(cluster['certificate-authority-data']), 'base64').toString();

let dir: string;
let ns: string;
let saToken: string;

/** A kubeconfig file of one cluster, one user and one context, in `dir`. */
function kubeconfig(name: string, clusterFields: Record<string, unknown>, user: Record<string, unknown>): string {
  const path = join(dir, name);
  const d = {
    'current-context': 'c',
    contexts: [{ name: 'c', context: { cluster: 'k', user: 'u' } }],
    clusters: [{ name: 'k', cluster: { server: server.href.replace(/\/$/, ''), ...clusterFields } }],
    users: [{ name: 'u', user }],
  };
  writeFileSync(path, JSON.stringify(d));
  return path;
}

/** What the API server answers a read of a ConfigMap in the test namespace: 'ok', or the KubeError's reason. */
async function canRead(access: ReturnType<typeof loadClusterAccess>): Promise<string> {
  try {
    await createKube(access).get({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'probe', namespace: ns } });
    return 'ok';
  } catch (err) {
    return err instanceof KubeError ? err.reason : String(err);
  }
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'kk-config-'));
  ns = await createTestNamespace(admin, 'config');
  const core = admin.makeApiClient(CoreV1Api);
  await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'probe' }, data: {} } });
  await core.createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name: 'reader' } } });
  saToken = (await core.createNamespacedServiceAccountToken({ namespace: ns, name: 'reader', body: { spec: { audiences: [], expirationSeconds: 600 } } })).status!.token!;
  // Reading ConfigMaps here is granted to one group only; nobody else below holds it.
  await admin.makeApiClient(RbacAuthorizationV1Api).createNamespacedRole({
    namespace: ns,
    body: { metadata: { name: 'read' }, rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['get'] }] },
  });
  await admin.makeApiClient(RbacAuthorizationV1Api).createNamespacedRoleBinding({
    namespace: ns,
    body: {
      metadata: { name: 'read' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'read' },
      subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: 'kk-config-readers' }],
    },
  });
});
afterAll(async () => {
  await deleteNamespace(admin, ns);
  rmSync(dir, { recursive: true, force: true });
});

describe('a kubeconfig file', () => {
  it('authenticates with its token and trusts its CA: the admin reads, and the API server answers a ping', async () => {
    const access = loadClusterAccess({ KUBECONFIG: testKubeconfigPath });
    expect(access.getCurrentCluster()?.server).toBe(server.href.replace(/\/$/, ''));
    await createKube(access).ping();
    expect(await canRead(access)).toBe('ok');
  });

  it('merges the files KUBECONFIG lists, skips the missing, and reads CA and token files relative to their kubeconfig', async () => {
    writeFileSync(join(dir, 'ca.pem'), ca);
    writeFileSync(join(dir, 'admin.token'), `${String(adminUser.token)}\n`);
    // The first file names the context only; the second holds cluster and user, its files given relative to it.
    const first = join(dir, 'context.yaml');
    writeFileSync(first, JSON.stringify({ 'current-context': 'c', contexts: [{ name: 'c', context: { cluster: 'k', user: 'u' } }] }));
    const second = kubeconfig('rest.yaml', { 'certificate-authority': 'ca.pem' }, { tokenFile: 'admin.token' });
    const access = loadClusterAccess({ KUBECONFIG: [join(dir, 'missing.yaml'), first, second].join(':') });
    expect(await canRead(access)).toBe('ok');
  });

  it('refuses a server its CA did not sign, unless insecure-skip-tls-verify is set', async () => {
    const wrongCa = kubeconfig('wrong-ca.yaml', { 'certificate-authority-data': Buffer.from(selfSignedCa()).toString('base64') }, { token: adminUser.token });
    expect(await canRead(loadClusterAccess({ KUBECONFIG: wrongCa }))).toBe('unreachable');
    const insecure = kubeconfig('insecure.yaml', { 'insecure-skip-tls-verify': true }, { token: adminUser.token });
    expect(await canRead(loadClusterAccess({ KUBECONFIG: insecure }))).toBe('ok');
  });

  it('impersonates with `as` and sends each of `as-groups` as a value of its own', async () => {
    const base = { 'certificate-authority-data': cluster['certificate-authority-data'] };
    const oneOfTwo = kubeconfig('as.yaml', base, { token: adminUser.token, as: 'kk-config-someone', 'as-groups': ['kk-other', 'kk-config-readers'] });
    expect(await canRead(loadClusterAccess({ KUBECONFIG: oneOfTwo }))).toBe('ok');
    const neither = kubeconfig('as-not.yaml', base, { token: adminUser.token, as: 'kk-config-someone', 'as-groups': ['kk-other'] });
    expect(await canRead(loadClusterAccess({ KUBECONFIG: neither }))).toBe('forbidden');
  });

  it('runs an exec plugin for its credential, once until it expires', async () => {
    const runs = join(dir, 'exec-runs');
    writeFileSync(runs, '');
    const plugin = join(dir, 'plugin.sh');
    // Relative to the kubeconfig, as kubectl takes a command with a path separator; the env entries reach it.
    writeFileSync(
      plugin,
      `#!/bin/sh\necho run >> "$RUNS"\necho "$KUBERNETES_EXEC_INFO" > "$RUNS.info"\nprintf '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"%s","expirationTimestamp":"%s"}}' "$TOKEN" "$EXPIRES"\n`,
    );
    chmodSync(plugin, 0o755);
    const exec = (token: string, expires: string) => ({
      exec: {
        apiVersion: 'client.authentication.k8s.io/v1',
        command: './plugin.sh',
        env: [
          { name: 'RUNS', value: runs },
          { name: 'TOKEN', value: token },
          { name: 'EXPIRES', value: expires },
        ],
      },
    });
    const base = { 'certificate-authority-data': cluster['certificate-authority-data'] };
    const lasting = loadClusterAccess({ KUBECONFIG: kubeconfig('exec.yaml', base, exec(String(adminUser.token), new Date(Date.now() + 3_600_000).toISOString())) });
    expect(await canRead(lasting)).toBe('ok');
    expect(await canRead(lasting)).toBe('ok');
    expect(readFileSync(runs, 'utf8').trim().split('\n')).toHaveLength(1);
    expect(JSON.parse(readFileSync(`${runs}.info`, 'utf8'))).toMatchObject({ kind: 'ExecCredential', spec: { interactive: false } });

    // An expired credential is asked for again; this one is the service account's, which may not read.
    writeFileSync(runs, '');
    const expired = loadClusterAccess({ KUBECONFIG: kubeconfig('exec-sa.yaml', base, exec(saToken, new Date(Date.now() - 1_000).toISOString())) });
    expect(await canRead(expired)).toBe('forbidden');
    expect(await canRead(expired)).toBe('forbidden');
    expect(readFileSync(runs, 'utf8').trim().split('\n')).toHaveLength(2);
  });

  it('refuses what it does not support, naming the file and the entry', () => {
    const provider = kubeconfig('provider.yaml', {}, { 'auth-provider': { name: 'gcp' } });
    expect(() => loadClusterAccess({ KUBECONFIG: provider })).toThrow(/provider\.yaml: user u authenticates through an auth-provider/);
    const proxied = kubeconfig('proxy.yaml', { 'proxy-url': 'http://proxy:3128' }, { token: 'x' });
    expect(() => loadClusterAccess({ KUBECONFIG: proxied })).toThrow(/proxy\.yaml: cluster k sets proxy-url/);
    expect(() => loadClusterAccess({ KUBECONFIG: join(dir, 'nothing-here.yaml') })).toThrow(/KUBECONFIG names no file that exists/);
  });
});

describe('the pod service account', () => {
  it('is used without a kubeconfig: its CA, and its token file read again once the kubelet has rotated it', async () => {
    const account = join(dir, 'serviceaccount');
    execFileSync('mkdir', ['-p', account]);
    writeFileSync(join(account, 'ca.crt'), ca);
    writeFileSync(join(account, 'token'), saToken);
    const env = { KUBERNETES_SERVICE_HOST: server.hostname, KUBERNETES_SERVICE_PORT: server.port, HOME: dir };
    const access = loadClusterAccess(env, account, { tokenMaxAgeMs: 0 });
    expect(access.getCurrentCluster()?.server).toBe(`https://${server.hostname}:${server.port}`);
    expect(await canRead(access)).toBe('forbidden');
    writeFileSync(join(account, 'token'), String(adminUser.token));
    expect(await canRead(access)).toBe('ok');
  });

  it('is not used when ~/.kube/config exists', () => {
    execFileSync('mkdir', ['-p', join(dir, 'home', '.kube')]);
    writeFileSync(join(dir, 'home', '.kube', 'config'), readFileSync(testKubeconfigPath));
    const access = loadClusterAccess({ KUBERNETES_SERVICE_HOST: '10.0.0.1', HOME: join(dir, 'home') }, join(dir, 'serviceaccount'));
    expect(access.getCurrentCluster()?.server).toBe(server.href.replace(/\/$/, ''));
  });
});

/** A CA certificate of its own, which signed nothing the API server serves. */
function selfSignedCa(): string {
  const key = join(dir, 'other-ca.key');
  const crt = join(dir, 'other-ca.crt');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', crt, '-days', '1', '-subj', '/CN=other-ca'], {
    stdio: 'ignore',
  });
  return readFileSync(crt, 'utf8');
}
