import { lazy, Suspense, useEffect, useState } from 'react';
import { onLinkClick, parseRoute, useLocationKey } from './lib/router';
import { AuthPrompt } from './views/AuthPrompt';
import { useApi } from './views/context';
import { Dashboard } from './views/Dashboard';

// Views away from the debugging path load on demand: a deep link to a session boots faster.
const Compare = lazy(() => import('./views/Compare').then((m) => ({ default: m.Compare })));
const DeadLetters = lazy(() => import('./views/DeadLetters').then((m) => ({ default: m.DeadLetters })));
const ImportView = lazy(() => import('./views/ImportExport').then((m) => ({ default: m.ImportView })));
const SessionsList = lazy(() => import('./views/SessionsList').then((m) => ({ default: m.SessionsList })));

export function App() {
  const api = useApi();
  const key = useLocationKey();
  const [asking, setAsking] = useState<{ refused: string | null; done: (k: string | null) => void } | null>(null);

  useEffect(() => {
    api.onKeyNeeded(
      (refused) =>
        new Promise<string | null>((resolve) => {
          setAsking({
            refused,
            done: (k: string | null) => {
              setAsking(null);
              resolve(k);
            },
          });
        }),
    );
  }, [api]);

  const url = new URL(key, 'http://x');
  const route = parseRoute(url.pathname, url.search);
  const nav = (href: string, label: string, active: boolean) => (
    <a href={href} onClick={onLinkClick} className={active ? 'nav-link active' : 'nav-link'} aria-current={active ? 'page' : undefined}>
      {label}
    </a>
  );

  return (
    <div className="app">
      <header className="topbar" role="banner">
        <a href="/" onClick={onLinkClick} className="brand" aria-label="swarmscope home">
          <span className="brand-mark" aria-hidden="true">◎</span> swarmscope
        </a>
        <nav aria-label="main" className="topnav">
          {nav('/', 'Sessions', route.name === 'sessions' || route.name === 'session')}
          {nav('/compare', 'Compare', route.name === 'compare')}
          {nav('/dlq', 'Dead letters', route.name === 'dlq')}
          {nav('/import', 'Import', route.name === 'import')}
        </nav>
        <div className="topbar-right">
          {!api.apiKey && api.declined ? (
            <button
              type="button"
              className="btn small"
              onClick={() => {
                api.declined = false;
                window.location.reload();
              }}
              title="This gateway requires an API key"
            >
              Enter API key
            </button>
          ) : null}
          {api.apiKey ? (
            <button
              type="button"
              className="btn ghost small"
              onClick={() => {
                api.setApiKey(null);
                window.location.reload();
              }}
              title="Forget the API key kept for this tab"
            >
              Forget key
            </button>
          ) : null}
        </div>
      </header>
      <main className="app-main">
        <Suspense fallback={<div className="page muted">Loading…</div>}>
        {route.name === 'sessions' && <SessionsList />}
        {route.name === 'session' && <Dashboard key={route.id} sessionId={route.id} />}
        {route.name === 'compare' && <Compare a={route.a} b={route.b} />}
        {route.name === 'dlq' && <DeadLetters />}
        {route.name === 'import' && <ImportView />}
        {route.name === 'notfound' && (
          <div className="empty-page">
            <h1>Not found</h1>
            <p>
              No view at <code>{route.path}</code>.{' '}
              <a href="/" onClick={onLinkClick}>
                Back to sessions
              </a>
            </p>
          </div>
        )}
        </Suspense>
      </main>
      {asking && <AuthPrompt refused={asking.refused} onDone={asking.done} />}
    </div>
  );
}
