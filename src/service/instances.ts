// Use cases for single instances.
import { instanceConvergence, type Convergence } from '../domain/convergence.ts';
import { conflict, notFound } from '../domain/errors.ts';
import { planTransition, type Operation } from '../domain/lifecycle.ts';
import * as instances from '../store/instances.ts';
import { refreshStatus } from './status.ts';
import { ownerScope, type Principal, type Services } from './context.ts';
import { instanceView } from './views.ts';

export async function getInstance(s: Services, p: Principal, id: number) {
  const row = await instances.findInstance(s.db, id, ownerScope(p));
  if (!row) throw notFound('Instance');
  return instanceView(row);
}

export async function operateInstance(s: Services, p: Principal, id: number, operation: Operation) {
  const out = await s.db.transaction(async (tx) => {
    const row = await instances.findInstance(tx, id, ownerScope(p), { lock: true });
    if (!row) throw notFound('Instance');
    const plan = planTransition(operation, row.desired, row.status);
    if (!plan.ok) throw conflict(plan.reason);
    await instances.setDesired(tx, id, plan.desired, row.status, { restart: operation === 'restart' });
    const status = await refreshStatus(tx, id);
    return { row, desired: plan.desired, status };
  });
  s.wake();
  return {
    message: `Instance '${out.row.name}': ${operation} accepted`,
    detail: {
      instance_id: id,
      instance_name: out.row.name,
      previous_status: out.row.status,
      new_status: out.desired,
      status: out.status,
    },
  };
}

/** For ?wait: the instance as it is now, judged by src/domain/convergence.ts. */
export async function instanceConverged(s: Services, id: number): Promise<Convergence> {
  return instanceConvergence(await instances.findInstance(s.db, id, null));
}
