// API10 unsafe consumption of APIs: what Kubernetes reports about pods and
// VirtualMachines is validated and length-capped before it is stored or returned.
import { describe, expect, it } from 'vitest';
import { observePod, observeVm, vmiAddress } from '../../src/domain/observations.ts';

const huge = 'A'.repeat(100_000);
const hostile = `${huge}\u0000\u001b[31m<script>`;

describe('status read from Kubernetes', () => {
  it('caps and cleans pod phase, messages, conditions, address and node', () => {
    const o = observePod({
      metadata: { name: 'p' },
      spec: { nodeName: huge },
      status: {
        phase: hostile,
        podIP: 'http://169.254.169.254/latest',
        conditions: Array.from({ length: 1000 }, () => ({ type: hostile, status: hostile, reason: hostile, message: hostile })),
        containerStatuses: [{ state: { waiting: { reason: 'Custom', message: hostile } } }],
      },
    });
    expect(o.phase!.length).toBeLessThanOrEqual(32);
    expect(o.ip).toBeNull();
    expect(o.node!.length).toBeLessThanOrEqual(253);
    expect(o.message!.length).toBeLessThanOrEqual(500);
    expect(o.message).not.toMatch(/[\u0000-\u001f]/);
    expect(o.conditions!.length).toBeLessThanOrEqual(10);
    expect(JSON.stringify(o).length).toBeLessThan(40_000);
  });

  it('ignores fields of the wrong type instead of storing them', () => {
    const o = observePod({ metadata: { name: 'p' }, spec: { nodeName: { evil: true } }, status: { phase: 42, podIP: ['10.0.0.1'], conditions: 'nope' } } as never);
    expect(o).toMatchObject({ phase: null, ip: null, node: null, ready: false, conditions: [] });
  });

  it('caps a VirtualMachine status and accepts only addresses from its VMI', () => {
    const vm = observeVm({ metadata: { name: 'v' }, status: { printableStatus: hostile, ready: 'yes', conditions: [{ type: 'Ready', status: 'False', message: hostile }] } });
    expect(vm.vmStatus!.length).toBeLessThanOrEqual(64);
    expect(vm.ready).toBe(false);
    expect(vm.message!.length).toBeLessThanOrEqual(500);
    expect(vmiAddress({ metadata: { name: 'v' }, status: { nodeName: huge, interfaces: [{ ipAddress: 'not an ip; rm -rf' }, { ipAddress: '10.244.0.7' }] } })).toEqual({
      ip: '10.244.0.7',
      node: huge.slice(0, 253),
    });
  });
});
