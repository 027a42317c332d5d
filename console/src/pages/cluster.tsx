// One cluster, live: its event stream (fetch + ReadableStream, since
// EventSource cannot send the bearer token) carries every instance change.
// The stream is reopened with growing pauses if it drops.
import { useEffect, useState } from 'react';
import { ApiError, del, patch, post, readEvents, type ClusterWithInstances, type Instance, type Message, type ScaledCluster } from '../api.ts';
import { Alert, confirmAction, errorText, Field, fmt, Link, navigate, PageTitle, Status, when } from '../ui.tsx';
import { Endpoints } from '../endpoints.tsx';
import { History } from '../history.tsx';
import { Isolation } from '../isolation.tsx';
import { Schedules } from './schedules.tsx';
import { ScaleQuote } from '../scaleQuote.tsx';

type Live = 'connecting' | 'live' | 'reconnecting' | 'gone';

/** A scale count the form accepts: a whole number from 1 to 100. */
const wholeCountInRange = (text: string): boolean => /^\d+$/.test(text.trim()) && Number(text) >= 1 && Number(text) <= 100;

/** Which operations the API accepts, judged (as it judges) against the desired status. */
function operationsFor(i: Instance): string[] {
  switch (i.desired_status) {
    case 'running':
      return ['stop', 'suspend', 'restart'];
    case 'stopped':
      return ['start'];
    case 'suspended':
      return ['resume'];
    default:
      return [];
  }
}
const LABEL: Record<string, string> = { start: 'Start', stop: 'Stop', suspend: 'Suspend', resume: 'Resume', restart: 'Restart' };

export function ClusterPage(props: { id: number }) {
  const [cluster, setCluster] = useState<ClusterWithInstances | null>(null);
  const [instances, setInstances] = useState<Instance[]>([]);
  const [live, setLive] = useState<Live>('connecting');
  const [loadError, setLoadError] = useState<unknown>(null);
  const [notice, setNotice] = useState<{ kind: 'ok' | 'error'; text: string } | null>(null);
  const [busy, setBusy] = useState<string | null>(null);
  const [count, setCount] = useState('');
  const [countError, setCountError] = useState<string>();

  useEffect(() => {
    const ctl = new AbortController();
    let attempt = 0;
    let stop = false;
    (async () => {
      while (!stop) {
        try {
          await readEvents(`/api/v1/clusters/${props.id}/events`, ctl.signal, (e) => {
            attempt = 0;
            setLive('live');
            if (e.event === 'cluster') {
              const c = e.data as ClusterWithInstances;
              setCluster(c);
              setInstances(c.instances);
              setCount((old) => (old === '' ? String(c.instance_count) : old));
            } else if (e.event === 'instance') {
              const i = e.data as Instance;
              setInstances((list) => {
                const at = list.findIndex((x) => x.id === i.id);
                if (at < 0) return [...list, i].sort((a, b) => a.id - b.id);
                const next = list.slice();
                next[at] = i;
                return next;
              });
            } else if (e.event === 'deleted') {
              stop = true;
              setLive('gone');
            }
          });
        } catch (err) {
          if (ctl.signal.aborted) return;
          if (err instanceof ApiError && (err.status === 404 || err.status === 401 || err.status === 403)) {
            setLoadError(err);
            setLive('gone');
            return;
          }
        }
        if (stop || ctl.signal.aborted) return;
        setLive('reconnecting');
        await new Promise((r) => setTimeout(r, Math.min(15_000, 1000 * 2 ** attempt++)));
      }
    })();
    return () => {
      stop = true;
      ctl.abort();
    };
  }, [props.id]);

  const run = async (key: string, fn: () => Promise<string>) => {
    setBusy(key);
    setNotice(null);
    try {
      setNotice({ kind: 'ok', text: await fn() });
    } catch (err) {
      setNotice({ kind: 'error', text: errorText(err) });
    } finally {
      setBusy(null);
    }
  };

  const operate = (i: Instance, op: string) =>
    run(`${i.id}:${op}`, async () => {
      const r = await post<Message>(`/api/v1/instances/${i.id}/operate`, { operation: op });
      const d = r.detail as { status?: Instance['status']; phase?: Instance['phase']; new_status?: string };
      setInstances((list) =>
        list.map((x) => (x.id === i.id ? { ...x, status: d.status ?? x.status, phase: d.phase ?? x.phase, desired_status: d.new_status ?? x.desired_status } : x)),
      );
      return r.message;
    });

  if (loadError)
    return (
      <>
        <PageTitle>Cluster</PageTitle>
        <Alert error={loadError} />
        <Link to="/">Back to clusters</Link>
      </>
    );
  if (live === 'gone' && !loadError)
    return (
      <>
        <PageTitle>{cluster?.name ?? 'Cluster'}</PageTitle>
        <Alert kind="info">This cluster has been deleted.</Alert>
        <Link to="/">Back to clusters</Link>
      </>
    );
  if (!cluster) return <p>Loading…</p>;

  // The console shows each instance's precise state (phase); `status` is the Python service's coarser value.
  const running = instances.filter((i) => i.phase === 'running').length;
  const deleting = cluster.status === 'deleting';

  return (
    <>
      <PageTitle
        actions={
          <>
            <button type="button" disabled={deleting || busy !== null} onClick={() => run('suspend', async () => (await post<Message>(`/api/v1/clusters/${cluster.id}/suspend`)).message)}>
              Suspend all
            </button>
            <button type="button" disabled={deleting || busy !== null} onClick={() => run('resume', async () => (await post<Message>(`/api/v1/clusters/${cluster.id}/resume`)).message)}>
              Resume all
            </button>
            <button
              type="button"
              className="danger"
              disabled={deleting || busy !== null}
              onClick={async () => {
                const ok = await confirmAction(
                  `Delete cluster ${cluster.name}?`,
                  <p>
                    Its {cluster.instance_count} instance(s), their volumes and the namespace <code>{cluster.namespace}</code> are removed. This cannot be undone.
                  </p>,
                  'Delete cluster',
                );
                if (!ok) return;
                await run('delete', async () => {
                  const r = await del<Message>(`/api/v1/clusters/${cluster.id}`);
                  navigate('/');
                  return r.message;
                });
              }}
            >
              Delete
            </button>
          </>
        }
      >
        {cluster.name}
      </PageTitle>
      <p className="summary">
        <Status value={cluster.status} /> <span>{running}/{instances.length} running</span>
        <span className={`live live-${live}`} role="status">
          {live === 'live' ? 'Live' : live === 'connecting' ? 'Connecting…' : 'Reconnecting…'}
        </span>
      </p>
      {cluster.message && <Alert kind="info">{cluster.message}</Alert>}
      {cluster.warnings.map((w) => (
        <div key={w.code} data-warning={w.code}>
          <Alert kind={w.code === 'expiring' ? 'error' : 'info'}>{w.message}</Alert>
        </div>
      ))}
      {notice && <Alert kind={notice.kind}>{notice.text}</Alert>}

      <dl className="facts">
        <div><dt>Type</dt><dd>{cluster.instance_type}</dd></div>
        <div><dt>Per instance</dt><dd>{fmt(cluster.cpu_per_instance)} CPU · {fmt(cluster.memory_per_instance)} GB{cluster.volume_size ? ` · ${cluster.volume_size} GB volume` : ''}{cluster.disk_size ? ` · ${cluster.disk_size} GB root disk` : ''}</dd></div>
        <div><dt>Image</dt><dd><code>{cluster.image}</code></dd></div>
        <div><dt>Namespace</dt><dd><code>{cluster.namespace}</code></dd></div>
        <div><dt>Service</dt><dd>{cluster.service_type}{cluster.expose === 'cluster' ? ' · one across all instances' : ''}</dd></div>
        {cluster.expose === 'cluster' && <div><dt>Endpoints</dt><dd data-endpoints="cluster"><Endpoints list={cluster.endpoints} empty="not yet observed" /></dd></div>}
        {cluster.rollout && (
          <div>
            <dt>Last change</dt>
            <dd data-rollout={cluster.rollout.state}>
              generation {cluster.rollout.generation}: {cluster.rollout.updated} of {cluster.rollout.total} instances updated, {cluster.rollout.state}
              {cluster.rollout.message ? ` (${cluster.rollout.message})` : ''}
            </dd>
          </div>
        )}
        <div><dt>Expires</dt><dd data-expires={cluster.expires_at ?? 'never'}>{cluster.expires_at ? `${when(cluster.expires_at)}, then ${cluster.expire_action === 'delete' ? 'deleted' : 'stopped'}` : 'never'}</dd></div>
        <div><dt>Created</dt><dd>{when(cluster.created_at)}</dd></div>
      </dl>

      <h2>Instances</h2>
      <div className="table-wrap">
        <table className="list">
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Status</th>
              <th scope="col">IP</th>
              <th scope="col">Node</th>
              <th scope="col">Endpoints</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {instances.map((i) => (
              <tr key={i.id} data-instance={i.instance_name}>
                <th scope="row" data-label="Name">
                  <Link to={`/instances/${i.id}`}>{i.instance_name}</Link>
                </th>
                <td data-label="Status">
                  <Status value={i.phase} />
                  {i.progress !== undefined && <span className="muted small"> {i.progress} %</span>}
                  {i.desired_status !== i.phase && i.phase !== 'deleting' && <span className="muted small"> → {i.desired_status}</span>}
                  {i.message && <div className="small muted">{i.message}</div>}
                </td>
                <td data-label="IP">{i.ip ?? '—'}</td>
                <td data-label="Node">{i.node ?? '—'}</td>
                <td data-label="Endpoints"><Endpoints list={i.endpoints} empty="—" /></td>
                <td data-label="Actions" className="actions">
                  {operationsFor(i).map((op) => (
                    <button
                      key={op}
                      type="button"
                      className="small"
                      disabled={deleting || busy !== null}
                      aria-label={`${LABEL[op]} ${i.instance_name}`}
                      onClick={() => operate(i, op)}
                    >
                      {LABEL[op]}
                    </button>
                  ))}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>

      <Isolation clusterId={cluster.id} status={cluster.status} />

      <h2>Scale</h2>
      <form
        className="inline-form"
        noValidate
        onSubmit={(e) => {
          e.preventDefault();
          const n = Number(count);
          if (!wholeCountInRange(count)) {
            setCountError('A whole number from 1 to 100.');
            return;
          }
          setCountError(undefined);
          void run('scale', async () => {
            try {
              const c = await patch<ScaledCluster>(`/api/v1/clusters/${cluster.id}`, { instance_count: n });
              setCluster(c);
              setInstances(c.instances);
              return `Cluster ${c.name} scaled to ${c.instance_count} instance(s).`;
            } catch (err) {
              if (err instanceof ApiError && err.fields.instance_count) setCountError(err.fields.instance_count);
              throw err;
            }
          });
        }}
      >
        <Field id="instance-count" label="Instance count" error={countError} hint={`Each instance uses ${fmt(cluster.cpu_per_instance)} CPU and ${fmt(cluster.memory_per_instance)} GB.`}>
          {(a) => <input {...a} type="number" inputMode="numeric" min={1} max={100} step={1} value={count} onChange={(e) => setCount(e.target.value)} />}
        </Field>
        {/* Only a count the form itself accepts is quoted: the API refuses the others with 422. */}
        <ScaleQuote clusterId={cluster.id} count={wholeCountInRange(count) && Number(count) !== cluster.instance_count ? Number(count) : null} />
        <button type="submit" disabled={deleting || busy !== null}>
          Scale
        </button>
      </form>

      <Schedules
        clusterId={cluster.id}
        expiresAt={cluster.expires_at}
        expireAction={cluster.expire_action}
        disabled={deleting}
        onCluster={(c) => {
          setCluster(c);
          setInstances(c.instances);
        }}
      />

      <History clusterId={cluster.id} />
    </>
  );
}
