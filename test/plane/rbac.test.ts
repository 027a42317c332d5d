// RBAC on the local control plane: a ServiceAccount can do only what it is granted.
import { CoreV1Api, RbacAuthorizationV1Api } from '@kubernetes/client-node';
import { afterAll, describe, expect, it } from 'vitest';
import {
  createTestNamespace,
  deleteNamespace,
  eventually,
  impersonating,
  loadTestKubeConfig,
  rejection,
  serviceAccountUser,
} from '../support/kube.ts';

const kc = loadTestKubeConfig();
const core = kc.makeApiClient(CoreV1Api);
const rbac = kc.makeApiClient(RbacAuthorizationV1Api);

describe('RBAC on the local control plane', () => {
  const namespaces: string[] = [];
  afterAll(async () => {
    await Promise.all(namespaces.map((ns) => deleteNamespace(kc, ns)));
  });

  it('forbids an impersonated ServiceAccount without rights, and allows it once a Role is bound', async () => {
    const ns = await createTestNamespace(kc, 'plane-rbac');
    namespaces.push(ns);
    await core.createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name: 'nobody' } } });
    const asNobody = impersonating(kc, serviceAccountUser(ns, 'nobody')).makeApiClient(CoreV1Api);

    const err = await rejection(() => asNobody.listNamespacedPod({ namespace: ns }));
    expect(err.code).toBe(403);
    expect(err.message).toContain(`system:serviceaccount:${ns}:nobody`);

    const denied = await rejection(() => asNobody.createNamespace({ body: { metadata: { name: `${ns}-x` } } }));
    expect(denied.code).toBe(403);

    await rbac.createNamespacedRole({
      namespace: ns,
      body: { metadata: { name: 'pod-reader' }, rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch'] }] },
    });
    await rbac.createNamespacedRoleBinding({
      namespace: ns,
      body: {
        metadata: { name: 'nobody-reads-pods' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'pod-reader' },
        subjects: [{ kind: 'ServiceAccount', name: 'nobody', namespace: ns }],
      },
    });
    const list = await eventually(() => asNobody.listNamespacedPod({ namespace: ns }), 15_000, 'RoleBinding to take effect');
    expect(list.items).toEqual([]);
  });
});
