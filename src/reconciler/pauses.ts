// A suspended VM is a running VM whose VirtualMachineInstance is paused
// (KubeVirt's pause/unpause subresources of subresources.kubevirt.io). The
// reconciler pauses or unpauses it after applying the VM; the observer, from
// each VMI it sees, records whether it is paused and asks for a repair when
// that disagrees with the desired state (someone paused or unpaused it behind
// KubeKloud's back, or a VM restarted by KubeVirt came back unpaused).
import { pauseAction, type Desired } from '../domain/lifecycle.ts';
import { vmiAddress, vmiPauseState, vmiRestartCount } from '../domain/observations.ts';
import type { LiveObject } from '../domain/drift.ts';
import type { Kube } from '../kube/client.ts';
import { KubeError } from '../kube/errors.ts';
import { putVmiSubresource } from '../kube/virtApi.ts';
import type { Db } from '../store/db.ts';
import { requestRepair } from '../store/work.ts';
import { refreshStatus } from '../service/status.ts';
import type { ObservedRow, VmiObservation } from '../store/observations.ts';

/**
 * After the VM is applied: pause it (desired suspended) or unpause it
 * (desired running, last seen paused). A VMI not running yet cannot be paused:
 * a transient conflict, so the row is tried again with backoff.
 */
export async function settlePause(kube: Kube, namespace: string, row: { name: string; desired: string; obs_paused: boolean }, timeoutMs: number): Promise<void> {
  if (row.desired === 'suspended') {
    const r = await putVmiSubresource(kube.config, namespace, row.name, 'pause', timeoutMs);
    if (r === 'done' || r === 'already') return;
    throw new KubeError('conflict', `the VM is not running yet (${r}); it is paused once it runs`, 409);
  }
  if (row.desired === 'running' && row.obs_paused) {
    await putVmiSubresource(kube.config, namespace, row.name, 'unpause', timeoutMs); // not paused or not running: nothing to undo
  }
}

/**
 * What the observer does with one VMI event (gone: it was deleted). `record`
 * stores the observation with the status (recordVmiObservation, or the
 * observer's group commit of it) and answers the row as it left it.
 */
export async function observeVmi(
  d: { db: Db; record: (id: number, o: VmiObservation) => Promise<ObservedRow | null>; wake?: () => void },
  id: number,
  vmi: LiveObject,
  gone: boolean,
): Promise<{ ip: string | null; node: string | null }> {
  const { db, wake } = d;
  const a = gone ? { ip: null, node: null } : vmiAddress(vmi);
  const state = gone ? null : vmiPauseState(vmi);
  const row = await d.record(id, { ...a, paused: state?.paused ?? false, restart: gone ? null : vmiRestartCount(vmi) });
  if (!row || row.desired_gen !== row.synced_gen) return a; // gone, or a change is on its way anyway
  const action = pauseAction(row.desired as Desired, state);
  if (!action) return a;
  const why = action === 'pause' ? 'VirtualMachineInstance is running unpaused; the instance is suspended' : 'VirtualMachineInstance is paused; the instance should run';
  const asked = await db.transaction(async (tx) => {
    const n = await requestRepair(tx, 'instances', id, row.synced_gen, why);
    if (n > 0) await refreshStatus(tx, id);
    return n;
  });
  if (asked > 0) wake?.();
  return a;
}
