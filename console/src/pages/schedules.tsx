// A cluster's expiry and power schedules on its page: set or clear when it
// expires (and whether it is then stopped or deleted); add a schedule (stop or
// start at the times of a cron expression in a time zone) or delete one; and
// what the schedules and the expiry last did. The API checks the cron
// expression and the time zone and names the field it refuses.
import { useCallback, useEffect, useState } from 'react';
import { ApiError, del, get, post, put, type ClusterWithInstances, type Message, type Schedule, type ScheduleList } from '../api.ts';
import { Alert, browserZone, confirmThenRun, errorText, Field, toInstant, when } from '../ui.tsx';

export function Schedules(props: {
  clusterId: number;
  expiresAt: string | null;
  expireAction: 'stop' | 'delete' | null;
  disabled: boolean;
  onCluster: (c: ClusterWithInstances) => void;
}) {
  const path = `/api/v1/clusters/${props.clusterId}`;
  const [list, setList] = useState<ScheduleList | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [error, setError] = useState<Error | null>(null);
  const [expiry, setExpiry] = useState('');
  const [expireAction, setExpireAction] = useState<'stop' | 'delete'>(props.expireAction ?? 'stop');
  const [expiryError, setExpiryError] = useState<string>();
  const [action, setAction] = useState<'stop' | 'start'>('stop');
  const [cron, setCron] = useState('');
  const [zone, setZone] = useState(browserZone);
  const [fieldErrors, setFieldErrors] = useState<Record<string, string>>({});

  const load = useCallback(async () => {
    try {
      setList(await get<ScheduleList>(`${path}/schedules`));
    } catch (err) {
      setError(err as Error);
    }
  }, [path]);
  useEffect(() => {
    void load();
  }, [load, props.expiresAt]);

  const saveExpiry = async (clear: boolean) => {
    setNotice(null);
    setError(null);
    setExpiryError(undefined);
    if (!clear && !expiry) {
      setExpiryError('Choose a date and time.');
      return;
    }
    try {
      const c = await put<ClusterWithInstances>(`${path}/expiry`, clear ? { expires_at: null } : { expires_at: toInstant(expiry), expire_action: expireAction });
      props.onCluster(c);
      setNotice(clear ? 'The cluster no longer expires.' : `The cluster expires at ${when(c.expires_at)} and will then be ${c.expire_action === 'delete' ? 'deleted' : 'stopped'}.`);
      setExpiry('');
    } catch (err) {
      if (err instanceof ApiError && (err.fields.expires_at || err.fields.expire_action)) setExpiryError(err.fields.expires_at ?? err.fields.expire_action);
      else setError(new Error(errorText(err)));
    }
  };

  const add = async () => {
    setNotice(null);
    setError(null);
    setFieldErrors({});
    try {
      const s = await post<Schedule>(`${path}/schedules`, { action, cron: cron.trim(), time_zone: zone.trim() || 'UTC' });
      setNotice(`Schedule added: ${s.action} at '${s.cron}' (${s.time_zone}); next run ${when(s.next_run_at)}.`);
      setCron('');
      void load();
    } catch (err) {
      if (err instanceof ApiError && Object.keys(err.fields).length) setFieldErrors(err.fields);
      else setError(new Error(errorText(err)));
    }
  };

  const remove = (s: Schedule) =>
    confirmThenRun({
      title: `Delete the ${s.action} schedule '${s.cron}'?`,
      body: <p>It runs no more; what it did stays listed.</p>,
      action: 'Delete',
      run: () => del<Message>(`${path}/schedules/${s.id}`),
      done: 'Schedule deleted',
      setNotice,
      setError,
      reload: load,
    });

  return (
    <section aria-label="Schedules and expiry">
      <h2>Expiry</h2>
      {notice && <Alert kind="ok">{notice}</Alert>}
      {error && <Alert error={error} />}
      <form
        className="inline-form"
        noValidate
        onSubmit={(e) => {
          e.preventDefault();
          void saveExpiry(false);
        }}
      >
        <Field id="expires-at" label="Expires at" error={expiryError} hint={`Your time zone (${browserZone()}).`}>
          {(a) => <input {...a} type="datetime-local" value={expiry} onChange={(e) => setExpiry(e.target.value)} />}
        </Field>
        <div className="field">
          <label htmlFor="expire-action">Then</label>
          <select id="expire-action" value={expireAction} onChange={(e) => setExpireAction(e.target.value as 'stop' | 'delete')}>
            <option value="stop">stop its instances</option>
            <option value="delete">delete the cluster</option>
          </select>
        </div>
        <button type="submit" disabled={props.disabled}>
          Set expiry
        </button>
        {props.expiresAt && (
          <button type="button" disabled={props.disabled} onClick={() => void saveExpiry(true)}>
            Never expire
          </button>
        )}
      </form>

      <h2>Power schedules</h2>
      <form
        className="inline-form"
        noValidate
        onSubmit={(e) => {
          e.preventDefault();
          void add();
        }}
      >
        <div className="field">
          <label htmlFor="schedule-action">Action</label>
          <select id="schedule-action" value={action} onChange={(e) => setAction(e.target.value as 'stop' | 'start')}>
            <option value="stop">stop</option>
            <option value="start">start</option>
          </select>
        </div>
        <Field id="schedule-cron" label="Cron" error={fieldErrors.cron} hint="minute hour day month weekday, e.g. 0 19 * * MON-FRI">
          {(a) => <input {...a} value={cron} onChange={(e) => setCron(e.target.value)} placeholder="0 19 * * MON-FRI" maxLength={128} />}
        </Field>
        <Field id="schedule-zone" label="Time zone" error={fieldErrors.time_zone} hint="An IANA name, e.g. Europe/Paris">
          {(a) => <input {...a} value={zone} onChange={(e) => setZone(e.target.value)} maxLength={64} />}
        </Field>
        <button type="submit" disabled={props.disabled}>
          Add schedule
        </button>
      </form>
      {list === null ? (
        <p className="loading">Loading…</p>
      ) : list.items.length === 0 ? (
        <p className="muted">No schedules.</p>
      ) : (
        <table className="list" data-testid="schedules">
          <thead>
            <tr>
              <th>Action</th>
              <th>Cron</th>
              <th>Time zone</th>
              <th>Next run</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {list.items.map((s) => (
              <tr key={s.id} data-schedule={s.id}>
                <td>{s.action}</td>
                <td>
                  <code>{s.cron}</code>
                </td>
                <td>{s.time_zone}</td>
                <td>{when(s.next_run_at)}</td>
                <td>
                  <button type="button" className="small danger" disabled={props.disabled} onClick={() => void remove(s)}>
                    Delete
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {list && list.runs.length > 0 && (
        <>
          <h3>Last runs</h3>
          <table className="list" data-testid="schedule-runs">
            <thead>
              <tr>
                <th>Due</th>
                <th>By</th>
                <th>Action</th>
                <th>Outcome</th>
              </tr>
            </thead>
            <tbody>
              {list.runs.map((r) => (
                <tr key={r.id}>
                  <td>{when(r.due_at)}</td>
                  <td>{r.schedule_id === null ? 'expiry' : `schedule ${r.schedule_id}`}</td>
                  <td>{r.action}</td>
                  <td>{r.outcome === 'done' ? 'done' : 'nothing to do'}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </section>
  );
}
