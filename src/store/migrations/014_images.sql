-- The image catalogue: named images admins curate and clusters name in their
-- `image` field. `source` is a container image reference (kind container), or
-- for VMs a registry (docker://…) or HTTP(S) URL of a disk image. Retiring
-- sets retired_at: new clusters may no longer name it, clusters using it keep
-- running on the source they resolved at create.
CREATE TABLE images (
  id              serial PRIMARY KEY,
  name            text NOT NULL UNIQUE,
  kind            text NOT NULL CHECK (kind IN ('vm', 'container')),
  source          text NOT NULL,
  default_disk_gb integer CHECK (default_disk_gb > 0),
  min_cpu_milli   integer NOT NULL DEFAULT 0 CHECK (min_cpu_milli >= 0),
  min_memory_mib  integer NOT NULL DEFAULT 0 CHECK (min_memory_mib >= 0),
  os              text,
  retired_at      timestamptz,
  created_at      timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz NOT NULL DEFAULT now()
);

-- What a cluster's workload runs: the catalogue source resolved when the
-- cluster was created (a later edit of the catalogue entry does not roll it),
-- or the free-form image itself. NULL on clusters from before the catalogue:
-- their `image` is what they run.
ALTER TABLE clusters ADD COLUMN image_source text;
