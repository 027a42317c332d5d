// An instance's status: derived (src/domain/lifecycle.ts) from what it was
// asked to be and what the watches last saw, and stored with it. The row is
// read under its lock and written in the same transaction, or written by one
// statement only if the row is still the version it was derived from, so an
// observation committed meanwhile is never overwritten with an older status.
// An observation is written by one statement; a second follows only when the
// status it leaves behind is not the one stored.
import { deriveStatus, type InstanceStatus } from '../domain/lifecycle.ts';
import type { DiskObservation, Observation } from '../domain/observations.ts';
import type { Db, Tx } from '../store/db.ts';
import { recordTransition, transitionEntry } from './history.ts';
import {
  lockInstanceForStatus,
  setInstanceStatus,
  setStatusesIfUnchanged,
  writeDiskObservation,
  writeObservations,
  writeVmiObservations,
  type ObservedRow,
  type VmiObservation,
  type StatusUpdate,
} from '../store/observations.ts';

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
 * After a statement that wrote instance rows and answered them as it left them
 * (observations, or the reconciler marking one synced): a status is stored
 * again only when it no longer follows from its row. Most observations change
 * nothing the tenant sees and cost only their own statement. The statuses that
 * moved (or went stale) are stored with their history entries by one more
 * statement, each provided nothing wrote its row in between; a row something
 * did write is derived again under its lock in a transaction.
 */
export async function settleStatuses(db: Db, rows: ObservedRow[]): Promise<void> {
  await storeMoved(db, rows, (id) => db.transaction((tx) => refreshStatus(tx, id)));
}

/** Stores the statuses of `rows` that moved, in one statement; a row written since is handed to `deriveAgain`. */
async function storeMoved(q: Db | Tx, rows: ObservedRow[], deriveAgain: (id: number) => Promise<unknown>): Promise<void> {
  const moved = rows.map(movedStatus).filter((m): m is StatusUpdate => m !== null);
  const stored = await setStatusesIfUnchanged(q, moved);
  for (const m of moved) if (!stored.has(m.row.id)) await deriveAgain(m.row.id);
}

/** The status a row derives and its history entry, when it is not the one stored (null: it is). */
function movedStatus(row: ObservedRow): StatusUpdate | null {
  const status = statusOf(row);
  if (status === row.status) return null;
  return { row, status, entry: transitionEntry({ clusterId: row.cluster_id, instanceId: row.id, instanceName: row.name }, row.status, status, row.failure) };
}

/**
 * Stores the statuses `rows` derive, with their history entries, where they
 * moved: `rows` are as this transaction's own write left them, locked until it
 * ends (rows the reconciler just marked synced), so one statement does it.
 */
export async function storeStatusesOf(tx: Tx, rows: ObservedRow[]): Promise<void> {
  await storeMoved(tx, rows, (id) => refreshStatus(tx, id));
}

/**
 * Stores what Kubernetes says about instances' pods or VMs, in one statement,
 * and their statuses. Returns the ids of the instances that exist.
 */
export async function recordObservations(db: Db, observations: { id: number; o: Observation }[]): Promise<Set<number>> {
  const rows = await writeObservations(db, observations);
  await settleStatuses(db, rows);
  return new Set(rows.map((r) => r.id));
}

/** Stores what Kubernetes says about an instance's pod or VM, and its status. Returns whether the instance exists. */
export async function recordObservation(db: Db, instanceId: number, o: Observation): Promise<boolean> {
  return (await recordObservations(db, [{ id: instanceId, o }])).has(instanceId);
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
 * Stores what VMs' VirtualMachineInstances say (address, node, paused, the
 * restart generation each was made for), in one statement, and their statuses.
 * Returns each instance's row as it left it (an instance that is gone is missing).
 */
export async function recordVmiObservations(db: Db, observations: { id: number; o: VmiObservation }[]): Promise<Map<number, ObservedRow>> {
  const rows = await writeVmiObservations(db, observations);
  await settleStatuses(db, rows);
  return new Map(rows.map((r) => [r.id, r]));
}

/** One VMI observation, as recordVmiObservations stores many: the row as it left it (null: no such instance). */
export async function recordVmiObservation(db: Db, instanceId: number, o: VmiObservation): Promise<ObservedRow | null> {
  return (await recordVmiObservations(db, [{ id: instanceId, o }])).get(instanceId) ?? null;
}
