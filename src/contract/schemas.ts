// The v1 contract: the schema of every request and response, and the static
// type of each. The routes validate and serialise with the schemas and the
// OpenAPI document is generated from them; the services' views return the
// types; the CLI and the web console take the types (`import type` only).
// One definition: a field changed here changes all of them, or fails to compile.
import { Type, type Static, type TLiteral, type TSchema, type TUnion } from 'typebox';
import { COMPATIBLE_STATUSES } from '../domain/compatibleStatus.ts';
import { ENDPOINT_KINDS } from '../domain/endpoints.ts';
import { IMAGE_NAME_PATTERN, IMAGE_REFERENCE_PATTERN } from '../domain/images.ts';
import { INSTANCE_STATUSES, OPERATIONS } from '../domain/lifecycle.ts';
import { ISOLATION_CHECKS } from '../domain/isolation.ts';
import { PAGE_MAX, UNPAGED_LIST_MAX } from '../domain/paging.ts';
import { TOKEN_SCOPES } from '../domain/scopes.ts';

/** The union of these literals, typed as such (a plain map() would type it as a union of nothing). */
function Literals<const T extends readonly string[]>(values: T, options: { description?: string } = {}): TUnion<{ -readonly [K in keyof T]: TLiteral<T[K]> }> {
  return Type.Union(values.map((v) => Type.Literal(v)), options) as TUnion<{ -readonly [K in keyof T]: TLiteral<T[K]> }>;
}

const MAX_ID = 2_147_483_647;
export const IdParams = Type.Object({ id: Type.Integer({ minimum: 1, maximum: MAX_ID, description: 'Numeric id' }) });

export const FieldError = Type.Object({ loc: Type.Array(Type.Union([Type.String(), Type.Number()])), msg: Type.String(), type: Type.String() });
export const Detail = Type.Object(
  {
    detail: Type.Union([Type.String(), Type.Array(FieldError)]),
    type: Type.Optional(Type.String()),
    title: Type.Optional(Type.String()),
    status: Type.Optional(Type.Integer()),
  },
  { $id: 'Error', description: 'Every 4xx/5xx answer. Validation failures (422) list each bad field.' },
);

/** The error responses a route may give, by code. */
export function errors(...codes: number[]): Record<number, TSchema> {
  return Object.fromEntries(codes.map((c) => [c, Type.Ref('Error')]));
}

const Timestamp = Type.String({ format: 'date-time' });
const Cores = (description: string, extra: object = {}) =>
  Type.Number({ exclusiveMinimum: 0, maximum: 1_000_000, description, ...extra });
const GiB = (description: string, extra: object = {}) =>
  Type.Number({ exclusiveMinimum: 0, maximum: 1_000_000, description, ...extra });

const StorageQuota = (description: string) => Type.Integer({ minimum: 0, maximum: 1_000_000, description });
const LoadBalancerQuota = (description: string) => Type.Integer({ minimum: 0, maximum: 100_000, description });

export const Role = Type.Union([Type.Literal('admin'), Type.Literal('user')]);
export const TokenScope = Literals(TOKEN_SCOPES);

export const User = Type.Object(
  {
    id: Type.Integer(),
    username: Type.String(),
    role: Role,
    quota_cpu: Type.Number({ description: 'cores' }),
    quota_memory: Type.Number({ description: 'GB (GiB)' }),
    quota_instances: Type.Integer(),
    used_cpu: Type.Number(),
    used_memory: Type.Number(),
    used_instances: Type.Integer(),
    quota_storage_gb: Type.Optional(Type.Integer({ description: 'GB of volumes (volume_size per instance)' })),
    quota_load_balancers: Type.Optional(Type.Integer({ description: 'Services of type LoadBalancer' })),
    used_storage_gb: Type.Optional(Type.Integer()),
    used_load_balancers: Type.Optional(Type.Integer()),
    created_at: Timestamp,
    disabled: Type.Optional(Type.Boolean({ description: 'Set by an admin: every token of the user is refused; workloads are left as they are' })),
  },
  { $id: 'User' },
);

export const CreateUser = Type.Object(
  {
    username: Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9][A-Za-z0-9._@-]*$' }),
    quota_cpu: Cores('CPU quota in cores'),
    quota_memory: GiB('Memory quota in GB'),
    quota_instances: Type.Optional(Type.Integer({ minimum: 0, maximum: 100_000, description: 'Instance quota (default 10)' })),
    quota_storage_gb: Type.Optional(StorageQuota('Storage quota in GB (default 100)')),
    quota_load_balancers: Type.Optional(LoadBalancerQuota('LoadBalancer Service quota (default 5)')),
    role: Type.Optional(Role),
    token: Type.Optional(Type.String({ minLength: 16, maxLength: 256, pattern: '^[\\x21-\\x7e]+$', description: 'Client-chosen token; generated when absent' })),
  },
  { additionalProperties: false },
);
export const CreatedUser = Type.Intersect([Type.Ref('User'), Type.Object({ token: Type.String({ description: 'Shown once' }) })]);

export const PatchUser = Type.Object(
  {
    quota_cpu: Type.Optional(Cores('CPU quota in cores')),
    quota_memory: Type.Optional(GiB('Memory quota in GB')),
    quota_instances: Type.Optional(Type.Integer({ minimum: 0, maximum: 100_000 })),
    quota_storage_gb: Type.Optional(StorageQuota('Storage quota in GB')),
    quota_load_balancers: Type.Optional(LoadBalancerQuota('LoadBalancer Service quota')),
    role: Type.Optional(Role),
    disabled: Type.Optional(Type.Boolean({ description: "true: every token of the user is refused at once (their clusters keep running); false: enabled again" })),
  },
  { additionalProperties: false, minProperties: 1, examples: [{ disabled: true }, { quota_cpu: 16, quota_memory: 64 }] },
);

export const Quota = Type.Object({
  total_cpu: Type.Number(),
  total_memory: Type.Number(),
  total_instances: Type.Integer(),
  used_cpu: Type.Number(),
  used_memory: Type.Number(),
  used_instances: Type.Integer(),
  available_cpu: Type.Number(),
  available_memory: Type.Number(),
  available_instances: Type.Integer(),
  total_storage_gb: Type.Optional(Type.Integer({ description: 'GB of volumes' })),
  used_storage_gb: Type.Optional(Type.Integer()),
  available_storage_gb: Type.Optional(Type.Integer()),
  total_load_balancers: Type.Optional(Type.Integer({ description: 'Services of type LoadBalancer' })),
  used_load_balancers: Type.Optional(Type.Integer()),
  available_load_balancers: Type.Optional(Type.Integer()),
});

export const Token = Type.Object(
  {
    id: Type.Integer(),
    name: Type.String(),
    created_at: Timestamp,
    expires_at: Type.Union([Timestamp, Type.Null()]),
    last_used_at: Type.Union([Timestamp, Type.Null()]),
    scopes: Type.Optional(Type.Array(TokenScope, { description: 'What the token may do, never beyond its user\'s role' })),
    cluster_ids: Type.Optional(Type.Union([Type.Array(Type.Integer()), Type.Null()], { description: 'The only clusters the token reaches; null: all its user\'s' })),
  },
  { $id: 'Token' },
);
export const CreateToken = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9][A-Za-z0-9 ._-]*$' }),
    expires_in_days: Type.Optional(Type.Integer({ minimum: 1, maximum: 3650 })),
    scopes: Type.Optional(
      Type.Array(TokenScope, {
        minItems: 1,
        uniqueItems: true,
        description: "read: GET; write: every other method and consoles; admin: the admin role's powers. Default: all the user may. Never more than the token that asks",
      }),
    ),
    cluster_ids: Type.Optional(
      Type.Array(Type.Integer({ minimum: 1 }), { minItems: 1, maxItems: 100, uniqueItems: true, description: 'Limit the token to these clusters of yours (it then creates none). Default: every cluster' }),
    ),
  },
  { additionalProperties: false, examples: [{ name: 'ci' }, { name: 'dashboard', scopes: ['read'] }, { name: 'deploy-web', scopes: ['read', 'write'], cluster_ids: [12], expires_in_days: 30 }] },
);

export const Message = Type.Object({ message: Type.String(), detail: Type.Record(Type.String(), Type.Unknown()) });

/** The precise state of an instance (`phase`). */
export const InstancePhase = Literals(INSTANCE_STATUSES, { description: 'The precise state, with the transitional provisioning (a root disk importing), starting, stopping, repairing and deleting' });
/** `status`: the Python service's five values, each precise phase mapped to one (src/domain/compatibleStatus.ts). */
export const InstanceStatus = Literals(COMPATIBLE_STATUSES, {
  description: "One of the Python service's five values: starting (and repairing towards running) shows as pending, stopping (and repairing towards stopped or suspended) as the state it is headed to, deleting as stopped",
});
export const Endpoint = Type.Object(
  {
    kind: Literals(ENDPOINT_KINDS, {
      description: "cluster: the Service's ClusterIP, reachable inside the Kubernetes cluster; node: a node's address (ExternalIP, else InternalIP) with the Service's node port; load-balancer: an address the load balancer published",
    }),
    address: Type.String({ description: 'An IP address, or a host name for some load balancers' }),
    port: Type.Integer({ minimum: 1, maximum: 65535 }),
    protocol: Type.Union([Type.Literal('TCP'), Type.Literal('UDP')]),
    target_port: Type.Integer({ minimum: 1, maximum: 65535, description: 'The exposed port (of `ports`) this endpoint leads to' }),
  },
  { $id: 'Endpoint', description: 'One way to reach an exposed port, as observed from Kubernetes' },
);
const Endpoints = Type.Array(Type.Ref('Endpoint'), {
  description: 'How to reach it, observed from its Service and the nodes its pods run on; empty until observed, or when nothing is exposed',
});

export const Instance = Type.Object(
  {
    id: Type.Integer(),
    cluster_id: Type.Integer(),
    instance_name: Type.String(),
    status: InstanceStatus,
    phase: InstancePhase,
    desired_status: Type.String({ description: 'What the instance was last asked to be' }),
    k8s_resource_name: Type.String(),
    ip: Type.Union([Type.String(), Type.Null()]),
    node: Type.Union([Type.String(), Type.Null()]),
    endpoints: Endpoints,
    message: Type.Union([Type.String(), Type.Null()]),
    progress: Type.Optional(
      Type.Integer({ minimum: 0, maximum: 100, description: "While the phase is 'provisioning': how far the root disk's import has come, in percent (CDI's DataVolume progress)" }),
    ),
    created_at: Timestamp,
    updated_at: Timestamp,
  },
  { $id: 'Instance' },
);

const Port = Type.Object(
  {
    port: Type.Integer({ minimum: 1, maximum: 65535 }),
    protocol: Type.Optional(Type.Union([Type.Literal('TCP'), Type.Literal('UDP')])),
    name: Type.Optional(Type.String({ maxLength: 15, pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$' })),
  },
  { additionalProperties: false },
);
const ServiceType = Type.Union([Type.Literal('ClusterIP'), Type.Literal('NodePort'), Type.Literal('LoadBalancer')]);
const Expose = Type.Union([Type.Literal('instances'), Type.Literal('cluster')], {
  description: "instances (default): a Service per instance; cluster: also one Service, of service_type, balancing across all of the cluster's instances (its endpoints are the cluster's)",
});

const ExpireAction = Literals(['stop', 'delete'] as const, { description: 'What happens to the cluster at expires_at: its instances are stopped, or it is deleted (default stop)' });
const ExpiresAt = Type.String({ format: 'date-time', description: 'When the cluster expires: a time in the future (RFC 3339, with its offset)' });
export const ClusterWarning = Type.Object(
  {
    code: Literals(['expiring', 'expired'] as const, { description: 'expiring: within KUBEKLOUD_EXPIRY_WARNING_SECONDS of expires_at; expired: past it' }),
    message: Type.String(),
    at: Timestamp,
  },
  { description: "e.g. {code: 'expiring', message: 'Cluster expires at 2027-01-15T18:00:00.000Z and will then be deleted', at: '2027-01-15T18:00:00.000Z'}" },
);

export const CreateCluster = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 40, pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$', description: 'DNS-1123 label' }),
    instance_type: Type.Union([Type.Literal('vm'), Type.Literal('container')]),
    cpu_per_instance: Cores('Cores per instance (fractions allowed)'),
    memory_per_instance: GiB('GB per instance'),
    instance_count: Type.Integer({ minimum: 1, maximum: 100 }),
    image: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 255,
        // A catalogue name, or an image reference (registry/repo:tag or @digest), never a URL: the server fetches nothing.
        pattern: IMAGE_REFERENCE_PATTERN,
        description:
          'The name of an image in the catalogue (GET /api/v1/images), or, where the installation allows free-form images, an image reference; defaults per type',
      }),
    ),
    ports: Type.Optional(Type.Array(Port, { maxItems: 16 })),
    service_type: Type.Optional(ServiceType),
    expose: Type.Optional(Expose),
    volume_size: Type.Optional(Type.Integer({ minimum: 1, maximum: 16_384, description: 'GB, one persistent volume per instance' })),
    disk_size: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 16_384,
        description:
          'VMs: GB of a persistent root disk per instance, imported from the image and kept across stop, start and restart (deleted with the instance). ' +
          "Defaults to the catalogue image's default_disk_gb; without either a registry image boots as an ephemeral containerDisk. Counted in the storage quota",
      }),
    ),
    env: Type.Optional(
      Type.Unsafe<Record<string, string>>({
        type: 'object',
        description: 'Environment variables (containers): names are C identifiers',
        patternProperties: { '^[A-Za-z_][A-Za-z0-9_]{0,127}$': { type: 'string', maxLength: 4096 } },
        additionalProperties: false,
        maxProperties: 64,
      }),
    ),
    ssh_keys: Type.Optional(
      Type.Array(Type.String({ minLength: 16, maxLength: 16_384, pattern: '^(ssh-(rsa|ed25519|dss)|ecdsa-sha2-nistp(256|384|521)|sk-(ssh-ed25519|ecdsa-sha2-nistp256)@openssh\\.com) [A-Za-z0-9+/=]+( [^\\n\\r]*)?$' }), { maxItems: 32 }),
    ),
    user_data: Type.Optional(Type.String({ maxLength: 32_768, description: 'cloud-init user data (VMs)' })),
    expires_at: Type.Optional(ExpiresAt),
    expire_action: Type.Optional(ExpireAction),
  },
  { additionalProperties: false },
);

export const Cluster = Type.Object(
  {
    id: Type.Integer(),
    name: Type.String(),
    namespace: Type.String(),
    instance_type: Type.String(),
    cpu_per_instance: Type.Number(),
    memory_per_instance: Type.Number(),
    instance_count: Type.Integer(),
    owner_id: Type.Integer(),
    status: Type.String(),
    image: Type.String(),
    image_source: Type.Optional(
      Type.String({ description: 'What the workload runs: the catalogue source resolved when the cluster was created (later catalogue edits do not change it), or the free-form image' }),
    ),
    ports: Type.Array(Type.Unknown()),
    service_type: Type.String(),
    expose: Expose,
    endpoints: Endpoints,
    volume_size: Type.Union([Type.Integer(), Type.Null()]),
    disk_size: Type.Optional(Type.Union([Type.Integer(), Type.Null()], { description: 'VMs: GB of the persistent root disk per instance (null: the image boots as an ephemeral containerDisk)' })),
    env: Type.Record(Type.String(), Type.String()),
    ssh_keys: Type.Array(Type.String()),
    user_data: Type.Union([Type.String(), Type.Null()]),
    message: Type.Union([Type.String(), Type.Null()]),
    rollout: Type.Optional(
      Type.Object(
        {
          generation: Type.Integer({ description: 'The spec generation being rolled out (1: as created)' }),
          updated: Type.Integer({ description: 'Instances running again on this generation' }),
          total: Type.Integer({ description: 'Live instances' }),
          state: Literals(['rolling', 'done', 'failed'] as const),
          message: Type.Union([Type.String(), Type.Null()], { description: 'Why a roll failed' }),
        },
        { description: 'The last live change (PATCH of the spec), rolled one instance at a time; absent on a cluster never changed' },
      ),
    ),
    expires_at: Type.Union([Timestamp, Type.Null()], { description: 'When the cluster expires (PUT /clusters/{id}/expiry); null: never' }),
    expire_action: Type.Union([ExpireAction, Type.Null()]),
    warnings: Type.Array(ClusterWarning, { description: 'What the owner should know before it happens: an expiry near (or past)' }),
    created_at: Timestamp,
    updated_at: Timestamp,
  },
  { $id: 'Cluster' },
);
export const ClusterWithInstances = Type.Intersect([Type.Ref('Cluster'), Type.Object({ instances: Type.Array(Type.Ref('Instance')) })]);

const ImageKind = Type.Union([Type.Literal('vm'), Type.Literal('container')]);
const ImageName = Type.String({ minLength: 1, maxLength: 63, pattern: IMAGE_NAME_PATTERN, description: 'Lower-case letters, digits and . _ - between them' });
const ImageSource = Type.String({
  minLength: 1,
  maxLength: 2048,
  description: 'container: an image reference (registry/repo:tag); vm: docker://registry/repo:tag or an http(s):// URL of a disk image',
});
const OsHint = Type.String({ minLength: 1, maxLength: 32, pattern: '^[a-z0-9][a-z0-9._-]*$', description: 'For the console, e.g. linux or windows' });
const MinCores = Type.Number({ minimum: 0, maximum: 1_000_000, description: 'Smallest cpu_per_instance a cluster of this image may ask for (cores)' });
const MinGiB = Type.Number({ minimum: 0, maximum: 1_000_000, description: 'Smallest memory_per_instance a cluster of this image may ask for (GB)' });
const DiskGb = Type.Integer({ minimum: 1, maximum: 16_384, description: 'Default disk size (GB) for the image' });

export const Image = Type.Object(
  {
    id: Type.Integer(),
    name: Type.String(),
    kind: ImageKind,
    source: Type.String(),
    default_disk_gb: Type.Union([Type.Integer(), Type.Null()]),
    min_cpu: Type.Number({ description: 'cores' }),
    min_memory: Type.Number({ description: 'GB' }),
    os: Type.Union([Type.String(), Type.Null()]),
    retired: Type.Boolean(),
    retired_at: Type.Union([Timestamp, Type.Null()]),
    created_at: Timestamp,
    updated_at: Timestamp,
  },
  { $id: 'Image', description: 'An entry of the image catalogue; clusters name it in their image field' },
);
export const CreateImage = Type.Object(
  {
    name: ImageName,
    kind: ImageKind,
    source: ImageSource,
    default_disk_gb: Type.Optional(DiskGb),
    min_cpu: Type.Optional(MinCores),
    min_memory: Type.Optional(MinGiB),
    os: Type.Optional(OsHint),
  },
  { additionalProperties: false },
);
export const PatchImage = Type.Object(
  {
    source: Type.Optional(ImageSource),
    default_disk_gb: Type.Optional(Type.Union([DiskGb, Type.Null()])),
    min_cpu: Type.Optional(MinCores),
    min_memory: Type.Optional(MinGiB),
    os: Type.Optional(Type.Union([OsHint, Type.Null()])),
    retired: Type.Optional(Type.Boolean({ description: 'true retires it (new clusters may not use it); false offers it again' })),
  },
  { additionalProperties: false, minProperties: 1 },
);
export const ImageNameParams = Type.Object({ name: ImageName });
export const ImageListQuery = Type.Object(
  { include_retired: Type.Optional(Type.Boolean({ description: 'Also list retired images' })) },
  { additionalProperties: false },
);

// Snapshots of an instance's persistent disks, and restores from them.
const SnapshotName = Type.String({ minLength: 1, maxLength: 63, pattern: '^[a-z0-9]([a-z0-9-]*[a-z0-9])?$', description: 'Lower-case letters, digits and dashes; unique per instance (default snap-<id>)' });
export const SnapshotRestore = Type.Object(
  {
    id: Type.Integer(),
    phase: Literals(['stopping', 'restoring', 'done', 'failed'] as const, { description: 'stopping: the instance is being stopped first; restoring; done (the instance is back in the state it had); failed' }),
    resume_status: Type.String({ description: 'The state the instance returns to once restored' }),
    message: Type.Union([Type.String(), Type.Null()]),
    created_at: Timestamp,
    finished_at: Type.Union([Timestamp, Type.Null()]),
  },
  { $id: 'SnapshotRestore' },
);
const snapshotFields = {
  id: Type.Integer(),
  instance_id: Type.Integer(),
  name: Type.String(),
  kind: Literals(['vm', 'volume'] as const, { description: "vm: the VM's disks (KubeVirt VirtualMachineSnapshot); volume: a container's volume (VolumeSnapshot)" }),
  status: Literals(['creating', 'ready', 'failed', 'lost', 'deleting'] as const, { description: 'ready: it can be restored; lost: its object was deleted outside KubeKloud' }),
  size_gb: Type.Integer({ description: "Storage it holds of the quota: the instance's disks when it was taken" }),
  message: Type.Union([Type.String(), Type.Null()]),
  k8s_resource_name: Type.String(),
  created_at: Timestamp,
  ready_at: Type.Union([Timestamp, Type.Null()]),
  last_restore: Type.Union([Type.Ref('SnapshotRestore'), Type.Null()]),
};
export const Snapshot = Type.Object(snapshotFields, { $id: 'Snapshot', description: "A point-in-time copy of an instance's persistent disks" });
export const CreateSnapshot = Type.Object({ name: Type.Optional(SnapshotName) }, { additionalProperties: false });
export const SnapshotParams = Type.Object({ id: IdParams.properties.id, snapshot_id: Type.Integer({ minimum: 1, maximum: MAX_ID, description: 'Snapshot id' }) });
export const SnapshotList = Type.Object({ items: Type.Array(Type.Ref('Snapshot')), total: Type.Integer() });

export const KeptDisk = Type.Object(
  {
    id: Type.Integer(),
    instance_name: Type.String({ description: 'The VM it belonged to' }),
    kind: Literals(['root', 'data'] as const, { description: 'root: its root disk (a DataVolume); data: its data disk (a claim)' }),
    k8s_resource_name: Type.String(),
    size_gb: Type.Integer(),
    status: Literals(['kept', 'deleting'] as const),
    created_at: Timestamp,
  },
  { description: 'A disk a scale-in kept when it removed its VM' },
);
export const KeptDiskList = Type.Object({ items: Type.Array(KeptDisk), total: Type.Integer() });
export const UserTokenParams = Type.Object({ id: IdParams.properties.id, token_id: Type.Integer({ minimum: 1, maximum: MAX_ID, description: 'Token id' }) });
export const KeptDiskParams = Type.Object({ id: IdParams.properties.id, disk_id: Type.Integer({ minimum: 1, maximum: MAX_ID, description: 'Kept disk id' }) });

export const SetExpiry = Type.Object(
  {
    expires_at: Type.Union([ExpiresAt, Type.Null()], { description: 'null: the cluster no longer expires' }),
    expire_action: Type.Optional(ExpireAction),
  },
  {
    additionalProperties: false,
    examples: [{ expires_at: '2027-01-15T18:00:00Z', expire_action: 'delete' }, { expires_at: '2027-01-15T19:00:00+01:00', expire_action: 'stop' }, { expires_at: null }],
  },
);

const ScheduleAction = Literals(['stop', 'start'] as const, { description: 'stop: every running instance is stopped; start: every stopped instance is started' });
const CronExpression = Type.String({
  minLength: 9,
  maxLength: 128,
  description: 'A cron expression: five fields (minute hour day-of-month month day-of-week) or six (a leading seconds field); names (MON, JAN), ranges, lists and steps as in cron',
});
const TimeZone = Type.String({ minLength: 1, maxLength: 64, description: 'An IANA time zone the cron expression is read in (default UTC); daylight saving is followed' });
export const CreateSchedule = Type.Object(
  { action: ScheduleAction, cron: CronExpression, time_zone: Type.Optional(TimeZone) },
  {
    additionalProperties: false,
    examples: [
      { action: 'stop', cron: '0 19 * * MON-FRI', time_zone: 'Europe/Paris' },
      { action: 'start', cron: '0 7 * * MON-FRI', time_zone: 'Europe/Paris' },
    ],
  },
);
const scheduleFields = {
  id: Type.Integer(),
  cluster_id: Type.Integer(),
  action: ScheduleAction,
  cron: Type.String(),
  time_zone: Type.String(),
  next_run_at: Type.String({ format: 'date-time', description: 'The next time it runs (UTC)' }),
  created_at: Timestamp,
};
const scheduleDescription = 'A power schedule: at each time of its cron expression, in its time zone, the cluster is stopped or started';
export const Schedule = Type.Object(scheduleFields, {
  description: scheduleDescription,
  examples: [{ id: 3, cluster_id: 12, action: 'stop', cron: '0 19 * * MON-FRI', time_zone: 'Europe/Paris', next_run_at: '2027-01-15T18:00:00.000Z', created_at: '2027-01-14T09:12:44.120Z' }],
});
export const ScheduleRun = Type.Object(
  {
    id: Type.Integer(),
    schedule_id: Type.Union([Type.Integer(), Type.Null()], { description: "null: the cluster's expiry" }),
    action: Literals(['stop', 'start', 'delete'] as const),
    due_at: Timestamp,
    ran_at: Timestamp,
    outcome: Literals(['done', 'nothing_to_do'] as const, { description: 'nothing_to_do: no instance was in a state the action applies to' }),
    detail: Type.Record(Type.String(), Type.Unknown()),
  },
  { description: 'A due time the scheduler ran (once, on one replica)' },
);
export const ScheduleList = Type.Object(
  {
    items: Type.Array(Type.Object(scheduleFields, { description: scheduleDescription })),
    total: Type.Integer(),
    runs: Type.Array(ScheduleRun, { description: "The last 20 runs of the cluster's schedules and expiry, newest first" }),
  },
  {
    examples: [
      {
        items: [{ id: 3, cluster_id: 12, action: 'stop', cron: '0 19 * * MON-FRI', time_zone: 'Europe/Paris', next_run_at: '2027-01-15T18:00:00.000Z', created_at: '2027-01-14T09:12:44.120Z' }],
        total: 1,
        runs: [{ id: 41, schedule_id: 3, action: 'stop', due_at: '2027-01-14T18:00:00.000Z', ran_at: '2027-01-14T18:00:00.412Z', outcome: 'done', detail: { instances_changed: 2, instances_unchanged: 0 } }],
      },
    ],
  },
);
export const ScheduleParams = Type.Object({ id: IdParams.properties.id, schedule_id: Type.Integer({ minimum: 1, maximum: MAX_ID, description: 'Schedule id' }) });

export const ScaleCluster = Type.Object({ instance_count: Type.Integer({ minimum: 1, maximum: 100 }) }, { additionalProperties: false });

const fixedField = (why: string) => Type.Optional(Type.Unknown({ description: `Cannot change on a running cluster (refused with 422): ${why}` }));
/** PATCH /clusters/{id}: a scale (instance_count, as in the Python service) or a live change of the spec, rolled one instance at a time. */
export const PatchCluster = Type.Object(
  {
    instance_count: Type.Optional(CreateCluster.properties.instance_count),
    keep_disks: Type.Optional(
      Type.Boolean({ description: "With a scale-in of VMs: keep the removed VMs' root and data disks in the namespace (they keep holding their storage of the quota; list and delete them under /clusters/{id}/disks)" }),
    ),
    cpu_per_instance: Type.Optional(CreateCluster.properties.cpu_per_instance),
    memory_per_instance: Type.Optional(CreateCluster.properties.memory_per_instance),
    image: CreateCluster.properties.image,
    env: CreateCluster.properties.env,
    ports: CreateCluster.properties.ports,
    service_type: CreateCluster.properties.service_type,
    ssh_keys: CreateCluster.properties.ssh_keys,
    user_data: CreateCluster.properties.user_data,
    name: fixedField('it names the namespace'),
    instance_type: fixedField('create a new cluster'),
    volume_size: fixedField('volumes are not resized live'),
    disk_size: fixedField('root disks are not resized live'),
    expose: fixedField('fixed at create'),
  },
  { additionalProperties: false, minProperties: 1 },
);

export const Operate = Type.Object(
  { operation: Literals(OPERATIONS) },
  { additionalProperties: false },
);

export const WaitQuery = Type.Object(
  { wait: Type.Optional(Type.Integer({ minimum: 0, maximum: 600, description: 'Answer once converged, or after this many seconds. A user may have KUBEKLOUD_MAX_WAITS_PER_USER requests waiting on one server (default 10); one more is refused with 429 and Retry-After before it changes anything' })) },
  { additionalProperties: false },
);
const pageFields = {
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: PAGE_MAX, description: `A page of at most this many; without it, the whole list (refused with 422 past ${UNPAGED_LIST_MAX})` })),
  offset: Type.Optional(Type.Integer({ minimum: 0, maximum: 10_000_000, description: 'Skip this many (default 0)' })),
};
export const PageQuery = Type.Object(pageFields, { additionalProperties: false });
const includeDeleting = Type.Optional(
  Type.Boolean({ description: 'Also show clusters being deleted (status deleting) until their teardown is done; without it they answer 404 once the delete is accepted' }),
);
export const ClusterListQuery = Type.Object({ ...pageFields, include_deleting: includeDeleting }, { additionalProperties: false });
export const ClusterGetQuery = Type.Object({ include_deleting: includeDeleting }, { additionalProperties: false });

// The audit log and a cluster's history.
const AuditOutcome = Literals(['success', 'rejected', 'error'] as const, { description: 'success: 2xx/3xx; rejected: 4xx; error: 5xx' });
export const AuditEntry = Type.Object(
  {
    id: Type.Integer(),
    at: Timestamp,
    actor: Type.Union([Type.String(), Type.Null()], { description: 'The username (null: unauthenticated, or the system)' }),
    actor_id: Type.Union([Type.Integer(), Type.Null()]),
    action: Type.Union([Type.String(), Type.Null()], { description: '<resource>.<verb>: clusters.create, instances.operate, tokens.delete, console.open…' }),
    method: Type.String(),
    route: Type.String(),
    target: Type.Union([Type.String(), Type.Null()], { description: 'The id or name the request named' }),
    status_code: Type.Integer(),
    outcome: AuditOutcome,
    request_id: Type.Union([Type.String(), Type.Null()]),
    detail: Type.Union([Type.Record(Type.String(), Type.Unknown()), Type.Null()]),
  },
  {
    $id: 'AuditEntry',
    examples: [
      { id: 812, at: '2026-12-01T09:30:12.114Z', actor: 'alice', actor_id: 2, action: 'clusters.update', method: 'PATCH', route: '/api/v1/clusters/:id', target: '12', status_code: 200, outcome: 'success', request_id: 'req-3f', detail: null },
    ],
  },
);
const auditFilters = {
  action: Type.Optional(Type.String({ maxLength: 64, description: 'e.g. clusters.delete' })),
  resource: Type.Optional(Type.String({ maxLength: 80, description: 'clusters, instances, users or images, optionally /<id or name>: clusters/12' })),
  outcome: Type.Optional(AuditOutcome),
  since: Type.Optional(Type.String({ maxLength: 40, description: 'RFC 3339: entries at or after' })),
  until: Type.Optional(Type.String({ maxLength: 40, description: 'RFC 3339: entries before' })),
  ...pageFields,
};
export const MyAuditQuery = Type.Object(auditFilters, { additionalProperties: false });
export const AuditQuery = Type.Object({ user: Type.Optional(Type.String({ maxLength: 64, description: 'A username' })), ...auditFilters }, { additionalProperties: false });
export const AuditList = Type.Object({ items: Type.Array(Type.Ref('AuditEntry')), total: Type.Integer({ description: 'Entries matching, whatever the page' }) });

const HistoryKind = Literals(['change', 'status', 'repair', 'schedule'] as const, {
  description: 'change: a desired-state change and who made it; status: an instance moved (with Kubernetes\' reason when it failed); repair: drift taken back; schedule: a schedule or the expiry acted',
});
export const HistoryEntry = Type.Object(
  {
    id: Type.Integer(),
    at: Timestamp,
    kind: HistoryKind,
    actor: Type.Union([Type.String(), Type.Null()], { description: 'Who made a change (null: KubeKloud itself)' }),
    instance_id: Type.Union([Type.Integer(), Type.Null()]),
    instance_name: Type.Union([Type.String(), Type.Null()]),
    message: Type.String(),
    detail: Type.Union([Type.Record(Type.String(), Type.Unknown()), Type.Null()]),
  },
  {
    $id: 'HistoryEntry',
    examples: [
      { id: 40, at: '2026-12-01T09:30:14.002Z', kind: 'status', actor: null, instance_id: 31, instance_name: 'web-2', message: "web-2: starting → failed: Kubernetes rejected the StatefulSet: …", detail: { from: 'starting', to: 'failed' } },
      { id: 39, at: '2026-12-01T09:30:12.114Z', kind: 'change', actor: 'alice', instance_id: null, instance_name: null, message: "alice scaled 'web' from 1 to 2 instances", detail: { from: 1, to: 2 } },
    ],
  },
);
export const HistoryQuery = Type.Object(
  { kind: Type.Optional(Type.Array(HistoryKind, { description: 'Only these kinds (repeat the parameter)' })), since: auditFilters.since, ...pageFields },
  { additionalProperties: false },
);
export const HistoryList = Type.Object({ items: Type.Array(Type.Ref('HistoryEntry')), total: Type.Integer() });


// ?dry_run=true: a quote of what a request would do, changing nothing.
const DryRun = Type.Optional(
  Type.Boolean({ description: 'Quote only: answer 200 with what the request would reserve and apply and every reason it would be refused, changing nothing' }),
);
export const CreateQuery = Type.Object({ wait: WaitQuery.properties.wait, dry_run: DryRun }, { additionalProperties: false });
const Amounts = Type.Object({
  cpu: Type.Number({ description: 'cores' }),
  memory: Type.Number({ description: 'GB' }),
  instances: Type.Integer(),
  storage_gb: Type.Integer(),
  load_balancers: Type.Integer(),
});
export const QuoteReason = Type.Object({
  code: Literals(['invalid', 'quota', 'conflict', 'busy', 'forbidden'] as const, { description: 'invalid: a field (loc names it); quota: a dimension short; conflict: the name is taken or the operation is not allowed now; busy: the resource is in the middle of something; forbidden: the token may not (a token limited to some clusters creates none)' }),
  message: Type.String(),
  loc: Type.Optional(Type.Array(Type.Union([Type.String(), Type.Number()]))),
});
export const Quote = Type.Object(
  {
    allowed: Type.Boolean({ description: 'Whether the request, sent without dry_run, would be accepted now' }),
    reservation: Type.Object(Amounts.properties, { description: 'What it would reserve of the quota (negative: release)' }),
    remaining: Type.Object(Amounts.properties, { description: 'What would remain of the quota afterwards (negative: short by that much)' }),
    reasons: Type.Array(QuoteReason, { description: 'Every reason it would be refused; empty when allowed' }),
    objects: Type.Array(Type.Record(Type.String(), Type.Unknown()), {
      description: 'The Kubernetes objects it would apply, as rendered (a new cluster is shown with id 0: its id and namespace are given at create)',
    }),
  },
  {
    $id: 'Quote',
    examples: [
      {
        allowed: false,
        reservation: { cpu: 6, memory: 12, instances: 3, storage_gb: 0, load_balancers: 0 },
        remaining: { cpu: -2, memory: 4, instances: 17, storage_gb: 100, load_balancers: 5 },
        reasons: [
          { code: 'invalid', message: 'needs at least one entry in ports', loc: ['body', 'service_type'] },
          { code: 'quota', message: 'cpu: 6 cores asked, 4 cores available' },
        ],
        objects: [{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'kk-0-web' } }],
      },
    ],
  },
);

// Answers that carry what a ?wait= came to.
export const Waited = Type.Object({ converged: Type.Boolean(), waited_seconds: Type.Number(), failed: Type.Optional(Type.Boolean()) });
const WaitedField = Type.Object({ wait: Type.Optional(Waited) });
export const CreatedCluster = Type.Intersect([ClusterWithInstances, WaitedField]);
export const ScaledCluster = Type.Intersect([ClusterWithInstances, Type.Object({ detail: Type.Record(Type.String(), Type.Number()), wait: Type.Optional(Waited) })]);
export const MessageWithWait = Type.Intersect([Message, WaitedField]);
export const CreatedSnapshot = Type.Object({ ...snapshotFields, wait: Type.Optional(Waited) });
export const CreatedToken = Type.Intersect([Type.Ref('Token'), Type.Object({ token: Type.String({ description: 'Shown once' }) })]);

// Isolation checks: live reads of a cluster's namespace against what KubeKloud renders for it.
const IsolationCheck = Type.Object(
  {
    name: Literals(ISOLATION_CHECKS, {
      description:
        'pod_security: the namespace enforces the rendered Pod Security level; network_policy: the rendered NetworkPolicies as rendered, no other; ' +
        'resource_quota, limit_range: present and as rendered; pod_privileges: no pod privileged, with host namespaces, hostPath or added capabilities; ' +
        'service_account_token: no pod has a ServiceAccount token mounted; role_bindings: no RoleBinding in the namespace, no binding granting to its ServiceAccounts',
    }),
    passed: Type.Boolean(),
    evidence: Type.String({ description: 'What was seen, naming the objects' }),
    repair: Literals(['automatic', 'manual'] as const, {
      description: "automatic: KubeKloud's own objects, which the reconciler puts back by itself; manual: someone else's, which KubeKloud does not touch: a person must",
    }),
    objects: Type.Array(Type.String(), { description: 'The objects the evidence is about: Kind/name (Kind/namespace/name outside the namespace)' }),
  },
  { additionalProperties: false },
);
const isolationExample = {
  cluster_id: 7,
  cluster_name: 'web',
  owner_id: 3,
  namespace: 'kk-3-web',
  checked_at: '2026-12-02T18:00:00.000Z',
  passed: false,
  failing: 2,
  converging: false,
  checks: [
    { name: 'pod_security', passed: true, evidence: 'namespace kk-3-web enforces Pod Security level restricted (warn and audit restricted)', repair: 'automatic', objects: ['Namespace/kk-3-web'] },
    {
      name: 'network_policy',
      passed: false,
      evidence: 'NetworkPolicy kubekloud-default-deny differs from its rendered form: spec.ingress[0].from (0 items, rendered 1)',
      repair: 'automatic',
      objects: ['NetworkPolicy/kubekloud-default-deny'],
    },
    {
      name: 'role_bindings',
      passed: false,
      evidence: 'RoleBinding kk-3-web/let-mallory-in grants ClusterRole/edit in the namespace to User mallory; KubeKloud grants nothing there: delete the binding',
      repair: 'manual',
      objects: ['RoleBinding/kk-3-web/let-mallory-in'],
    },
  ],
};
export const IsolationReport = Type.Object(
  {
    cluster_id: Type.Integer(),
    cluster_name: Type.String(),
    owner_id: Type.Integer(),
    namespace: Type.String(),
    checked_at: Timestamp,
    passed: Type.Boolean({ description: 'Every check passed' }),
    failing: Type.Integer({ description: 'How many checks failed' }),
    converging: Type.Boolean({ description: "The cluster has a change the reconciler has not applied yet: its own objects may differ for that reason until it has" }),
    checks: Type.Array(IsolationCheck, { description: 'Every check, in a fixed order; in the fleet view only the failing ones' }),
  },
  { additionalProperties: false, description: "A cluster's isolation, checked live against Kubernetes", example: isolationExample },
);
export const IsolationFleet = Type.Array(IsolationReport, {
  description: 'One row per cluster, those failing most checks first, then by id',
  example: [{ ...isolationExample, checks: isolationExample.checks.filter((c) => !c.passed) }],
});

/** Registered with the app by $id; the other schemas reach them with Type.Ref. */
export const SHARED_SCHEMAS = [Detail, User, Token, Endpoint, Instance, Cluster, Image, SnapshotRestore, Snapshot, Quote, AuditEntry, HistoryEntry];

// The static types. Refs names the schemas behind each $ref, so that Static
// follows Type.Ref('Cluster') to the Cluster schema instead of stopping at unknown.
type Refs = { Error: typeof Detail; User: typeof User; Token: typeof Token; Endpoint: typeof Endpoint; Instance: typeof Instance; Cluster: typeof Cluster; Image: typeof Image; SnapshotRestore: typeof SnapshotRestore; Snapshot: typeof Snapshot; Quote: typeof Quote; AuditEntry: typeof AuditEntry; HistoryEntry: typeof HistoryEntry };
type Of<T extends TSchema> = Static<T, Refs>;

export type IdParams = Of<typeof IdParams>;
export type FieldError = Of<typeof FieldError>;
export type Detail = Of<typeof Detail>;
export type Role = Of<typeof Role>;
export type User = Of<typeof User>;
export type CreateUser = Of<typeof CreateUser>;
export type CreatedUser = Of<typeof CreatedUser>;
export type PatchUser = Of<typeof PatchUser>;
export type Quota = Of<typeof Quota>;
export type Token = Of<typeof Token>;
export type CreateToken = Of<typeof CreateToken>;
export type CreatedToken = Of<typeof CreatedToken>;
export type Message = Of<typeof Message>;
export type InstanceStatus = Of<typeof InstanceStatus>;
export type InstancePhase = Of<typeof InstancePhase>;
export type Endpoint = Of<typeof Endpoint>;
export type Instance = Of<typeof Instance>;
export type CreateCluster = Of<typeof CreateCluster>;
export type Cluster = Of<typeof Cluster>;
export type ClusterWithInstances = Of<typeof ClusterWithInstances>;
export type ScaleCluster = Of<typeof ScaleCluster>;
export type PatchCluster = Of<typeof PatchCluster>;
export type Image = Of<typeof Image>;
export type CreateImage = Of<typeof CreateImage>;
export type PatchImage = Of<typeof PatchImage>;
export type ImageListQuery = Of<typeof ImageListQuery>;
export type Snapshot = Of<typeof Snapshot>;
export type SnapshotRestore = Of<typeof SnapshotRestore>;
export type CreateSnapshot = Of<typeof CreateSnapshot>;
export type SnapshotParams = Of<typeof SnapshotParams>;
export type SnapshotList = Of<typeof SnapshotList>;
export type Quote = Of<typeof Quote>;
export type QuoteReason = Of<typeof QuoteReason>;
export type CreateQuery = Of<typeof CreateQuery>;
export type KeptDisk = Of<typeof KeptDisk>;
export type KeptDiskList = Of<typeof KeptDiskList>;
export type IsolationReport = Of<typeof IsolationReport>;
export type ClusterWarning = Of<typeof ClusterWarning>;
export type SetExpiry = Of<typeof SetExpiry>;
export type CreateSchedule = Of<typeof CreateSchedule>;
export type Schedule = Of<typeof Schedule>;
export type ScheduleRun = Of<typeof ScheduleRun>;
export type ScheduleList = Of<typeof ScheduleList>;
export type ScheduleParams = Of<typeof ScheduleParams>;
export type CreatedSnapshot = Of<typeof CreatedSnapshot>;
export type Operate = Of<typeof Operate>;
export type Operation = Operate['operation'];
export type WaitQuery = Of<typeof WaitQuery>;
export type PageQuery = Of<typeof PageQuery>;
export type AuditEntry = Of<typeof AuditEntry>;
export type AuditQuery = Of<typeof AuditQuery>;
export type MyAuditQuery = Of<typeof MyAuditQuery>;
export type AuditList = Of<typeof AuditList>;
export type HistoryEntry = Of<typeof HistoryEntry>;
export type HistoryQuery = Of<typeof HistoryQuery>;
export type HistoryList = Of<typeof HistoryList>;
export type ClusterListQuery = Of<typeof ClusterListQuery>;
export type ClusterGetQuery = Of<typeof ClusterGetQuery>;
export type Waited = Of<typeof Waited>;
export type CreatedCluster = Of<typeof CreatedCluster>;
export type ScaledCluster = Of<typeof ScaledCluster>;
export type MessageWithWait = Of<typeof MessageWithWait>;
