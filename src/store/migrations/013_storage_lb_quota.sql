-- Storage (GB) and LoadBalancer Services in each tenant's quota, reserved with
-- CPU, memory and instances in the same conditional UPDATE of the user row.
-- Storage counts each live instance's volume (volume_size_gb); load balancers
-- count each live instance's Service when it is a LoadBalancer (a Service exists
-- only when ports are exposed), and a cluster's own Service under expose: cluster.
ALTER TABLE users
  ADD COLUMN quota_storage_gb integer NOT NULL DEFAULT 100 CHECK (quota_storage_gb >= 0),
  ADD COLUMN quota_load_balancers integer NOT NULL DEFAULT 5 CHECK (quota_load_balancers >= 0),
  ADD COLUMN used_storage_gb integer NOT NULL DEFAULT 0 CHECK (used_storage_gb >= 0),
  ADD COLUMN used_load_balancers integer NOT NULL DEFAULT 0 CHECK (used_load_balancers >= 0);

-- What existing tenants already hold, counted as a create would have.
UPDATE users u SET used_storage_gb = x.storage, used_load_balancers = x.lbs
  FROM (
    SELECT c.owner_id,
           sum(COALESCE(c.volume_size_gb, 0) * n.live)::int AS storage,
           sum(CASE WHEN c.service_type = 'LoadBalancer' AND jsonb_array_length(c.ports) > 0
                    THEN n.live + (CASE WHEN c.expose = 'cluster' THEN 1 ELSE 0 END) ELSE 0 END)::int AS lbs
      FROM clusters c
      CROSS JOIN LATERAL (SELECT count(*)::int AS live FROM instances i WHERE i.cluster_id = c.id AND i.desired <> 'deleted') n
     WHERE c.state = 'active'
     GROUP BY c.owner_id
  ) x
 WHERE x.owner_id = u.id;

-- No tenant is put over quota by the new dimensions; the bootstrap admin keeps
-- a quota nothing reaches, as for its other dimensions.
UPDATE users SET quota_storage_gb = GREATEST(quota_storage_gb, used_storage_gb),
                 quota_load_balancers = GREATEST(quota_load_balancers, used_load_balancers);
UPDATE users SET quota_storage_gb = 1000000, quota_load_balancers = 100000 WHERE username = 'admin' AND role = 'admin';
