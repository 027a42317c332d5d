-- Token buckets every replica shares: per-user write limits and per-address
-- failed-authentication limits hold across the whole deployment, not per
-- replica. One row per key; a bucket is refilled from its last update time.
CREATE TABLE rate_buckets (
  key    text PRIMARY KEY,
  tokens double precision NOT NULL,
  at     timestamptz NOT NULL
);
