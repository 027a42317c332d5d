// An instance's status: derived (src/domain/lifecycle.ts) from what it was
// asked to be and what the watches last saw, and stored with it. The row is
// read under its lock and written in the same transaction, or written by one
// statement only if the row is still the version it was derived from, so an
// observation committed meanwhile is never overwritten with an older status.
// An observation is written by one statement; a second follows only when the
// status it leaves behind is not the one stored.
import { deriveStatus, type InstanceStatus } from '../domain/lifecycle.ts';
import type { DiskObservation, Observation } from '../domain/observations.ts';
import type { Db, Queryable, Tx } from '../store/db.ts';
import { recordTransition, transitionEntry } from './history.ts';
import { lockInstanceForStatus, setInstanceStatus, setStatusIfUnchanged, writeDiskObservation, writeObservation, writeVmiObservation, type ObservedRow } from '../store/observations.ts';

/** The status an instance's row derives: what it was asked to be and what the watches last saw. */
function statusOf(row: Omit<ObservedRow, 'row_version'>): InstanceStatus {
  return deriveStatus({
    kind: row.instance_type,
    desired: row.desired,
    applied: row.applied,
    failure: row.failure,
    drift: row.drift,
    restartCount: row.restart_count,
    observed: {
      present: row.obs_present,
      phase: row.obs_phase,
      ready: row.obs_ready,
      vmStatus: row.obs_vm_status,
      paused: row.obs_paused,
      diskPhase: row.obs_disk_phase,
      vmiRestart: row.obs_vmi_restart,
    },
  });
}

/** Recomputes and stores an instance's status; returns it (null when the row is gone). */
export async function refreshStatus(tx: Tx, id: number): Promise<InstanceStatus | null> {
  const row = await lockInstanceForStatus(tx, id);
  if (!row) return null;
  const status = statusOf(row);
  if (status !== row.status) {
    await setInstanceStatus(tx, id, status);
    await recordTransition(tx, { clusterId: row.cluster_id, instanceId: id, instanceName: row.name }, row.status, status, row.failure);
  }
  return status;
}

/**
 * The status `row` derives, stored with its history entry when it moved, by
 * one statement that matches only that version of the row. Null: something
 * wrote the row since, and the status must be derived again under the lock.
 */
async function storeIfUnchanged(q: Queryable, row: ObservedRow): Promise<InstanceStatus | null> {
  const status = statusOf(row);
  if (status === row.status) return status;
  const entry = transitionEntry({ clusterId: row.cluster_id, instanceId: row.id, instanceName: row.name }, row.status, status, row.failure);
  return (await setStatusIfUnchanged(q, row, status, entry)) ? status : null;
}

/**
 * Stores the status `row` derives, with its history entry, when it moved:
 * `row` is as this transaction's own write left it, locked until it ends (a
 * row the reconciler just marked synced), so one statement does it.
 */
export async function storeStatusOf(tx: Tx, row: ObservedRow): Promise<InstanceStatus> {
  return (await storeIfUnchanged(tx, row)) ?? (await refreshStatus(tx, row.id)) ?? statusOf(row);
}

/**
 * After an observation's own statement: the status is stored again only when
 * it no longer follows from the row as the observation left it. Most
 * observations change nothing the tenant sees and cost that one statement. A
 * status that moved (or went stale) is stored with its history entry by one
 * more statement, provided nothing wrote the row in between; if something
 * did, it is derived again under the row lock in a transaction.
 */
async function settle(db: Db, row: ObservedRow | null): Promise<ObservedRow | null> {
  if (row && (await storeIfUnchanged(db, row)) === null) await db.transaction((tx) => refreshStatus(tx, row.id));
  return row;
}

/** Stores what Kubernetes says about an instance's pod or VM, and its status. Returns whether the instance exists. */
export async function recordObservation(db: Db, instanceId: number, o: Observation): Promise<boolean> {
  return (await settle(db, await writeObservation(db, instanceId, o))) !== null;
}

/**
 * Stores a VM's root disk import (its DataVolume, by name; null: none seen)
 * and, when it changed, the status. Returns whether it changed.
 */
export async function recordDiskObservation(db: Db, instanceId: number, o: DiskObservation, dataVolume: string | null): Promise<boolean> {
  const changed = await writeDiskObservation(db, instanceId, o, dataVolume);
  if (changed) await db.transaction((tx) => refreshStatus(tx, instanceId));
  return changed;
}

/**
 * Stores what a VM's VirtualMachineInstance says (address, node, paused, the
 * restart generation it was made for) and the status. Returns the row's
 * desired state and generations (null: no such instance).
 */
export async function recordVmiObservation(
  db: Db,
  instanceId: number,
  o: { ip: string | null; node: string | null; paused: boolean; restart: number | null },
): Promise<{ desired: string; desired_gen: number; synced_gen: number } | null> {
  return settle(db, await writeVmiObservation(db, instanceId, o));
}
