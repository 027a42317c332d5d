-- Disks kept on request when a scale-in removes VMs (PATCH /clusters/{id}
-- with keep_disks): each removed VM's root disk (its DataVolume) and data
-- disk (its claim) stay in the cluster's namespace, orphaned from the VM,
-- holding their size of the owner's storage quota until deleted
-- (DELETE /clusters/{id}/disks/{disk_id}) or until the cluster is. desired
-- 'deleted': the cluster's reconcile removes the object, then the row.
CREATE TABLE kept_disks (
  id            serial PRIMARY KEY,
  cluster_id    integer NOT NULL REFERENCES clusters(id) ON DELETE CASCADE,
  owner_id      integer NOT NULL REFERENCES users(id),
  instance_name text NOT NULL,
  kind          text NOT NULL CHECK (kind IN ('root', 'data')),
  object_name   text NOT NULL,
  size_gb       integer NOT NULL CHECK (size_gb > 0),
  desired       text NOT NULL DEFAULT 'kept' CHECK (desired IN ('kept', 'deleted')),
  created_at    timestamptz NOT NULL DEFAULT now(),
  UNIQUE (cluster_id, object_name)
);

-- What the kept disks hold, on the cluster row, so that its namespace's
-- ResourceQuota (rendered from the row) leaves room for them.
ALTER TABLE clusters
  ADD COLUMN kept_storage_gb integer NOT NULL DEFAULT 0 CHECK (kept_storage_gb >= 0),
  ADD COLUMN kept_claims     integer NOT NULL DEFAULT 0 CHECK (kept_claims >= 0);

-- An instance removed with keep_disks: its VM is deleted orphaning its disks.
ALTER TABLE instances ADD COLUMN keep_disks boolean NOT NULL DEFAULT false;
