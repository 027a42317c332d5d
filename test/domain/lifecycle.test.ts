import { describe, expect, it } from 'vitest';
import { summariseCluster } from '../../src/domain/clusterStatus.ts';
import { deriveStatus, pauseAction, planTransition, type Observed, type StatusInputs } from '../../src/domain/lifecycle.ts';

describe('operations are judged against the desired state', () => {
  it.each([
    ['start', 'stopped', 'running'],
    ['stop', 'running', 'stopped'],
    ['suspend', 'running', 'suspended'],
    ['resume', 'suspended', 'running'],
    ['restart', 'running', 'running'],
  ] as const)('%s from %s heads to %s', (op, from, to) => {
    expect(planTransition(op, from, 'running')).toEqual({ ok: true, desired: to });
  });
  it.each([
    ['start', 'running'],
    ['stop', 'stopped'],
    ['stop', 'suspended'],
    ['suspend', 'stopped'],
    ['resume', 'running'],
    ['restart', 'stopped'],
  ] as const)('refuses %s when desired is %s, naming the current status', (op, desired) => {
    const r = planTransition(op, desired, 'stopping');
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toContain("status 'stopping'");
  });
  it('accepts stop then start at once, converging to the latest request', () => {
    const stop = planTransition('stop', 'running', 'running');
    expect(stop).toEqual({ ok: true, desired: 'stopped' });
    expect(planTransition('start', 'stopped', 'stopping')).toEqual({ ok: true, desired: 'running' });
  });
  it('refuses everything on an instance being deleted', () => {
    expect(planTransition('start', 'deleted', 'deleting').ok).toBe(false);
  });
});

const none: Observed = { present: false, phase: null, ready: false, vmStatus: null };
const base = (over: Partial<StatusInputs>): StatusInputs => ({ kind: 'container', desired: 'running', applied: false, observed: none, failure: null, ...over });

describe('status derivation', () => {
  it('is pending before anything is applied, starting after', () => {
    expect(deriveStatus(base({}))).toBe('pending');
    expect(deriveStatus(base({ applied: true }))).toBe('starting');
  });
  it('is running only when the pod runs and is ready', () => {
    expect(deriveStatus(base({ applied: true, observed: { ...none, present: true, phase: 'Running', ready: false } }))).toBe('starting');
    expect(deriveStatus(base({ applied: true, observed: { ...none, present: true, phase: 'Running', ready: true } }))).toBe('running');
  });
  it('is stopping while the pod still exists, stopped once gone', () => {
    const pod = { ...none, present: true, phase: 'Running', ready: true };
    expect(deriveStatus(base({ desired: 'stopped', applied: true, observed: pod }))).toBe('stopping');
    expect(deriveStatus(base({ desired: 'stopped', applied: true }))).toBe('stopped');
    expect(deriveStatus(base({ desired: 'suspended', applied: true }))).toBe('suspended');
  });
  it('shows failures with priority, and deleting above all', () => {
    expect(deriveStatus(base({ failure: 'rejected' }))).toBe('failed');
    expect(deriveStatus(base({ applied: true, observed: { ...none, present: true, phase: 'Failed' } }))).toBe('failed');
    expect(deriveStatus(base({ desired: 'deleted', failure: 'x' }))).toBe('deleting');
  });
  it('reads VirtualMachine printableStatus', () => {
    const vm = (vmStatus: string, ready = false) => base({ kind: 'vm', applied: true, observed: { ...none, present: true, vmStatus, ready } });
    expect(deriveStatus(vm('Running', true))).toBe('running');
    expect(deriveStatus(vm('Starting'))).toBe('starting');
    expect(deriveStatus(vm('ErrImagePull'))).toBe('failed');
    expect(deriveStatus({ ...vm('Running', true), desired: 'stopped' })).toBe('stopping');
    expect(deriveStatus({ ...vm('Stopped'), desired: 'stopped' })).toBe('stopped');
  });
  it('a VM is running only on a VMI made for its current restart generation', () => {
    const vm = (vmiRestart: number | null, restartCount: number) =>
      base({ kind: 'vm', applied: true, restartCount, observed: { ...none, present: true, vmStatus: 'Running', ready: true, vmiRestart } });
    expect(deriveStatus(vm(2, 2))).toBe('running');
    expect(deriveStatus(vm(1, 2))).toBe('starting'); // restarted or rolled: the old VMI still runs
    expect(deriveStatus(vm(null, 1))).toBe('starting'); // restarted, no new VMI seen yet
    expect(deriveStatus(vm(null, 0))).toBe('running'); // never restarted: a VMI without a generation (adopted) is its own
  });
  it('a VM whose root disk is being imported is provisioning; a failed import fails it', () => {
    const vm = (vmStatus: string | null, diskPhase: string | null, desired: 'running' | 'stopped' = 'running') =>
      base({ kind: 'vm', desired, applied: true, observed: { ...none, present: vmStatus !== null, vmStatus, diskPhase } });
    expect(deriveStatus(vm('Provisioning', 'ImportInProgress'))).toBe('provisioning');
    expect(deriveStatus(vm(null, 'ImportScheduled'))).toBe('provisioning'); // the VM's status not written yet
    expect(deriveStatus(vm('Starting', 'Succeeded'))).toBe('starting');
    expect(deriveStatus({ ...vm('Running', 'Succeeded'), observed: { ...none, present: true, vmStatus: 'Running', ready: true, diskPhase: 'Succeeded' } })).toBe('running');
    expect(deriveStatus(vm('DataVolumeError', 'Failed'))).toBe('failed');
    expect(deriveStatus(vm('Provisioning', 'Failed'))).toBe('failed');
    expect(deriveStatus(vm('Stopped', 'ImportInProgress', 'stopped'))).toBe('stopped'); // a stopped VM's disk imports unseen
  });
  it("a VM is suspended when its VMI is paused (it keeps running), whatever it was asked to be", () => {
    const vm = (vmStatus: string, paused: boolean, desired: 'running' | 'suspended' | 'stopped') =>
      base({ kind: 'vm', desired, applied: true, observed: { ...none, present: true, vmStatus, ready: true, paused } });
    expect(deriveStatus(vm('Paused', true, 'suspended'))).toBe('suspended');
    expect(deriveStatus(vm('Running', true, 'suspended'))).toBe('suspended'); // the VM's printableStatus not caught up yet
    expect(deriveStatus(vm('Running', false, 'suspended'))).toBe('running'); // asked, not paused yet: waiting
    expect(deriveStatus(vm('Paused', true, 'running'))).toBe('suspended'); // resumed, not unpaused yet: waiting
    expect(deriveStatus(vm('Running', false, 'running'))).toBe('running');
    expect(deriveStatus(vm('Paused', true, 'stopped'))).toBe('stopping');
  });
  it('pauses a running VMI of a suspended VM and unpauses a paused one of a running VM, and nothing else', () => {
    expect(pauseAction('suspended', { running: true, paused: false })).toBe('pause');
    expect(pauseAction('running', { running: true, paused: true })).toBe('unpause');
    expect(pauseAction('suspended', { running: true, paused: true })).toBeNull();
    expect(pauseAction('running', { running: true, paused: false })).toBeNull();
    expect(pauseAction('suspended', { running: false, paused: false })).toBeNull(); // not running yet: the reconciler retries
    expect(pauseAction('suspended', null)).toBeNull();
    expect(pauseAction('stopped', { running: true, paused: true })).toBeNull(); // Halted deletes the VMI anyway
  });
});

describe('cluster status', () => {
  it('summarises its instances', () => {
    expect(summariseCluster('active', ['running', 'running'])).toBe('running');
    expect(summariseCluster('active', ['running', 'starting'])).toBe('provisioning');
    expect(summariseCluster('active', ['stopped', 'suspended'])).toBe('stopped');
    expect(summariseCluster('active', ['suspended'])).toBe('suspended');
    expect(summariseCluster('active', ['running', 'failed'])).toBe('degraded');
    expect(summariseCluster('active', [])).toBe('pending');
    expect(summariseCluster('deleting', ['running'])).toBe('deleting');
  });
});
