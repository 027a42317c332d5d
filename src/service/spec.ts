// Database rows to the domain's view of a cluster and an instance.
import { workloadImage } from '../domain/images.ts';
import type { ClusterSpec, InstanceSpec } from '../domain/model.ts';
import type { RollableSpec } from '../domain/rollout.ts';
import type { ClusterRow } from '../store/clusters.ts';
import type { InstanceRow } from '../store/instances.ts';

/**
 * What the cluster renders; with an instance, what that instance renders: the
 * earlier spec it keeps until a live change rolls to it (one instance at a
 * time), else the cluster's.
 */
/** What of a cluster row decides what it renders (a quote renders a cluster not yet inserted from these alone). */
export type RenderedClusterFields = Pick<
  ClusterRow,
  | 'id' | 'owner_id' | 'name' | 'namespace' | 'instance_type' | 'cpu_milli' | 'memory_mib' | 'instance_count' | 'image' | 'image_source'
  | 'ports' | 'service_type' | 'expose' | 'volume_size_gb' | 'disk_size_gb' | 'env' | 'ssh_keys' | 'user_data'
  | 'kept_storage_gb' | 'kept_claims' | 'peak_cpu_milli' | 'peak_memory_mib'
>;

export function clusterSpecOf(row: RenderedClusterFields, installation: string, instance?: { spec: RollableSpec | null }): ClusterSpec {
  const c = instance?.spec ? { ...row, ...instance.spec } : row;
  return {
    installation,
    id: c.id,
    ownerId: c.owner_id,
    name: c.name,
    namespace: c.namespace,
    kind: c.instance_type,
    cpuMilli: c.cpu_milli,
    memoryMib: c.memory_mib,
    instanceCount: c.instance_count,
    // The source resolved at create (a catalogue edit never rolls a running cluster); clusters from before the catalogue run their image.
    image: workloadImage(c.image_source ?? c.image),
    ports: c.ports,
    serviceType: c.service_type,
    expose: c.expose,
    volumeSizeGb: c.volume_size_gb,
    diskSizeGb: c.disk_size_gb,
    diskSource: c.image_source ?? c.image,
    env: c.env,
    sshKeys: c.ssh_keys,
    userData: c.user_data,
    kept: row.kept_storage_gb > 0 || row.kept_claims > 0 ? { storageGb: row.kept_storage_gb, claims: row.kept_claims } : undefined,
    rollPeak: row.peak_cpu_milli !== null && row.peak_memory_mib !== null ? { cpuMilli: row.peak_cpu_milli, memoryMib: row.peak_memory_mib } : null,
  };
}

export function instanceSpecOf(i: InstanceRow): InstanceSpec {
  return { id: i.id, clusterId: i.cluster_id, ordinal: i.ordinal, name: i.name, desired: i.desired, restartCount: i.restart_count, rootDisk: i.root_disk, dataClaim: i.data_claim };
}
