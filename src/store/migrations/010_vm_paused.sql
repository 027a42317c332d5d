-- Whether a VM's VirtualMachineInstance is paused (its Paused condition), as
-- the observer last saw it: a suspended VM keeps running, frozen.
ALTER TABLE instances ADD COLUMN obs_paused boolean NOT NULL DEFAULT false;
