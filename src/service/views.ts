// Rows to the JSON the v1 contract promises (src/contract/schemas.ts: each view
// returns its schema's type, so a view and its schema cannot drift apart).
// Never a token hash, never the reconciler's bookkeeping.
import type { AuditEntry, Cluster, ClusterWithInstances, HistoryEntry, Image, Instance, KeptDisk, Quota, Snapshot, SnapshotRestore, Token, User } from '../contract/schemas.ts';
import type { InstanceStatus } from '../domain/lifecycle.ts';
import { summariseCluster } from '../domain/clusterStatus.ts';
import { clusterWarnings } from '../domain/expiry.ts';
import { compatibleStatus } from '../domain/compatibleStatus.ts';
import { effectiveScopes } from '../domain/scopes.ts';
import { mibToGib, milliToCores } from '../domain/units.ts';
import type { AuditRow } from '../store/audit.ts';
import type { ClusterRow } from '../store/clusters.ts';
import type { HistoryRow } from '../store/history.ts';
import type { ImageRow } from '../store/images.ts';
import type { InstanceRow } from '../store/instances.ts';
import type { KeptDiskRow } from '../store/keptDisks.ts';
import type { RestoreJson, RestoreRow, SnapshotWithRestore } from '../store/snapshots.ts';
import type { TokenRow } from '../store/tokens.ts';
import type { Role, UserRow } from '../store/users.ts';

export function userView(u: UserRow): User {
  return {
    id: u.id,
    username: u.username,
    role: u.role,
    quota_cpu: milliToCores(u.quota_cpu_milli),
    quota_memory: mibToGib(u.quota_memory_mib),
    quota_instances: u.quota_instances,
    used_cpu: milliToCores(u.used_cpu_milli),
    used_memory: mibToGib(u.used_memory_mib),
    used_instances: u.used_instances,
    quota_storage_gb: u.quota_storage_gb,
    quota_load_balancers: u.quota_load_balancers,
    used_storage_gb: u.used_storage_gb,
    used_load_balancers: u.used_load_balancers,
    disabled: Boolean(u.disabled_at),
    created_at: u.created_at.toISOString(),
  };
}

export function quotaView(u: UserRow): Quota {
  const avail = (total: number, used: number) => Math.max(0, total - used);
  return {
    total_cpu: milliToCores(u.quota_cpu_milli),
    total_memory: mibToGib(u.quota_memory_mib),
    total_instances: u.quota_instances,
    used_cpu: milliToCores(u.used_cpu_milli),
    used_memory: mibToGib(u.used_memory_mib),
    used_instances: u.used_instances,
    available_cpu: milliToCores(avail(u.quota_cpu_milli, u.used_cpu_milli)),
    available_memory: mibToGib(avail(u.quota_memory_mib, u.used_memory_mib)),
    available_instances: avail(u.quota_instances, u.used_instances),
    total_storage_gb: u.quota_storage_gb,
    used_storage_gb: u.used_storage_gb,
    available_storage_gb: avail(u.quota_storage_gb, u.used_storage_gb),
    total_load_balancers: u.quota_load_balancers,
    used_load_balancers: u.used_load_balancers,
    available_load_balancers: avail(u.quota_load_balancers, u.used_load_balancers),
  };
}

/** A token as its user (`role`) sees it: what it may do, never beyond the role. */
export function tokenView(t: TokenRow, role: Role): Token {
  return {
    id: t.id,
    name: t.name,
    created_at: t.created_at.toISOString(),
    expires_at: t.expires_at?.toISOString() ?? null,
    last_used_at: t.last_used_at?.toISOString() ?? null,
    scopes: effectiveScopes(role, t.scopes),
    cluster_ids: t.cluster_ids,
  };
}

export function instanceView(i: InstanceRow): Instance {
  return {
    id: i.id,
    cluster_id: i.cluster_id,
    instance_name: i.name,
    status: compatibleStatus(i.status, i.desired),
    phase: i.status,
    desired_status: i.desired,
    k8s_resource_name: i.name,
    ip: i.ip,
    node: i.node,
    endpoints: i.endpoints,
    message: i.failure ?? (i.drift ? `Repairing: ${i.drift}${i.message ? ` (${i.message})` : ''}` : (i.obs_disk_message ?? i.message)),
    ...(i.status === 'provisioning' && i.obs_disk_progress !== null ? { progress: Math.floor(i.obs_disk_progress) } : {}),
    created_at: i.created_at.toISOString(),
    updated_at: i.updated_at.toISOString(),
  };
}

/** `warnSeconds`: how long before its expiry a cluster carries the `expiring` warning (KUBEKLOUD_EXPIRY_WARNING_SECONDS). */
export function clusterView(c: ClusterRow, statuses: InstanceStatus[], warnSeconds: number): Cluster {
  return {
    id: c.id,
    name: c.name,
    namespace: c.namespace,
    instance_type: c.instance_type,
    cpu_per_instance: milliToCores(c.cpu_milli),
    memory_per_instance: mibToGib(c.memory_mib),
    instance_count: c.instance_count,
    owner_id: c.owner_id,
    status: summariseCluster(c.state, statuses),
    image: c.image,
    image_source: c.image_source ?? c.image,
    ports: c.ports,
    service_type: c.service_type,
    expose: c.expose,
    endpoints: c.endpoints,
    volume_size: c.volume_size_gb,
    ...(c.instance_type === 'vm' ? { disk_size: c.disk_size_gb } : {}),
    env: c.env,
    ssh_keys: c.ssh_keys,
    user_data: c.user_data,
    message: c.drift ? `Repairing: ${c.drift}${c.message ? ` (${c.message})` : ''}` : c.message,
    ...(c.rollout_state
      ? { rollout: { generation: c.spec_gen, updated: c.rollout_updated, total: c.rollout_total, state: c.rollout_state, message: c.rollout_message } }
      : {}),
    expires_at: c.expires_at?.toISOString() ?? null,
    expire_action: c.expire_action,
    warnings: clusterWarnings(c.expires_at && c.expire_action ? { at: c.expires_at, action: c.expire_action } : null, new Date(), warnSeconds),
    created_at: c.created_at.toISOString(),
    updated_at: c.updated_at.toISOString(),
  };
}

export function clusterWithInstancesView(c: ClusterRow, instances: InstanceRow[], warnSeconds: number): ClusterWithInstances {
  return { ...clusterView(c, instances.map((i) => i.status), warnSeconds), instances: instances.map(instanceView) };
}

export function imageView(i: ImageRow): Image {
  return {
    id: i.id,
    name: i.name,
    kind: i.kind,
    source: i.source,
    default_disk_gb: i.default_disk_gb,
    min_cpu: milliToCores(i.min_cpu_milli),
    min_memory: mibToGib(i.min_memory_mib),
    os: i.os,
    retired: i.retired_at !== null,
    retired_at: i.retired_at?.toISOString() ?? null,
    created_at: i.created_at.toISOString(),
    updated_at: i.updated_at.toISOString(),
  };
}

const iso = (t: Date | string) => new Date(t).toISOString();

export function restoreView(r: RestoreRow | RestoreJson): SnapshotRestore {
  return {
    id: r.id,
    phase: r.phase,
    resume_status: r.resume,
    message: r.message,
    created_at: iso(r.created_at),
    finished_at: r.finished_at === null ? null : iso(r.finished_at),
  };
}

export function snapshotView(s: SnapshotWithRestore): Snapshot {
  return {
    id: s.id,
    instance_id: s.instance_id,
    name: s.name,
    kind: s.kind,
    status: s.desired === 'deleted' ? 'deleting' : s.phase,
    size_gb: s.size_gb,
    message: s.message,
    k8s_resource_name: s.object_name,
    created_at: s.created_at.toISOString(),
    ready_at: s.ready_at?.toISOString() ?? null,
    last_restore: s.last_restore ? restoreView(s.last_restore) : null,
  };
}

export function keptDiskView(d: KeptDiskRow): KeptDisk {
  return {
    id: d.id,
    instance_name: d.instance_name,
    kind: d.kind,
    k8s_resource_name: d.object_name,
    size_gb: d.size_gb,
    status: d.desired === 'deleted' ? 'deleting' : 'kept',
    created_at: d.created_at.toISOString(),
  };
}

export function auditView(a: AuditRow): AuditEntry {
  return {
    id: Number(a.id),
    at: a.at.toISOString(),
    actor: a.actor,
    actor_id: a.actor_id,
    action: a.action,
    method: a.method,
    route: a.route,
    target: a.target,
    status_code: a.status_code,
    outcome: a.outcome,
    request_id: a.request_id,
    detail: a.detail,
  };
}

export function historyView(h: HistoryRow): HistoryEntry {
  return {
    id: Number(h.id),
    at: h.at.toISOString(),
    kind: h.kind,
    actor: h.actor,
    instance_id: h.instance_id,
    instance_name: h.instance_name,
    message: h.message,
    detail: h.detail,
  };
}
