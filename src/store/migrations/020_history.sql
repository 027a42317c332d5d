-- A cluster's history and a readable audit log.
-- cluster_history: what happened to a cluster, in order: desired-state
-- changes and who made them ('change'), instance status transitions
-- ('status', with Kubernetes' reason when one failed), drift repaired
-- ('repair') and schedule runs ('schedule'). No foreign key: the history of a
-- deleted cluster stays readable (to admins, by id) until retention prunes it.
CREATE TABLE cluster_history (
  id            bigserial PRIMARY KEY,
  at            timestamptz NOT NULL DEFAULT now(),
  cluster_id    integer NOT NULL,
  instance_id   integer,
  instance_name text,
  kind          text NOT NULL CHECK (kind IN ('change', 'status', 'repair', 'schedule')),
  actor         text,
  message       text NOT NULL,
  detail        jsonb
);
CREATE INDEX cluster_history_cluster ON cluster_history (cluster_id, id);
CREATE INDEX cluster_history_at ON cluster_history (at);

-- audit_log.action: what the request did, `<resource>.<verb>`
-- (clusters.create, instances.operate, tokens.delete…), derived from its
-- method and route as src/domain/audit.ts does; rows written before this
-- column existed get it the same way here.
ALTER TABLE audit_log ADD COLUMN action text;
UPDATE audit_log a SET action = CASE
    WHEN x.last IN ('operate', 'restore') THEN x.prev || '.' || x.last
    ELSE x.last || '.' || CASE a.method WHEN 'POST' THEN 'create' WHEN 'DELETE' THEN 'delete' WHEN 'GET' THEN 'open' ELSE 'update' END
  END
  FROM (
    SELECT id,
           regexp_replace(p, '^.*/', '') AS last,
           CASE WHEN p LIKE '%/%' THEN regexp_replace(regexp_replace(p, '/[^/]*$', ''), '^.*/', '') ELSE '' END AS prev
      FROM (SELECT id, trim(BOTH '/' FROM regexp_replace(regexp_replace(route, '^/api/v1/?', ''), '(^|/)(:[a-z_]+|me)(?=/|$)', '', 'g')) AS p FROM audit_log) s
  ) x
 WHERE a.id = x.id;
CREATE INDEX audit_log_actor ON audit_log (actor_id, id);
CREATE INDEX audit_log_action ON audit_log (action, id);
