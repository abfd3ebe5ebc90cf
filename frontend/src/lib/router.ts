import { useSyncExternalStore } from 'react';

/** A minimal history router: every view is a URL (deep links), with no router dependency. */

const CHANGE = 'swarmscope:navigate';

function subscribe(cb: () => void): () => void {
  window.addEventListener('popstate', cb);
  window.addEventListener(CHANGE, cb);
  return () => {
    window.removeEventListener('popstate', cb);
    window.removeEventListener(CHANGE, cb);
  };
}

function snapshot(): string {
  return window.location.pathname + window.location.search;
}

export function useLocationKey(): string {
  return useSyncExternalStore(subscribe, snapshot, () => '/');
}

export function navigate(to: string, opts: { replace?: boolean } = {}): void {
  if (to === snapshot()) return;
  if (opts.replace) window.history.replaceState(null, '', to);
  else window.history.pushState(null, '', to);
  window.dispatchEvent(new Event(CHANGE));
}

/** Rewrites the query string without a navigation event (the view already shows that state). */
export function replaceQuery(params: Record<string, string | number | null | undefined>): void {
  const url = new URL(window.location.href);
  for (const [k, v] of Object.entries(params)) {
    if (v === null || v === undefined || v === '') url.searchParams.delete(k);
    else url.searchParams.set(k, String(v));
  }
  const next = url.pathname + url.search;
  if (next !== snapshot()) window.history.replaceState(null, '', next);
}

export type Route =
  | { name: 'sessions' }
  | { name: 'session'; id: string }
  | { name: 'compare'; a: string | null; b: string | null }
  | { name: 'dlq' }
  | { name: 'import' }
  | { name: 'notfound'; path: string };

export function parseRoute(pathname: string, search: string): Route {
  const q = new URLSearchParams(search);
  const path = pathname.replace(/\/+$/, '') || '/';
  if (path === '/' || path === '/sessions') return { name: 'sessions' };
  const m = /^\/sessions\/([^/]+)$/.exec(path);
  if (m) {
    try {
      return { name: 'session', id: decodeURIComponent(m[1] as string) };
    } catch {
      return { name: 'notfound', path };
    }
  }
  if (path === '/compare') return { name: 'compare', a: q.get('a'), b: q.get('b') };
  if (path === '/dlq' || path === '/dead-letters') return { name: 'dlq' };
  if (path === '/import') return { name: 'import' };
  return { name: 'notfound', path };
}

/** Click handler for in-app links: keeps modifier-clicks (new tab) working as the browser does. */
export function onLinkClick(e: React.MouseEvent<HTMLAnchorElement>): void {
  if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  const href = e.currentTarget.getAttribute('href');
  if (!href || !href.startsWith('/') || href.startsWith('/api/')) return;
  e.preventDefault();
  navigate(href);
}
