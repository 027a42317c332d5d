// A cluster's status summarises its instances.
import type { InstanceStatus } from './lifecycle.ts';

export type ClusterStatus = 'pending' | 'provisioning' | 'running' | 'stopped' | 'suspended' | 'degraded' | 'deleting';

export function summariseCluster(state: 'active' | 'deleting', statuses: InstanceStatus[]): ClusterStatus {
  if (state === 'deleting') return 'deleting';
  const live = statuses.filter((s) => s !== 'deleting');
  if (live.length === 0) return 'pending';
  if (live.some((s) => s === 'failed')) return 'degraded';
  if (live.every((s) => s === 'running')) return 'running';
  if (live.every((s) => s === 'suspended')) return 'suspended';
  if (live.every((s) => s === 'stopped' || s === 'suspended')) return 'stopped';
  if (live.every((s) => s === 'pending')) return 'pending';
  return 'provisioning';
}
