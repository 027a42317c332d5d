-- A row whose last attempt failed because Kubernetes was out of reach (or
-- answered 5xx). Its backoff grows while the outage lasts; when Kubernetes is
-- ready again every such row is made due at once instead of waiting it out.
ALTER TABLE clusters ADD COLUMN waiting_on_kube boolean NOT NULL DEFAULT false;
ALTER TABLE instances ADD COLUMN waiting_on_kube boolean NOT NULL DEFAULT false;
CREATE INDEX clusters_waiting_on_kube ON clusters (id) WHERE waiting_on_kube;
CREATE INDEX instances_waiting_on_kube ON instances (id) WHERE waiting_on_kube;
