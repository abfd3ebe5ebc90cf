import { useEffect, useMemo, useRef, useState } from 'react';
import { scaleLinear } from 'd3-scale';
import { fmtDuration } from '../lib/format';
import { useStoreThrottled } from '../lib/store';
import { liveWait, versionAndCursor } from '../state/throttle';
import { SESSION_LANE } from '../model/agents';
import { CATEGORY_STYLES } from '../model/categories';
import { effectiveSeq } from '../model/cursor';
import { spanStatusAt, type Span } from '../model/spans';
import type { SessionModel } from '../state/sessionModel';
import type { GraphFilters } from './graphProps';
import { GraphFooter } from './GraphFooter';
import { useThrottled } from './useAsync';

const ROW = 20;
const LABEL_W = 260;

interface Row {
  span: Span;
  depth: number;
}

/** Orders spans as a waterfall: per agent (lane order), each span followed by its children. */
export function waterfallRows(spans: readonly Span[], laneOf: (agent: string) => number, seq: number, keep: (s: Span) => boolean): Row[] {
  const visible = spans.filter((s) => s.startSeq <= seq && keep(s));
  const ids = new Set(visible.map((s) => s.id));
  const kids = new Map<string, Span[]>();
  const roots: Span[] = [];
  for (const s of visible) {
    if (s.parentId && ids.has(s.parentId) && s.parentId !== s.id) {
      const l = kids.get(s.parentId);
      if (l) l.push(s);
      else kids.set(s.parentId, [s]);
    } else roots.push(s);
  }
  roots.sort((a, b) => laneOf(a.agentId ?? SESSION_LANE) - laneOf(b.agentId ?? SESSION_LANE) || a.startTime - b.startTime);
  const out: Row[] = [];
  const seen = new Set<string>();
  const walk = (s: Span, depth: number) => {
    if (seen.has(s.id)) return;
    seen.add(s.id);
    out.push({ span: s, depth });
    const c = kids.get(s.id);
    if (c) {
      c.sort((a, b) => a.startTime - b.startTime);
      for (const k of c) walk(k, depth + 1);
    }
  };
  for (const r of roots) walk(r, 0);
  return out;
}

/** The "timeline" graph layout: spans as bars over time (a waterfall), row-virtualized. */
export function WaterfallView({
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
  const seqNow = effectiveSeq(cursor);
  const seq = useThrottled(seqNow, cursor.live ? 250 : 0);
  const scroller = useRef<HTMLDivElement>(null);
  const [scrollTop, setScrollTop] = useState(0);
  const [size, setSize] = useState({ w: 800, h: 400 });
  const [kx, setKx] = useState(1);

  useEffect(() => {
    const el = scroller.current;
    if (!el) return;
    const ro = new ResizeObserver(() => setSize({ w: el.clientWidth, h: el.clientHeight }));
    ro.observe(el);
    return () => ro.disconnect();
  }, []);
  useEffect(() => {
    zoomCmd.current = { zoomBy: (k) => setKx((x) => Math.max(1, Math.min(200, x * k))), fit: () => setKx(1) };
  });

  const rows = useMemo(() => {
    const laneOf = (a: string) => model.agents.agents.get(a)?.lane ?? 0;
    return waterfallRows(model.spans.order, laneOf, seq, (s) => (!agentFilter || (s.agentId ?? SESSION_LANE) === agentFilter) && (!filters.categories || filters.categories.has(s.category)));
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [model, version, seq, agentFilter, filters]);

  const curEv = model.log.atOrBefore(seqNow);
  const t0 = model.lanes.minTime;
  const tEnd = curEv && !cursor.live ? Math.max(curEv.timestamp, t0 + 1) : Math.max(model.lanes.maxTime, t0 + 1);
  const width = Math.max(size.w, (size.w - LABEL_W) * kx + LABEL_W);
  const x = scaleLinear().domain([t0, tEnd]).range([LABEL_W + 4, width - 12]);
  const first = Math.max(0, Math.floor(scrollTop / ROW) - 10);
  const last = Math.min(rows.length, Math.ceil((scrollTop + size.h) / ROW) + 10);
  const curSpan = curEv ? curEv.span_id || curEv.id : null;

  useEffect(() => {
    if (cursor.live || !curSpan) return;
    const i = rows.findIndex((r) => r.span.id === curSpan);
    const el = scroller.current;
    if (i < 0 || !el) return;
    const top = i * ROW;
    if (top < el.scrollTop || top > el.scrollTop + el.clientHeight - ROW) el.scrollTop = top - el.clientHeight / 2;
  }, [curSpan, rows, cursor.live]);

  const cx = curEv ? x(curEv.timestamp) : null;
  return (
    <div className="graph-svg-wrap">
    <div
      className="waterfall"
      ref={scroller}
      onScroll={(e) => setScrollTop(e.currentTarget.scrollTop)}
      onWheel={(e) => {
        if (e.ctrlKey) {
          e.preventDefault();
          setKx((k) => Math.max(1, Math.min(200, k * (e.deltaY < 0 ? 1.2 : 1 / 1.2))));
        }
      }}
    >
      <svg width={width} height={Math.max(rows.length * ROW, size.h - 4)} role="img" aria-label={`span timeline: ${rows.length} spans`}>
        {rows.slice(first, last).map((r, i) => {
          const row = first + i;
          const s = r.span;
          const status = spanStatusAt(s, seq);
          const endT = status === 'open' ? (curEv?.timestamp ?? s.lastTime) : (s.endTime ?? s.lastTime);
          const x0 = x(s.startTime);
          const x1 = Math.max(x0 + 2, x(Math.max(endT, s.startTime)));
          const st = CATEGORY_STYLES[status === 'error' ? 'error' : s.category];
          const y = row * ROW;
          return (
            <g
              key={s.id}
              className={`wf-row${s.id === curSpan ? ' current' : ''} st-${status}`}
              onClick={() => {
                model.select({ kind: 'span', id: s.id });
                model.goto(s.startSeq);
              }}
              role="button"
              aria-label={`${s.label}, ${status}`}
            >
              <rect x={0} y={y} width={width} height={ROW} className="wf-bg" />
              <text x={6 + r.depth * 12} y={y + 14} className="wf-label">
                {st.glyph} {s.agentId && r.depth === 0 ? `${s.agentId} · ` : ''}
                {s.label}
              </text>
              <rect x={x0} y={y + 4} width={x1 - x0} height={ROW - 8} rx={2} fill={st.color} className={status === 'open' ? 'wf-bar open' : 'wf-bar'} />
              <text x={x1 + 4} y={y + 14} className="wf-dur">
                {endT - s.startTime > 0 || status === 'open' ? fmtDuration(endT - s.startTime) : ''}
                {status === 'open' ? ' …' : status === 'error' ? ' ✖' : ''}
              </text>
            </g>
          );
        })}
        {cx !== null && <line x1={cx} x2={cx} y1={0} y2={Math.max(rows.length * ROW, size.h)} className="cursor-line" />}
      </svg>
      {!rows.length && <p className="muted pad">No spans at this point.</p>}
    </div>
    <GraphFooter>
      {rows.length.toLocaleString()} spans · one row per span, by agent · Ctrl+wheel zooms time · click a bar to go there
    </GraphFooter>
    </div>
  );
}
