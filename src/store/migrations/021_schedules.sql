-- Schedules and TTLs. A cluster may expire: at
-- expires_at it is stopped or deleted (expire_action), and it carries a
-- warning a configurable time before. Power schedules stop or start all its
-- instances at the times of a cron expression in a named (IANA) time zone;
-- next_due_at is the next of those times, advanced in the transaction that
-- runs one.
ALTER TABLE clusters
  ADD COLUMN expires_at    timestamptz,
  ADD COLUMN expire_action text CHECK (expire_action IN ('stop', 'delete')),
  ADD CONSTRAINT clusters_expiry_whole CHECK ((expires_at IS NULL) = (expire_action IS NULL));

CREATE TABLE cluster_schedules (
  id          serial PRIMARY KEY,
  cluster_id  integer NOT NULL REFERENCES clusters(id) ON DELETE CASCADE,
  action      text NOT NULL CHECK (action IN ('stop', 'start')),
  cron        text NOT NULL,
  time_zone   text NOT NULL,
  next_due_at timestamptz NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX cluster_schedules_cluster ON cluster_schedules (cluster_id);
CREATE INDEX cluster_schedules_due ON cluster_schedules (next_due_at);

-- What the scheduler did: one row per due time of a schedule (schedule_id)
-- or of a cluster's expiry (schedule_id null), inserted in the transaction
-- that takes the action. The unique key is what makes a due time run once:
-- a second replica, or a restarted one, inserts nothing and does nothing.
-- No foreign keys: the history outlives the schedule and the cluster, as
-- the audit log does.
CREATE TABLE schedule_runs (
  id          bigserial PRIMARY KEY,
  cluster_id  integer NOT NULL,
  schedule_id integer,
  action      text NOT NULL CHECK (action IN ('stop', 'start', 'delete')),
  due_at      timestamptz NOT NULL,
  ran_at      timestamptz NOT NULL DEFAULT now(),
  outcome     text NOT NULL CHECK (outcome IN ('done', 'nothing_to_do')),
  detail      jsonb NOT NULL DEFAULT '{}'
);
CREATE UNIQUE INDEX schedule_runs_once ON schedule_runs (schedule_id, due_at) WHERE schedule_id IS NOT NULL;
CREATE UNIQUE INDEX schedule_runs_expiry_once ON schedule_runs (cluster_id, due_at) WHERE schedule_id IS NULL;
CREATE INDEX schedule_runs_cluster ON schedule_runs (cluster_id, due_at);
