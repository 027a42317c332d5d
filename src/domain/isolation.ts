// Isolation checks: whether a cluster's namespace is fenced as KubeKloud
// renders it, judged from what Kubernetes holds now. Pure: the objects are
// read elsewhere (src/kube/isolationReads.ts) and handed in, so every rule is
// tested without a cluster.
//
// Each check says whether it passed, what it saw (evidence a person can act
// on, naming the objects), and who repairs a failure: `automatic` when the
// objects are KubeKloud's own (the namespace's Pod Security labels, the
// rendered NetworkPolicies, ResourceQuota and LimitRange — the observer puts
// them back), `manual` when they are someone else's (a pod, a RoleBinding, a
// NetworkPolicy KubeKloud did not make): KubeKloud never deletes what it did
// not create, so a person must.
import { driftOf, type LiveObject } from './drift.ts';
import { capMessage } from './untrusted.ts';
import { LABEL_INSTALLATION, MANAGED_BY, MANAGER, type KubeObject } from './render.ts';

export const ISOLATION_CHECKS = [
  'pod_security',
  'network_policy',
  'resource_quota',
  'limit_range',
  'pod_privileges',
  'service_account_token',
  'role_bindings',
] as const;
export type IsolationCheckName = (typeof ISOLATION_CHECKS)[number];

/** automatic: the reconciler puts it back by itself; manual: KubeKloud does not touch it, a person must. */
export type Repair = 'automatic' | 'manual';

export type IsolationCheck = {
  name: IsolationCheckName;
  passed: boolean;
  evidence: string;
  repair: Repair;
  /** The objects the evidence is about (Kind/name, or Kind/namespace/name for objects outside the namespace). */
  objects: string[];
};

/**
 * What Kubernetes holds, flat: the objects of one namespace or of all of them
 * (the fleet view reads everything once). RoleBindings and ClusterRoleBindings
 * are always those of the whole cluster: a binding elsewhere can grant to the
 * namespace's ServiceAccounts.
 */
export type LiveState = {
  namespaces: LiveObject[];
  networkPolicies: LiveObject[];
  resourceQuotas: LiveObject[];
  limitRanges: LiveObject[];
  pods: LiveObject[];
  serviceAccounts: LiveObject[];
  roleBindings: LiveObject[];
  clusterRoleBindings: LiveObject[];
};

/** Reads what the checks need from Kubernetes; a failure rejects (the caller answers 503). */
export type IsolationReads = {
  /** One namespace's objects, and every binding of the cluster. */
  namespace(name: string): Promise<LiveState>;
  /** Every namespace's objects (the fleet view). */
  everything(): Promise<LiveState>;
};

export const POD_SECURITY_LABELS = ['enforce', 'warn', 'audit'].map((m) => `pod-security.kubernetes.io/${m}`);

/** Capabilities KubeVirt's virt-launcher adds to a VM's compute container: expected in a VM cluster's pods that a VMI controls. */
export const VIRT_LAUNCHER_CAPABILITIES = ['NET_BIND_SERVICE', 'SYS_NICE'];

const MAX_LISTED = 5;
const nameOf = (o: LiveObject) => o.metadata?.name ?? '(unnamed)';
const inNs = (ns: string) => (o: LiveObject) => o.metadata?.namespace === ns;
const isManagedHere = (o: LiveObject, installation: string) =>
  o.metadata?.labels?.[MANAGED_BY] === MANAGER && o.metadata?.labels?.[LABEL_INSTALLATION] === installation;

/** A few items, and how many more. */
function listed(items: string[]): string {
  const shown = items.slice(0, MAX_LISTED).join('; ');
  return items.length > MAX_LISTED ? `${shown}; and ${items.length - MAX_LISTED} more` : shown;
}

const check = (name: IsolationCheckName, passed: boolean, evidence: string, repair: Repair, objects: string[] = []): IsolationCheck => ({
  name,
  passed,
  evidence: capMessage(evidence),
  repair,
  objects,
});

/**
 * Every check for the cluster whose namespace is `namespace`: `rendered` is
 * what KubeKloud renders for it (src/domain/render.ts renderClusterObjects),
 * `live` what Kubernetes holds. The order is ISOLATION_CHECKS'.
 */
export function checkIsolation(
  namespace: string,
  rendered: KubeObject[],
  live: LiveState,
  ctx: { installation: string; manager: string },
): IsolationCheck[] {
  const ns = live.namespaces.find((n) => n.metadata?.name === namespace) ?? null;
  const local = {
    networkPolicies: live.networkPolicies.filter(inNs(namespace)),
    resourceQuotas: live.resourceQuotas.filter(inNs(namespace)),
    limitRanges: live.limitRanges.filter(inNs(namespace)),
    pods: live.pods.filter(inNs(namespace)),
    serviceAccounts: live.serviceAccounts.filter(inNs(namespace)),
  };
  const renderedOf = (kind: string) => rendered.filter((o) => o.kind === kind);
  return [
    podSecurity(namespace, renderedOf('Namespace')[0], ns),
    networkPolicies(renderedOf('NetworkPolicy'), local.networkPolicies, ctx),
    ownedObject('resource_quota', renderedOf('ResourceQuota')[0], local.resourceQuotas, ctx.manager),
    ownedObject('limit_range', renderedOf('LimitRange')[0], local.limitRanges, ctx.manager),
    podPrivileges(local.pods),
    serviceAccountTokens(local.pods, local.serviceAccounts),
    roleBindings(namespace, live.roleBindings, live.clusterRoleBindings),
  ];
}

function podSecurity(namespace: string, want: KubeObject | undefined, ns: LiveObject | null): IsolationCheck {
  if (!ns) return check('pod_security', false, `namespace ${namespace} does not exist (not created yet, or deleted)`, 'automatic', [`Namespace/${namespace}`]);
  const wantLabels = want?.metadata.labels ?? {};
  const liveLabels = ns.metadata?.labels ?? {};
  const wrong = POD_SECURITY_LABELS.filter((l) => liveLabels[l] !== wantLabels[l]).map((l) =>
    liveLabels[l] === undefined ? `${l} missing (rendered ${wantLabels[l]})` : `${l}=${liveLabels[l]} (rendered ${wantLabels[l]})`,
  );
  if (wrong.length > 0) return check('pod_security', false, `namespace ${namespace}: ${wrong.join(', ')}`, 'automatic', [`Namespace/${namespace}`]);
  const level = wantLabels['pod-security.kubernetes.io/enforce'];
  return check('pod_security', true, `namespace ${namespace} enforces Pod Security level ${level} (warn and audit ${level})`, 'automatic', [`Namespace/${namespace}`]);
}

/** What is wrong with an object KubeKloud renders, or null when it is as rendered. */
function ownedProblem(want: KubeObject, live: LiveObject[], manager: string): string | null {
  const got = live.find((o) => nameOf(o) === want.metadata.name);
  if (!got) return `${want.kind} ${want.metadata.name} is missing`;
  const drift = driftOf(want, { ...got, kind: want.kind }, manager);
  return drift.length > 0 ? `${want.kind} ${want.metadata.name} differs from its rendered form: ${drift.join(', ')}` : null;
}

function networkPolicies(want: KubeObject[], live: LiveObject[], ctx: { installation: string; manager: string }): IsolationCheck {
  const problems = want.map((w) => ownedProblem(w, live, ctx.manager)).filter((p): p is string => p !== null);
  const renderedNames = new Set(want.map((w) => w.metadata.name));
  const others = live.filter((o) => !renderedNames.has(nameOf(o)));
  // A labelled policy nothing renders is a stray the observer deletes; an unlabelled one is someone else's.
  const foreign = others.filter((o) => !isManagedHere(o, ctx.installation));
  const strays = others.filter((o) => isManagedHere(o, ctx.installation));
  for (const o of strays) problems.push(`NetworkPolicy ${nameOf(o)} is labelled as KubeKloud's but not rendered (removed as a stray)`);
  for (const o of foreign) problems.push(`NetworkPolicy ${nameOf(o)} is not KubeKloud's: policies add up, so it can admit traffic the default deny refuses; delete it`);
  const objects = [...want.map((w) => `NetworkPolicy/${w.metadata.name}`), ...others.map((o) => `NetworkPolicy/${nameOf(o)}`)];
  if (problems.length > 0) return check('network_policy', false, listed(problems), foreign.length > 0 ? 'manual' : 'automatic', objects);
  return check('network_policy', true, `${want.map((w) => w.metadata.name).join(', ')} as rendered (default deny of ingress from outside the namespace); no other policy`, 'automatic', objects);
}

function ownedObject(name: 'resource_quota' | 'limit_range', want: KubeObject | undefined, live: LiveObject[], manager: string): IsolationCheck {
  if (!want) return check(name, true, 'nothing rendered', 'automatic');
  const problem = ownedProblem(want, live, manager);
  const objects = [`${want.kind}/${want.metadata.name}`];
  if (problem) return check(name, false, problem, 'automatic', objects);
  return check(name, true, `${want.kind} ${want.metadata.name} present and as rendered`, 'automatic', objects);
}

type Container = { name?: string; securityContext?: { privileged?: boolean; capabilities?: { add?: string[] } } };
type PodSpec = {
  hostNetwork?: boolean;
  hostPID?: boolean;
  hostIPC?: boolean;
  volumes?: { name?: string; hostPath?: unknown; projected?: { sources?: { serviceAccountToken?: unknown }[] } }[];
  containers?: Container[];
  initContainers?: Container[];
  ephemeralContainers?: Container[];
  automountServiceAccountToken?: boolean;
  serviceAccountName?: string;
};
const specOf = (pod: LiveObject) => (pod.spec ?? {}) as PodSpec;
const controlledByVmi = (pod: LiveObject) =>
  ((pod.metadata?.ownerReferences ?? []) as { controller?: boolean; kind?: string }[]).some((r) => r.controller && r.kind === 'VirtualMachineInstance');

/** What breaks isolation in one pod: privileged containers, host namespaces, hostPath volumes, added capabilities. */
export function podPrivilegeProblems(pod: LiveObject): string[] {
  const s = specOf(pod);
  const out: string[] = [];
  for (const h of ['hostNetwork', 'hostPID', 'hostIPC'] as const) if (s[h]) out.push(h);
  for (const v of s.volumes ?? []) if (v.hostPath) out.push(`hostPath volume ${v.name ?? ''}`.trim());
  const expected = controlledByVmi(pod) ? new Set(VIRT_LAUNCHER_CAPABILITIES) : new Set<string>();
  for (const c of [...(s.initContainers ?? []), ...(s.containers ?? []), ...(s.ephemeralContainers ?? [])]) {
    if (c.securityContext?.privileged) out.push(`container ${c.name} privileged`);
    const added = (c.securityContext?.capabilities?.add ?? []).filter((cap) => !expected.has(cap));
    if (added.length > 0) out.push(`container ${c.name} adds ${added.join(', ')}`);
  }
  return out;
}

function podPrivileges(pods: LiveObject[]): IsolationCheck {
  const bad = pods.map((p) => ({ pod: nameOf(p), problems: podPrivilegeProblems(p) })).filter((b) => b.problems.length > 0);
  if (bad.length === 0) return check('pod_privileges', true, `${pods.length} pod(s), none privileged, with host namespaces, hostPath or added capabilities`, 'manual');
  return check('pod_privileges', false, listed(bad.map((b) => `pod ${b.pod}: ${b.problems.join(', ')}`)), 'manual', bad.map((b) => `Pod/${b.pod}`));
}

/** Whether the pod gets a ServiceAccount token: its own setting, else its ServiceAccount's (true unless either says false), or a projected token volume. */
export function mountsToken(pod: LiveObject, serviceAccounts: LiveObject[]): boolean {
  const s = specOf(pod);
  const projected = (s.volumes ?? []).some((v) => (v.projected?.sources ?? []).some((src) => src.serviceAccountToken));
  if (projected) return true;
  if (s.automountServiceAccountToken !== undefined) return s.automountServiceAccountToken;
  const sa = serviceAccounts.find((a) => nameOf(a) === (s.serviceAccountName ?? 'default'));
  return (sa?.automountServiceAccountToken as boolean | undefined) ?? true;
}

function serviceAccountTokens(pods: LiveObject[], serviceAccounts: LiveObject[]): IsolationCheck {
  const bad = pods.filter((p) => mountsToken(p, serviceAccounts));
  if (bad.length === 0) return check('service_account_token', true, `${pods.length} pod(s), none with a ServiceAccount token mounted`, 'manual');
  return check(
    'service_account_token',
    false,
    `${listed(bad.map((p) => `pod ${nameOf(p)} (ServiceAccount ${specOf(p).serviceAccountName ?? 'default'})`))} mount(s) a ServiceAccount token`,
    'manual',
    bad.map((p) => `Pod/${nameOf(p)}`),
  );
}

type Binding = LiveObject & { roleRef?: { kind?: string; name?: string }; subjects?: { kind?: string; name?: string; namespace?: string }[] };

const subjectText = (s: { kind?: string; name?: string; namespace?: string }) => `${s.kind} ${s.namespace ? `${s.namespace}/` : ''}${s.name}`;

/** A subject that is a ServiceAccount of the namespace, or the group of all of them. */
const subjectInNamespace = (ns: string) => (s: { kind?: string; name?: string; namespace?: string }) =>
  (s.kind === 'ServiceAccount' && s.namespace === ns) || (s.kind === 'Group' && s.name === `system:serviceaccounts:${ns}`);

/**
 * KubeKloud creates no RoleBinding in a cluster's namespace and gives its
 * ServiceAccounts no rights. So every RoleBinding in the namespace grants to
 * someone from outside KubeKloud, and every RoleBinding elsewhere or
 * ClusterRoleBinding naming a ServiceAccount of the namespace (or the group of
 * them all) hands the tenant's workloads rights KubeKloud never gave.
 * Cluster-wide bindings of the platform's own components to their own
 * accounts are the cluster operator's, not this namespace's, and not judged.
 */
function roleBindings(namespace: string, rbs: LiveObject[], crbs: LiveObject[]): IsolationCheck {
  const found: { text: string; ref: string }[] = [];
  const role = (b: Binding) => `${b.roleRef?.kind}/${b.roleRef?.name}`;
  for (const b of rbs as Binding[]) {
    const here = b.metadata?.namespace === namespace;
    const subjects = here ? (b.subjects ?? []) : (b.subjects ?? []).filter(subjectInNamespace(namespace));
    if (!here && subjects.length === 0) continue;
    const where = here ? 'in the namespace' : `in namespace ${b.metadata?.namespace}`;
    found.push({ text: `RoleBinding ${b.metadata?.namespace}/${nameOf(b)} grants ${role(b)} ${where} to ${subjects.map(subjectText).join(', ') || 'no one'}`, ref: `RoleBinding/${b.metadata?.namespace}/${nameOf(b)}` });
  }
  for (const b of crbs as Binding[]) {
    const subjects = (b.subjects ?? []).filter(subjectInNamespace(namespace));
    if (subjects.length === 0) continue;
    found.push({ text: `ClusterRoleBinding ${nameOf(b)} grants ${role(b)} cluster-wide to ${subjects.map(subjectText).join(', ')}`, ref: `ClusterRoleBinding/${nameOf(b)}` });
  }
  if (found.length === 0) return check('role_bindings', true, 'no RoleBinding in the namespace, and no binding grants to its ServiceAccounts', 'manual');
  return check('role_bindings', false, `${listed(found.map((f) => f.text))}; KubeKloud grants nothing there: delete the binding`, 'manual', found.map((f) => f.ref));
}

/** How many clusters fail each check, every check named (0 included), for the metric. */
export function failingByCheck(reports: { checks: IsolationCheck[] }[]): Record<IsolationCheckName, number> {
  const out = Object.fromEntries(ISOLATION_CHECKS.map((c) => [c, 0])) as Record<IsolationCheckName, number>;
  for (const r of reports) for (const c of r.checks) if (!c.passed) out[c.name] += 1;
  return out;
}
