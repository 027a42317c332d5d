import { useEffect, useState } from 'react';
import { get, type Quota } from '../api.ts';
import { Alert, fmt, PageTitle, UsageBar } from '../ui.tsx';

export function QuotaPage() {
  const [quota, setQuota] = useState<Quota | null>(null);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    get<Quota>('/api/v1/users/me/quota').then(setQuota, setError);
  }, []);
  return (
    <>
      <PageTitle>Quota</PageTitle>
      <Alert error={error} />
      {quota && (
        <div className="card">
          <UsageBar label="CPU" used={quota.used_cpu} total={quota.total_cpu} unit="cores" />
          <UsageBar label="Memory" used={quota.used_memory} total={quota.total_memory} unit="GB" />
          <UsageBar label="Instances" used={quota.used_instances} total={quota.total_instances} unit="" />
          {quota.total_storage_gb !== undefined && <UsageBar label="Storage" used={quota.used_storage_gb ?? 0} total={quota.total_storage_gb} unit="GB" />}
          {quota.total_load_balancers !== undefined && (
            <UsageBar label="Load balancers" used={quota.used_load_balancers ?? 0} total={quota.total_load_balancers} unit="" />
          )}
          <p className="small">
            Available: {fmt(quota.available_cpu)} CPU, {fmt(quota.available_memory)} GB, {quota.available_instances} instance(s)
            {quota.available_storage_gb !== undefined && `, ${quota.available_storage_gb} GB of storage`}
            {quota.available_load_balancers !== undefined && `, ${quota.available_load_balancers} load balancer(s)`}. An administrator sets the
            quota; every cluster reserves its whole size when created or scaled: each instance its volume, and each LoadBalancer Service (one per
            instance, one more for a cluster exposed as a whole) a load balancer.
          </p>
        </div>
      )}
    </>
  );
}
