// The 'repairing' status (deriveStatus with `drift`): shown only while an
// instance is not where it was asked to be; a failure and a delete win over it.
// Also how a repairing instance reads in a cluster summary and the API schema.
import { describe, expect, it } from 'vitest';
import { Value } from 'typebox/value';
import { summariseCluster } from '../../src/domain/clusterStatus.ts';
import { deriveStatus, INSTANCE_STATUSES, type Desired, type InstanceKind, type Observed, type StatusInputs } from '../../src/domain/lifecycle.ts';
import { InstancePhase, InstanceStatus } from '../../src/contract/schemas.ts';

const none: Observed = { present: false, phase: null, ready: false, vmStatus: null };
const pod = (phase: string, ready = phase === 'Running'): Observed => ({ present: true, phase, ready, vmStatus: null });
const vm = (vmStatus: string, ready = vmStatus === 'Running'): Observed => ({ present: true, phase: null, ready, vmStatus });
const DRIFT = 'StatefulSet kk-7-web/web-1 was changed outside KubeKloud (spec.replicas)';
const inputs = (over: Partial<StatusInputs>): StatusInputs => ({ kind: 'container', desired: 'running', applied: true, observed: none, failure: null, drift: DRIFT, ...over });

describe('an instance being repaired', () => {
  it('shows repairing instead of starting while its workload is not back', () => {
    expect(deriveStatus(inputs({ drift: null }))).toBe('starting');
    expect(deriveStatus(inputs({}))).toBe('repairing');
    expect(deriveStatus(inputs({ observed: pod('Running', false) }))).toBe('repairing');
  });
  it('keeps running when the drift left it running', () => {
    expect(deriveStatus(inputs({ observed: pod('Running') }))).toBe('running');
    expect(deriveStatus(inputs({ kind: 'vm', observed: vm('Running') }))).toBe('running');
  });
  it('shows repairing while a stopped instance has a pod someone started', () => {
    expect(deriveStatus(inputs({ desired: 'stopped', observed: pod('Running'), drift: null }))).toBe('stopping');
    expect(deriveStatus(inputs({ desired: 'stopped', observed: pod('Running') }))).toBe('repairing');
    expect(deriveStatus(inputs({ kind: 'vm', desired: 'stopped', observed: vm('Running') }))).toBe('repairing');
  });
  it('keeps stopped and suspended when nothing runs', () => {
    expect(deriveStatus(inputs({ desired: 'stopped' }))).toBe('stopped');
    expect(deriveStatus(inputs({ desired: 'suspended' }))).toBe('suspended');
    // A suspended VM runs, paused: one found halted is being repaired; one paused is suspended.
    expect(deriveStatus(inputs({ kind: 'vm', desired: 'suspended', observed: vm('Stopped', false) }))).toBe('repairing');
    expect(deriveStatus(inputs({ kind: 'vm', desired: 'suspended', observed: { ...vm('Paused', false), paused: true } }))).toBe('suspended');
  });
  it('shows repairing for a VM halted behind our back', () => {
    expect(deriveStatus(inputs({ kind: 'vm', observed: vm('Stopped', false) }))).toBe('repairing');
  });
  it('shows repairing while a workload broken by the drift (a bad image) is being put back', () => {
    expect(deriveStatus(inputs({ observed: pod('Failed', false), drift: null }))).toBe('failed');
    expect(deriveStatus(inputs({ observed: pod('Failed', false) }))).toBe('repairing');
    expect(deriveStatus(inputs({ kind: 'vm', observed: vm('ErrImagePull', false) }))).toBe('repairing');
  });
  it('shows failed when the repair itself was rejected (failure wins)', () => {
    expect(deriveStatus(inputs({ failure: 'Kubernetes rejected the StatefulSet: forbidden' }))).toBe('failed');
    expect(deriveStatus(inputs({ kind: 'vm', failure: 'rejected', observed: vm('Running') }))).toBe('failed');
  });
  it('shows deleting once the instance is being deleted (deleted wins)', () => {
    expect(deriveStatus(inputs({ desired: 'deleted' }))).toBe('deleting');
    expect(deriveStatus(inputs({ desired: 'deleted', failure: 'rejected' }))).toBe('deleting');
    expect(deriveStatus(inputs({ kind: 'vm', desired: 'deleted', observed: vm('Running') }))).toBe('deleting');
  });
  it('treats no drift, a null drift and an empty reason alike', () => {
    for (const drift of [undefined, null, '']) expect(deriveStatus(inputs({ drift }))).toBe('starting');
  });
});

describe('repairing across every input', () => {
  const kinds: InstanceKind[] = ['container', 'vm'];
  const desireds: Desired[] = ['running', 'stopped', 'suspended', 'deleted'];
  const observations: Observed[] = [none, pod('Pending', false), pod('Running', false), pod('Running'), pod('Failed', false), vm('Running'), vm('Starting', false), vm('Stopped', false), vm('CrashLoopBackOff', false)];
  const cases = kinds.flatMap((kind) =>
    desireds.flatMap((desired) => [true, false].flatMap((applied) => [null, 'x'].flatMap((failure) => observations.map((observed) => ({ kind, desired, applied, failure, observed }))))),
  );
  it('is the status without drift, unless that status is not the desired one, a failure or a delete', () => {
    for (const c of cases) {
      const without = deriveStatus({ ...c, drift: null });
      const withDrift = deriveStatus({ ...c, drift: DRIFT });
      const expected = c.desired === 'deleted' || c.failure || without === c.desired ? without : 'repairing';
      expect([c, withDrift]).toEqual([c, expected]);
    }
  });
  it('never appears without drift', () => {
    for (const c of cases) expect(deriveStatus({ ...c, drift: null })).not.toBe('repairing');
  });
});

describe('repairing elsewhere', () => {
  it('is one of the phases the API documents, shown in status as a Python client expects', () => {
    expect(INSTANCE_STATUSES).toContain('repairing');
    expect(Value.Check(InstancePhase, 'repairing')).toBe(true);
    expect(Value.Check(InstancePhase, 'healing')).toBe(false);
    expect(Value.Check(InstanceStatus, 'repairing')).toBe(false);
  });
  it('counts as work under way in a cluster summary, not as running or degraded', () => {
    expect(summariseCluster('active', ['running', 'repairing'])).toBe('provisioning');
    expect(summariseCluster('active', ['repairing'])).toBe('provisioning');
    expect(summariseCluster('active', ['repairing', 'failed'])).toBe('degraded');
    expect(summariseCluster('deleting', ['repairing'])).toBe('deleting');
  });
});
