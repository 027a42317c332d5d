// The dev overlay applies to a real control plane (server-side dry run
// first, then for real); the API and PostgreSQL pods are admitted and run in
// a namespace that enforces `restricted`; and the API's ServiceAccount can do
// exactly what the API does, and is refused everything else.
//
// Cleanup: the kubekloud-api namespace and the test's volumes are deleted
// afterwards; the cluster-scoped RBAC and admission policy are left in place
// (applying them again is a no-op, and other tests may act as the API's
// ServiceAccount at the same time).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AuthorizationV1Api,
  BatchV1Api,
  CoreV1Api,
  KubernetesObjectApi,
  PatchStrategy,
  RbacAuthorizationV1Api,
  type KubeConfig,
  type KubernetesObject,
} from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, impersonating, loadTestKubeConfig, rejection, serviceAccountUser } from '../support/kube.ts';
import { writeImpersonatingKubeconfig } from '../support/saKubeconfig.ts';
import { createOverlayVolumes, ensureOperatorCrds, kubectl, kubectlOk, render, stageK8s, type Manifest, type Staged } from './fixture.ts';

const NS = 'kubekloud-api';
const SA = serviceAccountUser(NS, 'kubekloud-api-sa');
const PVS = { 'postgres-data': 'kubekloud-deploytest-postgres-data', 'kubekloud-backups': 'kubekloud-deploytest-backups' } as const;
const CLUSTER_SCOPED = new Set(['Namespace', 'ClusterRole', 'ClusterRoleBinding', 'ValidatingAdmissionPolicy', 'ValidatingAdmissionPolicyBinding']);

let admin: KubeConfig;
let core: CoreV1Api;
let staged: Staged;
let objects: Manifest[];
let tenantNs: string;

const applyResult = (out: string) =>
  new Set(
    out
      .split('\n')
      .filter((l) => /serverside-applied|unchanged|configured/.test(l))
      // kind.group/name -> kind/name
      .map((l) => l.split(' ')[0]!.replace(/^([^./]+)[^/]*\//, '$1/')),
  );
const objectRef = (o: Manifest) => `${o.kind.toLowerCase()}/${o.metadata.name}`;

async function deleteTestVolumes(): Promise<void> {
  for (const pv of Object.values(PVS)) {
    try {
      await core.deletePersistentVolume({ name: pv });
    } catch {
      /* not there */
    }
  }
}

beforeAll(async () => {
  admin = loadTestKubeConfig();
  core = admin.makeApiClient(CoreV1Api);
  // A previous run's namespace may still be terminating.
  await eventually(
    async () => {
      try {
        await core.readNamespace({ name: NS });
        return false;
      } catch {
        return true;
      }
    },
    120_000,
    `namespace ${NS} from an earlier run to be gone`,
  );
  await deleteTestVolumes();
  staged = stageK8s();
  objects = render(staged, 'overlays/dev').objects;
}, 180_000);

afterAll(async () => {
  await Promise.allSettled([core.deleteNamespace({ name: NS }), tenantNs ? core.deleteNamespace({ name: tenantNs }) : Promise.resolve()]);
  await deleteTestVolumes();
  staged?.cleanup();
});

describe('the dev overlay on the control plane', () => {
  it('passes a server-side dry run, then applies every object for real', () => {
    const dir = join(staged.dir, 'overlays/dev');
    const clusterScoped = objects.filter((o) => CLUSTER_SCOPED.has(o.kind));
    const asYaml = (list: Manifest[]) => JSON.stringify({ apiVersion: 'v1', kind: 'List', items: list });
    // Namespaced objects can only be dry-run into an existing namespace: the
    // cluster-scoped ones go first, then the namespace is created.
    const dryCluster = kubectlOk(['apply', '--server-side', '--dry-run=server', '--field-manager=kubekloud-deploy', '-f', '-'], { input: asYaml(clusterScoped) });
    expect(applyResult(dryCluster).size).toBe(clusterScoped.length);
    kubectlOk(['apply', '--server-side', '--field-manager=kubekloud-deploy', '-f', '-'], { input: asYaml(objects.filter((o) => o.kind === 'Namespace')) });
    const dry = kubectlOk(['apply', '--server-side', '--dry-run=server', '--field-manager=kubekloud-deploy', '-k', dir]);
    expect([...applyResult(dry)].sort()).toEqual(objects.map(objectRef).sort());

    const applied = kubectlOk(['apply', '--server-side', '--field-manager=kubekloud-deploy', '-k', dir]);
    expect([...applyResult(applied)].sort()).toEqual(objects.map(objectRef).sort());
    // Everything is there now, as rendered.
    const live = JSON.parse(kubectlOk(['get', '-o', 'json', '-f', '-'], { input: asYaml(objects) }));
    const items: Manifest[] = live.items ?? [live];
    expect(items.map(objectRef).sort()).toEqual(objects.map(objectRef).sort());
    // Applying again changes nothing and conflicts with nothing.
    const again = kubectl(['apply', '--server-side', '--field-manager=kubekloud-deploy', '-k', dir]);
    expect(again.code, again.stderr).toBe(0);
  });

  it('admits the API and PostgreSQL pods, which run, in a namespace that refuses non-restricted pods', async () => {
    const ns = await core.readNamespace({ name: NS });
    expect(ns.metadata?.labels?.['pod-security.kubernetes.io/enforce']).toBe('restricted');
    // The plane has no storage provisioner: give both claims a volume.
    await createOverlayVolumes(core, NS, PVS);
    const running = async (app: string, n: number) => {
      const pods = (await core.listNamespacedPod({ namespace: NS, labelSelector: `app=${app}` })).items;
      const up = pods.filter((p) => p.status?.phase === 'Running' && !p.metadata?.deletionTimestamp);
      return up.length === n ? up : false;
    };
    const api = await eventually(() => running('kubekloud-api', 2), 60_000, 'two API pods Running');
    await eventually(() => running('postgres', 1), 60_000, 'the PostgreSQL pod Running');
    // Spread across nodes.
    expect(new Set(api.map((p) => p.spec?.nodeName)).size).toBe(2);
    for (const p of api) {
      expect(p.spec?.serviceAccountName).toBe('kubekloud-api-sa');
      expect(p.spec?.imagePullSecrets).toEqual([{ name: 'harbor-regcred' }]);
    }

    // The backup job's pod is admitted too.
    const job = `kubekloud-db-backup-test-${Math.random().toString(36).slice(2, 7)}`;
    kubectlOk(['-n', NS, 'create', 'job', job, '--from=cronjob/kubekloud-db-backup']);
    await eventually(
      async () => (await core.listNamespacedPod({ namespace: NS, labelSelector: `job-name=${job}` })).items.length > 0,
      30_000,
      'the backup Job pod',
    );
    await admin.makeApiClient(BatchV1Api).deleteNamespacedJob({ name: job, namespace: NS, propagationPolicy: 'Background' });

    // And the namespace does enforce `restricted`: a pod that could escalate is refused.
    const refused = await rejection(() =>
      core.createNamespacedPod({
        namespace: NS,
        dryRun: 'All',
        body: { metadata: { name: 'not-restricted' }, spec: { containers: [{ name: 'c', image: 'busybox' }] } },
      }),
    );
    expect(refused.code).toBe(403);
    expect(refused.message).toMatch(/violates PodSecurity "restricted/);
  }, 120_000);

  it('leaves the replica count to the HPA: after it scaled, applying again succeeds and keeps its count', async () => {
    const dir = join(staged.dir, 'overlays/dev');
    type Deployment = { spec: { replicas?: number }; metadata: { managedFields?: { manager: string; subresource?: string; fieldsV1?: any }[] } };
    const deployment = (): Deployment => JSON.parse(kubectlOk(['-n', NS, 'get', 'deployment', 'kubekloud-api', '-o', 'json', '--show-managed-fields']));
    // Managers that own .spec.replicas (status.replicas aside).
    const owners = (d: Deployment) => (d.metadata.managedFields ?? []).filter((f) => f.fieldsV1?.['f:spec']?.['f:replicas'] !== undefined).map((f) => f.manager);
    // The HPA's minReplicas is the floor: it raises the Deployment to 2 (no metrics needed for that).
    await eventually(async () => deployment().spec.replicas === 2, 60_000, 'the API Deployment at the HPA floor of 2 replicas');
    expect(owners(deployment())).not.toContain('kubekloud-deploy');
    // Scale as the HPA does: through the scale subresource, as another field manager.
    kubectlOk(['-n', NS, 'patch', 'deployment', 'kubekloud-api', '--subresource=scale', '--type=merge', '-p', '{"spec":{"replicas":3}}', '--field-manager=hpa-stand-in']);
    expect(deployment().spec.replicas).toBe(3);
    // The documented upgrade: apply again, without --force-conflicts. A manifest
    // holding `replicas` fails here: it conflicts with hpa-stand-in over .spec.replicas.
    const again = kubectl(['apply', '--server-side', '--field-manager=kubekloud-deploy', '-k', dir]);
    expect(again.code, again.stderr).toBe(0);
    const after = deployment();
    expect(after.spec.replicas).toBe(3);
    expect(owners(after)).not.toContain('kubekloud-deploy');
  }, 120_000);
});

describe('the prod overlay on the control plane', () => {
  it("passes a server-side dry run with the operators' published CRDs, which refuse what their schemas do not allow", async () => {
    const crds = await ensureOperatorCrds();
    expect(crds.map((c) => c.name)).toEqual(expect.arrayContaining(['certificates.cert-manager.io', 'servicemonitors.monitoring.coreos.com', 'prometheusrules.monitoring.coreos.com']));
    const prod = render(staged, 'overlays/prod').objects;
    // The namespace exists (the dev overlay made it), so every object can be dry-run at once.
    const dry = kubectlOk(['apply', '--server-side', '--dry-run=server', '--field-manager=kubekloud-deploy', '-k', join(staged.dir, 'overlays/prod')]);
    expect([...applyResult(dry)].sort()).toEqual(prod.map(objectRef).sort());
    for (const kind of ['Certificate', 'ServiceMonitor', 'PrometheusRule']) expect(prod.some((o) => o.kind === kind), kind).toBe(true);
    // The schemas are really applied: a wrong field in each custom resource is refused.
    const broken = (kind: string, change: (o: any) => void) => {
      const o = structuredClone(prod.find((x) => x.kind === kind)!);
      change(o);
      return kubectl(['apply', '--server-side', '--dry-run=server', '--field-manager=kubekloud-deploy', '-f', '-'], { input: JSON.stringify(o) });
    };
    const cert = broken('Certificate', (o) => (o.spec.privateKey.algorithm = 'DSA'));
    expect(cert.code).not.toBe(0);
    expect(cert.stderr).toMatch(/spec\.privateKey\.algorithm: Unsupported value: "DSA"/);
    const monitor = broken('ServiceMonitor', (o) => (o.spec.endpoints[0].scrapeTimeout = 'ten seconds'));
    expect(monitor.code).not.toBe(0);
    expect(monitor.stderr).toMatch(/spec\.endpoints\[0\]\.scrapeTimeout/);
  }, 600_000);
});

describe('the API ServiceAccount (kubekloud-api-sa)', () => {
  let sa: KubeConfig;
  let saCore: CoreV1Api;
  const can = async (attrs: { verb: string; resource: string; group?: string; namespace?: string; subresource?: string }) => {
    const r = await sa.makeApiClient(AuthorizationV1Api).createSelfSubjectAccessReview({
      body: { spec: { resourceAttributes: { ...attrs, group: attrs.group ?? '' } } },
    });
    return r.status?.allowed === true;
  };
  const ssa = (obj: KubernetesObject) =>
    sa.makeApiClient(KubernetesObjectApi).patch(obj, undefined, undefined, 'kubekloud', true, PatchStrategy.ServerSideApply);

  beforeAll(() => {
    sa = impersonating(loadTestKubeConfig(), SA);
    saCore = sa.makeApiClient(CoreV1Api);
  });

  it('creates a managed namespace and server-side applies into it what the API renders', async () => {
    tenantNs = `kk-deploytest-${Math.random().toString(36).slice(2, 8)}`;
    const labels = { 'app.kubernetes.io/managed-by': 'kubekloud', 'kubekloud.io/test': 'true' };
    // The admission policy may need a moment after its first apply.
    await eventually(() => ssa({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: tenantNs, labels } } as KubernetesObject), 20_000, 'namespace apply as the SA');
    const meta = (name: string) => ({ name, namespace: tenantNs, labels });
    const objects: KubernetesObject[] = [
      { apiVersion: 'v1', kind: 'ResourceQuota', metadata: meta('quota'), spec: { hard: { 'limits.cpu': '4', 'limits.memory': '8Gi' } } } as any,
      { apiVersion: 'v1', kind: 'LimitRange', metadata: meta('limits'), spec: { limits: [{ type: 'Container', default: { cpu: '500m', memory: '512Mi' } }] } } as any,
      { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: meta('isolate'), spec: { podSelector: {}, policyTypes: ['Ingress'], ingress: [{ from: [{ podSelector: {} }] }] } } as any,
      { apiVersion: 'v1', kind: 'Service', metadata: meta('web'), spec: { selector: { app: 'web' }, ports: [{ port: 80 }] } } as any,
      { apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: meta('disk'), spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } } } as any,
      {
        apiVersion: 'apps/v1',
        kind: 'StatefulSet',
        metadata: meta('web'),
        spec: {
          replicas: 0,
          serviceName: 'web',
          selector: { matchLabels: { app: 'web' } },
          template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'c', image: 'nginx', resources: { limits: { cpu: '100m', memory: '64Mi' } } }] } },
        },
      } as any,
      {
        apiVersion: 'kubevirt.io/v1',
        kind: 'VirtualMachine',
        metadata: meta('vm'),
        spec: {
          runStrategy: 'Halted',
          template: { spec: { domain: { cpu: { cores: 1 }, memory: { guest: '1Gi' }, devices: {} }, volumes: [{ name: 'root', containerDisk: { image: 'quay.io/containerdisks/ubuntu:24.04' } }] } },
        },
      } as any,
    ];
    for (const o of objects) await ssa(o);
    // ... changes them (scale a StatefulSet, stop a VM) and deletes them.
    await ssa({ ...objects[5]!, spec: { ...(objects[5] as any).spec, replicas: 1 } } as any);
    expect(await can({ verb: 'delete', resource: 'virtualmachineinstances', group: 'kubevirt.io', namespace: tenantNs })).toBe(true);
    // KubeVirt's subresources: pause/unpause (suspend, resume), console and vnc, and nothing else of virt-api.
    const vmi = (verb: string, subresource: string) => can({ verb, resource: 'virtualmachineinstances', subresource, group: 'subresources.kubevirt.io', namespace: tenantNs });
    for (const sub of ['pause', 'unpause']) expect(await vmi('update', sub), `update ${sub}`).toBe(true);
    const vm = (verb: string, subresource: string) => can({ verb, resource: 'virtualmachines', subresource, group: 'subresources.kubevirt.io', namespace: tenantNs });
    expect(await vm('update', 'restart'), 'update restart').toBe(true);
    for (const sub of ['start', 'stop', 'migrate', 'expand-spec']) expect(await vm('update', sub), `update ${sub}`).toBe(false);
    for (const sub of ['console', 'vnc']) expect(await vmi('get', sub), `get ${sub}`).toBe(true);
    for (const [verb, sub] of [['get', 'pause'], ['update', 'console'], ['get', 'portforward'], ['update', 'migrate'], ['update', 'freeze'], ['get', 'guestosinfo'], ['get', 'usbredir']]) {
      expect(await vmi(verb!, sub!), `${verb} ${sub}`).toBe(false);
    }
    await sa.makeApiClient(KubernetesObjectApi).delete(objects[3]!);
  });

  it('reads and watches pods, StatefulSets, VirtualMachines and namespaces cluster-wide, reads events, ServiceAccounts and bindings', async () => {
    const pods = await saCore.listPodForAllNamespaces({ limit: 5 });
    expect(Array.isArray(pods.items)).toBe(true);
    for (const [resource, group] of [['pods', ''], ['statefulsets', 'apps'], ['virtualmachines', 'kubevirt.io'], ['namespaces', ''], ['events', '']] as const) {
      for (const verb of ['list', 'watch']) expect(await can({ verb, resource, group }), `${verb} ${resource}`).toBe(true);
    }
    // The isolation checks: ServiceAccounts and bindings, read only.
    for (const [resource, group] of [['serviceaccounts', ''], ['rolebindings', 'rbac.authorization.k8s.io'], ['clusterrolebindings', 'rbac.authorization.k8s.io']] as const) {
      expect(await can({ verb: 'list', resource, group }), `list ${resource}`).toBe(true);
    }
  });

  it('is refused (403) on secrets in other namespaces, node writes, RBAC writes and kube-system', async () => {
    for (const namespace of ['kube-system', 'default', NS]) {
      expect((await rejection(() => saCore.listNamespacedSecret({ namespace }))).code, `secrets in ${namespace}`).toBe(403);
      expect((await rejection(() => saCore.readNamespacedSecret({ namespace, name: 'anything' }))).code).toBe(403);
    }
    expect((await rejection(() => saCore.listSecretForAllNamespaces())).code).toBe(403);
    // Nodes are read (their addresses make node-port endpoints), never written.
    expect((await saCore.listNode()).items.length).toBeGreaterThan(0);
    expect((await rejection(() => saCore.patchNode({ name: 'kk-node-0', body: { metadata: { labels: { x: 'y' } } } }))).code).toBe(403);
    expect((await rejection(() => saCore.deleteNode({ name: 'kk-node-0' }))).code).toBe(403);
    const rbac = sa.makeApiClient(RbacAuthorizationV1Api);
    expect(
      (await rejection(() => rbac.createClusterRole({ body: { metadata: { name: 'kk-escalate' }, rules: [{ apiGroups: ['*'], resources: ['*'], verbs: ['*'] }] } }))).code,
    ).toBe(403);
    expect(
      (
        await rejection(() =>
          rbac.createNamespacedRoleBinding({
            namespace: tenantNs,
            body: { metadata: { name: 'kk-escalate' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cluster-admin' }, subjects: [{ kind: 'User', name: 'x' }] },
          }),
        )
      ).code,
    ).toBe(403);
    // The isolation checks read who is bound where; binding anyone stays refused.
    expect(Array.isArray((await rbac.listClusterRoleBinding({ limit: 5 })).items)).toBe(true);
    expect(
      (
        await rejection(() =>
          rbac.createClusterRoleBinding({
            body: { metadata: { name: 'kk-escalate' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cluster-admin' }, subjects: [{ kind: 'User', name: 'x' }] },
          }),
        )
      ).code,
    ).toBe(403);
    for (const [resource, group] of [['roles', 'rbac.authorization.k8s.io'], ['clusterroles', 'rbac.authorization.k8s.io'], ['serviceaccounts', '']] as const) {
      for (const verb of ['create', 'patch', 'delete']) expect(await can({ verb, resource, group }), `${verb} ${resource}`).toBe(false);
    }
    // kube-system: no config maps, no pods, and -- through the admission policy -- no
    // services or other objects the role otherwise grants.
    expect((await rejection(() => saCore.listNamespacedConfigMap({ namespace: 'kube-system' }))).code).toBe(403);
    expect((await rejection(() => saCore.createNamespacedPod({ namespace: 'kube-system', body: { metadata: { name: 'x' }, spec: { containers: [{ name: 'c', image: 'x' }] } } }))).code).toBe(403);
    const svc = await eventually(
      async () => {
        const r = await rejection(() => saCore.createNamespacedService({ namespace: 'kube-system', body: { metadata: { name: 'kk-intrude' }, spec: { ports: [{ port: 80 }] } } }));
        return r.code === 403 ? r : false;
      },
      20_000,
      'a service in kube-system to be refused',
    );
    expect(svc.message).toContain('kubekloud-api-sa may only write objects in namespaces labelled app.kubernetes.io/managed-by=kubekloud');
    expect((await rejection(() => saCore.deleteNamespace({ name: 'kube-system' }))).code).toBe(403);
    expect((await rejection(() => saCore.createNamespace({ body: { metadata: { name: 'kk-deploytest-unlabelled' } } }))).code).toBe(403);
    // Pods are read only; exec and deployments are not granted.
    expect(await can({ verb: 'create', resource: 'pods', subresource: 'exec', namespace: tenantNs })).toBe(false);
    expect(await can({ verb: 'delete', resource: 'pods', namespace: tenantNs })).toBe(false);
    expect(await can({ verb: 'create', resource: 'deployments', group: 'apps', namespace: tenantNs })).toBe(false);
  });

  it('is the identity a process gets from writeImpersonatingKubeconfig', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kubekloud-sa-kubeconfig-'));
    try {
      const path = writeImpersonatingKubeconfig(join(dir, 'kubeconfig'), SA);
      const who = JSON.parse(kubectlOk(['auth', 'whoami', '-o', 'json'], { kubeconfig: path }));
      expect(who.status.userInfo.username).toBe(SA);
      expect(kubectl(['auth', 'can-i', 'list', 'secrets', '-n', 'kube-system'], { kubeconfig: path }).stdout.trim()).toBe('no');
      expect(kubectl(['auth', 'can-i', 'watch', 'pods', '--all-namespaces'], { kubeconfig: path }).stdout.trim()).toBe('yes');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
