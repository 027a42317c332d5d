// Admission on the local control plane is the real thing: Pod Security and
// ResourceQuota reject what a production API server would reject.
import { CoreV1Api } from '@kubernetes/client-node';
import { afterAll, describe, expect, it } from 'vitest';
import { createTestNamespace, deleteNamespace, eventually, loadTestKubeConfig, rejection } from '../support/kube.ts';

const kc = loadTestKubeConfig();
const core = kc.makeApiClient(CoreV1Api);

describe('admission on the local control plane', () => {
  const namespaces: string[] = [];
  afterAll(async () => {
    await Promise.all(namespaces.map((ns) => deleteNamespace(kc, ns)));
  });

  it('rejects a privileged pod in a namespace that enforces the restricted Pod Security level', async () => {
    const ns = await createTestNamespace(kc, 'plane-psa', { 'pod-security.kubernetes.io/enforce': 'restricted' });
    namespaces.push(ns);
    const err = await rejection(() =>
      core.createNamespacedPod({
        namespace: ns,
        body: {
          metadata: { name: 'privileged' },
          spec: { containers: [{ name: 'c', image: 'busybox', securityContext: { privileged: true } }] },
        },
      }),
    );
    expect(err.code).toBe(403);
    expect(err.message).toContain('violates PodSecurity "restricted');
    expect(err.message).toContain('privileged');
  });

  it('rejects a pod that exceeds the namespace ResourceQuota', async () => {
    const ns = await createTestNamespace(kc, 'plane-quota');
    namespaces.push(ns);
    await core.createNamespacedResourceQuota({
      namespace: ns,
      body: { metadata: { name: 'quota' }, spec: { hard: { 'requests.cpu': '1', 'requests.memory': '1Gi', pods: '5' } } },
    });
    // The quota controller must have computed the quota's usage before admission enforces it.
    await eventually(async () => {
      const q = await core.readNamespacedResourceQuota({ name: 'quota', namespace: ns });
      return q.status?.hard?.['requests.cpu'] !== undefined;
    }, 30_000, 'ResourceQuota status');

    const pod = (cpu: string) => ({
      metadata: { name: `p-${cpu}` },
      spec: { containers: [{ name: 'c', image: 'busybox', resources: { requests: { cpu, memory: '128Mi' } } }] },
    });
    await core.createNamespacedPod({ namespace: ns, body: pod('500m') });
    const err = await rejection(() => core.createNamespacedPod({ namespace: ns, body: pod('2') }));
    expect(err.code).toBe(403);
    expect(err.message).toContain('exceeded quota');
  });
});
