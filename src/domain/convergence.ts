// When has a change arrived? One answer for the server's `?wait=` and the CLI's
// `--wait`, so "converged" means the same wherever a client asks.
//
// An instance has converged when it is what it was last asked to be (its
// desired state). Judging against each instance's own desired state, rather
// than against the target of the request, is what makes the answer right when
// instances differ: a stopped instance that `resume` or a scale-out left alone
// is where it should be, and so is one that `suspend` skipped because it was
// stopped; an instance moved again by a later request converges to that
// request (the state machine's rule, src/domain/lifecycle.ts). Anything else
// on the way ('pending', 'provisioning', 'starting', 'stopping', 'repairing',
// 'deleting') is waiting; 'failed' will not get better by waiting.
import type { InstanceStatus } from './lifecycle.ts';

export type Convergence = 'converged' | 'failed' | 'waiting';

/**
 * What a request asked of a cluster: its instances running or suspended, or
 * the cluster gone. 'running' and 'suspended' are judged alike, each instance
 * against its own desired state (see above); they differ from 'gone'.
 */
export type ConvergenceTarget = 'running' | 'suspended' | 'gone';

/** An instance as the judgement needs it: what it was last asked to be, and what it is. */
export type InstanceState = { desired: string; status: InstanceStatus };

/** A cluster as the judgement needs it. */
export type ClusterState = {
  state: 'active' | 'deleting';
  instance_count: number;
  /** All its instance rows, those being removed (desired 'deleted') included. */
  instances: readonly InstanceState[];
  /** Its last live change (src/domain/rollout.ts): still rolling, done, failed; null when never changed. */
  rollout?: 'rolling' | 'done' | 'failed' | null;
};

/** One instance; null when it no longer exists (it will never arrive). */
export function instanceConvergence(i: InstanceState | null): Convergence {
  if (i === null || i.status === 'failed') return 'failed';
  return i.status === i.desired ? 'converged' : 'waiting';
}

/**
 * A cluster (null: it no longer exists) against what a request asked of it.
 * Converged: every instance it keeps is at its desired state, the instances a
 * scale-in removes are gone, it has as many as it should, and a live change
 * has rolled over all of them. Failed: an instance it keeps failed, the roll
 * failed, or the cluster is gone or being deleted while the request wanted it
 * running or suspended.
 */
export function clusterConvergence(c: ClusterState | null, target: ConvergenceTarget): Convergence {
  if (target === 'gone') return c === null ? 'converged' : 'waiting';
  if (c === null || c.state === 'deleting') return 'failed';
  const kept = c.instances.filter((i) => i.desired !== 'deleted');
  const each = kept.map(instanceConvergence);
  if (each.includes('failed') || c.rollout === 'failed') return 'failed';
  if (c.rollout === 'rolling') return 'waiting'; // instances still to roll are running, on the old spec
  if (kept.length !== c.instances.length) return 'waiting'; // a scale-in is still removing instances
  if (kept.length !== c.instance_count) return 'waiting';
  return each.every((e) => e === 'converged') ? 'converged' : 'waiting';
}
