-- When an instance's generation was last applied to Kubernetes. The observer's
-- full lists use it: an instance applied after a list was taken rendered
-- objects that list could not show, so their absence from it is no sign that
-- anything was deleted (the watch that follows the list sees them come).
ALTER TABLE instances ADD COLUMN synced_at timestamptz;
