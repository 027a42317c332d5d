-- Snapshots of an instance's persistent disks (POST /instances/{id}/snapshots):
-- a VM's through KubeVirt's VirtualMachineSnapshot, a container's volume
-- through a VolumeSnapshot. Each holds size_gb of its owner's storage quota
-- (the instance's disks when it was taken) from its request until it is
-- deleted. desired 'deleted': the reconciler removes the object, then the row.
-- phase: creating until the snapshot is ready to use, ready, failed (with the
-- reason), or lost (deleted behind KubeKloud's back).
CREATE TABLE snapshots (
  id          serial PRIMARY KEY,
  instance_id integer NOT NULL REFERENCES instances(id) ON DELETE CASCADE,
  owner_id    integer NOT NULL REFERENCES users(id),
  name        text NOT NULL,
  object_name text NOT NULL,
  kind        text NOT NULL CHECK (kind IN ('vm', 'volume')),
  size_gb     integer NOT NULL CHECK (size_gb > 0),
  desired     text NOT NULL DEFAULT 'present' CHECK (desired IN ('present', 'deleted')),
  phase       text NOT NULL DEFAULT 'creating' CHECK (phase IN ('creating', 'ready', 'failed', 'lost')),
  message     text,
  created_at  timestamptz NOT NULL DEFAULT now(),
  ready_at    timestamptz,
  UNIQUE (instance_id, name)
);
CREATE INDEX snapshots_instance ON snapshots (instance_id);

-- Restores of a snapshot onto its instance. One at a time per instance. A
-- running instance is stopped first (its desired state is kept in resume and
-- given back when the restore is done): stopping, then restoring, then done
-- or failed.
CREATE TABLE snapshot_restores (
  id          serial PRIMARY KEY,
  snapshot_id integer NOT NULL REFERENCES snapshots(id) ON DELETE CASCADE,
  instance_id integer NOT NULL REFERENCES instances(id) ON DELETE CASCADE,
  phase       text NOT NULL CHECK (phase IN ('stopping', 'restoring', 'done', 'failed')),
  resume      text NOT NULL,
  message     text,
  created_at  timestamptz NOT NULL DEFAULT now(),
  finished_at timestamptz
);
CREATE UNIQUE INDEX snapshot_restores_active ON snapshot_restores (instance_id) WHERE phase IN ('stopping', 'restoring');

-- A VM restored from a snapshot runs from new claims (KubeVirt names them
-- restore-<uid>-<volume>): the names its root disk and data disk have now;
-- NULL: the names KubeKloud gave them (<instance>-root, <instance>-data).
ALTER TABLE instances
  ADD COLUMN root_disk  text,
  ADD COLUMN data_claim text;
