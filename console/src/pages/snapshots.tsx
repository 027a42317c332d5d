// An instance's snapshots on its page: take one (its size is held of the
// storage quota), restore one (a running instance is stopped first and started
// again, as the API's answer says), delete one. While a snapshot is being
// made or a restore runs, the list is read again every two seconds.
import { useCallback, useEffect, useState } from 'react';
import { ApiError, get, post, del, type Message, type Snapshot } from '../api.ts';
import { Alert, confirmAction, confirmThenRun, errorText, Status, when } from '../ui.tsx';

const POLL_MS = 2000;
const busy = (s: Snapshot) => s.status === 'creating' || s.status === 'deleting' || s.last_restore?.phase === 'stopping' || s.last_restore?.phase === 'restoring';

export function Snapshots(props: { instanceId: number; instanceName: string; onChange: () => void }) {
  const [list, setList] = useState<Snapshot[] | null>(null);
  const [name, setName] = useState('');
  const [notice, setNotice] = useState<string | null>(null);
  const [error, setError] = useState<Error | null>(null);
  const [unavailable, setUnavailable] = useState<string | null>(null);
  const path = `/api/v1/instances/${props.instanceId}/snapshots`;

  const load = useCallback(async () => {
    try {
      setList((await get<{ items: Snapshot[] }>(path)).items);
    } catch (err) {
      setError(err as Error);
    }
  }, [path]);
  useEffect(() => {
    void load();
  }, [load]);
  useEffect(() => {
    if (!list?.some(busy)) return;
    const { onChange } = props;
    const t = window.setTimeout(() => {
      void load();
      onChange();
    }, POLL_MS);
    return () => clearTimeout(t);
  }, [list, load, props]);

  const take = async () => {
    try {
      const s = await post<Snapshot>(path, name ? { name } : {});
      setNotice(`Snapshot '${s.name}' is being taken (${s.size_gb} GB of your storage quota)`);
      setError(null);
      setUnavailable(null);
      setName('');
      void load();
    } catch (err) {
      setNotice(null);
      // 409: nothing to snapshot, or a restore under way: say why beside the button.
      if (err instanceof ApiError && err.status === 409) setUnavailable(errorText(err));
      else setError(new Error(errorText(err)));
    }
  };
  const restore = async (s: Snapshot) => {
    if (!(await confirmAction(`Restore ${props.instanceName} from '${s.name}'?`, <p>Its disks are replaced by the snapshot's. A running instance is stopped first and started again once restored.</p>, 'Restore'))) return;
    try {
      const r = await post<Message>(`${path}/${s.id}/restore`);
      setNotice(r.message);
      setError(null);
      void load();
      props.onChange();
    } catch (err) {
      setNotice(null);
      setError(new Error(errorText(err)));
    }
  };
  const remove = (s: Snapshot) =>
    confirmThenRun({
      title: `Delete snapshot '${s.name}'?`,
      body: <p>Its {s.size_gb} GB are released from your storage quota at once.</p>,
      action: 'Delete',
      run: () => del<Message>(`${path}/${s.id}`),
      done: `Snapshot '${s.name}' is being deleted`,
      setNotice,
      setError,
      reload: load,
    });

  return (
    <section aria-label="Snapshots">
      <h2>Snapshots</h2>
      {notice && <Alert kind="ok">{notice}</Alert>}
      {error && <Alert error={error} />}
      <form
        className="card inline-form"
        onSubmit={(e) => {
          e.preventDefault();
          void take();
        }}
      >
        <div className="field">
          <label htmlFor="snapshot-name">Name</label>
          <input id="snapshot-name" value={name} onChange={(e) => setName(e.target.value)} placeholder="optional, e.g. before-upgrade" maxLength={63} />
        </div>
        <button type="submit" className="primary">
          Take snapshot
        </button>
      </form>
      {unavailable && <Alert kind="info">{unavailable}</Alert>}
      {list === null ? (
        <p className="loading">Loading…</p>
      ) : list.length === 0 ? (
        <p className="muted">No snapshots.</p>
      ) : (
        <table className="list" data-testid="snapshots">
          <thead>
            <tr>
              <th>Name</th>
              <th>Status</th>
              <th>Size</th>
              <th>Taken</th>
              <th>Last restore</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {list.map((s) => (
              <tr key={s.id} data-snapshot={s.name}>
                <td>{s.name}</td>
                <td>
                  <Status value={s.status} title={s.message ?? undefined} />
                </td>
                <td>{s.size_gb} GB</td>
                <td>{when(s.created_at)}</td>
                <td data-testid="last-restore">{s.last_restore ? `${s.last_restore.phase}${s.last_restore.message ? `: ${s.last_restore.message}` : ''}` : ''}</td>
                <td>
                  <button type="button" className="small" disabled={s.status !== 'ready'} onClick={() => void restore(s)}>
                    Restore
                  </button>{' '}
                  <button type="button" className="small danger" disabled={s.status === 'deleting'} onClick={() => void remove(s)}>
                    Delete
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
