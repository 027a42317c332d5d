-- Scoped tokens and disabled users.
-- tokens.scopes: what a token may do ('read', 'write', 'admin'); NULL = all
-- its user may do (every token issued before scopes existed, and a token
-- created without scopes). tokens.cluster_ids: the only clusters the token
-- reaches; NULL = every cluster its user reaches.
-- users.disabled_at: set by an admin; a disabled user's tokens are refused at
-- once, their workloads are left as they are.
ALTER TABLE tokens ADD COLUMN scopes text[] CHECK (scopes <@ ARRAY['read', 'write', 'admin']::text[] AND cardinality(scopes) > 0);
ALTER TABLE tokens ADD COLUMN cluster_ids integer[] CHECK (cardinality(cluster_ids) > 0);
ALTER TABLE users ADD COLUMN disabled_at timestamptz;
