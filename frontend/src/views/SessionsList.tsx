import { useCallback, useEffect, useRef, useState } from 'react';
import type { SessionsQuery } from '../api/client';
import type { SessionFacets, SessionSummary } from '../api/types';
import { fmtCost, fmtDateTime, fmtDuration, fmtInt } from '../lib/format';
import { navigate, onLinkClick, replaceQuery } from '../lib/router';
import { sessionStatusGlyph } from '../model/categories';
import {
  activeFilters,
  ATTRIBUTES,
  filtersFromParams,
  filtersToParams,
  filtersToQuery,
  fromLocalInput,
  NO_FILTERS,
  toLocalInput,
  type Attribute,
  type SessionFilters,
} from '../model/sessionSearch';
import { sourceClass, sourceStyle } from '../model/sources';
import { useApi } from './context';
import { ExportLink } from './ExportLink';
import { errorText } from './useAsync';

const REFRESH_MS = 3000;
const STATUSES = ['', 'active', 'completed', 'failed', 'cancelled'];
const ATTRIBUTE_LABELS: Record<Attribute, string> = { agent_type: 'agent type', tool: 'tool', model: 'model', error_type: 'error type' };

/** Sessions, newest first, refreshed while visible: live status, search by text and by attribute. */
export function SessionsList() {
  const api = useApi();
  const [filters, setFilters] = useState<SessionFilters>(() => filtersFromParams(new URLSearchParams(window.location.search)));
  const [items, setItems] = useState<SessionSummary[]>([]);
  const [next, setNext] = useState<string | null>(null);
  const [pages, setPages] = useState(1);
  const [error, setError] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  const [picked, setPicked] = useState<string[]>([]);
  const [facets, setFacets] = useState<SessionFacets | null>(null);
  const gen = useRef(0);
  const set = (patch: Partial<SessionFilters>) => setFilters((f) => ({ ...f, ...patch }));
  const query = filtersToQuery(filters);
  const queryKey = JSON.stringify(query);

  const load = useCallback(
    async (signal?: AbortSignal) => {
      const my = ++gen.current;
      try {
        // Refresh every page shown so far, so "load more" survives the live refresh.
        let cursor: string | null = null;
        const all: SessionSummary[] = [];
        for (let i = 0; i < pages; i++) {
          const page = await api.sessions({ ...(JSON.parse(queryKey) as SessionsQuery), limit: 100, cursor }, signal);
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
    [api, queryKey, pages],
  );

  useEffect(() => {
    const ctl = new AbortController();
    const t = setTimeout(() => void load(ctl.signal), 200);
    const timer = setInterval(() => {
      if (document.visibilityState === 'visible') void load(ctl.signal);
    }, REFRESH_MS);
    return () => {
      ctl.abort();
      clearTimeout(t);
      clearInterval(timer);
    };
  }, [load]);

  // The search is a link: every filter in the URL.
  useEffect(() => replaceQuery(filtersToParams(filters)), [filters]);

  // The values to search by, refreshed now and then (new tools and models appear with new sessions).
  useEffect(() => {
    const ctl = new AbortController();
    const fetchFacets = () =>
      api
        .facets(ctl.signal)
        .then(setFacets)
        .catch(() => undefined);
    void fetchFacets();
    const timer = setInterval(() => {
      if (document.visibilityState === 'visible') void fetchFacets();
    }, 30_000);
    return () => {
      ctl.abort();
      clearInterval(timer);
    };
  }, [api]);

  const active = activeFilters(filters);
  const since = (ms: number) => set({ from: Date.now() - ms, to: null });

  const toggle = (id: string) =>
    setPicked((p) => (p.includes(id) ? p.filter((x) => x !== id) : [...p.slice(-1), id]));

  return (
    <div className="page sessions-page">
      <div className="page-head">
        <h1>Sessions</h1>
        <div className="toolbar" role="search" aria-label="search sessions">
          <label className="sr-only" htmlFor="session-q">
            Search sessions
          </label>
          <input
            id="session-q"
            type="search"
            placeholder="Search id, name, objective…"
            value={filters.q}
            onChange={(e) => set({ q: e.target.value })}
          />
          <label htmlFor="session-status">Status</label>
          <select id="session-status" value={filters.status} onChange={(e) => set({ status: e.target.value })}>
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
          <span className="muted small" aria-live="polite" data-testid="sessions-count">
            {loading ? 'loading…' : `${items.length}${next ? '+' : ''} session${items.length === 1 ? '' : 's'} · refreshes every 3 s`}
          </span>
        </div>
      </div>
      <div className="filters" role="group" aria-label="search by attribute" data-testid="session-filters">
        {ATTRIBUTES.map((a) => (
          <label key={a} className="filter">
            <span>{ATTRIBUTE_LABELS[a]}</span>
            <select value={filters[a]} onChange={(e) => set({ [a]: e.target.value } as Partial<SessionFilters>)} data-testid={`filter-${a}`}>
              <option value="">any</option>
              {/* A value from the URL that no session has (any more) stays choosable. */}
              {filters[a] && !facets?.[a].some((f) => f.value === filters[a]) && <option value={filters[a]}>{filters[a]}</option>}
              {facets?.[a].map((f) => (
                <option key={f.value} value={f.value}>
                  {f.value} ({f.sessions})
                </option>
              ))}
            </select>
          </label>
        ))}
        <label className="filter">
          <span>from</span>
          <input type="datetime-local" value={toLocalInput(filters.from)} onChange={(e) => set({ from: fromLocalInput(e.target.value) })} data-testid="filter-from" />
        </label>
        <label className="filter">
          <span>to</span>
          <input type="datetime-local" value={toLocalInput(filters.to)} onChange={(e) => set({ to: fromLocalInput(e.target.value) })} data-testid="filter-to" />
        </label>
        <span className="seg small" role="group" aria-label="recent">
          <button type="button" className="seg-btn" onClick={() => since(3_600_000)}>
            1 h
          </button>
          <button type="button" className="seg-btn" onClick={() => since(86_400_000)}>
            24 h
          </button>
          <button type="button" className="seg-btn" onClick={() => since(7 * 86_400_000)}>
            7 d
          </button>
        </span>
        <label className="filter">
          <span>cost $</span>
          <input
            type="number"
            min={0}
            step="0.01"
            placeholder="min"
            className="cost"
            value={filters.minCost}
            onChange={(e) => set({ minCost: e.target.value })}
            aria-label="minimum cost in USD"
            data-testid="filter-min-cost"
          />
          <span aria-hidden="true">–</span>
          <input
            type="number"
            min={0}
            step="0.01"
            placeholder="max"
            className="cost"
            value={filters.maxCost}
            onChange={(e) => set({ maxCost: e.target.value })}
            aria-label="maximum cost in USD"
          />
        </label>
        <label className="filter small" title="the _system session: performance alerts of the services themselves">
          <input type="checkbox" checked={filters.internal} onChange={(e) => set({ internal: e.target.checked })} data-testid="filter-internal" /> internal sessions
        </label>
        {active > 0 && (
          <button type="button" className="btn ghost small" onClick={() => setFilters({ ...NO_FILTERS, q: filters.q })}>
            clear {active} filter{active === 1 ? '' : 's'} ✕
          </button>
        )}
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
                    <ExportLink sessionId={s.id} className="small">
                      JSONL
                    </ExportLink>
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
        {!loading && !items.length && !error && (
          <div className="empty">
            No sessions{filters.q || active ? ' match' : ' yet'}. Agents publish with the Python SDK, an OpenTelemetry exporter
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
