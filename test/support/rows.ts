// Hand-built database rows (ClusterRow, InstanceRow) and live objects as the
// API server would return them, for pure tests of drift judgement. Nothing
// here touches a database or Kubernetes.
import type { LiveObject, ManagedFieldsEntry } from '../../src/domain/drift.ts';
import type { KubeObject } from '../../src/domain/render.ts';
import type { ClusterRow } from '../../src/store/clusters.ts';
import type { InstanceRow } from '../../src/store/instances.ts';

export const INSTALLATION = 'default';
export const OUR_MANAGER = 'kubekloud';

const at = new Date('2026-01-01T00:00:00Z');

/** A settled, active container cluster (id 7) exposing one port, in sync at generation 3. */
export function clusterRow(over: Partial<ClusterRow> = {}): ClusterRow {
  return {
    id: 7,
    owner_id: 3,
    name: 'web',
    namespace: 'kk-7-web',
    instance_type: 'container',
    cpu_milli: 500,
    memory_mib: 1024,
    instance_count: 2,
    image: 'registry.example/app:1.0',
    image_source: null,
    ports: [{ port: 8080, protocol: 'TCP' }],
    service_type: 'ClusterIP',
    expose: 'instances',
    endpoints: [],
    volume_size_gb: null,
    disk_size_gb: null,
    env: { MODE: 'prod' },
    ssh_keys: [],
    user_data: null,
    state: 'active',
    desired_gen: 3,
    synced_gen: 3,
    attempts: 0,
    claim_epoch: 3,
    message: null,
    drift: null,
    synced_at: at,
    spec_gen: 1,
    rollout_state: null,
    rollout_message: null,
    rollout_updated: 0,
    rollout_total: 0,
    peak_cpu_milli: null,
    peak_memory_mib: null,
    kept_storage_gb: 0,
    kept_claims: 0,
    expires_at: null,
    expire_action: null,
    created_at: at,
    updated_at: at,
    ...over,
  };
}

/** A settled, running instance (id 10 + ordinal) of cluster 7, in sync at generation 2. */
export function instanceRow(over: Partial<InstanceRow> = {}): InstanceRow {
  const ordinal = over.ordinal ?? 1;
  return {
    id: 10 + ordinal,
    cluster_id: 7,
    ordinal,
    name: `web-${ordinal}`,
    desired: 'running',
    status: 'running',
    restart_count: 0,
    obs_present: true,
    obs_phase: 'Running',
    obs_paused: false,
    obs_disk_phase: null,
    obs_disk_progress: null,
    obs_disk_message: null,
    obs_vmi_restart: null,
    obs_ready: true,
    obs_vm_status: null,
    ip: '10.0.0.1',
    node: 'node-1',
    endpoints: [],
    failure: null,
    drift: null,
    message: null,
    conditions: [],
    applied: true,
    applied_restart_count: 0,
    desired_gen: 2,
    synced_gen: 2,
    attempts: 0,
    claim_epoch: 2,
    spec_gen: 1,
    spec: null,
    rolled_at: null,
    synced_at: at,
    root_disk: null,
    data_claim: null,
    keep_disks: false,
    created_at: at,
    updated_at: at,
    ...over,
  };
}

// JSON, not structuredClone: rendered objects share one labels object between places, and a live object must not.
const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

/** Our server-side apply entry: owns what we render (kept small; drift rules only look for `f:spec`). */
export function ourApplyEntry(fieldsV1: Record<string, unknown> = { 'f:metadata': { 'f:labels': {} }, 'f:spec': {} }): ManagedFieldsEntry {
  return { manager: OUR_MANAGER, operation: 'Apply', apiVersion: 'v1', fieldsType: 'FieldsV1', fieldsV1, time: at.toISOString() };
}

/**
 * `obj` as the API server hands it back after our apply: the rendered fields,
 * plus what the server fills in itself (defaults, allocated addresses,
 * creationTimestamp: null in embedded metadata), quantities in canonical form,
 * a label of its own, and managedFields naming us as the only spec writer.
 */
export function asServerReturns(obj: KubeObject): LiveObject & Record<string, any> {
  const live = clone(obj) as LiveObject & Record<string, any>;
  live.metadata = {
    ...live.metadata,
    uid: `uid-${obj.kind}-${obj.metadata.name}`,
    resourceVersion: '4711',
    creationTimestamp: at.toISOString(),
    managedFields: [ourApplyEntry()],
  } as LiveObject['metadata'];
  const spec = live.spec as Record<string, any> | undefined;
  switch (obj.kind) {
    case 'Namespace':
      live.metadata!.labels = { ...live.metadata!.labels, 'kubernetes.io/metadata.name': obj.metadata.name };
      live.spec = { finalizers: ['kubernetes'] };
      live.status = { phase: 'Active' };
      break;
    case 'ResourceQuota': {
      const hard = spec!.hard as Record<string, string>;
      // The API server stores canonical quantities: "0Gi" comes back "0".
      for (const [k, v] of Object.entries(hard)) if (/^0[A-Za-z]+$/.test(v)) hard[k] = '0';
      live.status = { hard: clone(hard), used: {} };
      break;
    }
    case 'StatefulSet': {
      Object.assign(spec!, {
        podManagementPolicy: 'OrderedReady',
        revisionHistoryLimit: 10,
        updateStrategy: { type: 'RollingUpdate', rollingUpdate: { partition: 0 } },
      });
      const tpl = spec!.template as Record<string, any>;
      tpl.metadata.creationTimestamp = null;
      Object.assign(tpl.spec, { restartPolicy: 'Always', dnsPolicy: 'ClusterFirst', schedulerName: 'default-scheduler' });
      for (const c of tpl.spec.containers as Record<string, any>[]) {
        Object.assign(c, { imagePullPolicy: 'IfNotPresent', terminationMessagePath: '/dev/termination-log', terminationMessagePolicy: 'File' });
        // EnvVar.value is omitempty: an empty value comes back as no value at all.
        for (const e of (c.env ?? []) as Record<string, unknown>[]) if (e.value === '') delete e.value;
      }
      for (const t of (spec!.volumeClaimTemplates ?? []) as Record<string, any>[]) {
        t.apiVersion = 'v1';
        t.kind = 'PersistentVolumeClaim';
        t.metadata.creationTimestamp = null;
        t.spec.volumeMode = 'Filesystem';
        t.status = { phase: 'Pending' };
      }
      live.status = { replicas: 1, readyReplicas: 1, availableReplicas: 1 };
      break;
    }
    case 'Service':
      Object.assign(spec!, {
        clusterIP: '10.96.0.17',
        clusterIPs: ['10.96.0.17'],
        sessionAffinity: 'None',
        ipFamilies: ['IPv4'],
        ipFamilyPolicy: 'SingleStack',
        internalTrafficPolicy: 'Cluster',
      });
      if (spec!.type !== 'ClusterIP') {
        (spec!.ports as Record<string, unknown>[]).forEach((p, k) => (p.nodePort = 30000 + k));
        spec!.externalTrafficPolicy = 'Cluster';
      }
      live.status = { loadBalancer: {} };
      break;
    case 'PersistentVolumeClaim':
      Object.assign(spec!, { volumeMode: 'Filesystem', storageClassName: 'standard', volumeName: 'pvc-0f1e' });
      live.status = { phase: 'Bound' };
      break;
    case 'VirtualMachine':
      (spec!.template as Record<string, any>).metadata.creationTimestamp = null;
      live.status = { printableStatus: 'Running', ready: true };
      break;
    default:
      break;
  }
  return live;
}

/** A managedFields entry of another writer. */
export function foreignEntry(manager: string, fieldsV1: Record<string, unknown>, over: Partial<ManagedFieldsEntry> = {}): ManagedFieldsEntry {
  return { manager, operation: 'Update', apiVersion: 'v1', fieldsType: 'FieldsV1', fieldsV1, time: at.toISOString(), ...over };
}
