-- Endpoints: how each instance, and a cluster exposed as a whole, is reached,
-- as the observer last read it from Kubernetes (Service ClusterIP and ports,
-- node ports on the nodes the pods run on, load-balancer ingress). An array of
-- {kind, address, port, protocol, target_port}; empty until observed.
-- clusters.expose: 'instances' (a Service per instance, as before) or 'cluster'
-- (also one Service across all of the cluster's instances).
ALTER TABLE clusters ADD COLUMN expose text NOT NULL DEFAULT 'instances' CHECK (expose IN ('instances', 'cluster'));
ALTER TABLE clusters ADD COLUMN endpoints jsonb NOT NULL DEFAULT '[]';
ALTER TABLE instances ADD COLUMN endpoints jsonb NOT NULL DEFAULT '[]';
