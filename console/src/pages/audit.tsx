// The audit log, newest first: admins read everyone's (GET /api/v1/audit,
// filtered by user too), everyone else their own (GET /api/v1/users/me/audit).
// Filters are the API's (action, resource, outcome, a time range), applied on
// submit and kept in the page's address; pages of 50 with the API's limit and
// offset. The API judges the filters: a refused one shows under its field.
import { useEffect, useRef, useState } from 'react';
import { ApiError, get, type AuditList } from '../api.ts';
import { Alert, browserZone, Field, navigate, PageTitle, toInstant, when } from '../ui.tsx';

const PAGE = 50;
const OUTCOMES = ['success', 'rejected', 'error'] as const;
const TONE: Record<string, string> = { success: 'ok', rejected: 'wait', error: 'bad' };

type Filters = { user: string; action: string; resource: string; outcome: string; since: string; until: string };
const NONE: Filters = { user: '', action: '', resource: '', outcome: '', since: '', until: '' };

/** An RFC 3339 time as a datetime-local value in the browser's zone ('' when it is not a time). */
function toLocal(iso: string | null): string {
  const d = new Date(iso ?? '');
  if (!iso || Number.isNaN(d.getTime())) return '';
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}

/** The filters the page's address names (times there are instants, as the API takes them). */
function fromAddress(): Filters {
  const q = new URLSearchParams(location.search);
  return {
    user: q.get('user') ?? '',
    action: q.get('action') ?? '',
    resource: q.get('resource') ?? '',
    outcome: q.get('outcome') ?? '',
    since: toLocal(q.get('since')),
    until: toLocal(q.get('until')),
  };
}

/** The query string of the filters that are set, times as UTC instants; `user` only where the list takes it. */
function queryOf(f: Filters, withUser: boolean): URLSearchParams {
  const q = new URLSearchParams();
  if (withUser && f.user.trim()) q.set('user', f.user.trim());
  if (f.action.trim()) q.set('action', f.action.trim());
  if (f.resource.trim()) q.set('resource', f.resource.trim());
  if (f.outcome) q.set('outcome', f.outcome);
  if (f.since) q.set('since', toInstant(f.since));
  if (f.until) q.set('until', toInstant(f.until));
  return q;
}

export function AuditPage(props: { isAdmin: boolean }) {
  const [form, setForm] = useState<Filters>(fromAddress);
  const [applied, setApplied] = useState<Filters>(form);
  const [offset, setOffset] = useState(0);
  const [list, setList] = useState<AuditList | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [fieldErrors, setFieldErrors] = useState<Record<string, string>>({});
  const asked = useRef(0);

  const load = async () => {
    const q = queryOf(applied, props.isAdmin);
    q.set('limit', String(PAGE));
    q.set('offset', String(offset));
    const n = ++asked.current;
    try {
      const l = await get<AuditList>(`${props.isAdmin ? '/api/v1/audit' : '/api/v1/users/me/audit'}?${q}`);
      // Only the latest question's answer is shown, whatever order the answers come in.
      if (n !== asked.current) return;
      setList(l);
      setError(null);
      setFieldErrors({});
    } catch (err) {
      if (n !== asked.current) return;
      setList(null);
      setError(err);
      setFieldErrors(err instanceof ApiError ? err.fields : {});
    }
  };
  useEffect(() => {
    void load();
  }, [applied, offset, props.isAdmin]);

  const apply = (f: Filters) => {
    setForm(f);
    setApplied(f);
    setOffset(0);
    const q = queryOf(f, props.isAdmin).toString();
    navigate(`/audit${q ? `?${q}` : ''}`, true);
  };
  const set = (k: keyof Filters) => (e: { target: { value: string } }) => setForm({ ...form, [k]: e.target.value });

  return (
    <>
      <PageTitle>Audit log</PageTitle>
      <p>
        {props.isAdmin
          ? 'Every request that changes something, by anyone, newest first: who, what, on what, and how it ended.'
          : 'Your own requests that change something, newest first: what, on what, and how it ended.'}
      </p>
      <form
        className="card inline-form"
        aria-label="Filters"
        noValidate
        onSubmit={(e) => {
          e.preventDefault();
          apply(form);
        }}
      >
        {props.isAdmin && (
          <Field id="audit-user" label="User" error={fieldErrors.user} hint="A username">
            {(a) => <input {...a} value={form.user} onChange={set('user')} autoComplete="off" spellCheck={false} />}
          </Field>
        )}
        <Field id="audit-action" label="Action" error={fieldErrors.action} hint="e.g. clusters.create, instances.operate, tokens.delete">
          {(a) => <input {...a} value={form.action} onChange={set('action')} autoComplete="off" spellCheck={false} />}
        </Field>
        <Field id="audit-resource" label="Resource" error={fieldErrors.resource} hint="clusters, instances, users or images, optionally /id: clusters/12">
          {(a) => <input {...a} value={form.resource} onChange={set('resource')} autoComplete="off" spellCheck={false} />}
        </Field>
        <Field id="audit-outcome" label="Outcome" error={fieldErrors.outcome}>
          {(a) => (
            <select {...a} value={form.outcome} onChange={set('outcome')}>
              <option value="">any</option>
              {OUTCOMES.map((o) => (
                <option key={o} value={o}>
                  {o}
                </option>
              ))}
            </select>
          )}
        </Field>
        <Field id="audit-since" label="From" error={fieldErrors.since} hint={`Your time zone (${browserZone()})`}>
          {(a) => <input {...a} type="datetime-local" value={form.since} onChange={set('since')} />}
        </Field>
        <Field id="audit-until" label="Before" error={fieldErrors.until} hint={`Your time zone (${browserZone()})`}>
          {(a) => <input {...a} type="datetime-local" value={form.until} onChange={set('until')} />}
        </Field>
        <button type="submit" className="primary">
          Apply
        </button>
        <button type="button" onClick={() => apply(NONE)}>
          Clear
        </button>
        <button type="button" onClick={() => void load()}>
          Refresh
        </button>
      </form>
      <Alert error={error} />
      {list && list.items.length === 0 && <p>No entries{queryOf(applied, props.isAdmin).toString() ? ' match these filters' : ' yet'}.</p>}
      {list && list.items.length > 0 && (
        <div className="table-wrap">
          <table className="list" data-testid="audit" data-total={list.total}>
            <thead>
              <tr>
                <th scope="col">When</th>
                <th scope="col">Who</th>
                <th scope="col">Action</th>
                <th scope="col">Target</th>
                <th scope="col">Outcome</th>
                <th scope="col">Request</th>
              </tr>
            </thead>
            <tbody>
              {list.items.map((e) => (
                <tr key={e.id} data-audit={e.id} data-actor={e.actor ?? ''} data-action={e.action ?? ''}>
                  <td data-label="When">{when(e.at)}</td>
                  <td data-label="Who">{e.actor ?? <span className="muted">—</span>}</td>
                  <td data-label="Action">
                    <code>{e.action ?? '—'}</code>
                    {e.detail && <div className="small muted">{JSON.stringify(e.detail)}</div>}
                  </td>
                  <td data-label="Target">{e.target ?? '—'}</td>
                  <td data-label="Outcome">
                    <span className={`status status-${TONE[e.outcome] ?? 'idle'}`}>{e.outcome}</span> <span className="small">{e.status_code}</span>
                  </td>
                  <td data-label="Request" className="small">
                    <code>
                      {e.method} {e.route}
                    </code>
                    {e.request_id && <div className="muted">{e.request_id}</div>}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {list && list.total > PAGE && (
        <nav className="pager" aria-label="Pages">
          <button type="button" disabled={offset === 0} onClick={() => setOffset(Math.max(0, offset - PAGE))}>
            Newer
          </button>
          <span data-testid="audit-range">
            {offset + 1}–{Math.min(offset + PAGE, list.total)} of {list.total}
          </span>
          <button type="button" disabled={offset + PAGE >= list.total} onClick={() => setOffset(offset + PAGE)}>
            Older
          </button>
        </nav>
      )}
    </>
  );
}
