// A cluster's isolation checks (GET /api/v1/clusters/{id}/isolation): each
// check with pass or fail, what was seen, and who repairs a failure —
// KubeKloud by itself (automatic) or a person (manual).
import { useCallback, useEffect, useState } from 'react';
import { get, type IsolationReport } from './api.ts';
import { Alert, when } from './ui.tsx';

const REPAIR: Record<string, string> = {
  automatic: 'KubeKloud repairs this by itself, usually within seconds',
  // Tenants have no Kubernetes credentials: someone with access to the cluster removes it.
  manual: 'Not made by KubeKloud, which does not remove it: ask your platform operators to',
};

/** `status`: the cluster's status; the checks run again whenever it moves (a namespace just created, a change applied). */
export function Isolation(props: { clusterId: number; status: string }) {
  const [report, setReport] = useState<IsolationReport | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [checking, setChecking] = useState(false);
  const check = useCallback(async () => {
    setChecking(true);
    try {
      setReport(await get<IsolationReport>(`/api/v1/clusters/${props.clusterId}/isolation`));
      setError(null);
    } catch (err) {
      setError(err);
    } finally {
      setChecking(false);
    }
  }, [props.clusterId]);
  useEffect(() => {
    void check();
  }, [check, props.status]);

  return (
    <section aria-labelledby="isolation-heading" data-isolation={report ? (report.passed ? 'passed' : 'failing') : 'unknown'}>
      <h2 id="isolation-heading">Isolation</h2>
      {error !== null && <Alert error={error} />}
      {report && (
        <p className="small muted">
          {report.passed ? 'Every check passed' : `${report.failing} check(s) failing`}, checked live at {when(report.checked_at)}
          {report.converging ? ' — a change is still being applied, so KubeKloud\u2019s own objects may differ until it is' : ''}.
        </p>
      )}
      {report && (
        <div className="table-wrap">
          <table className="list">
            <thead>
              <tr>
                <th scope="col">Check</th>
                <th scope="col">Result</th>
                <th scope="col">Evidence</th>
              </tr>
            </thead>
            <tbody>
              {report.checks.map((c) => (
                <tr key={c.name} data-check={c.name} data-passed={String(c.passed)}>
                  <th scope="row" data-label="Check">{c.name.replace(/_/g, ' ')}</th>
                  <td data-label="Result">
                    <span className={`status status-${c.passed ? 'ok' : 'bad'}`}>{c.passed ? 'pass' : 'fail'}</span>
                  </td>
                  <td data-label="Evidence">
                    {c.evidence}
                    {!c.passed && <div className="small muted">{REPAIR[c.repair]}</div>}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <button type="button" className="small" disabled={checking} onClick={() => void check()}>
        {checking ? 'Checking…' : 'Check again'}
      </button>
    </section>
  );
}
