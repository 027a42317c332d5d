// Rendering: what Kubernetes objects a cluster and its instances should have.
// Pure functions of the database rows, so "what should exist" is tested
// without a cluster; the reconciler applies the result with server-side apply.
import { dataVolumeSource } from './images.ts';
import { shouldRun, vmShouldRun } from './lifecycle.ts';
import type { ClusterSpec, InstanceSpec } from './model.ts';
import { cpuQuantity, memoryQuantity } from './units.ts';

export type KubeObject = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [key: string]: unknown;
};

export const MANAGED_BY = 'app.kubernetes.io/managed-by';
export const MANAGER = 'kubekloud';
export const LABEL_OWNER = 'kubekloud.io/owner';
export const LABEL_CLUSTER = 'kubekloud.io/cluster';
export const LABEL_INSTANCE = 'kubekloud.io/instance';
export const LABEL_INSTALLATION = 'kubekloud.io/installation';
export const ANNOTATION_RESTART = 'kubekloud.io/restart-count';

export const REPLACEMENT_HEADROOM = 1;

/** Room for what KubeKloud's own VMs need beyond the guest (virt-launcher overhead). */
export const VM_OVERHEAD = { cpuMilli: 100, memoryMib: 256 };

export function clusterLabels(c: ClusterSpec): Record<string, string> {
  return {
    [MANAGED_BY]: MANAGER,
    [LABEL_INSTALLATION]: c.installation,
    [LABEL_OWNER]: String(c.ownerId),
    [LABEL_CLUSTER]: String(c.id),
  };
}

/** Selects every object one installation manages. */
export function managedSelector(installation: string): string {
  return `${MANAGED_BY}=${MANAGER},${LABEL_INSTALLATION}=${installation}`;
}

export function instanceLabels(c: ClusterSpec, i: InstanceSpec): Record<string, string> {
  return { ...clusterLabels(c), [LABEL_INSTANCE]: String(i.id) };
}

/** The namespace and the fences around it: quota, limits, network policy. */
export function renderClusterObjects(c: ClusterSpec): KubeObject[] {
  const labels = clusterLabels(c);
  const meta = (name: string) => ({ name, namespace: c.namespace, labels });
  const perInstance = perInstanceLimits(
    c.rollPeak ? { ...c, cpuMilli: Math.max(c.cpuMilli, c.rollPeak.cpuMilli), memoryMib: Math.max(c.memoryMib, c.rollPeak.memoryMib) } : c,
  );
  // Room for one instance being replaced (restart, stop then start, a workload
  // recreated after drift): the quota controller counts a terminating pod until
  // it is gone, and a refused pod puts its StatefulSet into minutes of backoff.
  // The authoritative quota is the tenant's, in the database.
  const n = c.instanceCount + REPLACEMENT_HEADROOM;
  const objects: KubeObject[] = [
    {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: c.namespace, labels: { ...labels, ...podSecurityLabels(c) } },
    },
    {
      apiVersion: 'v1',
      kind: 'ResourceQuota',
      metadata: meta('kubekloud-quota'),
      spec: {
        hard: {
          'requests.cpu': cpuQuantity(perInstance.cpuMilli * n),
          'limits.cpu': cpuQuantity(perInstance.cpuMilli * n),
          'requests.memory': memoryQuantity(perInstance.memoryMib * n),
          'limits.memory': memoryQuantity(perInstance.memoryMib * n),
          pods: String(n),
          // Claims too: a VM restored from a snapshot gets its new claims before the old ones go.
          persistentvolumeclaims: String(((c.volumeSizeGb ? 1 : 0) + (c.diskSizeGb ? 1 : 0)) * n + (c.kept?.claims ?? 0)),
          'requests.storage': `${((c.volumeSizeGb ?? 0) + (c.diskSizeGb ?? 0)) * n + (c.kept?.storageGb ?? 0)}Gi`,
          // A LoadBalancer Service allocates node ports as well.
          'services.nodeports': String(c.serviceType === 'ClusterIP' ? 0 : c.ports.length * serviceCount(c)),
          'services.loadbalancers': String(c.serviceType === 'LoadBalancer' ? serviceCount(c) : 0),
        },
      },
    },
    {
      apiVersion: 'v1',
      kind: 'LimitRange',
      metadata: meta('kubekloud-limits'),
      spec: {
        limits: [
          {
            type: 'Container',
            default: { cpu: cpuQuantity(c.cpuMilli), memory: memoryQuantity(c.memoryMib) },
            defaultRequest: { cpu: cpuQuantity(c.cpuMilli), memory: memoryQuantity(c.memoryMib) },
            max: { cpu: cpuQuantity(perInstance.cpuMilli), memory: memoryQuantity(perInstance.memoryMib) },
          },
        ],
      },
    },
    {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: meta('kubekloud-default-deny'),
      spec: {
        podSelector: {},
        policyTypes: ['Ingress'],
        ingress: [{ from: [{ podSelector: {} }] }],
      },
    },
  ];
  if (c.ports.length > 0) {
    objects.push({
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: meta('kubekloud-exposed-ports'),
      spec: {
        podSelector: {},
        policyTypes: ['Ingress'],
        ingress: [{ ports: c.ports.map((p) => ({ port: p.port, protocol: p.protocol })) }],
      },
    });
  }
  if (exposedAsCluster(c)) objects.push(renderClusterService(c));
  return objects;
}

const exposedAsCluster = (c: ClusterSpec) => c.expose === 'cluster' && c.ports.length > 0;
/** One Service per instance, and the cluster's own when it is exposed as a whole. */
const serviceCount = (c: ClusterSpec) => c.instanceCount + (exposedAsCluster(c) ? 1 : 0);

/** `expose: cluster`: one Service, named as the cluster, balancing across every instance's pod. */
export function renderClusterService(c: ClusterSpec): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: c.name, namespace: c.namespace, labels: clusterLabels(c) },
    spec: { type: c.serviceType, selector: { [LABEL_CLUSTER]: String(c.id) }, ports: servicePorts(c) },
  };
}

const servicePorts = (c: ClusterSpec) =>
  c.ports.map((p) => ({ name: p.name ?? `${p.protocol.toLowerCase()}-${p.port}`, port: p.port, targetPort: p.port, protocol: p.protocol }));

function podSecurityLabels(c: ClusterSpec): Record<string, string> {
  // KubeVirt's virt-launcher pods meet "baseline", not "restricted".
  const level = c.kind === 'container' ? 'restricted' : 'baseline';
  return {
    'pod-security.kubernetes.io/enforce': level,
    'pod-security.kubernetes.io/warn': level,
    'pod-security.kubernetes.io/audit': level,
  };
}

function perInstanceLimits(c: ClusterSpec): { cpuMilli: number; memoryMib: number } {
  if (c.kind === 'container') return { cpuMilli: c.cpuMilli, memoryMib: c.memoryMib };
  return { cpuMilli: c.cpuMilli + VM_OVERHEAD.cpuMilli, memoryMib: c.memoryMib + VM_OVERHEAD.memoryMib };
}

/** The workload of one instance (StatefulSet or VirtualMachine) and its Service when ports are exposed. */
export function renderInstanceObjects(c: ClusterSpec, i: InstanceSpec): KubeObject[] {
  const workload = c.kind === 'container' ? renderStatefulSet(c, i) : renderVirtualMachine(c, i);
  return c.ports.length > 0 ? [workload, renderService(c, i)] : [workload];
}

function resources(c: ClusterSpec) {
  const amounts = { cpu: cpuQuantity(c.cpuMilli), memory: memoryQuantity(c.memoryMib) };
  return { requests: amounts, limits: amounts };
}

export function renderStatefulSet(c: ClusterSpec, i: InstanceSpec): KubeObject {
  const labels = instanceLabels(c, i);
  const container: Record<string, unknown> = {
    name: 'main',
    image: c.image,
    resources: resources(c),
    securityContext: {
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
      runAsNonRoot: true,
      seccompProfile: { type: 'RuntimeDefault' },
    },
  };
  // An empty value is left out, as the API server stores it (else every comparison would see drift).
  const env = Object.entries(c.env).map(([name, value]) => (value === '' ? { name } : { name, value }));
  if (env.length > 0) container.env = env;
  if (c.ports.length > 0) {
    container.ports = c.ports.map((p) => ({ containerPort: p.port, protocol: p.protocol, ...(p.name ? { name: p.name } : {}) }));
  }
  if (c.volumeSizeGb) container.volumeMounts = [{ name: 'data', mountPath: '/data' }];
  const spec: Record<string, unknown> = {
    replicas: shouldRun(i.desired) ? 1 : 0,
    serviceName: i.name,
    selector: { matchLabels: { [LABEL_INSTANCE]: String(i.id) } },
    persistentVolumeClaimRetentionPolicy: { whenDeleted: 'Delete', whenScaled: 'Retain' },
    template: {
      metadata: { labels, annotations: { [ANNOTATION_RESTART]: String(i.restartCount) } },
      spec: {
        automountServiceAccountToken: false,
        enableServiceLinks: false,
        terminationGracePeriodSeconds: 30,
        securityContext: {
          runAsNonRoot: true,
          runAsUser: 1000,
          runAsGroup: 1000,
          fsGroup: 1000,
          seccompProfile: { type: 'RuntimeDefault' },
        },
        containers: [container],
      },
    },
  };
  if (c.volumeSizeGb) {
    spec.volumeClaimTemplates = [
      {
        metadata: { name: 'data', labels },
        spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: `${c.volumeSizeGb}Gi` } } },
      },
    ];
  }
  return {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: { name: i.name, namespace: c.namespace, labels },
    spec,
  };
}

export function renderVirtualMachine(c: ClusterSpec, i: InstanceSpec): KubeObject {
  const labels = instanceLabels(c, i);
  const disks: unknown[] = [
    { name: 'rootdisk', disk: { bus: 'virtio' } },
    { name: 'cloudinit', disk: { bus: 'virtio' } },
  ];
  const volumes: unknown[] = [
    c.diskSizeGb ? { name: 'rootdisk', dataVolume: { name: rootDiskName(i) } } : { name: 'rootdisk', containerDisk: { image: c.image } },
    { name: 'cloudinit', cloudInitNoCloud: { userData: cloudInitUserData(c) } },
  ];
  if (c.volumeSizeGb) {
    disks.push({ name: 'data', disk: { bus: 'virtio' } });
    volumes.push({ name: 'data', persistentVolumeClaim: { claimName: vmDataClaimName(i) } });
  }
  return {
    apiVersion: 'kubevirt.io/v1',
    kind: 'VirtualMachine',
    metadata: { name: i.name, namespace: c.namespace, labels },
    spec: {
      // A suspended VM keeps running, paused through KubeVirt's pause subresource (the reconciler).
      runStrategy: vmShouldRun(i.desired) ? 'Always' : 'Halted',
      ...(c.diskSizeGb ? { dataVolumeTemplates: [renderRootDisk(c, i, c.diskSizeGb)] } : {}),
      template: {
        metadata: { labels, annotations: { [ANNOTATION_RESTART]: String(i.restartCount) } },
        spec: {
          domain: {
            cpu: { cores: Math.max(1, Math.ceil(c.cpuMilli / 1000)) },
            memory: { guest: memoryQuantity(c.memoryMib) },
            resources: resources(c),
            devices: { disks, interfaces: [{ name: 'default', masquerade: {} }] },
          },
          networks: [{ name: 'default', pod: {} }],
          volumes,
        },
      },
    },
  };
}

/** The DataVolume (and claim) of a VM's persistent root disk: KubeKloud's name, or the one a restore from a snapshot gave it. */
export const rootDiskName = (i: InstanceSpec) => i.rootDisk ?? `${i.name}-root`;

/** The claim of a VM's data disk: KubeKloud's name, or the one a restore from a snapshot gave it. */
export const vmDataClaimName = (i: InstanceSpec) => i.dataClaim ?? `${i.name}-data`;

/** A VM's persistent disks as objects in its namespace: its root disk's DataVolume and its data disk's claim, with their sizes. */
export function instanceDisks(
  c: { diskSizeGb?: number | null; volumeSizeGb: number | null },
  i: Pick<InstanceSpec, 'name' | 'rootDisk' | 'dataClaim'>,
): { instanceName: string; kind: 'root' | 'data'; objectName: string; sizeGb: number }[] {
  const spec = { id: 0, clusterId: 0, ordinal: 0, desired: 'running' as const, restartCount: 0, ...i };
  return [
    ...(c.diskSizeGb ? [{ instanceName: i.name, kind: 'root' as const, objectName: rootDiskName(spec), sizeGb: c.diskSizeGb }] : []),
    ...(c.volumeSizeGb ? [{ instanceName: i.name, kind: 'data' as const, objectName: vmDataClaimName(spec), sizeGb: c.volumeSizeGb }] : []),
  ];
}

/**
 * A VM's persistent root disk: a CDI DataVolume template on the VM, imported
 * from the image's source and sized by the request. KubeVirt creates the
 * DataVolume (owned by the VM: deleted with it, kept across stop and start)
 * and starts the VM once the import has succeeded.
 */
function renderRootDisk(c: ClusterSpec, i: InstanceSpec, gb: number) {
  return {
    metadata: { name: rootDiskName(i), labels: instanceLabels(c, i) },
    spec: {
      source: dataVolumeSource(c.diskSource ?? c.image),
      storage: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: `${gb}Gi` } } },
    },
  };
}

/**
 * A VM's data disk is a PVC of its own, applied before the VM. One restored
 * from a snapshot is KubeVirt's: made by the restore, owned by the VM.
 */
export function renderVmDataVolume(c: ClusterSpec, i: InstanceSpec): KubeObject | null {
  if (c.kind !== 'vm' || !c.volumeSizeGb || i.dataClaim) return null;
  return {
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: { name: `${i.name}-data`, namespace: c.namespace, labels: instanceLabels(c, i) },
    spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: `${c.volumeSizeGb}Gi` } } },
  };
}

/** cloud-init: the user's own data, with the SSH keys added to a #cloud-config document. */
export function cloudInitUserData(c: ClusterSpec): string {
  const base = c.userData ?? '#cloud-config\n';
  if (c.sshKeys.length === 0) return base;
  const keys = c.sshKeys.map((k) => `  - ${JSON.stringify(k)}`).join('\n');
  return `${base.endsWith('\n') ? base : `${base}\n`}ssh_authorized_keys:\n${keys}\n`;
}

export function renderService(c: ClusterSpec, i: InstanceSpec): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: i.name, namespace: c.namespace, labels: instanceLabels(c, i) },
    spec: {
      type: c.serviceType,
      selector: { [LABEL_INSTANCE]: String(i.id) },
      ports: servicePorts(c),
    },
  };
}
