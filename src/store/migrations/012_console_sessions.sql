-- Open serial and VNC console sessions (GET /api/v1/instances/{id}/console, /vnc).
-- A row is the seat a session holds: the limit of sessions per token and
-- instance counts the rows still open, across every replica. The replica that
-- holds a session renews alive_until while it runs; a replica that died leaves
-- rows that stop counting once alive_until has passed. Who opened and closed
-- what is in audit_log (detail: the kind, duration and bytes); these rows are
-- the live seats and their totals.
CREATE TABLE console_sessions (
  id            bigserial PRIMARY KEY,
  instance_id   integer NOT NULL,
  user_id       integer NOT NULL,
  token_id      integer NOT NULL,
  kind          text NOT NULL CHECK (kind IN ('serial', 'vnc')),
  replica       text NOT NULL,
  request_id    text,
  opened_at     timestamptz NOT NULL DEFAULT now(),
  alive_until   timestamptz NOT NULL,
  closed_at     timestamptz,
  close_reason  text,
  bytes_to_instance   bigint NOT NULL DEFAULT 0,
  bytes_from_instance bigint NOT NULL DEFAULT 0
);
CREATE INDEX console_sessions_open ON console_sessions (token_id, instance_id) WHERE closed_at IS NULL;
