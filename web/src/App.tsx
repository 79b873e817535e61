import { useQueryClient } from '@tanstack/react-query';
import { lazy, Suspense, useEffect, useState } from 'react';
import { api } from './api/client.ts';
import { setLookupMetadata } from './api/lookups.ts';
import { useMetadata } from './api/metadata.ts';
import { clearSession, getSession, onSessionChange, refreshDelay, refreshSession, type Session } from './api/session.ts';
import { ConflictProvider } from './components/conflict.tsx';
import { SearchPalette } from './components/SearchPalette.tsx';
import { ErrorState, Loading, ToastProvider } from './components/ui.tsx';
import { Link, listPath, match, navigate, useLocation } from './lib/router.tsx';
import { AdminApiKeys, AdminFields, AdminUsers } from './screens/Admin.tsx';
import { CaseQueue } from './screens/CaseQueue.tsx';
import { ListView } from './screens/ListView.tsx';
import { Login } from './screens/Login.tsx';
import { Pipeline } from './screens/Pipeline.tsx';
import { RecordEdit, RecordNew, RecordPage } from './screens/RecordPage.tsx';
import { Resilience } from './screens/Resilience.tsx';

// Charts are the heaviest dependency; load them with the dashboard only.
const Dashboard = lazy(() => import('./screens/Dashboard.tsx'));

function useSession(): { session: Session | null; notice: string | null } {
  const [session, setSession] = useState(getSession);
  const [notice, setNotice] = useState<string | null>(null);
  useEffect(
    () =>
      onSessionChange((s, reason) => {
        setSession(s);
        if (!s && reason === 'expired') setNotice('Your session ended. Sign in again to continue.');
        if (s) setNotice(null);
      }),
    [],
  );
  // Refresh ahead of expiry (and on waking from sleep), so work is never interrupted.
  useEffect(() => {
    if (!session) return;
    const tick = () => {
      const s = getSession();
      if (s && refreshDelay(s) === 0) refreshSession().catch(() => {});
    };
    const t = setTimeout(() => refreshSession().catch(() => {}), refreshDelay(session));
    const onVisible = () => document.visibilityState === 'visible' && tick();
    document.addEventListener('visibilitychange', onVisible);
    window.addEventListener('online', tick);
    return () => {
      clearTimeout(t);
      document.removeEventListener('visibilitychange', onVisible);
      window.removeEventListener('online', tick);
    };
  }, [session]);
  return { session, notice };
}

export function App() {
  const { session, notice } = useSession();
  const qc = useQueryClient();
  useEffect(() => {
    if (!session) qc.clear();
  }, [session, qc]);
  if (!session) return <Login notice={notice} />;
  return (
    <ToastProvider>
      <ConflictProvider>
        <Shell session={session} />
      </ConflictProvider>
    </ToastProvider>
  );
}

async function signOut(session: Session) {
  try {
    await api('/api/v1/auth/logout', { method: 'POST', body: { refreshToken: session.refreshToken } });
  } catch {
    /* signing out locally matters most; the token expires anyway */
  }
  clearSession();
  navigate('/', { replace: true });
}

function Shell({ session }: { session: Session }) {
  const meta = useMetadata();
  const [searching, setSearching] = useState(false);
  const [navOpen, setNavOpen] = useState(false);
  const [menuOpen, setMenuOpen] = useState(false);
  const { pathname } = useLocation();
  useEffect(() => setLookupMetadata(meta.data ?? []), [meta.data]);
  useEffect(() => {
    setNavOpen(false);
    setMenuOpen(false);
  }, [pathname]);

  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      const typing = e.target instanceof HTMLElement && (e.target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(e.target.tagName));
      if ((e.key === 'k' || e.key === 'K') && (e.ctrlKey || e.metaKey)) {
        e.preventDefault();
        setSearching(true);
      } else if (e.key === '/' && !typing) {
        e.preventDefault();
        setSearching(true);
      }
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, []);

  const objects = meta.data ?? [];
  const has = (name: string) => objects.some((o) => o.name === name);
  const navItem = (to: string, label: string, active: boolean) => (
    <li key={to}>
      <Link to={to} className={active ? 'active' : undefined} aria-current={active ? 'page' : undefined}>
        {label}
      </Link>
    </li>
  );

  return (
    <div className={`shell${navOpen ? ' nav-open' : ''}`}>
      <a href="#main" className="skip-link">
        Skip to content
      </a>
      <header className="topbar">
        <button type="button" className="icon-btn nav-toggle" aria-label="Menu" aria-expanded={navOpen} onClick={() => setNavOpen((o) => !o)}>
          ☰
        </button>
        <Link to="/" className="brand">
          <img src="/favicon.svg" alt="" width={24} height={24} />
          <span>Basalt</span>
        </Link>
        <button type="button" className="search-trigger" onClick={() => setSearching(true)} aria-keyshortcuts="Control+K /">
          <span>Search…</span>
          <kbd>Ctrl K</kbd>
        </button>
        <div className="user-menu">
          <button type="button" className="btn btn-ghost" aria-haspopup="menu" aria-expanded={menuOpen} onClick={() => setMenuOpen((o) => !o)}>
            <span className="avatar" aria-hidden="true">
              {(session.user.name || session.user.email).slice(0, 1).toUpperCase()}
            </span>
            <span className="user-name">{session.user.name || session.user.email}</span>
          </button>
          {menuOpen && (
            <div className="menu" role="menu">
              <div className="menu-info">
                <div>{session.user.email}</div>
                <div className="muted">Role: {session.user.role}</div>
              </div>
              <button type="button" role="menuitem" onClick={() => void signOut(session)}>
                Sign out
              </button>
            </div>
          )}
        </div>
      </header>
      <nav className="sidenav" aria-label="Main">
        <ul>
          {navItem('/', 'Dashboard', pathname === '/')}
          {has('opportunities') && navItem('/pipeline', 'Pipeline', pathname === '/pipeline')}
          {has('cases') && navItem('/queue', 'Case queue', pathname === '/queue')}
          {navItem('/resilience', 'Resilience', pathname === '/resilience')}
        </ul>
        <h2 className="nav-heading">Records</h2>
        {meta.isLoading && <Loading />}
        {meta.error ? <ErrorState error={meta.error} retry={() => void meta.refetch()} /> : null}
        <ul>{objects.map((o) => navItem(listPath(o.name), o.labelPlural, pathname.startsWith(listPath(o.name))))}</ul>
        {session.user.role === 'admin' && (
          <>
            <h2 className="nav-heading">Admin</h2>
            <ul>
              {navItem('/admin/users', 'Users', pathname === '/admin/users')}
              {navItem('/admin/fields', 'Custom fields', pathname === '/admin/fields')}
              {navItem('/admin/api-keys', 'API keys', pathname === '/admin/api-keys')}
            </ul>
          </>
        )}
      </nav>
      <main id="main" className="content" tabIndex={-1}>
        <Routes session={session} />
      </main>
      {searching && <SearchPalette onClose={() => setSearching(false)} />}
    </div>
  );
}

function Routes({ session }: { session: Session }) {
  const { pathname } = useLocation();
  if (pathname === '/' || pathname === '/dashboard')
    return (
      <Suspense fallback={<Loading />}>
        <Dashboard />
      </Suspense>
    );
  if (pathname === '/pipeline') return <Pipeline />;
  if (pathname === '/queue') return <CaseQueue session={session} />;
  if (pathname === '/resilience') return <Resilience />;
  if (pathname === '/admin/users') return <AdminUsers />;
  if (pathname === '/admin/fields') return <AdminFields />;
  if (pathname === '/admin/api-keys') return <AdminApiKeys />;
  const recordNew = match('/o/:object/new', pathname);
  if (recordNew) return <RecordNew key={pathname} object={recordNew.object} />;
  const recordEdit = match('/o/:object/:id/edit', pathname);
  if (recordEdit) return <RecordEdit key={pathname} object={recordEdit.object} id={recordEdit.id} />;
  const record = match('/o/:object/:id', pathname);
  if (record) return <RecordPage key={pathname} object={record.object} id={record.id} />;
  const list = match('/o/:object', pathname);
  if (list) return <ListView key={pathname} object={list.object} userId={session.user.id} />;
  return (
    <div className="state state-empty">
      <strong>Page not found</strong>
      <Link to="/">Go to the dashboard</Link>
    </div>
  );
}
