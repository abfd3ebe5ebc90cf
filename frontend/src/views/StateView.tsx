import { useEffect, useMemo, useRef, useState } from 'react';
import type { CollectionCount, Json, JsonObject, StateCollectionName, StateItem, SystemState } from '../api/types';
import { PagedRows } from '../model/pagedRows';
import { useApi } from './context';
import { JsonView } from './JsonView';
import { useThrottled, type AsyncState } from './useAsync';

/** The growing collections in the order the panel shows them, and where each is in the state. */
const COLLECTIONS: { name: StateCollectionName; label: string; kind: 'map' | 'list'; underSession?: boolean; agent?: boolean }[] = [
  { name: 'agents', label: 'agents', kind: 'map' },
  { name: 'tasks', label: 'tasks', kind: 'map', agent: true },
  { name: 'memory', label: 'memory', kind: 'map', agent: true },
  { name: 'communications', label: 'messages', kind: 'list', agent: true },
  { name: 'open_spans', label: 'open spans', kind: 'map', agent: true },
  { name: 'decisions', label: 'decisions', kind: 'list', underSession: true, agent: true },
  { name: 'coordination', label: 'coordination', kind: 'list', underSession: true, agent: true },
  { name: 'errors', label: 'errors', kind: 'list', underSession: true, agent: true },
  { name: 'alerts', label: 'alerts', kind: 'list', underSession: true, agent: true },
];
const SESSION_LISTS = new Set(COLLECTIONS.filter((c) => c.underSession).map((c) => c.name as string));
const OPEN_BY_DEFAULT = new Set<StateCollectionName>(['agents', 'tasks', 'memory']);

const ROW = 22;
const VISIBLE_ROWS = 12;
const OVERSCAN = 10;
/** A collection this big gets its search box even when the view carries all of it. */
const SEARCHABLE = 20;

function collectionValue(state: SystemState, name: StateCollectionName, underSession?: boolean): Json | undefined {
  const holder = (underSession ? state.session : state) as JsonObject;
  return holder?.[name] as Json | undefined;
}

function sizeOf(value: Json | undefined): number {
  if (Array.isArray(value)) return value.length;
  if (value && typeof value === 'object') return Object.keys(value).length;
  return 0;
}

/**
 * The state section of the debugger: the bounded view first (session, counters, and each growing
 * collection's count with its newest items), then any collection paged on demand: a virtual list
 * that asks the gateway only for the rows scrolled into view, with search within it. Nothing here
 * asks for a whole state, so stepping through a session of 100k events stays as fast as through 100.
 */
export function StateView({ sessionId, state, seq }: { sessionId: string; state: AsyncState<SystemState>; seq: number }) {
  const s = state.data;
  const stale = s && s.seq !== seq;
  const agents = useMemo(() => Object.keys(s?.agents ?? {}).sort(), [s?.agents]);
  return (
    <details open className="section">
      <summary>
        State <span className="muted small">{s ? `at seq ${s.seq}${stale ? ' (updating…)' : ''}` : state.loading ? 'loading…' : ''}</span>
      </summary>
      {state.error && <p className="error-text small">{state.error}</p>}
      {s && (
        <div className="variables" data-testid="variables" data-state-seq={s.seq}>
          <JsonView value={sessionScalars(s.session)} name="session" expandDepth={0} label="session" />
          <JsonView value={s.counters} name="counters" expandDepth={0} label="counters" />
          {COLLECTIONS.map((c) => {
            const value = collectionValue(s, c.name, c.underSession);
            const meta: CollectionCount | undefined =
              s.view?.collections[c.name] ?? (value !== undefined ? { count: sizeOf(value), included: sizeOf(value) } : undefined);
            if (!meta) return null;
            return (
              <CollectionSection
                key={c.name}
                sessionId={sessionId}
                seq={s.seq}
                name={c.name}
                label={c.label}
                kind={c.kind}
                meta={meta}
                value={value}
                agents={c.agent ? agents : []}
              />
            );
          })}
        </div>
      )}
    </details>
  );
}

/** The session without the lists shown as collections of their own. */
function sessionScalars(session: JsonObject): JsonObject {
  const out: JsonObject = {};
  for (const [k, v] of Object.entries(session ?? {})) if (!SESSION_LISTS.has(k)) out[k] = v;
  return out;
}

function CollectionSection({
  sessionId,
  seq,
  name,
  label,
  kind,
  meta,
  value,
  agents,
}: {
  sessionId: string;
  seq: number;
  name: StateCollectionName;
  label: string;
  kind: 'map' | 'list';
  meta: CollectionCount;
  value: Json | undefined;
  agents: string[];
}) {
  const [open, setOpen] = useState(OPEN_BY_DEFAULT.has(name) && meta.count > 0);
  const [query, setQuery] = useState('');
  const [prefix, setPrefix] = useState('');
  const [agent, setAgent] = useState('');
  const [order, setOrder] = useState<'asc' | 'desc'>(kind === 'list' ? 'desc' : 'asc');
  const complete = meta.included >= meta.count;
  const filtering = Boolean(query || prefix || agent);
  const paged = !complete || filtering;
  return (
    <details className="collection" open={open} onToggle={(e) => setOpen(e.currentTarget.open)} data-testid={`collection-${name}`}>
      <summary>
        <span className="mono">{label}</span> <span className="muted" data-testid={`count-${name}`}>{meta.count.toLocaleString()}</span>
        {!complete && <span className="muted small"> · paged</span>}
      </summary>
      {open && (
        <>
          {(meta.count > SEARCHABLE || filtering) && (
            <div className="collection-tools">
              <label className="sr-only" htmlFor={`q-${name}`}>
                Search {label}
              </label>
              <input
                id={`q-${name}`}
                className="mono"
                placeholder={`search ${label}`}
                value={query}
                onChange={(e) => setQuery(e.target.value)}
                data-testid={`search-${name}`}
              />
              {kind === 'map' && (
                <input className="mono" placeholder="key prefix" value={prefix} onChange={(e) => setPrefix(e.target.value)} aria-label={`${label} key prefix`} />
              )}
              {agents.length > 0 && (
                <select value={agent} onChange={(e) => setAgent(e.target.value)} aria-label={`${label} of agent`}>
                  <option value="">any agent</option>
                  {agents.map((a) => (
                    <option key={a} value={a}>
                      {a}
                    </option>
                  ))}
                </select>
              )}
              <button type="button" className="btn small ghost" onClick={() => setOrder(order === 'asc' ? 'desc' : 'asc')} title="reverse the order">
                {order === 'asc' ? (kind === 'list' ? 'oldest first' : 'A→Z') : kind === 'list' ? 'newest first' : 'Z→A'}
              </button>
            </div>
          )}
          {paged ? (
            <PagedList sessionId={sessionId} seq={seq} name={name} kind={kind} count={meta.count} order={order} q={query} prefix={prefix} agent={agent} />
          ) : (
            <JsonView value={value ?? null} name={label} expandDepth={kind === 'map' && meta.count <= 50 ? 1 : 0} label={label} />
          )}
        </>
      )}
    </details>
  );
}

function matches(found: number, more: boolean): string {
  return `${found.toLocaleString()} match${found === 1 ? '' : 'es'}${more ? ' so far (scroll for more)' : ''}`;
}

function preview(item: StateItem): string {
  const text = JSON.stringify(item.value) ?? '';
  return text.length > 160 ? `${text.slice(0, 160)}…` : text;
}

/** A virtual list of one collection at one seq: only the visible rows exist, their pages fetched as they scroll in. */
function PagedList({
  sessionId,
  seq,
  name,
  kind,
  count,
  order,
  q,
  prefix,
  agent,
}: {
  sessionId: string;
  seq: number;
  name: StateCollectionName;
  kind: 'map' | 'list';
  count: number;
  order: 'asc' | 'desc';
  q: string;
  prefix: string;
  agent: string;
}) {
  const api = useApi();
  const [, setTick] = useState(0);
  const [scrollTop, setScrollTop] = useState(0);
  const [selected, setSelected] = useState<StateItem | null>(null);
  const scroller = useRef<HTMLDivElement>(null);
  const search = useThrottled(q.trim(), 300);
  const keyPrefix = useThrottled(prefix, 300);
  const rows = useMemo(() => {
    const filters = { q: search || undefined, prefix: kind === 'map' && keyPrefix ? keyPrefix : undefined, agent: agent || undefined };
    return new PagedRows(
      (query, signal) => api.statePage(sessionId, seq, name, query, signal),
      { count, order, filters },
      () => setTick((t) => t + 1),
    );
  }, [api, sessionId, seq, name, kind, count, order, search, keyPrefix, agent]);
  useEffect(() => {
    setSelected(null);
    return () => rows.dispose();
  }, [rows]);
  useEffect(() => {
    if (scroller.current) scroller.current.scrollTop = 0;
    setScrollTop(0);
  }, [search, keyPrefix, agent, order]);

  const total = rows.total;
  const first = Math.max(0, Math.floor(scrollTop / ROW) - OVERSCAN);
  const last = Math.min(total, Math.ceil((scrollTop + VISIBLE_ROWS * ROW) / ROW) + OVERSCAN);
  useEffect(() => rows.ensure(first, last), [rows, first, last]);

  const visible: { index: number; item: StateItem | undefined }[] = [];
  for (let i = first; i < last; i++) visible.push({ index: i, item: rows.row(i) });
  return (
    <div className="paged" data-testid={`paged-${name}`}>
      <div className="muted small">
        {rows.filtered ? matches(rows.total - (rows.more ? 1 : 0), rows.more) : `${count.toLocaleString()} items`}
        {rows.error && <span className="error-text"> · {rows.error}</span>}
      </div>
      <div
        className="paged-scroll"
        ref={scroller}
        style={{ height: Math.min(VISIBLE_ROWS, Math.max(total, 1)) * ROW }}
        onScroll={(e) => setScrollTop(e.currentTarget.scrollTop)}
        role="listbox"
        aria-label={`${name} at seq ${seq}`}
        tabIndex={0}
      >
        <div style={{ height: total * ROW, position: 'relative' }}>
          {visible.map(({ index, item }) => (
            <div
              key={index}
              role="option"
              aria-selected={selected !== null && item !== undefined && selected.key === item.key}
              className={`paged-row${item ? '' : ' loading'}`}
              style={{ top: index * ROW, height: ROW }}
              onClick={() => item && setSelected(item)}
              data-key={item ? String(item.key) : undefined}
            >
              {item ? (
                <>
                  <span className="mono paged-key">{kind === 'list' ? `#${item.key}` : String(item.key)}</span>{' '}
                  <span className="mono muted paged-preview">{preview(item)}</span>
                </>
              ) : (
                <span className="muted">…</span>
              )}
            </div>
          ))}
        </div>
      </div>
      {selected && (
        <div className="paged-detail" data-testid={`detail-${name}`}>
          <JsonView value={selected.value} name={kind === 'list' ? `#${selected.key}` : String(selected.key)} expandDepth={2} label={`${name} item`} />
        </div>
      )}
    </div>
  );
}
