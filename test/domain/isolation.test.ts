// Isolation checks (src/domain/isolation.ts): a namespace as KubeKloud renders
// it passes every check; each way an outsider breaks it fails exactly the
// check it should, with evidence naming the object and who repairs it.
import { describe, expect, it } from 'vitest';
import { checkIsolation, failingByCheck, ISOLATION_CHECKS, mountsToken, podPrivilegeProblems, type IsolationCheck, type LiveState } from '../../src/domain/isolation.ts';
import { renderClusterObjects, renderStatefulSet, type KubeObject } from '../../src/domain/render.ts';
import { clusterSpecOf, instanceSpecOf } from '../../src/service/spec.ts';
import { asServerReturns, clusterRow, foreignEntry, INSTALLATION, instanceRow, OUR_MANAGER } from '../support/rows.ts';

const spec = clusterSpecOf(clusterRow({ ports: [{ port: 80, protocol: 'TCP' }] }), INSTALLATION);
const NS = spec.namespace;
const rendered = renderClusterObjects(spec);
const ctx = { installation: INSTALLATION, manager: OUR_MANAGER };

/** A pod as the StatefulSet's controller makes it from the rendered template. */
function ourPod(): Record<string, any> {
  const sts = renderStatefulSet(spec, instanceSpecOf(instanceRow())) as any;
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name: `${sts.metadata.name}-0`, namespace: NS, labels: sts.spec.template.metadata.labels }, spec: structuredClone(sts.spec.template.spec) };
}

/** Kubernetes holding exactly what KubeKloud renders, a pod of ours, the namespace's default ServiceAccount and the platform's own bindings. */
function fresh(): Record<keyof LiveState, any[]> {
  const of = (kind: string) => rendered.filter((o) => o.kind === kind).map((o) => asServerReturns(o));
  return {
    namespaces: [...of('Namespace'), { metadata: { name: 'elsewhere' } }],
    networkPolicies: of('NetworkPolicy'),
    resourceQuotas: of('ResourceQuota'),
    limitRanges: of('LimitRange'),
    pods: [ourPod()],
    serviceAccounts: [{ metadata: { name: 'default', namespace: NS } }],
    roleBindings: [{ metadata: { name: 'ops', namespace: 'elsewhere' }, roleRef: { kind: 'ClusterRole', name: 'edit' }, subjects: [{ kind: 'User', name: 'ops' }] }],
    clusterRoleBindings: [
      { metadata: { name: 'kubekloud-api-role' }, roleRef: { kind: 'ClusterRole', name: 'kubekloud-api-role' }, subjects: [{ kind: 'ServiceAccount', name: 'kubekloud-api-sa', namespace: 'kubekloud-api' }] },
    ],
  };
}

const run = (live: LiveState, r: KubeObject[] = rendered) => checkIsolation(NS, r, live, ctx);
const byName = (checks: IsolationCheck[], name: string) => checks.find((c) => c.name === name)!;
const failing = (checks: IsolationCheck[]) => checks.filter((c) => !c.passed).map((c) => c.name);

describe('isolation checks', () => {
  it('passes every check, in a fixed order, for a namespace as rendered', () => {
    const checks = run(fresh());
    expect(checks.map((c) => c.name)).toEqual([...ISOLATION_CHECKS]);
    expect(failing(checks)).toEqual([]);
    expect(byName(checks, 'pod_security').evidence).toMatch(/restricted/);
    // Another namespace's objects are not this one's.
    const live = fresh();
    live.pods.push({ metadata: { name: 'root', namespace: 'elsewhere' }, spec: { hostNetwork: true } });
    live.networkPolicies.push({ metadata: { name: 'allow-all', namespace: 'elsewhere' }, spec: {} });
    expect(failing(run(live))).toEqual([]);
  });

  it('fails every owned check, repaired automatically, when the namespace does not exist', () => {
    const live = fresh();
    for (const k of ['namespaces', 'networkPolicies', 'resourceQuotas', 'limitRanges', 'pods', 'serviceAccounts'] as const) live[k] = live[k].filter((o) => o.metadata?.namespace !== NS && o.metadata?.name !== NS);
    const checks = run(live);
    expect(failing(checks)).toEqual(['pod_security', 'network_policy', 'resource_quota', 'limit_range']);
    expect(byName(checks, 'pod_security').evidence).toMatch(/does not exist/);
    expect(checks.filter((c) => !c.passed).every((c) => c.repair === 'automatic')).toBe(true);
  });

  it('sees a Pod Security label lowered or removed', () => {
    const live = fresh();
    live.namespaces[0]!.metadata!.labels!['pod-security.kubernetes.io/enforce'] = 'privileged';
    delete live.namespaces[0]!.metadata!.labels!['pod-security.kubernetes.io/audit'];
    const c = byName(run(live), 'pod_security');
    expect(c).toMatchObject({ passed: false, repair: 'automatic', objects: [`Namespace/${NS}`] });
    expect(c.evidence).toContain('pod-security.kubernetes.io/enforce=privileged (rendered restricted)');
    expect(c.evidence).toContain('pod-security.kubernetes.io/audit missing');
  });

  it('sees the default deny edited, deleted, or edited by another manager to the same values', () => {
    const edited = fresh();
    edited.networkPolicies[0]!.spec.ingress = [{}];
    expect(byName(run(edited), 'network_policy')).toMatchObject({ passed: false, repair: 'automatic', evidence: expect.stringMatching(/kubekloud-default-deny differs .*ingress\[0\]\.from/) });
    const deleted = fresh();
    deleted.networkPolicies = deleted.networkPolicies.filter((p) => p.metadata?.name !== 'kubekloud-default-deny');
    expect(byName(run(deleted), 'network_policy').evidence).toMatch(/kubekloud-default-deny is missing/);
    const foreignOwner = fresh();
    foreignOwner.networkPolicies[0]!.metadata!.managedFields!.push(foreignEntry('kubectl-edit', { 'f:spec': { 'f:ingress': {} } }));
    expect(byName(run(foreignOwner), 'network_policy').evidence).toMatch(/spec fields set by kubectl-edit/);
  });

  it("says a NetworkPolicy KubeKloud did not make needs a person, and a labelled stray does not", () => {
    const live = fresh();
    live.networkPolicies.push({ metadata: { name: 'allow-all', namespace: NS }, spec: { podSelector: {}, ingress: [{}] } });
    const c = byName(run(live), 'network_policy');
    expect(c).toMatchObject({ passed: false, repair: 'manual' });
    expect(c.objects).toContain('NetworkPolicy/allow-all');
    expect(c.evidence).toMatch(/allow-all is not KubeKloud's/);
    const stray = fresh();
    stray.networkPolicies.push({ metadata: { name: 'old', namespace: NS, labels: rendered[0]!.metadata.labels }, spec: {} });
    expect(byName(run(stray), 'network_policy')).toMatchObject({ passed: false, repair: 'automatic' });
  });

  it('sees the ResourceQuota and LimitRange changed or missing, not canonical quantities', () => {
    const live = fresh();
    live.resourceQuotas[0]!.spec.hard.pods = '50';
    live.limitRanges = [];
    const checks = run(live);
    expect(byName(checks, 'resource_quota')).toMatchObject({ passed: false, repair: 'automatic', evidence: expect.stringMatching(/spec\.hard\.pods/) });
    expect(byName(checks, 'limit_range')).toMatchObject({ passed: false, evidence: 'LimitRange kubekloud-limits is missing' });
    const canonical = fresh();
    const hard = canonical.resourceQuotas[0]!.spec.hard;
    hard['requests.memory'] = `${(parseFloat(hard['requests.memory']) * 1024).toString()}Mi`;
    expect(byName(run(canonical), 'resource_quota').passed).toBe(true);
  });

  it('names each privileged pod and what it does', () => {
    const live = fresh();
    live.pods.push({
      metadata: { name: 'intruder', namespace: NS },
      spec: {
        hostPID: true,
        volumes: [{ name: 'root', hostPath: { path: '/' } }],
        containers: [{ name: 'sh', securityContext: { privileged: true, capabilities: { add: ['NET_ADMIN'] } } }],
      },
    });
    const c = byName(run(live), 'pod_privileges');
    expect(c).toMatchObject({ passed: false, repair: 'manual', objects: ['Pod/intruder'] });
    expect(c.evidence).toBe('pod intruder: hostPID, hostPath volume root, container sh privileged, container sh adds NET_ADMIN');
  });

  it("expects only virt-launcher's own capabilities in pods a VMI controls", () => {
    const launcher = (add: string[]) => ({
      metadata: { name: 'virt-launcher-vm-1', namespace: NS, ownerReferences: [{ kind: 'VirtualMachineInstance', controller: true }] },
      spec: { containers: [{ name: 'compute', securityContext: { capabilities: { add } } }] },
    });
    expect(podPrivilegeProblems(launcher(['NET_BIND_SERVICE', 'SYS_NICE']))).toEqual([]);
    expect(podPrivilegeProblems(launcher(['SYS_ADMIN']))).toEqual(['container compute adds SYS_ADMIN']);
    expect(podPrivilegeProblems({ metadata: { name: 'p' }, spec: { containers: [{ name: 'c', securityContext: { capabilities: { add: ['NET_BIND_SERVICE'] } } }] } })).toEqual([
      'container c adds NET_BIND_SERVICE',
    ]);
  });

  it('sees a ServiceAccount token mounted: by default, by the pod, or through a projected volume', () => {
    const sa = [{ metadata: { name: 'default', namespace: NS } }];
    const pod = (spec: Record<string, unknown>) => ({ metadata: { name: 'p', namespace: NS }, spec });
    expect(mountsToken(pod({}), sa)).toBe(true);
    expect(mountsToken(pod({ automountServiceAccountToken: false }), sa)).toBe(false);
    expect(mountsToken(pod({}), [{ metadata: { name: 'default' }, automountServiceAccountToken: false }])).toBe(false);
    expect(mountsToken(pod({ automountServiceAccountToken: true }), [{ metadata: { name: 'default' }, automountServiceAccountToken: false }])).toBe(true);
    expect(mountsToken(pod({ automountServiceAccountToken: false, volumes: [{ name: 't', projected: { sources: [{ serviceAccountToken: { path: 'token' } }] } }] }), sa)).toBe(true);
    const live = fresh();
    live.pods.push(pod({ serviceAccountName: 'builder' }));
    const c = byName(run(live), 'service_account_token');
    expect(c).toMatchObject({ passed: false, repair: 'manual', objects: ['Pod/p'] });
    expect(c.evidence).toMatch(/pod p \(ServiceAccount builder\)/);
  });

  it('finds every RoleBinding in the namespace and any binding granting to its ServiceAccounts, not the platform\'s own', () => {
    const live = fresh();
    live.roleBindings.push({ metadata: { name: 'let-mallory-in', namespace: NS }, roleRef: { kind: 'ClusterRole', name: 'edit' }, subjects: [{ kind: 'User', name: 'mallory' }] });
    live.roleBindings.push({ metadata: { name: 'reach-out', namespace: 'elsewhere' }, roleRef: { kind: 'Role', name: 'r' }, subjects: [{ kind: 'ServiceAccount', name: 'default', namespace: NS }] });
    live.clusterRoleBindings.push({ metadata: { name: 'all-of-them' }, roleRef: { kind: 'ClusterRole', name: 'view' }, subjects: [{ kind: 'Group', name: `system:serviceaccounts:${NS}` }] });
    const c = byName(run(live), 'role_bindings');
    expect(c).toMatchObject({ passed: false, repair: 'manual' });
    expect(c.objects).toEqual([`RoleBinding/${NS}/let-mallory-in`, 'RoleBinding/elsewhere/reach-out', 'ClusterRoleBinding/all-of-them']);
    expect(c.evidence).toContain(`RoleBinding ${NS}/let-mallory-in grants ClusterRole/edit in the namespace to User mallory`);
    expect(c.evidence).toContain(`ClusterRoleBinding all-of-them grants ClusterRole/view cluster-wide to Group system:serviceaccounts:${NS}`);
  });

  it('counts the clusters failing each check, every check named', () => {
    const broken = fresh();
    broken.limitRanges = [];
    const counts = failingByCheck([{ checks: run(fresh()) }, { checks: run(broken) }, { checks: run(broken) }]);
    expect(counts).toEqual({ ...Object.fromEntries(ISOLATION_CHECKS.map((c) => [c, 0])), limit_range: 2 });
  });
});
