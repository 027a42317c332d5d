-- Fenced claims: every claim of a row takes a new epoch, and every write a
-- reconcile makes names the epoch it claimed with. A replica whose lease ran out
-- (and whose row another replica claimed since) changes nothing.
ALTER TABLE clusters ADD COLUMN claim_epoch integer NOT NULL DEFAULT 0;
ALTER TABLE instances ADD COLUMN claim_epoch integer NOT NULL DEFAULT 0;

-- Drift: what the observer found changed behind KubeKloud's back, shown to the
-- tenant while the repair it asked for is under way; cleared when it is applied.
-- The same drift repaired again within two minutes of the last repair backs
-- off, so a drift that keeps coming back (a tool fighting KubeKloud) costs few
-- writes; a different drift is repaired at once.
ALTER TABLE clusters ADD COLUMN drift text, ADD COLUMN last_repair text, ADD COLUMN repairs integer NOT NULL DEFAULT 0, ADD COLUMN repaired_at timestamptz;
ALTER TABLE instances ADD COLUMN drift text, ADD COLUMN last_repair text, ADD COLUMN repairs integer NOT NULL DEFAULT 0, ADD COLUMN repaired_at timestamptz;

-- One observer per installation: watches, drift repair, orphan collection and
-- periodic resyncs run on the replica holding this lease. Renewed by its holder;
-- another replica takes it over once it expires. Times are the database's own
-- clock, so replicas never compare clocks of their own.
CREATE TABLE observer_leases (
  name        text PRIMARY KEY,
  holder      text NOT NULL,
  epoch       integer NOT NULL,
  acquired_at timestamptz NOT NULL,
  renewed_at  timestamptz NOT NULL,
  expires_at  timestamptz NOT NULL
);
