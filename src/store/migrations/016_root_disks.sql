-- Persistent root disks for VMs: a VM cluster with disk_size_gb boots each
-- instance from a DataVolume of that size, imported from its image's source
-- and kept across stop, start and restart. Counted in the storage quota with
-- volume_size_gb. The observer records each root disk's import as CDI reports
-- it (phase, and progress in percent) beside the VM's own observation.
ALTER TABLE clusters ADD COLUMN disk_size_gb integer CHECK (disk_size_gb > 0);
ALTER TABLE instances
  ADD COLUMN obs_disk_phase text,
  ADD COLUMN obs_disk_progress real;
ALTER TABLE instances ADD COLUMN obs_disk_message text;

-- The restart generation of a VM's running VirtualMachineInstance (its
-- template's kubekloud.io/restart-count annotation), as the observer last saw
-- it: a VM counts as running only on a VMI made for its current generation,
-- so a rolled or restarted VM is not taken as running on its old VMI.
ALTER TABLE instances ADD COLUMN obs_vmi_restart integer;
