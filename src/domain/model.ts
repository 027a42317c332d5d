// The shapes of a cluster and an instance as the domain sees them.
import type { Desired, InstanceKind, InstanceStatus } from './lifecycle.ts';

export type ServiceType = 'ClusterIP' | 'NodePort' | 'LoadBalancer';
export type PortSpec = { port: number; protocol: 'TCP' | 'UDP'; name?: string };
/** `instances`: a Service per instance; `cluster`: also one Service across all of the cluster's instances. */
export type Expose = 'instances' | 'cluster';

export type ClusterSpec = {
  id: number;
  ownerId: number;
  name: string;
  namespace: string;
  kind: InstanceKind;
  cpuMilli: number;
  memoryMib: number;
  instanceCount: number;
  image: string;
  ports: PortSpec[];
  serviceType: ServiceType;
  expose: Expose;
  volumeSizeGb: number | null;
  /** VMs: the size of the persistent root disk (a DataVolume imported from the image); null boots the image as a containerDisk. */
  diskSizeGb?: number | null;
  /** VMs with a root disk: the image's source as stored (docker://… or an http(s) URL), which the disk is imported from. */
  diskSource?: string | null;
  env: Record<string, string>;
  sshKeys: string[];
  userData: string | null;
  /** While a live change rolls: the largest CPU and memory per instance any instance renders with (the namespace quota admits both). */
  rollPeak?: { cpuMilli: number; memoryMib: number } | null;
  /** Disks scale-ins kept in the namespace: their storage (GB) and claims, which its quota leaves room for. */
  kept?: { storageGb: number; claims: number };
  /** Which KubeKloud installation owns the objects (several may share one Kubernetes). */
  installation: string;
};

export type InstanceSpec = {
  id: number;
  clusterId: number;
  ordinal: number;
  name: string;
  desired: Desired;
  /** Bumped by each restart; part of the rendered pod template so a change rolls the pod. */
  restartCount: number;
  /** A VM restored from a snapshot: the claims it runs from now (null or absent: KubeKloud's own names). */
  rootDisk?: string | null;
  dataClaim?: string | null;
};

export type InstanceView = InstanceSpec & { status: InstanceStatus };
