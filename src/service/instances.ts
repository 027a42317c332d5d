// Use cases for single instances.
import { instanceConvergence, type Convergence } from '../domain/convergence.ts';
import { compatibleStatus } from '../domain/compatibleStatus.ts';
import { busy, conflict, notFound } from '../domain/errors.ts';
import { planTransition, type Operation } from '../domain/lifecycle.ts';
import * as instances from '../store/instances.ts';
import { activeRestore } from '../store/snapshots.ts';
import { refreshStatus } from './status.ts';
import { ownerScope, type Principal, type Services } from './context.ts';
import { recordInstanceChange } from './history.ts';
import { instanceView } from './views.ts';

// An instance of a cluster being deleted is gone to its owner, as the cluster is.
const instanceNotFound = (id: number) => notFound(`Instance with id ${id}`);

export async function getInstance(s: Services, p: Principal, id: number) {
  const row = await instances.findInstance(s.db, id, ownerScope(p));
  if (!row || row.cluster_state === 'deleting') throw instanceNotFound(id);
  return instanceView(row);
}

/** Why an instance cannot be operated while a restore is under way (the request's refusal and its quote's reason). */
export const restoreBlocksOperation = (name: string, r: { id: number; phase: string; resume: string }) =>
  `Instance '${name}' is being restored from a snapshot (restore ${r.id}, ${r.phase}); it returns to ${r.resume} once restored`;

export async function operateInstance(s: Services, p: Principal, id: number, operation: Operation) {
  const out = await s.db.transaction(async (tx) => {
    const row = await instances.findInstance(tx, id, ownerScope(p), { lock: true });
    if (!row || row.cluster_state === 'deleting') throw instanceNotFound(id);
    const restoring = await activeRestore(tx, id);
    if (restoring) throw busy(restoreBlocksOperation(row.name, restoring));
    const plan = planTransition(operation, row.desired, compatibleStatus(row.status, row.desired));
    if (!plan.ok) throw conflict(plan.reason);
    await instances.setDesired(tx, id, plan.desired, row.status, { restart: operation === 'restart' });
    await recordInstanceChange(tx, p, id, `asked ${row.name} to ${operation}`, { operation, from: row.desired, to: plan.desired });
    const status = await refreshStatus(tx, id);
    return { row, desired: plan.desired, phase: status ?? row.status };
  });
  s.wake();
  return {
    message: `Instance '${out.row.name}': ${operation} accepted`,
    detail: {
      instance_id: id,
      instance_name: out.row.name,
      // The Python service's keys; status and phase as on the instance now (phase: the precise one).
      previous_status: compatibleStatus(out.row.status, out.row.desired),
      new_status: out.desired,
      status: compatibleStatus(out.phase, out.desired),
      phase: out.phase,
    },
  };
}

/** For ?wait: the instance as it is now, judged by src/domain/convergence.ts. */
export async function instanceConverged(s: Services, id: number): Promise<Convergence> {
  return instanceConvergence(await instances.findInstance(s.db, id, null));
}
