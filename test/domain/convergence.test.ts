// "Converged", one definition for the server's ?wait= and the CLI's --wait
// (src/domain/convergence.ts): every instance a cluster keeps is what it was
// last asked to be, scale-in done, none failed; 'gone' once the cluster is.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { clusterConvergence, instanceConvergence, type ClusterState, type InstanceState } from '../../src/domain/convergence.ts';
import { INSTANCE_STATUSES, type Desired, type InstanceStatus } from '../../src/domain/lifecycle.ts';

const at = (desired: Desired, status: InstanceStatus = desired === 'deleted' ? 'deleting' : desired): InstanceState => ({ desired, status });
const cluster = (instances: InstanceState[], over: Partial<ClusterState> = {}): ClusterState => ({
  state: 'active',
  instance_count: instances.filter((i) => i.desired !== 'deleted').length,
  instances,
  ...over,
});

describe('an instance', () => {
  it('has converged when it is what it was last asked to be', () => {
    expect(instanceConvergence(at('running'))).toBe('converged');
    expect(instanceConvergence(at('stopped'))).toBe('converged');
    expect(instanceConvergence(at('suspended'))).toBe('converged');
  });
  it('is waiting on the way there, being repaired included', () => {
    for (const status of ['pending', 'starting', 'stopping', 'repairing'] as const) expect(instanceConvergence(at('running', status))).toBe('waiting');
    expect(instanceConvergence(at('stopped', 'stopping'))).toBe('waiting');
    expect(instanceConvergence(at('stopped', 'repairing'))).toBe('waiting');
    expect(instanceConvergence(at('deleted'))).toBe('waiting');
  });
  it('has failed when it failed, whatever it was asked, or when it no longer exists', () => {
    expect(instanceConvergence(at('running', 'failed'))).toBe('failed');
    expect(instanceConvergence(at('stopped', 'failed'))).toBe('failed');
    expect(instanceConvergence(null)).toBe('failed');
  });
});

describe('a cluster, running or suspended as asked', () => {
  it('has converged when every instance is running', () => {
    expect(clusterConvergence(cluster([at('running'), at('running')]), 'running')).toBe('converged');
  });
  it('waits for instances still starting or being repaired', () => {
    expect(clusterConvergence(cluster([at('running'), at('running', 'starting')]), 'running')).toBe('waiting');
    expect(clusterConvergence(cluster([at('running'), at('running', 'pending')]), 'running')).toBe('waiting');
    expect(clusterConvergence(cluster([at('running'), at('running', 'repairing')]), 'running')).toBe('waiting');
  });
  it('waits while a live change is still rolling over instances that run the old spec, and fails with a failed roll', () => {
    const all = [at('running'), at('running')];
    expect(clusterConvergence(cluster(all, { rollout: 'rolling' }), 'running')).toBe('waiting');
    expect(clusterConvergence(cluster(all, { rollout: 'done' }), 'running')).toBe('converged');
    expect(clusterConvergence(cluster(all, { rollout: 'failed' }), 'running')).toBe('failed');
    expect(clusterConvergence(cluster([at('running'), at('running', 'provisioning')]), 'running')).toBe('waiting');
  });
  it('is not held up by an instance someone stopped or suspended on purpose (resume, scale-out)', () => {
    // The CLI used to wait for the cluster's summary, which says 'provisioning' for running + stopped: it never converged.
    expect(clusterConvergence(cluster([at('running'), at('stopped')]), 'running')).toBe('converged');
    expect(clusterConvergence(cluster([at('running'), at('suspended')]), 'running')).toBe('converged');
    expect(clusterConvergence(cluster([at('running'), at('stopped', 'stopping')]), 'running')).toBe('waiting');
  });
  it('suspended: converged when the instances suspend acted on are suspended and the stopped ones it skipped stay stopped', () => {
    // The server used to wait for every instance to be 'suspended': a skipped stopped instance ran the wait out.
    expect(clusterConvergence(cluster([at('suspended'), at('stopped')]), 'suspended')).toBe('converged');
    expect(clusterConvergence(cluster([at('suspended'), at('suspended', 'stopping')]), 'suspended')).toBe('waiting');
  });
  it('fails as soon as an instance it keeps failed, even while others are still on their way', () => {
    expect(clusterConvergence(cluster([at('running', 'starting'), at('running', 'failed')]), 'running')).toBe('failed');
    expect(clusterConvergence(cluster([at('suspended'), at('stopped', 'failed')]), 'suspended')).toBe('failed');
  });
  it('does not fail for a failed instance a scale-in is removing', () => {
    expect(clusterConvergence(cluster([at('running'), at('deleted', 'failed')]), 'running')).toBe('waiting');
  });
  it('waits until a scale-in has removed its instances', () => {
    expect(clusterConvergence(cluster([at('running'), at('deleted')]), 'running')).toBe('waiting');
    expect(clusterConvergence(cluster([at('running')]), 'running')).toBe('converged');
  });
  it('waits until it has as many instances as it should', () => {
    expect(clusterConvergence(cluster([at('running')], { instance_count: 2 }), 'running')).toBe('waiting');
  });
  it('fails when it is gone or being deleted: it will never be running', () => {
    expect(clusterConvergence(null, 'running')).toBe('failed');
    expect(clusterConvergence(null, 'suspended')).toBe('failed');
    expect(clusterConvergence(cluster([at('deleted'), at('deleted')], { state: 'deleting', instance_count: 2 }), 'running')).toBe('failed');
    // Even once every instance row is gone (the old server check called that converged).
    expect(clusterConvergence(cluster([], { state: 'deleting', instance_count: 2 }), 'suspended')).toBe('failed');
  });
});

describe('a cluster asked to go', () => {
  it('has converged once it no longer exists, and waits until then', () => {
    expect(clusterConvergence(null, 'gone')).toBe('converged');
    expect(clusterConvergence(cluster([at('deleted')], { state: 'deleting', instance_count: 1 }), 'gone')).toBe('waiting');
    expect(clusterConvergence(cluster([], { state: 'deleting', instance_count: 1 }), 'gone')).toBe('waiting');
    // A failed instance does not fail a delete: it is being removed too.
    expect(clusterConvergence(cluster([at('running', 'failed')]), 'gone')).toBe('waiting');
  });
});

describe('for any cluster', () => {
  const desired = fc.constantFrom<Desired>('running', 'stopped', 'suspended', 'deleted');
  const status = fc.constantFrom(...INSTANCE_STATUSES);
  const anyCluster = fc.record({
    state: fc.constantFrom<'active' | 'deleting'>('active', 'deleting'),
    instance_count: fc.integer({ min: 0, max: 6 }),
    instances: fc.array(fc.record({ desired, status }), { maxLength: 6 }),
  });

  it('converged means: active, no instance being removed, the right count, each instance at its desired state', () => {
    fc.assert(
      fc.property(anyCluster, fc.constantFrom('running' as const, 'suspended' as const), (c, target) => {
        const converged = clusterConvergence(c, target) === 'converged';
        const expected =
          c.state === 'active' && c.instances.length === c.instance_count && c.instances.every((i) => i.desired !== 'deleted' && i.status === i.desired);
        expect(converged).toBe(expected);
      }),
    );
  });

  it("'running' and 'suspended' are judged alike: each instance against its own desired state", () => {
    fc.assert(
      fc.property(anyCluster, (c) => {
        expect(clusterConvergence(c, 'suspended')).toBe(clusterConvergence(c, 'running'));
      }),
    );
  });

  it('failed means an instance it keeps failed, or it is being deleted', () => {
    fc.assert(
      fc.property(anyCluster, (c) => {
        const failed = clusterConvergence(c, 'running') === 'failed';
        expect(failed).toBe(c.state === 'deleting' || c.instances.some((i) => i.desired !== 'deleted' && i.status === 'failed'));
      }),
    );
  });
});
