// The Kubernetes side of snapshots and restores, run as part of an instance's
// reconcile (a snapshot asked for or deleted makes its instance due).
//
// A snapshot is a VirtualMachineSnapshot (a VM's claims) or a VolumeSnapshot
// (a container's data claim), made once; the observer records when it is
// ready (src/reconciler/watches.ts). A deleted one is removed, then its row.
//
// A restore goes in steps, each pass of the reconcile taking the next one it
// can and coming back while Kubernetes works (the restore is short-lived and
// rare, so it is polled rather than watched):
//  - stopping: the instance was asked to stop when the restore was accepted;
//    once the stopped workload is applied, a VM gets its VirtualMachineRestore
//    (KubeVirt waits for the VM to halt), a container waits for its pod to go.
//  - restoring: a VM's workload is left to KubeVirt, which points it at new
//    claims; once complete, the names of those claims are kept on the row (so
//    the next render matches what KubeVirt did) and KubeVirt's old data claim
//    is deleted. A container's data claim is deleted and made again from the
//    VolumeSnapshot under the name its StatefulSet mounts; once it is bound,
//    the restore is done.
//  - done: the instance is asked to be what it was before, and starts again,
//    on a new restart generation: not 'running' until its new pod or VMI is.
import type { ClusterSpec, InstanceSpec } from '../domain/model.ts';
import { vmDataClaimName } from '../domain/render.ts';
import {
  ANNOTATION_RESTORED_FROM,
  containerDataClaim,
  observeVmRestore,
  renderRestoredClaim,
  renderSnapshot,
  renderVmRestore,
  restoredVmDisks,
} from '../domain/snapshots.ts';
import type { Kube } from '../kube/client.ts';
import type { Db } from '../store/db.ts';
import { refreshStatus } from '../service/status.ts';
import { finishRestoreOf } from '../store/instances.ts';
import { activeRestore, deleteSnapshotRow, setRestorePhase, snapshotsToSettle, type RestoreRow, type SnapshotRow } from '../store/snapshots.ts';
import { LostClaim, type Claim } from './claims.ts';

/** How long a restore may wait on Kubernetes before it is given up (the instance then returns to what it was). */
export const RESTORE_TIMEOUT_MS = 10 * 60 * 1000;
/** How soon a restore under way is looked at again. */
export const RESTORE_POLL_MS = 1000;

type Ctx = { db: Db; kube: Kube };
export type Active = NonNullable<Awaited<ReturnType<typeof activeRestore>>>;

/** A VM being restored is KubeVirt's to change: its workload is not applied meanwhile. */
export const holdsWorkload = (c: ClusterSpec, r: Active | null) => c.kind === 'vm' && r?.phase === 'restoring';

const snapshotObject = (c: ClusterSpec, i: InstanceSpec, s: SnapshotRow) => renderSnapshot(c, i, { id: s.id, objectName: s.object_name, kind: s.kind });

/** Takes the snapshots asked for and removes the deleted ones (with their rows). */
export async function settleSnapshots(ctx: Ctx, c: ClusterSpec, i: InstanceSpec, claim: Claim): Promise<void> {
  for (const s of await snapshotsToSettle(ctx.db, i.id)) {
    if (s.desired === 'deleted') {
      await ctx.kube.remove(snapshotObject(c, i, s), { timeoutMs: claim.timeoutMs() });
      await deleteSnapshotRow(ctx.db, s.id);
    } else if (!(await ctx.kube.exists(snapshotObject(c, i, s), { timeoutMs: claim.timeoutMs() }))) {
      // Made once: its controller fills in the rest of its spec (a class), which is not ours to take back.
      await ctx.kube.apply(snapshotObject(c, i, s), { timeoutMs: claim.timeoutMs() });
    }
  }
}

/** An instance being removed: its snapshots' objects go first (a VM's are not owned by it). */
export async function removeSnapshotObjects(ctx: Ctx, c: ClusterSpec, i: InstanceSpec, claim: Claim): Promise<void> {
  for (const s of await snapshotsToSettle(ctx.db, i.id)) await ctx.kube.remove(snapshotObject(c, i, s), { timeoutMs: claim.timeoutMs() });
}

export type RestoreStep =
  /** No restore under way. */
  | { kind: 'none' }
  /** Under way: come back soon. */
  | { kind: 'wait'; why: string }
  /** Done or given up just now: the row is due again to apply the instance as it is to be. */
  | { kind: 'finished' };

/** The next step of the instance's restore, after its stopped workload was applied (or held). */
export async function stepRestore(ctx: Ctx, c: ClusterSpec, i: InstanceSpec, r: Active, claim: Claim): Promise<RestoreStep> {
  const t = { timeoutMs: claim.timeoutMs() };
  if (Date.now() - new Date(r.created_at).getTime() > RESTORE_TIMEOUT_MS) {
    await giveUp(ctx, c, i, r, `the restore did not finish within ${RESTORE_TIMEOUT_MS / 60_000} minutes${r.message ? ` (last: ${r.message})` : ''}`, claim);
    return { kind: 'finished' };
  }
  if (c.kind === 'vm') {
    const restoreObj = renderVmRestore(c, i, r.id, r.object_name);
    if (r.phase === 'stopping') {
      await ctx.kube.apply(restoreObj, t);
      await setRestorePhase(ctx.db, r.id, 'restoring', 'waiting for KubeVirt to restore the VM');
      return { kind: 'wait', why: 'restoring' };
    }
    const live = await ctx.kube.get(restoreObj, t);
    if (!live) {
      await ctx.kube.apply(restoreObj, t); // deleted behind our back before it finished: asked again
      return { kind: 'wait', why: 'the VirtualMachineRestore was made again' };
    }
    const seen = observeVmRestore(live);
    if (!seen.complete) {
      const why = seen.reason ? `KubeVirt: ${seen.reason}` : 'waiting for KubeVirt';
      if (why !== r.message) await setRestorePhase(ctx.db, r.id, 'restoring', why);
      return { kind: 'wait', why };
    }
    const vm = await ctx.kube.get({ apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachine', metadata: { name: i.name, namespace: c.namespace } }, t);
    const disks = vm ? restoredVmDisks(vm) : { rootDisk: null, dataClaim: null };
    // KubeVirt's restore keeps the data claim it replaced; KubeKloud made it (or the restore before), so it goes.
    const oldData = vmDataClaimName(i);
    if (disks.dataClaim && disks.dataClaim !== oldData) {
      await ctx.kube.remove({ apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name: oldData, namespace: c.namespace } }, t);
    }
    await finish(ctx, r, disks, 'done', null, claim);
    return { kind: 'finished' };
  }

  // A container: its pod gone, then its data claim made again from the snapshot.
  if (r.phase === 'stopping') {
    const pod = await ctx.kube.get({ apiVersion: 'v1', kind: 'Pod', metadata: { name: `${i.name}-0`, namespace: c.namespace } }, t);
    if (pod) return note(ctx, r, 'stopping', 'waiting for the pod to stop');
    await setRestorePhase(ctx.db, r.id, 'restoring', 'replacing the volume');
  }
  const marker = `${r.object_name}/restore-${r.id}`;
  const claimRef = { apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name: containerDataClaim(i), namespace: c.namespace } };
  const pvc = await ctx.kube.get(claimRef, t);
  if (pvc && pvc.metadata?.annotations?.[ANNOTATION_RESTORED_FROM] !== marker) {
    if (!pvc.metadata?.deletionTimestamp) await ctx.kube.remove(claimRef, t);
    return note(ctx, r, 'restoring', 'waiting for the old volume to be deleted');
  }
  if (!pvc) {
    await ctx.kube.apply(renderRestoredClaim(c, i, r.object_name, marker), t);
    return note(ctx, r, 'restoring', 'waiting for the volume made from the snapshot to be bound');
  }
  if ((pvc.status as { phase?: string } | undefined)?.phase !== 'Bound') return note(ctx, r, 'restoring', 'waiting for the volume made from the snapshot to be bound');
  await finish(ctx, r, { rootDisk: null, dataClaim: null }, 'done', null, claim);
  return { kind: 'finished' };
}

async function note(ctx: Ctx, r: Active, phase: 'stopping' | 'restoring', why: string): Promise<RestoreStep> {
  if (r.phase !== phase || r.message !== why) await setRestorePhase(ctx.db, r.id, phase, why);
  return { kind: 'wait', why };
}

async function giveUp(ctx: Ctx, c: ClusterSpec, i: InstanceSpec, r: Active, why: string, claim: Claim): Promise<void> {
  if (c.kind === 'vm') await ctx.kube.remove(renderVmRestore(c, i, r.id, r.object_name), { timeoutMs: claim.timeoutMs() });
  await finish(ctx, r, { rootDisk: null, dataClaim: null }, 'failed', why, claim);
}

/**
 * The restore ends, and the instance is asked to be what it was: in one
 * transaction, fenced by the claim, with its status derived again (a wait on
 * the restore ends only once it is back, never on a status from before it).
 */
export async function finish(ctx: Ctx, r: RestoreRow, disks: { rootDisk: string | null; dataClaim: string | null }, phase: 'done' | 'failed', message: string | null, claim: Claim): Promise<void> {
  await ctx.db.transaction(async (tx) => {
    if (!(await finishRestoreOf(tx, r.instance_id, claim, disks, r.resume))) throw new LostClaim('instances', r.instance_id, 'ending its restore matched no row it held');
    await setRestorePhase(tx, r.id, phase, message);
    await refreshStatus(tx, r.instance_id);
  });
}
