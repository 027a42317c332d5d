// The HTTP contract: request and response schemas for every route. The
// OpenAPI document is generated from these; nothing is written by hand.
import { Type, type TSchema } from 'typebox';
import { INSTANCE_STATUSES } from '../domain/lifecycle.ts';

const MAX_ID = 2_147_483_647;
export const IdParams = Type.Object({ id: Type.Integer({ minimum: 1, maximum: MAX_ID, description: 'Numeric id' }) });

export const Detail = Type.Object(
  {
    detail: Type.Union([
      Type.String(),
      Type.Array(Type.Object({ loc: Type.Array(Type.Union([Type.String(), Type.Number()])), msg: Type.String(), type: Type.String() })),
    ]),
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

export const Role = Type.Union([Type.Literal('admin'), Type.Literal('user')]);

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
    created_at: Timestamp,
  },
  { $id: 'User' },
);

export const CreateUser = Type.Object(
  {
    username: Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9][A-Za-z0-9._@-]*$' }),
    quota_cpu: Cores('CPU quota in cores'),
    quota_memory: GiB('Memory quota in GB'),
    quota_instances: Type.Optional(Type.Integer({ minimum: 0, maximum: 100_000, description: 'Instance quota (default 10)' })),
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
    role: Type.Optional(Role),
  },
  { additionalProperties: false, minProperties: 1 },
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
});

export const Token = Type.Object(
  {
    id: Type.Integer(),
    name: Type.String(),
    created_at: Timestamp,
    expires_at: Type.Union([Timestamp, Type.Null()]),
    last_used_at: Type.Union([Timestamp, Type.Null()]),
  },
  { $id: 'Token' },
);
export const CreateToken = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9][A-Za-z0-9 ._-]*$' }),
    expires_in_days: Type.Optional(Type.Integer({ minimum: 1, maximum: 3650 })),
  },
  { additionalProperties: false },
);

export const Message = Type.Object({ message: Type.String(), detail: Type.Record(Type.String(), Type.Unknown()) });

export const InstanceStatus = Type.Union(INSTANCE_STATUSES.map((s) => Type.Literal(s)));
export const Instance = Type.Object(
  {
    id: Type.Integer(),
    cluster_id: Type.Integer(),
    instance_name: Type.String(),
    status: InstanceStatus,
    desired_status: Type.String({ description: 'What the instance was last asked to be' }),
    k8s_resource_name: Type.String(),
    ip: Type.Union([Type.String(), Type.Null()]),
    node: Type.Union([Type.String(), Type.Null()]),
    message: Type.Union([Type.String(), Type.Null()]),
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
        // An image reference (registry/repo:tag or @digest), never a URL: the server fetches nothing.
        pattern: '^[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?(/[a-z0-9]+([._-]+[a-z0-9]+)*)*(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[a-f0-9]{64})?$',
      }),
    ),
    ports: Type.Optional(Type.Array(Port, { maxItems: 16 })),
    service_type: Type.Optional(ServiceType),
    volume_size: Type.Optional(Type.Integer({ minimum: 1, maximum: 16_384, description: 'GB, one persistent volume per instance' })),
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
    ports: Type.Array(Type.Unknown()),
    service_type: Type.String(),
    volume_size: Type.Union([Type.Integer(), Type.Null()]),
    env: Type.Record(Type.String(), Type.String()),
    ssh_keys: Type.Array(Type.String()),
    user_data: Type.Union([Type.String(), Type.Null()]),
    message: Type.Union([Type.String(), Type.Null()]),
    created_at: Timestamp,
    updated_at: Timestamp,
  },
  { $id: 'Cluster' },
);
export const ClusterWithInstances = Type.Intersect([Type.Ref('Cluster'), Type.Object({ instances: Type.Array(Type.Ref('Instance')) })]);

export const ScaleCluster = Type.Object({ instance_count: Type.Integer({ minimum: 1, maximum: 100 }) }, { additionalProperties: false });

export const Operate = Type.Object(
  { operation: Type.Union(['start', 'stop', 'suspend', 'resume', 'restart'].map((o) => Type.Literal(o))) },
  { additionalProperties: false },
);

export const WaitQuery = Type.Object(
  { wait: Type.Optional(Type.Integer({ minimum: 0, maximum: 600, description: 'Answer once converged, or after this many seconds' })) },
  { additionalProperties: false },
);
export const PageQuery = Type.Object(
  { limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 100 })), offset: Type.Optional(Type.Integer({ minimum: 0, maximum: 10_000_000, default: 0 })) },
  { additionalProperties: false },
);

export const SHARED_SCHEMAS = [Detail, User, Token, Instance, Cluster];
