import { describe, expect, it } from 'vitest';
import { COMPATIBLE_STATUSES, compatibleStatus } from '../../src/domain/compatibleStatus.ts';
import { INSTANCE_STATUSES, type Desired } from '../../src/domain/lifecycle.ts';

const DESIRED: Desired[] = ['running', 'stopped', 'suspended', 'deleted'];

describe('the status a client of the Python service sees', () => {
  it('is always one of the five values of the Python enum', () => {
    for (const phase of INSTANCE_STATUSES) for (const desired of DESIRED) expect(COMPATIBLE_STATUSES).toContain(compatibleStatus(phase, desired));
  });

  it('keeps the five shared values as they are', () => {
    for (const s of COMPATIBLE_STATUSES) expect(compatibleStatus(s, 'running')).toBe(s);
  });

  it('shows a workload on its way up as pending', () => {
    expect(compatibleStatus('starting', 'running')).toBe('pending');
    expect(compatibleStatus('provisioning', 'running')).toBe('pending');
    expect(compatibleStatus('repairing', 'running')).toBe('pending');
  });

  it('shows an accepted stop or suspend as its target at once, as the Python service did', () => {
    expect(compatibleStatus('stopping', 'stopped')).toBe('stopped');
    expect(compatibleStatus('stopping', 'suspended')).toBe('suspended');
    expect(compatibleStatus('repairing', 'suspended')).toBe('suspended');
  });

  it('shows an instance being removed as stopped', () => {
    expect(compatibleStatus('deleting', 'deleted')).toBe('stopped');
  });
});
