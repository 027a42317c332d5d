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
          <p className="small">
            Available: {fmt(quota.available_cpu)} CPU, {fmt(quota.available_memory)} GB, {quota.available_instances} instance(s). An administrator
            sets the quota; every cluster reserves its whole size when created or scaled.
          </p>
        </div>
      )}
    </>
  );
}
