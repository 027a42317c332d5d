// Tokens: named, revocable, optionally expiring. A new one is shown once.
import { useEffect, useState } from 'react';
import { ApiError, del, get, post, type CreatedToken, type Token } from '../api.ts';
import { Alert, confirmThenRun, CopyButton, Field, PageTitle } from '../ui.tsx';
import { TokenTable } from '../tokenTable.tsx';

const NAME = /^[A-Za-z0-9][A-Za-z0-9 ._-]*$/;

export function TokensPage() {
  const [tokens, setTokens] = useState<Token[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [name, setName] = useState('');
  const [days, setDays] = useState('');
  const [access, setAccess] = useState<'all' | 'read'>('all');
  const [clusters, setClusters] = useState('');
  const [fieldErrors, setFieldErrors] = useState<Record<string, string | undefined>>({});
  const [formError, setFormError] = useState<unknown>(null);
  const [created, setCreated] = useState<{ name: string; token: string } | null>(null);
  const [notice, setNotice] = useState<string | null>(null);

  const load = () => get<Token[]>('/api/v1/users/me/tokens').then(setTokens, setError);
  useEffect(() => {
    void load();
  }, []);

  return (
    <>
      <PageTitle>Tokens</PageTitle>
      <p>Tokens let scripts, the CLI and this console act as you. Each is shown once, when it is created.</p>
      {created && (
        <div className="card secret" role="status">
          <h2>New token “{created.name}”</h2>
          <p>Copy it now: it will not be shown again.</p>
          <div className="secret-row">
            <code data-testid="new-token">{created.token}</code>
            <CopyButton text={created.token} />
          </div>
          <button type="button" className="link" onClick={() => setCreated(null)}>
            I have copied it
          </button>
        </div>
      )}
      <form
        className="card inline-form"
        noValidate
        onSubmit={async (e) => {
          e.preventDefault();
          setFormError(null);
          const errs: Record<string, string> = {};
          const n = name.trim();
          if (!n) errs.name = 'A name is needed.';
          else if (n.length > 64 || !NAME.test(n)) errs.name = 'Up to 64 letters, digits, spaces, dots, underscores or hyphens, starting with a letter or digit.';
          const d = days.trim() ? Number(days) : undefined;
          if (d !== undefined && !(Number.isInteger(d) && d >= 1 && d <= 3650)) errs.expires_in_days = 'Whole days from 1 to 3650, or empty for no expiry.';
          const ids = clusters.split(',').map((c) => c.trim()).filter(Boolean);
          if (ids.some((c) => !/^[1-9][0-9]*$/.test(c))) errs.cluster_ids = 'Cluster ids, separated by commas, or empty for every cluster.';
          setFieldErrors(errs);
          if (Object.keys(errs).length) return;
          try {
            const t = await post<CreatedToken>('/api/v1/users/me/tokens', {
              name: n,
              ...(d ? { expires_in_days: d } : {}),
              ...(access === 'read' ? { scopes: ['read'] } : {}),
              ...(ids.length > 0 ? { cluster_ids: ids.map(Number) } : {}),
            });
            setCreated({ name: t.name, token: t.token });
            setName('');
            setDays('');
            setClusters('');
            void load();
          } catch (err) {
            setFormError(err);
            if (err instanceof ApiError) setFieldErrors(err.fields);
          }
        }}
      >
        <h2 className="sr-only">Create a token</h2>
        <Field id="token-name" label="Name" error={fieldErrors.name}>
          {(a) => <input {...a} value={name} onChange={(e) => setName(e.target.value)} autoComplete="off" />}
        </Field>
        <Field id="token-days" label="Expires after (days, optional)" error={fieldErrors.expires_in_days}>
          {(a) => <input {...a} inputMode="numeric" value={days} onChange={(e) => setDays(e.target.value)} />}
        </Field>
        <Field id="token-access" label="Access">
          {(a) => (
            <select {...a} value={access} onChange={(e) => setAccess(e.target.value as 'all' | 'read')}>
              <option value="all">Everything I may do</option>
              <option value="read">Read only</option>
            </select>
          )}
        </Field>
        <Field id="token-clusters" label="Only clusters (ids, optional)" error={fieldErrors.cluster_ids}>
          {(a) => <input {...a} value={clusters} onChange={(e) => setClusters(e.target.value)} placeholder="every cluster" autoComplete="off" />}
        </Field>
        <button type="submit" className="primary">
          Create token
        </button>
        <Alert error={formError} />
      </form>
      <Alert error={error} />
      {notice && <Alert kind="ok">{notice}</Alert>}
      {tokens && tokens.length === 0 && <p>No named tokens yet.</p>}
      {tokens && tokens.length > 0 && (
        <TokenTable
          tokens={tokens}
          onRevoke={(t) =>
            confirmThenRun({
              title: `Revoke token ${t.name}?`,
              body: <p>Anything using it stops working at once.</p>,
              action: 'Revoke',
              run: () => del(`/api/v1/users/me/tokens/${t.id}`),
              done: `Token ${t.name} revoked.`,
              setNotice,
              setError,
              reload: load,
            })
          }
        />
      )}
    </>
  );
}
