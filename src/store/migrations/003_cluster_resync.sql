-- When a cluster's fences (namespace, quota, limits, network policy) were last
-- applied: they are applied again periodically, which repairs drift.
ALTER TABLE clusters ADD COLUMN synced_at timestamptz;
