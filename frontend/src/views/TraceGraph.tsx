import { lazy, memo, Suspense, useEffect, useMemo, useRef, useState } from 'react';
import { hierarchy, tree, type HierarchyPointNode } from 'd3-hierarchy';
import { fmtDuration, fmtInt, fmtCost } from '../lib/format';
import { useStore, useStoreThrottled } from '../lib/store';
import { liveWait, versionAndCursor } from '../state/throttle';
import { SESSION_LANE } from '../model/agents';
import { ALL_CATEGORIES, CATEGORY_STYLES, type Category } from '../model/categories';
import { effectiveSeq } from '../model/cursor';
import { buildCallTree, pinnedPath, type TreeItem } from '../model/hierarchy';
import { shapePath } from '../model/shapes';
import { hasErrorAt, spanDurationAt, spanStatusAt, type Span } from '../model/spans';
import type { SessionModel } from '../state/sessionModel';
import { useZoom } from './useZoom';
import { GraphFooter } from './GraphFooter';
import { fitTransform } from '../model/viewport';
import { zoomIdentity } from 'd3-zoom';

import type { GraphFilters, GraphLayoutName } from './graphProps';

export type { GraphFilters, GraphLayoutName } from './graphProps';

// The call tree is the default view; the other layouts (and d3-force) load when chosen.
const AgentGraphView = lazy(() => import('./AgentGraphView').then((m) => ({ default: m.AgentGraphView })));
const SequenceView = lazy(() => import('./SequenceView').then((m) => ({ default: m.SequenceView })));
const WaterfallView = lazy(() => import('./WaterfallView').then((m) => ({ default: m.WaterfallView })));

const LAYOUT_NAMES: Record<GraphLayoutName, string> = { hierarchical: 'Call tree', force: 'Agents', sequence: 'Sequence', timeline: 'Timeline' };
const COL_W = 210;
/** Characters of a node label that fit in a column at 11 px (DejaVu Sans, the widest common UI font). */
const LABEL_CHARS = Math.floor((COL_W - 24) / 6.6);
const ROW_H = 24;

/** The main trace graph: call tree, agent interaction graph, or span timeline, at the cursor. */
export const TraceGraph = memo(function TraceGraph({
  model,
  layout,
  setLayout,
  agentFilter,
}: {
  model: SessionModel;
  layout: GraphLayoutName;
  setLayout: (l: GraphLayoutName) => void;
  agentFilter: string | null;
}) {
  const [filters, setFilters] = useState<GraphFilters>({ categories: null, hideCompleted: false, maxDepth: 5 });
  const selection = useStore(model.view, (v) => v.selection);
  const zoomCmd = useRef<{ zoomBy: (k: number) => void; fit: () => void } | null>(null);

  const toggleCat = (c: Category) => {
    const cur = filters.categories ?? new Set(ALL_CATEGORIES);
    const next = new Set(cur);
    if (next.has(c)) next.delete(c);
    else next.add(c);
    setFilters({ ...filters, categories: next.size === ALL_CATEGORIES.length ? null : next });
  };

  return (
    <div className="trace-graph">
      <div className="graph-toolbar" role="toolbar" aria-label="graph controls">
        <div className="seg" role="group" aria-label="layout">
          {(['hierarchical', 'force', 'sequence', 'timeline'] as GraphLayoutName[]).map((l) => (
            <button
              key={l}
              type="button"
              className={layout === l ? 'seg-btn active' : 'seg-btn'}
              aria-pressed={layout === l}
              onClick={() => setLayout(l)}
              data-testid={`layout-${l}`}
            >
              {LAYOUT_NAMES[l]}
            </button>
          ))}
        </div>
        {layout !== 'sequence' && (
          <>
        <button type="button" className="btn icon" aria-label="zoom in" title="zoom in" onClick={() => zoomCmd.current?.zoomBy(1.3)}>
          ⊕
        </button>
        <button type="button" className="btn icon" aria-label="zoom out" title="zoom out" onClick={() => zoomCmd.current?.zoomBy(1 / 1.3)}>
          ⊖
        </button>
        <button type="button" className="btn icon" aria-label="fit to view" title="fit to view" onClick={() => zoomCmd.current?.fit()}>
          ⤢
        </button>
                  </>
        )}
        {(layout === 'hierarchical' || layout === 'timeline') && (
          <>
<span className="sep" />
        <div className="cat-filters" role="group" aria-label="filter by event category">
          {ALL_CATEGORIES.filter((c) => c !== 'other').map((c) => {
            const on = !filters.categories || filters.categories.has(c);
            const st = CATEGORY_STYLES[c];
            return (
              <button
                key={c}
                type="button"
                className={on ? 'cat-chip on' : 'cat-chip'}
                aria-pressed={on}
                onClick={() => toggleCat(c)}
                title={`${on ? 'hide' : 'show'} ${st.label}`}
                aria-label={`${st.label} events`}
              >
                <span style={{ color: st.color }} aria-hidden="true">
                  {st.glyph}
                </span>
                <span className="cat-label"> {st.label}</span>
              </button>
            );
          })}
        </div>
          </>
        )}
        {layout === 'hierarchical' && (
          <>
            <label className="small">
              <input type="checkbox" checked={filters.hideCompleted} onChange={(e) => setFilters({ ...filters, hideCompleted: e.target.checked })} /> open &amp;
              failed only
            </label>
            <label className="small depth-label" htmlFor="depth-sel">
              depth
            </label>
            <select id="depth-sel" value={filters.maxDepth} onChange={(e) => setFilters({ ...filters, maxDepth: Number(e.target.value) })}>
              {[2, 3, 4, 5, 6, 8, 12, 50].map((d) => (
                <option key={d} value={d}>
                  {d === 50 ? 'all' : d}
                </option>
              ))}
            </select>
          </>
        )}
      </div>
      <div className="graph-body">
        {layout === 'hierarchical' && <HierarchyView model={model} filters={filters} agentFilter={agentFilter} zoomCmd={zoomCmd} />}
        <Suspense fallback={<p className="muted pad">Loading layout…</p>}>
          {layout === 'force' && <AgentGraphView model={model} agentFilter={agentFilter} zoomCmd={zoomCmd} />}
          {layout === 'sequence' && <SequenceView model={model} agentFilter={agentFilter} zoomCmd={zoomCmd} />}
          {layout === 'timeline' && <WaterfallView model={model} filters={filters} agentFilter={agentFilter} zoomCmd={zoomCmd} />}
        </Suspense>
        {selection && <SelectionDetails model={model} />}
      </div>

    </div>
  );
});

type PNode = HierarchyPointNode<TreeItem>;

function HierarchyView({
  model,
  filters,
  agentFilter,
  zoomCmd,
}: {
  model: SessionModel;
  filters: GraphFilters;
  agentFilter: string | null;
  zoomCmd: React.MutableRefObject<{ zoomBy: (k: number) => void; fit: () => void } | null>;
}) {
  const { version, cursor } = useStoreThrottled(model.view, versionAndCursor, liveWait(400));
  const hits = useStore(model.view, (v) => v.search.hits);
  const selection = useStore(model.view, (v) => v.selection);
  const loading = useStore(model.view, (v) => v.loading);
  const seqNow = effectiveSeq(cursor);
  // While live the subscription above re-lays out a few times a second: never per event.
  const seq = seqNow;
  const layoutVersion = version;
  const [expanded, setExpanded] = useState<Set<string>>(() => new Set());
  const svgRef = useRef<SVGSVGElement>(null);
  const layerRef = useRef<SVGGElement>(null);
  const { transform, zoomBy, reveal, apply } = useZoom(svgRef, layerRef);
  const seen = useRef<Set<string> | null>(null);
  const [size, setSize] = useState({ w: 800, h: 400 });

  useEffect(() => {
    const el = svgRef.current;
    if (!el) return;
    const ro = new ResizeObserver(() => setSize({ w: el.clientWidth, h: el.clientHeight }));
    ro.observe(el);
    return () => ro.disconnect();
  }, []);

  const curEvAtLayout = model.log.atOrBefore(seq);
  const pinSpan = curEvAtLayout ? curEvAtLayout.span_id || curEvAtLayout.id : null;
  const laid = useMemo(() => {
    const label = model.view.get().summary?.name ?? model.sessionId;
    const { root, shown, total } = buildCallTree(model.spans.order, model.agents.order, seq, label, {
      maxDepth: filters.maxDepth,
      maxChildren: 40,
      expanded,
      agents: agentFilter ? new Set([agentFilter]) : null,
      categories: filters.categories,
      hideCompleted: filters.hideCompleted,
      pinned: pinnedPath(model.spans.spans, pinSpan),
    });
    const h = hierarchy(root, (d) => d.children);
    const t = tree<TreeItem>().nodeSize([ROW_H, COL_W]).separation((a, b) => (a.parent === b.parent ? 1 : 1.25))(h);
    const nodes = t.descendants();
    let x0 = Infinity;
    let x1 = -Infinity;
    let y0 = Infinity;
    let y1 = -Infinity;
    for (const n of nodes) {
      if (n.y < x0) x0 = n.y;
      if (n.y > x1) x1 = n.y;
      if (n.x < y0) y0 = n.x;
      if (n.x > y1) y1 = n.x;
    }
    const byKey = new Map(nodes.map((n) => [n.data.key, n]));
    return { nodes, links: t.links(), byKey, bounds: { x0: x0 - 14, y0: y0 - 20, x1: x1 + COL_W, y1: y1 + 20 }, shown, total };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [model, layoutVersion, seq, expanded, agentFilter, filters, pinSpan]);

  // Fit (the button, and the first layout): the whole tree when readable, else a readable zoom
  // on the span at the cursor that keeps the tree's left edge on screen (model/viewport).
  const fitView = () => {
    const el = svgRef.current;
    if (!el?.clientHeight) return;
    const ev = model.log.atOrBefore(effectiveSeq(model.view.get().cursor));
    const n = (ev && laid.byKey.get(ev.span_id || ev.id)) ?? laid.byKey.get('session');
    const t = fitTransform(laid.bounds, { w: el.clientWidth, h: el.clientHeight }, n ? { x: n.y, y: n.x } : null);
    apply(zoomIdentity.translate(t.x, t.y).scale(t.k));
  };
  useEffect(() => {
    zoomCmd.current = { zoomBy, fit: fitView };
  });

  const fitted = useRef(false);
  useEffect(() => {
    const el = svgRef.current;
    if (fitted.current || loading || !el?.clientHeight) return;
    fitted.current = true;
    fitView();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [laid, size.h, loading]);

  // Nodes new since the last layout animate in (live); the first layout does not.
  const fresh = useMemo(() => {
    const prev = seen.current;
    const next = new Set(laid.byKey.keys());
    seen.current = next;
    if (!prev) return new Set<string>();
    const out = new Set<string>();
    for (const k of next) if (!prev.has(k)) out.add(k);
    return out;
  }, [laid]);

  const curEv = model.log.atOrBefore(seqNow);
  const curSpan = curEv ? curEv.span_id || curEv.id : null;
  const hitSpans = useMemo(() => {
    const s = new Set<string>();
    for (const h of hits) {
      const ev = model.log.atOrBefore(h);
      if (ev && ev.seq === h) s.add(ev.span_id || ev.id);
    }
    return s;
  }, [hits, model]);

  // Stepping keeps the current span in view.
  useEffect(() => {
    if (!curSpan || cursor.live) return;
    const n = laid.byKey.get(curSpan);
    if (n) reveal(n.y + 60, n.x);
  }, [curSpan, laid, reveal, cursor.live]);

  // Culling: only what is on screen (plus a margin) is in the DOM.
  const inv = (x: number, y: number) => [(x - transform.x) / transform.k, (y - transform.y) / transform.k] as const;
  const [vx0, vy0] = inv(-200, -100);
  const [vx1, vy1] = inv(size.w + 200, size.h + 100);
  const visible = laid.nodes.filter((n) => n.y >= vx0 - COL_W && n.y <= vx1 && n.x >= vy0 && n.x <= vy1);
  const visibleLinks = laid.links.filter(
    (l) => (l.target.y >= vx0 - COL_W && l.source.y <= vx1 && Math.max(l.source.x, l.target.x) >= vy0 && Math.min(l.source.x, l.target.x) <= vy1),
  );
  const compact = transform.k < 0.45;
  // Nodes glide to new places when stepping or expanding; while live they jump (a relayout every
  // half second would otherwise keep hundreds of transitions running).
  const animate = !cursor.live && visible.length < 600;

  const onNode = (n: PNode) => {
    const d = n.data;
    if (d.kind === 'collapsed' || d.kind === 'more') {
      const key = d.kind === 'collapsed' ? d.key.replace(/#collapsed$/, '') : d.key;
      setExpanded((e) => new Set(e).add(key));
    } else if (d.kind === 'span' && d.span) {
      model.select({ kind: 'span', id: d.span.id });
      model.goto(d.span.startSeq);
    } else if (d.kind === 'agent' && d.agentId) {
      model.select({ kind: 'agent', id: d.agentId });
    }
  };

  return (
    <div className="graph-svg-wrap">
      <svg
        ref={svgRef}
        className="graph-svg"
        role="img"
        tabIndex={0}
        aria-label={`call tree: ${laid.shown} of ${laid.total} spans shown. Up and down arrows select a span, Enter moves the cursor to it.`}
        onKeyDown={(e) => {
          // Keyboard access to the tree: walk spans top to bottom, Enter time-travels to one.
          if (e.key !== 'ArrowDown' && e.key !== 'ArrowUp' && e.key !== 'Enter') return;
          e.preventDefault();
          const order = laid.nodes.filter((n) => n.data.kind === 'span').sort((a, b) => a.x - b.x || a.y - b.y);
          if (!order.length) return;
          const selId = selection?.kind === 'span' ? selection.id : curSpan;
          const at = order.findIndex((n) => n.data.span?.id === selId);
          if (e.key === 'Enter') {
            const n = order[Math.max(0, at)];
            if (n?.data.span) model.goto(n.data.span.startSeq);
            return;
          }
          const next = order[Math.max(0, Math.min(order.length - 1, at < 0 ? 0 : at + (e.key === 'ArrowDown' ? 1 : -1)))];
          if (next?.data.span) {
            model.select({ kind: 'span', id: next.data.span.id });
            reveal(next.y + 60, next.x);
          }
        }}
      >
        <g ref={layerRef} transform={transform.toString()}>
          <g className="links">
            {visibleLinks.map((l) => (
              <path
                key={`${l.source.data.key}>${l.target.data.key}`}
                className={`link${l.target.data.span && hasErrorAt(l.target.data.span, seq) ? ' err' : ''}`}
                d={`M${l.source.y + 8},${l.source.x}C${(l.source.y + l.target.y) / 2},${l.source.x} ${(l.source.y + l.target.y) / 2},${l.target.x} ${l.target.y - 8},${l.target.x}`}
              />
            ))}
          </g>
          <g className="nodes">
            {visible.map((n) => (
              <TreeNodeView
                key={n.data.key}
                n={n}
                seq={seq}
                current={n.data.span?.id === curSpan}
                hit={!!n.data.span && hitSpans.has(n.data.span.id)}
                selected={
                  (selection?.kind === 'span' && n.data.span?.id === selection.id) ||
                  (selection?.kind === 'agent' && n.data.kind === 'agent' && n.data.agentId === selection.id)
                }
                fresh={fresh.has(n.data.key)}
                compact={compact}
                animate={animate}
                onClick={() => onNode(n)}
              />
            ))}
          </g>
        </g>
      </svg>
      <GraphFooter>
        {laid.shown.toLocaleString()} of {laid.total.toLocaleString()} spans · {Math.round(transform.k * 100)}%
        {laid.shown < laid.total ? ' · click +N to expand' : ''}
      </GraphFooter>
    </div>
  );
}

function TreeNodeView({
  n,
  seq,
  current,
  hit,
  selected,
  fresh,
  compact,
  animate,
  onClick,
}: {
  n: PNode;
  seq: number;
  current: boolean;
  hit: boolean;
  selected: boolean;
  fresh: boolean;
  compact: boolean;
  animate: boolean;
  onClick: () => void;
}) {
  const d = n.data;
  const sp = d.span;
  let shape = 'circle' as Parameters<typeof shapePath>[0];
  let color = '#9cdcfe';
  let status: string | null = null;
  let badge = '';
  if (d.kind === 'span' && sp) {
    const st = CATEGORY_STYLES[sp.category];
    shape = st.shape;
    color = st.color;
    status = spanStatusAt(sp, seq);
    if (status === 'error') {
      shape = 'cross';
      color = CATEGORY_STYLES.error.color;
    } else if (hasErrorAt(sp, seq)) badge = ' ⚠';
  } else if (d.kind === 'agent') {
    shape = 'ring';
    color = '#4ec9b0';
  } else if (d.kind === 'session') {
    shape = 'square';
    color = '#cfd8dc';
  }
  const cls = [
    'node',
    `kind-${d.kind}`,
    status ? `st-${status}` : '',
    current ? 'current' : '',
    hit ? 'hit' : '',
    selected ? 'selected' : '',
    fresh ? 'fresh' : '',
    animate ? 'anim' : '',
  ].join(' ');
  const full = d.kind === 'span' && status === 'open' ? `${d.label} …` : d.label;
  const dur = sp && !compact ? fmtDuration(spanDurationAt(sp, seq, sp.lastTime)) : '';
  // A label stays inside its column (the next column's labels start there); the whole text is
  // in the tooltip and the details drawer.
  const room = LABEL_CHARS - (dur ? dur.length + 1 : 0) - (badge ? 2 : 0);
  const label = full.length > room ? `${full.slice(0, Math.max(4, room - 1))}…` : full;
  return (
    <g
      className={cls}
      style={{ transform: `translate(${n.y}px,${n.x}px)` }}
      onClick={onClick}
      role="button"
      tabIndex={-1}
      aria-label={`${d.kind} ${d.label}${status ? `, ${status}` : ''}`}
      data-key={d.key}
    >
      <title>{full}</title>
      {(current || selected || hit) && <circle r={current ? 12 : 10} className="halo" />}
      {d.kind === 'collapsed' || d.kind === 'more' ? (
        <rect x={-6} y={-8} width={Math.max(26, d.label.length * 7 + 10)} height={16} rx={8} className="more-pill" />
      ) : (
        <path d={shapePath(shape, 6)} fill={shape === 'ring' ? 'none' : color} stroke={shape === 'ring' ? color : 'none'} strokeWidth={2} strokeDasharray={status === 'open' ? '2 2' : undefined} />
      )}
      {!compact || d.kind !== 'span' ? (
        <text x={d.kind === 'collapsed' || d.kind === 'more' ? 0 : 11} y={4} className="node-label">
          {label}
          {badge}
          {dur && <tspan className="node-dur"> {dur}</tspan>}
        </text>
      ) : null}
    </g>
  );
}

function SelectionDetails({ model }: { model: SessionModel }) {
  const selection = useStore(model.view, (v) => v.selection);
  const { cursor } = useStoreThrottled(model.view, versionAndCursor, liveWait(300));
  const seq = effectiveSeq(cursor);
  if (!selection) return null;
  let body: React.ReactNode = null;
  if (selection.kind === 'span') {
    const sp: Span | undefined = model.spans.get(selection.id);
    if (!sp) return null;
    const status = spanStatusAt(sp, seq);
    body = (
      <>
        <h3>
          <span style={{ color: CATEGORY_STYLES[sp.category].color }} aria-hidden="true">
            {CATEGORY_STYLES[sp.category].glyph}
          </span>{' '}
          {sp.label}
        </h3>
        <dl className="kv">
          <dt>span</dt>
          <dd className="mono">{sp.id}</dd>
          <dt>type</dt>
          <dd>{sp.type}</dd>
          <dt>agent</dt>
          <dd>{sp.agentId ?? 'session'}</dd>
          <dt>status</dt>
          <dd>
            {status === 'error' ? '✖ ' : status === 'open' ? '┄ ' : '✔ '}
            {status}
            {hasErrorAt(sp, seq) && status !== 'error' ? ' (a child failed)' : ''}
          </dd>
          <dt>parent</dt>
          <dd className="mono">{sp.parentId ?? '—'}</dd>
          <dt>seq</dt>
          <dd>
            {sp.startSeq} → {sp.endSeq ?? 'open'}
          </dd>
          <dt>duration</dt>
          <dd>{fmtDuration(spanDurationAt(sp, seq, sp.lastTime))}</dd>
          <dt>events</dt>
          <dd>
            {sp.eventCount} ({sp.errorCount} errors)
          </dd>
          {sp.tokens > 0 && (
            <>
              <dt>tokens</dt>
              <dd>
                {fmtInt(sp.tokens)} · {fmtCost(sp.cost)}
              </dd>
            </>
          )}
        </dl>
        <div className="btn-row">
          <button type="button" className="btn small" onClick={() => model.goto(sp.startSeq)}>
            Go to start
          </button>
          {sp.endSeq !== null && (
            <button type="button" className="btn small" onClick={() => model.goto(sp.endSeq as number)}>
              Go to end
            </button>
          )}
        </div>
      </>
    );
  } else {
    const a = model.agents.agents.get(selection.id);
    if (!a) return null;
    const edges = model.interaction.at(seq).edges.filter((e) => e.edge.source === a.id || e.edge.target === a.id);
    body = (
      <>
        <h3>
          <span aria-hidden="true">○</span> {a.id === SESSION_LANE ? 'session' : a.id}
        </h3>
        <dl className="kv">
          <dt>type</dt>
          <dd>{a.agentType ?? '—'}</dd>
          <dt>name</dt>
          <dd>{a.name ?? '—'}</dd>
          <dt>spawned by</dt>
          <dd>{a.parentAgentId ?? '—'}</dd>
          <dt>first seq</dt>
          <dd>{a.firstSeq}</dd>
        </dl>
        {edges.length > 0 && (
          <ul className="small edge-list">
            {edges.map((e) => (
              <li key={e.edge.key}>
                {e.edge.type === 'spawn' ? '⇢ spawned' : '→ messages'} {e.edge.source} → {e.edge.target} ×{e.count}
              </li>
            ))}
          </ul>
        )}
        <div className="btn-row">
          <button type="button" className="btn small" onClick={() => model.goto(a.firstSeq)}>
            Go to first event
          </button>
        </div>
      </>
    );
  }
  return (
    <div className="details-drawer" role="region" aria-label="details">
      <button type="button" className="btn ghost icon close" aria-label="close details" onClick={() => model.select(null)}>
        ✕
      </button>
      {body}
    </div>
  );
}
