import { describe, expect, it } from 'vitest';
import type { ClusterSpec, InstanceSpec } from '../../src/domain/model.ts';
import {
  cloudInitUserData,
  LABEL_CLUSTER,
  LABEL_INSTALLATION,
  LABEL_INSTANCE,
  LABEL_OWNER,
  MANAGED_BY,
  managedSelector,
  renderClusterObjects,
  renderInstanceObjects,
  renderVmDataVolume,
} from '../../src/domain/render.ts';

const cluster = (over: Partial<ClusterSpec> = {}): ClusterSpec => ({
  id: 7,
  ownerId: 3,
  name: 'web',
  namespace: 'kk-7-web',
  kind: 'container',
  cpuMilli: 500,
  memoryMib: 1024,
  instanceCount: 2,
  image: 'registry.example/app:1.0',
  ports: [],
  serviceType: 'ClusterIP',
  expose: 'instances',
  volumeSizeGb: null,
  env: {},
  sshKeys: [],
  userData: null,
  installation: 'default',
  ...over,
});
const instance = (over: Partial<InstanceSpec> = {}): InstanceSpec => ({ id: 11, clusterId: 7, ordinal: 1, name: 'web-1', desired: 'running', restartCount: 0, ...over });
const byKind = (objs: { kind: string }[], kind: string) => objs.find((o) => o.kind === kind) as Record<string, any>;

describe('cluster objects', () => {
  it('give the namespace the restricted pod security profile for containers', () => {
    const ns = byKind(renderClusterObjects(cluster()), 'Namespace');
    expect(ns.metadata.name).toBe('kk-7-web');
    expect(ns.metadata.labels['pod-security.kubernetes.io/enforce']).toBe('restricted');
    expect(ns.metadata.labels[MANAGED_BY]).toBe('kubekloud');
    expect(ns.metadata.labels[LABEL_OWNER]).toBe('3');
    expect(ns.metadata.labels[LABEL_CLUSTER]).toBe('7');
    expect(ns.metadata.labels[LABEL_INSTALLATION]).toBe('default');
  });
  it('fence the namespace with a quota of what the cluster may use, plus one instance being replaced', () => {
    const rq = byKind(renderClusterObjects(cluster()), 'ResourceQuota');
    // 2 instances of 0.5 cores and 1 GB, and room for one more while a pod is replaced.
    expect(rq.spec.hard).toMatchObject({ 'requests.cpu': '1500m', 'limits.cpu': '1500m', 'requests.memory': '3Gi', 'limits.memory': '3Gi', pods: '3', 'services.nodeports': '0', 'services.loadbalancers': '0' });
    const withVolumes = byKind(renderClusterObjects(cluster({ volumeSizeGb: 5 })), 'ResourceQuota');
    // Claims too have room for one more instance's: a VM restored from a snapshot gets its new claims first.
    expect(withVolumes.spec.hard).toMatchObject({ persistentvolumeclaims: '3', 'requests.storage': '15Gi' });
  });
  it('give VM namespaces room for the launcher overhead and the baseline profile', () => {
    const objs = renderClusterObjects(cluster({ kind: 'vm', cpuMilli: 1000, memoryMib: 2048, instanceCount: 1 }));
    expect(byKind(objs, 'ResourceQuota').spec.hard['requests.memory']).toBe('4608Mi'); // (2 GB + 256 Mi) × (1 + 1 being replaced)
    expect(byKind(objs, 'Namespace').metadata.labels['pod-security.kubernetes.io/enforce']).toBe('baseline');
  });
  it('limit each container to one instance worth', () => {
    const lr = byKind(renderClusterObjects(cluster()), 'LimitRange');
    expect(lr.spec.limits[0].max).toEqual({ cpu: '500m', memory: '1Gi' });
  });
  it('deny ingress except from the namespace itself, plus exposed ports', () => {
    const plain = renderClusterObjects(cluster()).filter((o) => o.kind === 'NetworkPolicy');
    expect(plain).toHaveLength(1);
    expect(plain[0]).toMatchObject({ spec: { podSelector: {}, policyTypes: ['Ingress'], ingress: [{ from: [{ podSelector: {} }] }] } });
    const exposed = renderClusterObjects(cluster({ ports: [{ port: 8080, protocol: 'TCP' }] })).filter((o) => o.kind === 'NetworkPolicy');
    expect(exposed[1]).toMatchObject({ spec: { ingress: [{ ports: [{ port: 8080, protocol: 'TCP' }] }] } });
  });
  it('allow NodePorts and load balancers in the quota only when asked for', () => {
    const rq = byKind(renderClusterObjects(cluster({ ports: [{ port: 80, protocol: 'TCP' }], serviceType: 'NodePort' })), 'ResourceQuota');
    expect(rq.spec.hard['services.nodeports']).toBe('2');
    const lb = byKind(renderClusterObjects(cluster({ ports: [{ port: 80, protocol: 'TCP' }], serviceType: 'LoadBalancer' })), 'ResourceQuota');
    expect(lb.spec.hard).toMatchObject({ 'services.loadbalancers': '2', 'services.nodeports': '2' });
  });
  it('expose: cluster adds one Service, named as the cluster, selecting every instance, and counts it in the quota', () => {
    const c = cluster({ ports: [{ port: 22, protocol: 'TCP' }, { port: 80, protocol: 'TCP', name: 'web' }], serviceType: 'LoadBalancer', expose: 'cluster' });
    const objs = renderClusterObjects(c);
    const svc = byKind(objs, 'Service');
    expect(svc.metadata).toEqual({ name: 'web', namespace: 'kk-7-web', labels: { [MANAGED_BY]: 'kubekloud', [LABEL_INSTALLATION]: 'default', [LABEL_OWNER]: '3', [LABEL_CLUSTER]: '7' } });
    expect(svc.spec).toEqual({
      type: 'LoadBalancer',
      selector: { [LABEL_CLUSTER]: '7' },
      ports: [
        { name: 'tcp-22', port: 22, targetPort: 22, protocol: 'TCP' },
        { name: 'web', port: 80, targetPort: 80, protocol: 'TCP' },
      ],
    });
    // Two instances and the cluster's Service, each with both ports.
    expect(byKind(objs, 'ResourceQuota').spec.hard).toMatchObject({ 'services.loadbalancers': '3', 'services.nodeports': '6' });
    expect(renderClusterObjects(cluster({ ports: [{ port: 22, protocol: 'TCP' }] })).some((o) => o.kind === 'Service')).toBe(false);
    expect(renderClusterObjects(cluster({ expose: 'cluster' })).some((o) => o.kind === 'Service')).toBe(false);
  });
});

describe('container instance', () => {
  it('is a one-replica StatefulSet while running and zero otherwise', () => {
    expect(byKind(renderInstanceObjects(cluster(), instance()), 'StatefulSet').spec.replicas).toBe(1);
    expect(byKind(renderInstanceObjects(cluster(), instance({ desired: 'stopped' })), 'StatefulSet').spec.replicas).toBe(0);
    expect(byKind(renderInstanceObjects(cluster(), instance({ desired: 'suspended' })), 'StatefulSet').spec.replicas).toBe(0);
  });
  it('has a pod template that meets the restricted profile, with requests equal to limits', () => {
    const sts = byKind(renderInstanceObjects(cluster({ env: { MODE: 'prod' } }), instance()), 'StatefulSet');
    const pod = sts.spec.template.spec;
    const c = pod.containers[0];
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
    expect(c.securityContext).toEqual({ allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] }, runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
    expect(pod.hostNetwork).toBeUndefined();
    expect(pod.volumes).toBeUndefined();
    expect(c.resources).toEqual({ requests: { cpu: '500m', memory: '1Gi' }, limits: { cpu: '500m', memory: '1Gi' } });
    expect(c.env).toEqual([{ name: 'MODE', value: 'prod' }]);
    expect(sts.spec.selector.matchLabels).toEqual({ [LABEL_INSTANCE]: '11' });
    expect(sts.spec.template.metadata.labels[LABEL_INSTANCE]).toBe('11');
  });
  it('rolls its pod when restarted', () => {
    const a = byKind(renderInstanceObjects(cluster(), instance()), 'StatefulSet');
    const b = byKind(renderInstanceObjects(cluster(), instance({ restartCount: 1 })), 'StatefulSet');
    expect(a.spec.template.metadata.annotations).not.toEqual(b.spec.template.metadata.annotations);
  });
  it('claims a volume per instance when a volume size is given', () => {
    const sts = byKind(renderInstanceObjects(cluster({ volumeSizeGb: 5 }), instance()), 'StatefulSet');
    expect(sts.spec.volumeClaimTemplates[0].spec.resources.requests.storage).toBe('5Gi');
    expect(sts.spec.template.spec.containers[0].volumeMounts).toEqual([{ name: 'data', mountPath: '/data' }]);
  });
  it('gets a Service for exposed ports, selecting only itself', () => {
    const objs = renderInstanceObjects(cluster({ ports: [{ port: 8080, protocol: 'TCP' }], serviceType: 'LoadBalancer' }), instance());
    const svc = byKind(objs, 'Service');
    expect(svc.spec).toMatchObject({ type: 'LoadBalancer', selector: { [LABEL_INSTANCE]: '11' }, ports: [{ port: 8080, targetPort: 8080, protocol: 'TCP' }] });
    expect(renderInstanceObjects(cluster(), instance()).map((o) => o.kind)).toEqual(['StatefulSet']);
  });
});

describe('vm instance', () => {
  const vmCluster = cluster({ kind: 'vm', cpuMilli: 1500, memoryMib: 2048, image: 'quay.io/containerdisks/fedora:40' });
  it('is a VirtualMachine that runs Always or Halted', () => {
    expect(byKind(renderInstanceObjects(vmCluster, instance()), 'VirtualMachine').spec.runStrategy).toBe('Always');
    expect(byKind(renderInstanceObjects(vmCluster, instance({ desired: 'stopped' })), 'VirtualMachine').spec.runStrategy).toBe('Halted');
    // Suspend keeps the VM running, paused (its memory kept); a suspended container has no pod.
    expect(byKind(renderInstanceObjects(vmCluster, instance({ desired: 'suspended' })), 'VirtualMachine').spec.runStrategy).toBe('Always');
    expect(byKind(renderInstanceObjects(cluster({ kind: 'container' }), instance({ desired: 'suspended' })), 'StatefulSet').spec.replicas).toBe(0);
  });
  it('gets whole cores, exact requests, the guest memory and the disk image', () => {
    const vm = byKind(renderInstanceObjects(vmCluster, instance()), 'VirtualMachine');
    const t = vm.spec.template.spec;
    expect(t.domain.cpu.cores).toBe(2);
    expect(t.domain.resources.requests).toEqual({ cpu: '1500m', memory: '2Gi' });
    expect(t.domain.memory.guest).toBe('2Gi');
    expect(t.volumes[0]).toEqual({ name: 'rootdisk', containerDisk: { image: 'quay.io/containerdisks/fedora:40' } });
  });
  it('boots from a persistent root disk: a DataVolume template imported from the source, sized by the request', () => {
    const fromUrl = byKind(renderInstanceObjects(cluster({ kind: 'vm', diskSizeGb: 20, diskSource: 'https://images.example/noble.img' }), instance()), 'VirtualMachine');
    expect(fromUrl.spec.dataVolumeTemplates).toEqual([
      {
        metadata: { name: 'web-1-root', labels: byKind(renderInstanceObjects(cluster({ kind: 'vm' }), instance()), 'VirtualMachine').metadata.labels },
        spec: { source: { http: { url: 'https://images.example/noble.img' } }, storage: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '20Gi' } } } },
      },
    ]);
    expect(fromUrl.spec.template.spec.volumes[0]).toEqual({ name: 'rootdisk', dataVolume: { name: 'web-1-root' } });
    // A registry image is imported as docker://, whether or not the source said so.
    for (const diskSource of ['docker://quay.io/containerdisks/fedora:40', 'quay.io/containerdisks/fedora:40']) {
      const vm = byKind(renderInstanceObjects(cluster({ kind: 'vm', diskSizeGb: 8, diskSource }), instance()), 'VirtualMachine');
      expect(vm.spec.dataVolumeTemplates[0].spec.source).toEqual({ registry: { url: 'docker://quay.io/containerdisks/fedora:40' } });
    }
    // The template stays when the VM is stopped: the disk is kept across stop and start.
    expect(byKind(renderInstanceObjects(cluster({ kind: 'vm', diskSizeGb: 8 }), instance({ desired: 'stopped' })), 'VirtualMachine').spec.dataVolumeTemplates).toHaveLength(1);
  });
  it('adds SSH keys to a cloud-config document', () => {
    const c = cluster({ kind: 'vm', sshKeys: ['ssh-ed25519 AAAA me'], userData: '#cloud-config\npackages: [git]' });
    expect(cloudInitUserData(c)).toBe('#cloud-config\npackages: [git]\nssh_authorized_keys:\n  - "ssh-ed25519 AAAA me"\n');
    expect(cloudInitUserData(cluster({ kind: 'vm' }))).toBe('#cloud-config\n');
  });
  it('has a data volume of its own when asked', () => {
    expect(renderVmDataVolume(vmCluster, instance())).toBeNull();
    const pvc = renderVmDataVolume({ ...vmCluster, volumeSizeGb: 10 }, instance()) as Record<string, any>;
    expect(pvc.metadata.name).toBe('web-1-data');
    expect(pvc.spec.resources.requests.storage).toBe('10Gi');
  });
});

it('selects by installation so installations sharing a cluster never touch each other', () => {
  expect(managedSelector('blue')).toBe('app.kubernetes.io/managed-by=kubekloud,kubekloud.io/installation=blue');
});

describe('object paths', async () => {
  const { objectPath } = await import('../../src/kube/rest.ts');
  it('address every kind we apply', () => {
    const m = (apiVersion: string, kind: string, namespace?: string) => objectPath({ apiVersion, kind, metadata: { name: 'n', namespace } });
    expect(m('v1', 'Namespace')).toBe('/api/v1/namespaces/n');
    expect(m('v1', 'ResourceQuota', 'ns')).toBe('/api/v1/namespaces/ns/resourcequotas/n');
    expect(m('v1', 'PersistentVolumeClaim', 'ns')).toBe('/api/v1/namespaces/ns/persistentvolumeclaims/n');
    expect(m('networking.k8s.io/v1', 'NetworkPolicy', 'ns')).toBe('/apis/networking.k8s.io/v1/namespaces/ns/networkpolicies/n');
    expect(m('apps/v1', 'StatefulSet', 'ns')).toBe('/apis/apps/v1/namespaces/ns/statefulsets/n');
    expect(m('kubevirt.io/v1', 'VirtualMachine', 'ns')).toBe('/apis/kubevirt.io/v1/namespaces/ns/virtualmachines/n');
  });
});
