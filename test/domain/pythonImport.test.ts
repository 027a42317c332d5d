// The pure decisions of import-python: ordinals from the Python names, the
// desired state believed from Kubernetes, weak tokens, units.
import { describe, expect, it } from 'vitest';
import { assignOrdinals, clusterDemand, clusterProblem, desiredOf, isWeakToken, ordinalOf, pythonEnum } from '../../src/domain/pythonImport.ts';

const inst = (id: number, name: string) => ({ id, clusterId: 1, name, status: 'running', resourceName: name });
const cluster = { id: 1, name: 'web', namespace: 'web-ns', kind: 'container' as const, cpuPerInstance: 0.5, memoryPerInstance: 1.5, instanceCount: 2, ownerId: 1 };

describe('import-python decisions', () => {
  it('numbers instances from their Python names (0-based there, 1-based here), others after the highest', () => {
    expect(ordinalOf('web', 'web-instance-0')).toBe(1);
    expect(ordinalOf('web', 'web-instance-07')).toBeNull();
    expect(ordinalOf('web', 'other-instance-0')).toBeNull();
    const o = assignOrdinals('web', [inst(1, 'web-instance-1'), inst(2, 'odd'), inst(3, 'web-instance-0')]);
    expect([o.get(1), o.get(2), o.get(3)]).toEqual([2, 3, 1]);
  });
  it('keeps what runs running and what is stopped stopped; a vanished workload comes back unless parked', () => {
    expect(desiredOf('vm', 'running', { present: true, kind: 'vm', running: true })).toBe('running');
    expect(desiredOf('vm', 'running', { present: true, kind: 'vm', running: false })).toBe('stopped');
    expect(desiredOf('vm', 'suspended', { present: true, kind: 'vm', running: false })).toBe('suspended');
    expect(desiredOf('container', 'stopped', { present: true, kind: 'container' })).toBe('running');
    expect(desiredOf('container', 'suspended', { present: false })).toBe('suspended');
    expect(desiredOf('container', 'failed', { present: false })).toBe('running');
  });
  it('reports tokens under 16 characters as weak, reads enum names, converts units, refuses names KubeKloud cannot take', () => {
    expect(isWeakToken('bob-tok')).toBe(true);
    expect(isWeakToken('a'.repeat(16))).toBe(false);
    expect(pythonEnum('CONTAINER')).toBe('container');
    expect(clusterDemand(cluster, 2)).toEqual({ cpuMilli: 1000, memoryMib: 3072, instances: 2, storageGb: 0, loadBalancers: 0 });
    expect(clusterProblem(cluster)).toBeNull();
    expect(clusterProblem({ ...cluster, name: 'Web_1' })).toMatch(/DNS-1123/);
  });
});
