-- Every replica hears of changes as they commit, through PostgreSQL
-- notifications on one channel, 'kubekloud' (src/store/notifications.ts).
-- The triggers below say what changed, so no write path can forget to:
--   c<id>  cluster <id> changed as its views show it: the cluster row (its
--          updated_at, state or instance count), one of its instances, or a
--          snapshot or restore of one of them
--   w      there is new work for the reconcilers: a desired generation moved,
--          or a cluster came in sync (its instances may now be due)
--   a      who may do what changed: a token revoked, expired early, deleted or
--          re-scoped, a user disabled, enabled, given another role or deleted
-- PostgreSQL folds identical notifications of one transaction into one, and
-- delivers them at commit, in commit order.

CREATE FUNCTION kubekloud_notify_cluster() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    PERFORM pg_notify('kubekloud', 'c' || OLD.id);
    RETURN NULL;
  END IF;
  IF TG_OP = 'INSERT' OR NEW.updated_at IS DISTINCT FROM OLD.updated_at OR NEW.state IS DISTINCT FROM OLD.state
     OR NEW.instance_count IS DISTINCT FROM OLD.instance_count THEN
    PERFORM pg_notify('kubekloud', 'c' || NEW.id);
  END IF;
  IF TG_OP = 'INSERT' OR NEW.desired_gen IS DISTINCT FROM OLD.desired_gen
     OR (NEW.synced_gen IS DISTINCT FROM OLD.synced_gen AND NEW.synced_gen = NEW.desired_gen) THEN
    PERFORM pg_notify('kubekloud', 'w');
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER clusters_notify AFTER INSERT OR UPDATE OR DELETE ON clusters
  FOR EACH ROW EXECUTE FUNCTION kubekloud_notify_cluster();

CREATE FUNCTION kubekloud_notify_instance() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    PERFORM pg_notify('kubekloud', 'c' || OLD.cluster_id);
    RETURN NULL;
  END IF;
  IF TG_OP = 'INSERT' OR NEW.updated_at IS DISTINCT FROM OLD.updated_at THEN
    PERFORM pg_notify('kubekloud', 'c' || NEW.cluster_id);
  END IF;
  IF TG_OP = 'INSERT' OR NEW.desired_gen IS DISTINCT FROM OLD.desired_gen THEN
    PERFORM pg_notify('kubekloud', 'w');
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER instances_notify AFTER INSERT OR UPDATE OR DELETE ON instances
  FOR EACH ROW EXECUTE FUNCTION kubekloud_notify_instance();

-- Snapshots and restores name their instance; the cluster is the instance's.
CREATE FUNCTION kubekloud_notify_instance_child() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  cid integer;
BEGIN
  SELECT cluster_id INTO cid FROM instances WHERE id = COALESCE(NEW.instance_id, OLD.instance_id);
  IF cid IS NOT NULL THEN
    PERFORM pg_notify('kubekloud', 'c' || cid);
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER snapshots_notify AFTER INSERT OR UPDATE OR DELETE ON snapshots
  FOR EACH ROW EXECUTE FUNCTION kubekloud_notify_instance_child();
CREATE TRIGGER snapshot_restores_notify AFTER INSERT OR UPDATE OR DELETE ON snapshot_restores
  FOR EACH ROW EXECUTE FUNCTION kubekloud_notify_instance_child();

CREATE FUNCTION kubekloud_notify_access() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('kubekloud', 'a');
  RETURN NULL;
END $$;
-- Not on insert (a new token or user takes nothing away) nor on last_used_at or quota changes.
CREATE TRIGGER tokens_notify_update AFTER UPDATE ON tokens FOR EACH ROW
  WHEN ((OLD.revoked_at, OLD.expires_at, OLD.scopes, OLD.cluster_ids, OLD.user_id)
        IS DISTINCT FROM (NEW.revoked_at, NEW.expires_at, NEW.scopes, NEW.cluster_ids, NEW.user_id))
  EXECUTE FUNCTION kubekloud_notify_access();
CREATE TRIGGER tokens_notify_delete AFTER DELETE ON tokens FOR EACH ROW EXECUTE FUNCTION kubekloud_notify_access();
CREATE TRIGGER users_notify_update AFTER UPDATE ON users FOR EACH ROW
  WHEN ((OLD.role, OLD.disabled_at, OLD.username) IS DISTINCT FROM (NEW.role, NEW.disabled_at, NEW.username))
  EXECUTE FUNCTION kubekloud_notify_access();
CREATE TRIGGER users_notify_delete AFTER DELETE ON users FOR EACH ROW EXECUTE FUNCTION kubekloud_notify_access();

-- Connections a user holds open (event streams, requests waiting with
-- ?wait=), one row each, counted against the per-user caps across every
-- replica. A row names the replica holding it by its notification
-- connection's name: a replica that is gone has no such connection, and its
-- rows no longer count (they are cleared on the next take of that user).
CREATE UNLOGGED TABLE connection_holds (
  id         bigserial PRIMARY KEY,
  user_id    integer NOT NULL,
  kind       text NOT NULL CHECK (kind IN ('event_streams', 'waits')),
  replica    text NOT NULL,
  until      timestamptz,
  taken_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX connection_holds_user ON connection_holds (user_id, kind);
