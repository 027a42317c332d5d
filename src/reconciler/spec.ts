// Database rows to the domain's view of a cluster and an instance.
import { workloadImage } from '../domain/images.ts';
import type { ClusterSpec, InstanceSpec } from '../domain/model.ts';
import type { ClusterRow } from '../store/clusters.ts';
import type { InstanceRow } from '../store/instances.ts';

export function clusterSpecOf(c: ClusterRow, installation: string): ClusterSpec {
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
    env: c.env,
    sshKeys: c.ssh_keys,
    userData: c.user_data,
  };
}

export function instanceSpecOf(i: InstanceRow): InstanceSpec {
  return { id: i.id, clusterId: i.cluster_id, ordinal: i.ordinal, name: i.name, desired: i.desired, restartCount: i.restart_count };
}
