// Users and quotas (admins): list, create (the token is shown once), change
// a quota (never below what is in use: the API says so in words), disable or
// enable, delete; a user's live tokens, each revocable.
import { useEffect, useState } from 'react';
import { ApiError, del, get, patch, post, type CreatedUser, type Role, type Token, type User } from '../api.ts';
import { Alert, confirmThenRun, CopyButton, errorText, Field, fmt, Link, PageTitle, when } from '../ui.tsx';
import { TokenTable } from '../tokenTable.tsx';

const USERNAME = /^[A-Za-z0-9][A-Za-z0-9._@-]*$/;
type QuotaForm = { quota_cpu: string; quota_memory: string; quota_instances: string; quota_storage_gb: string; quota_load_balancers: string; role: Role };

function checkQuota(f: QuotaForm): { body: Record<string, unknown>; errors: Record<string, string> } {
  const errors: Record<string, string> = {};
  const body: Record<string, unknown> = { role: f.role };
  const cpu = /^\d+(\.\d+)?$/.test(f.quota_cpu.trim()) ? Number(f.quota_cpu) : NaN;
  if (!(cpu > 0)) errors.quota_cpu = 'Cores above 0.';
  else body.quota_cpu = cpu;
  const mem = /^\d+(\.\d+)?$/.test(f.quota_memory.trim()) ? Number(f.quota_memory) : NaN;
  if (!(mem > 0)) errors.quota_memory = 'GB above 0.';
  else body.quota_memory = mem;
  const inst = /^\d+$/.test(f.quota_instances.trim()) ? Number(f.quota_instances) : NaN;
  if (!(inst >= 0 && inst <= 100_000)) errors.quota_instances = 'A whole number from 0 to 100000.';
  else body.quota_instances = inst;
  const storage = /^\d+$/.test(f.quota_storage_gb.trim()) ? Number(f.quota_storage_gb) : NaN;
  if (!(storage >= 0 && storage <= 1_000_000)) errors.quota_storage_gb = 'Whole GB from 0 to 1000000.';
  else body.quota_storage_gb = storage;
  const lbs = /^\d+$/.test(f.quota_load_balancers.trim()) ? Number(f.quota_load_balancers) : NaN;
  if (!(lbs >= 0 && lbs <= 100_000)) errors.quota_load_balancers = 'A whole number from 0 to 100000.';
  else body.quota_load_balancers = lbs;
  return { body, errors };
}

function QuotaFields(props: { prefix: string; form: QuotaForm; setForm: (f: QuotaForm) => void; errors: Record<string, string | undefined> }) {
  const { form, setForm, errors, prefix } = props;
  return (
    <>
      <Field id={`${prefix}-cpu`} label="CPU quota (cores)" error={errors.quota_cpu}>
        {(a) => <input {...a} inputMode="decimal" value={form.quota_cpu} onChange={(e) => setForm({ ...form, quota_cpu: e.target.value })} />}
      </Field>
      <Field id={`${prefix}-memory`} label="Memory quota (GB)" error={errors.quota_memory}>
        {(a) => <input {...a} inputMode="decimal" value={form.quota_memory} onChange={(e) => setForm({ ...form, quota_memory: e.target.value })} />}
      </Field>
      <Field id={`${prefix}-instances`} label="Instance quota" error={errors.quota_instances}>
        {(a) => <input {...a} inputMode="numeric" value={form.quota_instances} onChange={(e) => setForm({ ...form, quota_instances: e.target.value })} />}
      </Field>
      <Field id={`${prefix}-storage`} label="Storage quota (GB)" error={errors.quota_storage_gb}>
        {(a) => <input {...a} inputMode="numeric" value={form.quota_storage_gb} onChange={(e) => setForm({ ...form, quota_storage_gb: e.target.value })} />}
      </Field>
      <Field id={`${prefix}-lbs`} label="Load balancer quota" error={errors.quota_load_balancers}>
        {(a) => <input {...a} inputMode="numeric" value={form.quota_load_balancers} onChange={(e) => setForm({ ...form, quota_load_balancers: e.target.value })} />}
      </Field>
      <Field id={`${prefix}-role`} label="Role" error={errors.role}>
        {(a) => (
          <select {...a} value={form.role} onChange={(e) => setForm({ ...form, role: e.target.value as Role })}>
            <option value="user">user</option>
            <option value="admin">admin</option>
          </select>
        )}
      </Field>
    </>
  );
}

function EditRow(props: { user: User; onDone: (u: User | null) => void }) {
  const u = props.user;
  const [form, setForm] = useState<QuotaForm>({
    quota_cpu: String(u.quota_cpu),
    quota_memory: String(u.quota_memory),
    quota_instances: String(u.quota_instances),
    quota_storage_gb: String(u.quota_storage_gb ?? ''),
    quota_load_balancers: String(u.quota_load_balancers ?? ''),
    role: u.role,
  });
  const [errors, setErrors] = useState<Record<string, string | undefined>>({});
  const [error, setError] = useState<unknown>(null);
  return (
    <tr className="editing">
      <td colSpan={8}>
        <form
          className="inline-form"
          noValidate
          aria-label={`Change quota of ${u.username}`}
          onSubmit={async (e) => {
            e.preventDefault();
            const { body, errors } = checkQuota(form);
            setErrors(errors);
            setError(null);
            if (Object.keys(errors).length) return;
            try {
              props.onDone(await patch<User>(`/api/v1/users/${u.id}`, body));
            } catch (err) {
              setError(err);
              if (err instanceof ApiError) setErrors(err.fields);
            }
          }}
        >
          <strong>{u.username}</strong>
          <QuotaFields prefix={`edit-${u.id}`} form={form} setForm={setForm} errors={errors} />
          <button type="submit" className="primary">
            Save
          </button>
          <button type="button" onClick={() => props.onDone(null)}>
            Cancel
          </button>
          <Alert error={error} />
        </form>
      </td>
    </tr>
  );
}

/** A user's live tokens (GET /api/v1/users/{id}/tokens), each revocable after confirming. */
function UserTokens(props: { user: User; onClose: () => void }) {
  const u = props.user;
  const [tokens, setTokens] = useState<Token[] | null>(null);
  const [error, setError] = useState<Error | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const load = () =>
    get<Token[]>(`/api/v1/users/${u.id}/tokens`).then(
      (t) => {
        setTokens(t);
        setError(null);
      },
      (err) => setError(new Error(errorText(err))),
    );
  useEffect(() => {
    void load();
  }, [u.id]);
  return (
    <section className="card" aria-labelledby="user-tokens-title" data-tokens-of={u.username}>
      <h2 id="user-tokens-title">Tokens of {u.username}</h2>
      <p className="small">
        Their live tokens; a revoked one is refused from its next request on.{u.disabled ? ' The user is disabled: none of these is accepted until they are enabled.' : ''}{' '}
        <Link to={`/audit?user=${encodeURIComponent(u.username)}`}>Their requests in the audit log</Link>
      </p>
      <Alert error={error} />
      {notice && <Alert kind="ok">{notice}</Alert>}
      {tokens && tokens.length === 0 && <p>No live tokens.</p>}
      {tokens && tokens.length > 0 && (
        <TokenTable
          label={`Tokens of ${u.username}`}
          tokens={tokens}
          onRevoke={(t) =>
            confirmThenRun({
              title: `Revoke ${u.username}'s token ${t.name}?`,
              body: <p>Anything using it stops working at once.</p>,
              action: 'Revoke',
              run: () => del(`/api/v1/users/${u.id}/tokens/${t.id}`),
              done: `Token ${t.name} of ${u.username} revoked.`,
              setNotice,
              setError,
              reload: load,
            })
          }
        />
      )}
      <button type="button" className="link" onClick={props.onClose}>
        Close
      </button>
    </section>
  );
}

export function UsersPage(props: { me: User }) {
  const [users, setUsers] = useState<User[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [editing, setEditing] = useState<number | null>(null);
  const [tokensOf, setTokensOf] = useState<number | null>(null);
  const [username, setUsername] = useState('');
  const [form, setForm] = useState<QuotaForm>({ quota_cpu: '4', quota_memory: '8', quota_instances: '10', quota_storage_gb: '100', quota_load_balancers: '5', role: 'user' });
  const [errors, setErrors] = useState<Record<string, string | undefined>>({});
  const [createError, setCreateError] = useState<unknown>(null);
  const [created, setCreated] = useState<{ username: string; token: string } | null>(null);

  const load = () => get<User[]>('/api/v1/users/').then(setUsers, setError);
  useEffect(() => {
    void load();
  }, []);

  return (
    <>
      <PageTitle>Users &amp; quotas</PageTitle>
      {created && (
        <div className="card secret" role="status">
          <h2>User {created.username} created</h2>
          <p>Give them this token; it will not be shown again.</p>
          <div className="secret-row">
            <code data-testid="new-user-token">{created.token}</code>
            <CopyButton text={created.token} />
          </div>
          <button type="button" className="link" onClick={() => setCreated(null)}>
            Done
          </button>
        </div>
      )}
      <details className="card">
        <summary>Create a user</summary>
        <form
          className="inline-form"
          noValidate
          onSubmit={async (e) => {
            e.preventDefault();
            const { body, errors } = checkQuota(form);
            const n = username.trim();
            if (!n) errors.username = 'A username is needed.';
            else if (n.length > 64 || !USERNAME.test(n)) errors.username = 'Up to 64 letters, digits, dots, underscores, @ or hyphens, starting with a letter or digit.';
            setErrors(errors);
            setCreateError(null);
            if (Object.keys(errors).length) return;
            try {
              const u = await post<CreatedUser>('/api/v1/users/', { username: n, ...body });
              setCreated({ username: u.username, token: u.token });
              setUsername('');
              void load();
            } catch (err) {
              setCreateError(err);
              if (err instanceof ApiError) setErrors(err.fields);
            }
          }}
        >
          <Field id="new-username" label="Username" error={errors.username}>
            {(a) => <input {...a} value={username} onChange={(e) => setUsername(e.target.value)} autoComplete="off" />}
          </Field>
          <QuotaFields prefix="new" form={form} setForm={setForm} errors={errors} />
          <button type="submit" className="primary">
            Create user
          </button>
          <Alert error={createError} />
        </form>
      </details>
      <Alert error={error} />
      {notice && <Alert kind="ok">{notice}</Alert>}
      {users?.filter((u) => u.id === tokensOf).map((u) => <UserTokens key={u.id} user={u} onClose={() => setTokensOf(null)} />)}
      {users && (
        <div className="table-wrap">
          <table className="list">
            <thead>
              <tr>
                <th scope="col">User</th>
                <th scope="col">Role</th>
                <th scope="col">CPU used / quota</th>
                <th scope="col">Memory used / quota</th>
                <th scope="col">Instances used / quota</th>
                <th scope="col">Storage used / quota</th>
                <th scope="col">Load balancers used / quota</th>
                <th scope="col">
                  <span className="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {users.map((u) =>
                editing === u.id ? (
                  <EditRow
                    key={u.id}
                    user={u}
                    onDone={(saved) => {
                      setEditing(null);
                      if (saved) {
                        setNotice(`Quota of ${saved.username} changed.`);
                        setUsers(users.map((x) => (x.id === saved.id ? saved : x)));
                      }
                    }}
                  />
                ) : (
                  <tr key={u.id} data-user={u.username} data-disabled={u.disabled ? 'true' : 'false'}>
                    <th scope="row" data-label="User">
                      {u.username}
                      <div className="small muted">since {when(u.created_at)}</div>
                    </th>
                    <td data-label="Role">
                      {u.role}
                      {u.disabled && <div className="small muted">disabled</div>}
                    </td>
                    <td data-label="CPU">{fmt(u.used_cpu)} / {fmt(u.quota_cpu)}</td>
                    <td data-label="Memory">{fmt(u.used_memory)} / {fmt(u.quota_memory)} GB</td>
                    <td data-label="Instances">{u.used_instances} / {u.quota_instances}</td>
                    <td data-label="Storage">{u.used_storage_gb ?? 0} / {u.quota_storage_gb ?? '–'} GB</td>
                    <td data-label="Load balancers">{u.used_load_balancers ?? 0} / {u.quota_load_balancers ?? '–'}</td>
                    <td className="actions">
                      <button type="button" className="small" aria-label={`Change quota of ${u.username}`} onClick={() => setEditing(u.id)}>
                        Change quota
                      </button>
                      <button type="button" className="small" aria-label={`Tokens of ${u.username}`} aria-pressed={tokensOf === u.id} onClick={() => setTokensOf(tokensOf === u.id ? null : u.id)}>
                        Tokens
                      </button>
                      {u.id !== props.me.id && (
                        <button
                          type="button"
                          className="small"
                          aria-label={`${u.disabled ? 'Enable' : 'Disable'} ${u.username}`}
                          onClick={() =>
                            confirmThenRun({
                              title: `${u.disabled ? 'Enable' : 'Disable'} user ${u.username}?`,
                              body: u.disabled ? <p>Their tokens work again.</p> : <p>Every token of theirs is refused at once. Their clusters keep running.</p>,
                              action: u.disabled ? 'Enable' : 'Disable',
                              run: () => patch(`/api/v1/users/${u.id}`, { disabled: !u.disabled }),
                              done: `User ${u.username} ${u.disabled ? 'enabled' : 'disabled'}.`,
                              setNotice,
                              setError,
                              reload: load,
                            })
                          }
                        >
                          {u.disabled ? 'Enable' : 'Disable'}
                        </button>
                      )}
                      {u.id !== props.me.id && (
                        <button
                          type="button"
                          className="small danger"
                          aria-label={`Delete ${u.username}`}
                          onClick={() =>
                            confirmThenRun({
                              title: `Delete user ${u.username}?`,
                              body: <p>Their tokens stop working. A user who still owns clusters cannot be deleted.</p>,
                              action: 'Delete user',
                              run: () => del(`/api/v1/users/${u.id}`),
                              done: `User ${u.username} deleted.`,
                              setNotice,
                              setError,
                              reload: load,
                            })
                          }
                        >
                          Delete
                        </button>
                      )}
                    </td>
                  </tr>
                ),
              )}
            </tbody>
          </table>
        </div>
      )}
    </>
  );
}
