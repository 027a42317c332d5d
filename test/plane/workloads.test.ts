// The local control plane runs workloads: StatefulSet pods on fake nodes,
// VirtualMachines following spec.runStrategy, and namespaces that finish deleting.
import { AppsV1Api, CoordinationV1Api, CoreV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import { afterAll, describe, expect, it } from 'vitest';
import { createTestNamespace, deleteNamespace, eventually, loadTestKubeConfig, rejection } from '../support/kube.ts';

const kc = loadTestKubeConfig();
const core = kc.makeApiClient(CoreV1Api);
const apps = kc.makeApiClient(AppsV1Api);
const custom = kc.makeApiClient(CustomObjectsApi);
const vmRef = { group: 'kubevirt.io', version: 'v1', plural: 'virtualmachines' };

function virtualMachine(name: string, runStrategy: string) {
  return {
    apiVersion: 'kubevirt.io/v1',
    kind: 'VirtualMachine',
    metadata: { name, labels: { 'kubekloud.io/cluster': 'c1' } },
    spec: {
      runStrategy,
      template: {
        metadata: { labels: { 'kubekloud.io/vm': name } },
        spec: {
          domain: {
            cpu: { cores: 2 },
            memory: { guest: '2Gi' },
            resources: { requests: { cpu: '2', memory: '2Gi' }, limits: { cpu: '2', memory: '2Gi' } },
            devices: {
              disks: [
                { name: 'root', disk: { bus: 'virtio' } },
                { name: 'cloudinit', disk: { bus: 'virtio' } },
              ],
              interfaces: [{ name: 'default', masquerade: {} }],
            },
          },
          networks: [{ name: 'default', pod: {} }],
          volumes: [
            { name: 'root', containerDisk: { image: 'quay.io/containerdisks/ubuntu:24.04' } },
            { name: 'cloudinit', cloudInitNoCloud: { userData: '#cloud-config\n' } },
            { name: 'data', persistentVolumeClaim: { claimName: `${name}-data` } },
          ],
        },
      },
    },
  };
}

describe('workloads on the local control plane', () => {
  const namespaces: string[] = [];
  afterAll(async () => {
    await Promise.all(namespaces.map((ns) => deleteNamespace(kc, ns)));
  });

  it('runs a StatefulSet pod and a VirtualMachine, stops the VM when Halted, and deletes the namespace', async () => {
    const ns = await createTestNamespace(kc, 'plane-workloads');
    namespaces.push(ns);

    await apps.createNamespacedStatefulSet({
      namespace: ns,
      body: {
        metadata: { name: 'db' },
        spec: {
          replicas: 1,
          serviceName: 'db',
          selector: { matchLabels: { app: 'db' } },
          template: {
            metadata: { labels: { app: 'db' } },
            spec: { containers: [{ name: 'postgres', image: 'postgres:16', resources: { requests: { cpu: '500m', memory: '512Mi' } } }] },
          },
        },
      },
    });
    await custom.createNamespacedCustomObject({ ...vmRef, namespace: ns, body: virtualMachine('vm-1', 'Always') });

    const started = Date.now();
    const pod = await eventually(async () => {
      const p = await core.readNamespacedPod({ name: 'db-0', namespace: ns });
      const ready = p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
      return p.status?.phase === 'Running' && ready ? p : undefined;
    }, 30_000, 'pod db-0 Running and Ready');
    expect(pod.spec?.nodeName).toMatch(/^kk-node-/);
    expect(pod.status?.podIP).toMatch(/^10\.244\./);

    const vm: any = await eventually(async () => {
      const v: any = await custom.getNamespacedCustomObject({ ...vmRef, namespace: ns, name: 'vm-1' });
      return v.status?.printableStatus === 'Running' ? v : undefined;
    }, 30_000, 'VirtualMachine Running');
    expect(Date.now() - started).toBeLessThan(30_000);
    expect(vm.status.ready).toBe(true);
    expect(vm.status.conditions).toEqual(expect.arrayContaining([expect.objectContaining({ type: 'Ready', status: 'True' })]));
    // Fields the API sets survive the schema (nothing pruned).
    expect(vm.spec.template.spec.volumes[2].persistentVolumeClaim.claimName).toBe('vm-1-data');
    expect(vm.spec.template.spec.domain.devices.interfaces[0].masquerade).toEqual({});

    await custom.patchNamespacedCustomObject({
      ...vmRef,
      namespace: ns,
      name: 'vm-1',
      body: [{ op: 'replace', path: '/spec/runStrategy', value: 'Halted' }],
    });
    const stopped: any = await eventually(async () => {
      const v: any = await custom.getNamespacedCustomObject({ ...vmRef, namespace: ns, name: 'vm-1' });
      return v.status?.printableStatus === 'Stopped' ? v : undefined;
    }, 30_000, 'VirtualMachine Stopped');
    expect(stopped.status.ready).toBe(false);

    await core.deleteNamespace({ name: ns });
    await eventually(async () => {
      const gone = await rejection(() => core.readNamespace({ name: ns })).catch(() => undefined);
      return gone?.code === 404;
    }, 60_000, `namespace ${ns} to be deleted`);
  });

  it('reports a pod ready again after the node controller marked it not ready, as a returning kubelet would', async () => {
    const ns = await createTestNamespace(kc, 'plane-ready-again');
    namespaces.push(ns);
    await core.createNamespacedPod({
      namespace: ns,
      body: { metadata: { name: 'p' }, spec: { containers: [{ name: 'c', image: 'busybox', resources: { requests: { cpu: '100m', memory: '64Mi' } } }] } },
    });
    const isReady = (p: { status?: { conditions?: { type: string; status: string }[] } }) =>
      p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
    await eventually(async () => isReady(await core.readNamespacedPod({ name: 'p', namespace: ns })) || undefined, 30_000, 'pod p Ready');

    // What the node lifecycle controller writes when a node stops heartbeating.
    const pod = await core.readNamespacedPodStatus({ name: 'p', namespace: ns });
    for (const c of pod.status!.conditions!) if (c.type === 'Ready' || c.type === 'ContainersReady') c.status = 'False';
    const marked = await core.replaceNamespacedPodStatus({ name: 'p', namespace: ns, body: pod });
    expect(isReady(marked)).toBe(false);

    const back = await eventually(async () => {
      const p = await core.readNamespacedPod({ name: 'p', namespace: ns });
      return isReady(p) ? p : undefined;
    }, 30_000, 'pod p Ready again');
    expect(back.status?.phase).toBe('Running');
    expect(back.status?.podIP).toBe(marked.status?.podIP);
    expect(back.status?.containerStatuses?.[0]?.ready).toBe(true);
  });

  it('renews node leases on a short lease, so a restarted kwok takes its nodes back before they go NotReady', async () => {
    const leases = await kc.makeApiClient(CoordinationV1Api).listNamespacedLease({ namespace: 'kube-node-lease' });
    const ours = leases.items.filter((l) => l.metadata?.name?.startsWith('kk-node-'));
    expect(ours.length).toBeGreaterThanOrEqual(3);
    for (const l of ours) {
      expect(l.spec?.leaseDurationSeconds).toBe(10);
      expect(Date.now() - new Date(l.spec!.renewTime!).getTime()).toBeLessThan(10_000);
    }
  });

  it('does not report a VM Stopped that was started again before its stop was reported', async () => {
    const ns = await createTestNamespace(kc, 'plane-vm-flip');
    namespaces.push(ns);
    await custom.createNamespacedCustomObject({ ...vmRef, namespace: ns, body: virtualMachine('vm-flip', 'Always') });
    const read = async () => (await custom.getNamespacedCustomObject({ ...vmRef, namespace: ns, name: 'vm-flip' })) as any;
    await eventually(async () => (await read()).status?.printableStatus === 'Running', 30_000, 'VirtualMachine Running');
    // Halted and at once Always again, as a restore that finds the VMI gone can do before a stop is shown.
    const strategy = (value: string) =>
      custom.patchNamespacedCustomObject({ ...vmRef, namespace: ns, name: 'vm-flip', body: [{ op: 'replace', path: '/spec/runStrategy', value }] });
    await strategy('Halted');
    await strategy('Always');
    // A stop is shown at most 1.5 s after it was first needed: watched past that, the VM never reads Stopped.
    const seen = new Set<string>();
    const until = Date.now() + 3_000;
    while (Date.now() < until) {
      seen.add((await read()).status?.printableStatus);
      await new Promise((r) => setTimeout(r, 50));
    }
    expect([...seen]).toEqual(['Running']);
  });

  it('rejects a VirtualMachine with an unknown runStrategy', async () => {
    const ns = await createTestNamespace(kc, 'plane-vm-schema');
    namespaces.push(ns);
    const err = await rejection(() =>
      custom.createNamespacedCustomObject({ ...vmRef, namespace: ns, body: virtualMachine('vm-bad', 'Sometimes') }),
    );
    expect(err.code).toBe(422);
    expect(err.message).toContain('runStrategy');
  });
});
