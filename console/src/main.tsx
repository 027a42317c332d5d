// KubeKloud web console: a single-page app on the public v1 API.
import { lazy, StrictMode, Suspense, useCallback, useEffect, useState } from 'react';
import { createRoot } from 'react-dom/client';
import { api, session, setUnauthorizedHandler, type User } from './api.ts';
import { Alert, ConfirmHost, Field, Link, navigate, usePath } from './ui.tsx';
import { ClustersPage } from './pages/clusters.tsx';
import { ClusterPage } from './pages/cluster.tsx';
// The instance page carries the terminal (xterm.js) and the VNC client (noVNC): loaded only when opened.
const InstancePage = lazy(() => import('./pages/instance.tsx').then((m) => ({ default: m.InstancePage })));
import { AuditPage } from './pages/audit.tsx';
import { CreateClusterPage } from './pages/create.tsx';
import { ImagesPage } from './pages/images.tsx';
import { QuotaPage } from './pages/quota.tsx';
import { TokensPage } from './pages/tokens.tsx';
import { UsersPage } from './pages/users.tsx';
import './style.css';

function SignIn(props: { onSignedIn: (u: User) => void; reason?: string }) {
  const [token, setToken] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  return (
    <main id="main" className="signin">
      <form
        className="card"
        onSubmit={async (e) => {
          e.preventDefault();
          setBusy(true);
          setError(null);
          try {
            const me = (await api<User>('GET', '/api/v1/users/me', undefined, token.trim())).body;
            session.set(token.trim());
            props.onSignedIn(me);
          } catch (err) {
            setError(err);
          } finally {
            setBusy(false);
          }
        }}
      >
        <h1>KubeKloud</h1>
        <p>Sign in with an API token. It is kept in this browser tab only and forgotten when the tab closes.</p>
        {props.reason && !error && <Alert kind="info">{props.reason}</Alert>}
        <Alert error={error} />
        <Field id="token" label="API token" hint="Ask your administrator for one, or create one under Tokens.">
          {(a) => (
            <input {...a} type="password" autoComplete="off" spellCheck={false} required autoFocus value={token} onChange={(e) => setToken(e.target.value)} />
          )}
        </Field>
        <button type="submit" className="primary" disabled={busy || !token.trim()}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
    </main>
  );
}

function App() {
  const [me, setMe] = useState<User | null>(null);
  const [checking, setChecking] = useState(Boolean(session.token));
  const [reason, setReason] = useState<string>();
  const [menuOpen, setMenuOpen] = useState(false);
  const path = usePath();

  const signOut = useCallback((why?: string) => {
    session.clear();
    setMe(null);
    setReason(why);
  }, []);
  useEffect(() => {
    setUnauthorizedHandler(() => signOut('Your token is no longer accepted (revoked or expired). Sign in again.'));
    if (!session.token) return;
    api<User>('GET', '/api/v1/users/me')
      .then((r) => setMe(r.body))
      .catch(() => session.clear())
      .finally(() => setChecking(false));
  }, [signOut]);
  useEffect(() => setMenuOpen(false), [path]);

  if (checking) return <p className="loading">Loading…</p>;
  if (!me) return <SignIn reason={reason} onSignedIn={(u) => { setMe(u); setReason(undefined); if (path === '/signin') navigate('/', true); }} />;

  const isAdmin = me.role === 'admin';
  const nav: [string, string][] = [
    ['/', 'Clusters'],
    ['/clusters/new', 'Create cluster'],
    ['/images', 'Images'],
    ['/quota', 'Quota'],
    ['/tokens', 'Tokens'],
    ['/audit', 'Audit log'],
    ...(isAdmin ? ([['/users', 'Users & quotas']] as [string, string][]) : []),
  ];
  const section = (to: string) => (to === '/' ? path === '/' || (/^\/clusters\/\d+$/.test(path)) : path === to);

  let page;
  let m;
  if (path === '/' || path === '/clusters') page = <ClustersPage />;
  else if (path === '/clusters/new') page = <CreateClusterPage />;
  else if ((m = /^\/clusters\/(\d+)$/.exec(path))) page = <ClusterPage key={m[1]} id={Number(m[1])} />;
  else if ((m = /^\/instances\/(\d+)$/.exec(path))) page = (
      <Suspense fallback={<p className="loading">Loading…</p>}>
        <InstancePage key={m[1]} id={Number(m[1])} />
      </Suspense>
    );
  else if (path === '/images') page = <ImagesPage isAdmin={isAdmin} />;
  else if (path === '/quota') page = <QuotaPage />;
  else if (path === '/tokens') page = <TokensPage />;
  else if (path === '/audit') page = <AuditPage isAdmin={isAdmin} />;
  else if (path === '/users' && isAdmin) page = <UsersPage me={me} />;
  else
    page = (
      <div>
        <h1>Not found</h1>
        <p>
          There is no page here. <Link to="/">Back to clusters</Link>
        </p>
      </div>
    );

  return (
    <>
      <a className="skip" href="#main">
        Skip to content
      </a>
      <header className="top">
        <Link to="/" className="brand">
          KubeKloud
        </Link>
        <button type="button" className="menu-toggle" aria-expanded={menuOpen} aria-controls="nav" onClick={() => setMenuOpen(!menuOpen)}>
          Menu
        </button>
        <nav id="nav" aria-label="Main" className={menuOpen ? 'open' : ''}>
          {nav.map(([to, label]) => (
            <Link key={to} to={to} current={section(to)}>
              {label}
            </Link>
          ))}
          <span className="who">
            {me.username}
            {isAdmin ? ' (admin)' : ''}
          </span>
          <button type="button" className="link" onClick={() => signOut()}>
            Sign out
          </button>
        </nav>
      </header>
      <main id="main" tabIndex={-1}>
        {page}
      </main>
      <ConfirmHost />
    </>
  );
}

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
