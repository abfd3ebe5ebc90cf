import { useCallback, useEffect, useRef, useState } from 'react';
import type { SessionSummary } from '../api/types';
import { fmtCost, fmtDateTime, fmtDuration, fmtInt } from '../lib/format';
import { navigate, onLinkClick } from '../lib/router';
import { sessionStatusGlyph } from '../model/categories';
import { sourceClass, sourceStyle } from '../model/sources';
import { useApi } from './context';
import { errorText } from './useAsync';

const REFRESH_MS = 3000;
const STATUSES = ['', 'active', 'completed', 'failed'];

/** Sessions, newest first, refreshed while visible: live status, search, status filter. */
export function SessionsList() {
  const api = useApi();
  const params = new URLSearchParams(window.location.search);
  const [q, setQ] = useState(params.get('q') ?? '');
  const [status, setStatus] = useState(params.get('status') ?? '');
  const [items, setItems] = useState<SessionSummary[]>([]);
  const [next, setNext] = useState<string | null>(null);
  const [pages, setPages] = useState(1);
  const [error, setError] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  const [picked, setPicked] = useState<string[]>([]);
  const gen = useRef(0);

  const load = useCallback(
    async (signal?: AbortSignal) => {
      const my = ++gen.current;
      try {
        // Refresh every page shown so far, so "load more" survives the live refresh.
        let cursor: string | null = null;
        const all: SessionSummary[] = [];
        for (let i = 0; i < pages; i++) {
          const page = await api.sessions({ q: q.trim() || undefined, status: status || undefined, limit: 100, cursor }, signal);
          all.push(...page.items);
          cursor = page.next_cursor ?? null;
          if (!cursor) break;
        }
        if (my !== gen.current) return;
        setItems(all);
        setNext(cursor);
        setError(null);
      } catch (err) {
        if (my === gen.current && !signal?.aborted) setError(errorText(err));
      } finally {
        if (my === gen.current) setLoading(false);
      }
    },
    [api, q, status, pages],
  );

  useEffect(() => {
    const ctl = new AbortController();
    const t = setTimeout(() => void load(ctl.signal), 200);
    const timer = setInterval(() => {
      if (document.visibilityState === 'visible') void load(ctl.signal);
    }, REFRESH_MS);
    const url = new URL(window.location.href);
    url.searchParams.delete('q');
    url.searchParams.delete('status');
    if (q) url.searchParams.set('q', q);
    if (status) url.searchParams.set('status', status);
    window.history.replaceState(null, '', url.pathname + url.search);
    return () => {
      ctl.abort();
      clearTimeout(t);
      clearInterval(timer);
    };
  }, [load, q, status]);

  const toggle = (id: string) =>
    setPicked((p) => (p.includes(id) ? p.filter((x) => x !== id) : [...p.slice(-1), id]));

  return (
    <div className="page sessions-page">
      <div className="page-head">
        <h1>Sessions</h1>
        <div className="toolbar" role="search">
          <label className="sr-only" htmlFor="session-q">
            Search sessions
          </label>
          <input
            id="session-q"
            type="search"
            placeholder="Search id, name, objective…"
            value={q}
            onChange={(e) => setQ(e.target.value)}
          />
          <label htmlFor="session-status">Status</label>
          <select id="session-status" value={status} onChange={(e) => setStatus(e.target.value)}>
            {STATUSES.map((s) => (
              <option key={s} value={s}>
                {s || 'any'}
              </option>
            ))}
          </select>
          <button
            type="button"
            className="btn"
            disabled={picked.length !== 2}
            onClick={() => navigate(`/compare?a=${encodeURIComponent(picked[0] ?? '')}&b=${encodeURIComponent(picked[1] ?? '')}`)}
            title="Tick two sessions to compare them"
          >
            Compare {picked.length}/2
          </button>
          <span className="muted small" aria-live="polite">
            {loading ? 'loading…' : `${items.length} session${items.length === 1 ? '' : 's'} · refreshes every 3 s`}
          </span>
        </div>
      </div>
      {error && (
        <div className="error-box" role="alert">
          Could not load sessions: {error}
        </div>
      )}
      <div className="table-wrap">
        <table className="grid sessions-table">
          <thead>
            <tr>
              <th scope="col">
                <span className="sr-only">Pick for compare</span>
              </th>
              <th scope="col">Status</th>
              <th scope="col">Session</th>
              <th scope="col">Source</th>
              <th scope="col">Objective</th>
              <th scope="col">Started</th>
              <th scope="col" className="num">
                Duration
              </th>
              <th scope="col" className="num">
                Events
              </th>
              <th scope="col" className="num">
                Agents
              </th>
              <th scope="col" className="num">
                Errors
              </th>
              <th scope="col" className="num">
                Tokens
              </th>
              <th scope="col" className="num">
                Cost
              </th>
              <th scope="col">Export</th>
            </tr>
          </thead>
          <tbody>
            {items.map((s) => {
              const end = s.end_time ?? s.last_event_time ?? null;
              return (
                <tr key={s.id} className={`status-${s.status}`} data-session={s.id}>
                  <td>
                    <input
                      type="checkbox"
                      aria-label={`Pick ${s.id} for compare`}
                      checked={picked.includes(s.id)}
                      onChange={() => toggle(s.id)}
                    />
                  </td>
                  <td>
                    <span className={`status-badge status-${s.status}`}>
                      <span aria-hidden="true">{sessionStatusGlyph(s.status)}</span> {s.status}
                    </span>
                    {s.status === 'active' && <Activity last={s.last_event_time ?? null} />}
                  </td>
                  <td>
                    <a href={`/sessions/${encodeURIComponent(s.id)}`} onClick={onLinkClick} className="session-link">
                      {s.name && s.name !== s.id ? (
                        <>
                          <strong>{s.name}</strong> <span className="muted">{s.id}</span>
                        </>
                      ) : (
                        <strong>{s.id}</strong>
                      )}
                    </a>
                  </td>
                  <td>
                    <span className={`source-badge ${sourceClass(s.source)}`} title={sourceStyle(s.source).title}>
                      {sourceStyle(s.source).label}
                    </span>
                  </td>
                  <td className="objective" title={s.objective ?? ''}>
                    {s.objective ?? ''}
                  </td>
                  <td>{fmtDateTime(s.start_time)}</td>
                  <td className="num">{s.start_time && end ? fmtDuration(end - s.start_time) : '—'}</td>
                  <td className="num">{fmtInt(s.event_count)}</td>
                  <td className="num">{fmtInt(s.agent_count)}</td>
                  <td className={s.error_count ? 'num err-text' : 'num'}>
                    {s.error_count ? `⚠ ${fmtInt(s.error_count)}` : '0'}
                  </td>
                  <td className="num">{fmtInt(s.tokens)}</td>
                  <td className="num">{fmtCost(s.cost)}</td>
                  <td>
                    <a href={api.exportUrl(s.id)} download={`${s.id}.jsonl`} className="small" aria-label={`Export ${s.id} as JSONL`}>
                      JSONL
                    </a>
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
        {!loading && !items.length && !error && (
          <div className="empty">
            No sessions{q || status ? ' match' : ' yet'}. Agents publish with the Python SDK, an OpenTelemetry exporter
            (<code>OTEL_EXPORTER_OTLP_ENDPOINT</code> = this server), the HTTP ingest endpoint or{' '}
            <code>swarmscope demo</code>; or{' '}
            <a href="/import" onClick={onLinkClick}>
              import a JSONL file
            </a>
            .
          </div>
        )}
        {next && (
          <button type="button" className="btn load-more" onClick={() => setPages((p) => p + 1)}>
            Load more
          </button>
        )}
      </div>
    </div>
  );
}

/** For an active session: is it still emitting? ("live" within 15 s, else how long it has been quiet). */
function Activity({ last }: { last: number | null }) {
  if (!last) return null;
  const quiet = Date.now() - last;
  if (quiet < 15_000) return <span className="activity live-now"> ⇅ live</span>;
  return <span className="activity muted small"> quiet {fmtDuration(quiet)}</span>;
}
