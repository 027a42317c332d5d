// A cluster's history: changes and who made them, status transitions, drift
// repaired and schedule runs, newest first (GET /api/v1/clusters/{id}/history).
import { useEffect, useState } from 'react';
import { get, type HistoryList } from './api.ts';
import { Alert, when } from './ui.tsx';

const KINDS = ['change', 'status', 'repair', 'schedule'] as const;
const PAGE = 50;

export function History(props: { clusterId: number }) {
  const [kind, setKind] = useState<'' | (typeof KINDS)[number]>('');
  const [page, setPage] = useState(0);
  const [history, setHistory] = useState<HistoryList | null>(null);
  const [error, setError] = useState<unknown>(null);

  const load = () =>
    get<HistoryList>(`/api/v1/clusters/${props.clusterId}/history?limit=${PAGE}&offset=${page * PAGE}${kind ? `&kind=${kind}` : ''}`).then((h) => {
      setHistory(h);
      setError(null);
    }, setError);
  useEffect(() => {
    void load();
  }, [props.clusterId, kind, page]);

  return (
    <section aria-labelledby="history-title">
      <h2 id="history-title">History</h2>
      <div className="inline-form">
        <label htmlFor="history-kind">Show</label>
        <select
          id="history-kind"
          value={kind}
          onChange={(e) => {
            setPage(0);
            setKind(e.target.value as typeof kind);
          }}
        >
          <option value="">everything</option>
          <option value="change">changes</option>
          <option value="status">status transitions</option>
          <option value="repair">drift repaired</option>
          <option value="schedule">schedule runs</option>
        </select>
        <button type="button" className="small" onClick={() => void load()}>
          Refresh
        </button>
      </div>
      <Alert error={error} />
      {history && history.items.length === 0 && <p>Nothing recorded yet.</p>}
      {history && history.items.length > 0 && (
        <div className="table-wrap">
          <table className="list" data-testid="history">
            <thead>
              <tr>
                <th scope="col">When</th>
                <th scope="col">What</th>
                <th scope="col">Message</th>
              </tr>
            </thead>
            <tbody>
              {history.items.map((h) => (
                <tr key={h.id} data-kind={h.kind}>
                  <td data-label="When">{when(h.at)}</td>
                  <td data-label="What">{h.kind}</td>
                  <td data-label="Message">{h.message}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {history && history.total > PAGE && (
        <div className="inline-form">
          <button type="button" className="small" disabled={page === 0} onClick={() => setPage(page - 1)}>
            Newer
          </button>
          <span>
            {page * PAGE + 1}–{Math.min((page + 1) * PAGE, history.total)} of {history.total}
          </span>
          <button type="button" className="small" disabled={(page + 1) * PAGE >= history.total} onClick={() => setPage(page + 1)}>
            Older
          </button>
        </div>
      )}
    </section>
  );
}
