// What the isolation checks read (src/domain/isolation.ts): a namespace's
// fences, pods and ServiceAccounts, and every RoleBinding and
// ClusterRoleBinding of the cluster — read only, unlabelled objects included
// (what others put there is the point). The fleet view reads each kind once
// across all namespaces instead of once per cluster.
import type { IsolationReads, LiveState } from '../domain/isolation.ts';
import type { Kube } from './client.ts';

const NAMESPACED = [
  ['networkPolicies', 'networking.k8s.io/v1', 'NetworkPolicy'],
  ['resourceQuotas', 'v1', 'ResourceQuota'],
  ['limitRanges', 'v1', 'LimitRange'],
  ['pods', 'v1', 'Pod'],
  ['serviceAccounts', 'v1', 'ServiceAccount'],
] as const;

export function createIsolationReads(kube: Pick<Kube, 'get' | 'listAll'>): IsolationReads {
  async function read(namespace: string | null): Promise<LiveState> {
    const [namespaces, roleBindings, clusterRoleBindings, ...lists] = await Promise.all([
      namespace
        ? kube.get({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } }).then((n) => (n ? [n] : []))
        : kube.listAll('v1', 'Namespace', null),
      kube.listAll('rbac.authorization.k8s.io/v1', 'RoleBinding', null),
      kube.listAll('rbac.authorization.k8s.io/v1', 'ClusterRoleBinding', null),
      // A namespace that does not exist lists empty.
      ...NAMESPACED.map(([, apiVersion, kind]) => kube.listAll(apiVersion, kind, namespace)),
    ]);
    const state = { namespaces, roleBindings, clusterRoleBindings } as LiveState;
    NAMESPACED.forEach(([field], i) => (state[field] = lists[i]!));
    return state;
  }
  return { namespace: (name) => read(name), everything: () => read(null) };
}
