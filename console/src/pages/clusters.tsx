// Clusters: one list request every few seconds while the tab is visible.
// One event stream per cluster would hold a connection each, and a browser
// keeps at most six per server over HTTP/1.1: the page would starve itself.
// The cluster page, which shows one cluster, uses the stream.
import { useEffect, useState } from 'react';
import { api, type Cluster } from '../api.ts';
import { Alert, fmt, Link, PageTitle, Status, when } from '../ui.tsx';

const PAGE = 20;
const REFRESH_MS = 5000;

export function ClustersPage() {
  const [clusters, setClusters] = useState<Cluster[] | null>(null);
  const [total, setTotal] = useState(0);
  const [offset, setOffset] = useState(0);
  const [error, setError] = useState<unknown>(null);
  const [updated, setUpdated] = useState<Date | null>(null);

  useEffect(() => {
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const load = async () => {
      clearTimeout(timer);
      if (document.visibilityState === 'visible') {
        try {
          // Clusters being deleted too (status deleting), until their teardown is done.
          const r = await api<Cluster[]>('GET', `/api/v1/clusters/?limit=${PAGE}&offset=${offset}&include_deleting=true`);
          if (stopped) return;
          setClusters(r.body);
          setTotal(Number(r.headers.get('x-total-count') ?? r.body.length));
          setUpdated(new Date());
          setError(null);
        } catch (err) {
          if (!stopped) setError(err);
        }
      }
      if (!stopped) timer = setTimeout(load, REFRESH_MS);
    };
    const onVisible = () => document.visibilityState === 'visible' && void load();
    document.addEventListener('visibilitychange', onVisible);
    void load();
    return () => {
      stopped = true;
      clearTimeout(timer);
      document.removeEventListener('visibilitychange', onVisible);
    };
  }, [offset]);

  return (
    <>
      <PageTitle
        actions={
          <Link to="/clusters/new" className="button primary">
            Create cluster
          </Link>
        }
      >
        Clusters
      </PageTitle>
      <Alert error={error} />
      {clusters === null && !error && <p>Loading…</p>}
      {clusters && clusters.length === 0 && offset === 0 && (
        <div className="empty">
          <p>No clusters yet.</p>
          <Link to="/clusters/new">Create your first cluster</Link>
        </div>
      )}
      {clusters && clusters.length > 0 && (
        <div className="table-wrap">
          <table className="list">
            <caption className="sr-only">Your clusters</caption>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Status</th>
                <th scope="col">Type</th>
                <th scope="col">Instances</th>
                <th scope="col">Per instance</th>
                <th scope="col">Created</th>
              </tr>
            </thead>
            <tbody>
              {clusters.map((c) => (
                <tr key={c.id} data-cluster={c.name}>
                  <th scope="row" data-label="Name">
                    <Link to={`/clusters/${c.id}`}>{c.name}</Link>
                  </th>
                  <td data-label="Status">
                    <Status value={c.status} title={c.message ?? undefined} />
                  </td>
                  <td data-label="Type">{c.instance_type}</td>
                  <td data-label="Instances">{c.instance_count}</td>
                  <td data-label="Per instance">
                    {fmt(c.cpu_per_instance)} CPU · {fmt(c.memory_per_instance)} GB
                  </td>
                  <td data-label="Created">{when(c.created_at)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {total > PAGE && (
        <nav className="pager" aria-label="Pages">
          <button type="button" disabled={offset === 0} onClick={() => setOffset(Math.max(0, offset - PAGE))}>
            Previous
          </button>
          <span>
            {offset + 1}–{Math.min(offset + PAGE, total)} of {total}
          </span>
          <button type="button" disabled={offset + PAGE >= total} onClick={() => setOffset(offset + PAGE)}>
            Next
          </button>
        </nav>
      )}
      {updated && (
        <p className="muted small" aria-live="off">
          Refreshed every {REFRESH_MS / 1000} s · last at {updated.toLocaleTimeString('en')}
        </p>
      )}
    </>
  );
}
