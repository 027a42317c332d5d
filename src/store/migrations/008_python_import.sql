-- What `import-python` brought across from the earlier Python service: one row
-- per user, cluster and instance of its database, naming the row it became here.
-- A second run finds them and imports nothing twice; the rows it names stay
-- ordinary rows (an imported cluster keeps the namespace and the instances the
-- workload names the Python service gave them, in clusters.namespace and
-- instances.name, which every rendering already uses).
CREATE TABLE python_imports (
  kind        text NOT NULL CHECK (kind IN ('user', 'cluster', 'instance')),
  python_id   integer NOT NULL,
  target_id   integer NOT NULL,
  imported_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (kind, python_id)
);
