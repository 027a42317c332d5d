CREATE TABLE users (
  id              serial PRIMARY KEY,
  username        text NOT NULL UNIQUE,
  role            text NOT NULL CHECK (role IN ('admin', 'user')),
  quota_cpu_milli integer NOT NULL CHECK (quota_cpu_milli >= 0),
  quota_memory_mib integer NOT NULL CHECK (quota_memory_mib >= 0),
  quota_instances integer NOT NULL CHECK (quota_instances >= 0),
  used_cpu_milli  integer NOT NULL DEFAULT 0 CHECK (used_cpu_milli >= 0),
  used_memory_mib integer NOT NULL DEFAULT 0 CHECK (used_memory_mib >= 0),
  used_instances  integer NOT NULL DEFAULT 0 CHECK (used_instances >= 0),
  created_at      timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE tokens (
  id           serial PRIMARY KEY,
  user_id      integer NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  name         text NOT NULL,
  token_hash   text NOT NULL UNIQUE,
  created_at   timestamptz NOT NULL DEFAULT now(),
  expires_at   timestamptz,
  revoked_at   timestamptz,
  last_used_at timestamptz
);
CREATE INDEX tokens_user ON tokens (user_id);

CREATE TABLE clusters (
  id               serial PRIMARY KEY,
  owner_id         integer NOT NULL REFERENCES users(id),
  name             text NOT NULL,
  namespace        text NOT NULL UNIQUE,
  instance_type    text NOT NULL CHECK (instance_type IN ('vm', 'container')),
  cpu_milli        integer NOT NULL CHECK (cpu_milli > 0),
  memory_mib       integer NOT NULL CHECK (memory_mib > 0),
  instance_count   integer NOT NULL CHECK (instance_count >= 0),
  image            text NOT NULL,
  ports            jsonb NOT NULL DEFAULT '[]',
  service_type     text NOT NULL DEFAULT 'ClusterIP',
  volume_size_gb   integer,
  env              jsonb NOT NULL DEFAULT '{}',
  ssh_keys         jsonb NOT NULL DEFAULT '[]',
  user_data        text,
  state            text NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'deleting')),
  -- Reconcile bookkeeping: work is due while desired_gen > synced_gen.
  desired_gen      integer NOT NULL DEFAULT 1,
  synced_gen       integer NOT NULL DEFAULT 0,
  attempts         integer NOT NULL DEFAULT 0,
  next_attempt_at  timestamptz NOT NULL DEFAULT now(),
  claimed_by       text,
  claimed_until    timestamptz,
  message          text,
  created_at       timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now()
);
-- One live cluster of a name per tenant; a deleting one frees the name.
CREATE UNIQUE INDEX clusters_owner_name ON clusters (owner_id, name) WHERE state = 'active';
CREATE INDEX clusters_owner ON clusters (owner_id, id);
CREATE INDEX clusters_due ON clusters (next_attempt_at) WHERE desired_gen > synced_gen;

CREATE TABLE instances (
  id               serial PRIMARY KEY,
  cluster_id       integer NOT NULL REFERENCES clusters(id) ON DELETE CASCADE,
  ordinal          integer NOT NULL,
  name             text NOT NULL,
  desired          text NOT NULL CHECK (desired IN ('running', 'stopped', 'suspended', 'deleted')),
  status           text NOT NULL DEFAULT 'pending',
  restart_count    integer NOT NULL DEFAULT 0,
  -- Observed from Kubernetes watches.
  obs_present      boolean NOT NULL DEFAULT false,
  obs_phase        text,
  obs_ready        boolean NOT NULL DEFAULT false,
  obs_vm_status    text,
  ip               text,
  node             text,
  failure          text,
  message          text,
  conditions       jsonb NOT NULL DEFAULT '[]',
  applied          boolean NOT NULL DEFAULT false,
  applied_restart_count integer NOT NULL DEFAULT 0,
  desired_gen      integer NOT NULL DEFAULT 1,
  synced_gen       integer NOT NULL DEFAULT 0,
  attempts         integer NOT NULL DEFAULT 0,
  next_attempt_at  timestamptz NOT NULL DEFAULT now(),
  claimed_by       text,
  claimed_until    timestamptz,
  created_at       timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now(),
  UNIQUE (cluster_id, ordinal)
);
CREATE INDEX instances_cluster ON instances (cluster_id, ordinal);
CREATE INDEX instances_due ON instances (next_attempt_at) WHERE desired_gen > synced_gen;

CREATE TABLE audit_log (
  id          bigserial PRIMARY KEY,
  at          timestamptz NOT NULL DEFAULT now(),
  actor_id    integer,
  actor       text,
  method      text NOT NULL,
  route       text NOT NULL,
  target      text,
  status_code integer NOT NULL,
  outcome     text NOT NULL,
  request_id  text,
  detail      jsonb
);
CREATE INDEX audit_log_at ON audit_log (at);
