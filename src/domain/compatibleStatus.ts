// The `status` the v1 API shows: one of the five values the earlier Python
// service's enum allowed, so clients generated from its OpenAPI document keep
// parsing every answer. The precise state (lifecycle.ts's ten) is shown as
// `phase`. Each richer state is shown as what the Python service said at that
// point: it reported an accepted stop or suspend at once as its target, and a
// workload on its way up as pending.
import type { Desired, InstanceStatus } from './lifecycle.ts';

export const COMPATIBLE_STATUSES = ['pending', 'running', 'stopped', 'suspended', 'failed'] as const;
export type CompatibleStatus = (typeof COMPATIBLE_STATUSES)[number];

/** Where a transitional state is headed, as a compatible status (a running target is still pending). */
const headedTo = (desired: Desired): CompatibleStatus => (desired === 'stopped' || desired === 'suspended' ? desired : 'pending');

export function compatibleStatus(phase: InstanceStatus, desired: Desired): CompatibleStatus {
  switch (phase) {
    case 'pending':
    case 'running':
    case 'stopped':
    case 'suspended':
    case 'failed':
      return phase;
    case 'provisioning':
    case 'starting':
      return 'pending';
    case 'stopping':
    case 'repairing':
      return headedTo(desired);
    case 'deleting':
      return 'stopped';
  }
}
