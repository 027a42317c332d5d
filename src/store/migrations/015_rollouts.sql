-- Live changes of a running cluster (PATCH /clusters/{id}), rolled one
-- instance at a time. The cluster row holds the newest spec and its
-- generation (spec_gen); an instance renders the cluster's spec when its own
-- spec_gen is the cluster's, else the spec it was last rolled to, kept in
-- instances.spec (the rollable fields only). rollout_state: NULL (never
-- changed), rolling, done or failed; the reconciler rolls the next instance
-- only when the one before is running again, in one transaction under the
-- cluster's row lock. peak_*: while rolling, the largest CPU and memory any
-- instance renders with, so the namespace quota admits old and new pods alike.
ALTER TABLE clusters
  ADD COLUMN spec_gen        integer NOT NULL DEFAULT 1,
  ADD COLUMN rollout_state   text CHECK (rollout_state IN ('rolling', 'done', 'failed')),
  ADD COLUMN rollout_message text,
  ADD COLUMN rollout_updated integer NOT NULL DEFAULT 0,
  ADD COLUMN rollout_total   integer NOT NULL DEFAULT 0,
  ADD COLUMN peak_cpu_milli  integer,
  ADD COLUMN peak_memory_mib integer;

CREATE INDEX clusters_rolling ON clusters (id) WHERE rollout_state = 'rolling';

ALTER TABLE instances
  ADD COLUMN spec_gen  integer NOT NULL DEFAULT 1,
  ADD COLUMN spec      jsonb,
  ADD COLUMN rolled_at timestamptz;
