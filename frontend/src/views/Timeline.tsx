import { useEffect, useRef, useState } from 'react';
import { scaleLinear } from 'd3-scale';
import type { StoredEvent } from '../api/types';
import { fmtOffset } from '../lib/format';
import { SESSION_LANE } from '../model/agents';
import { CATEGORY_STYLES, categoryOf, type Category } from '../model/categories';
import { effectiveSeq } from '../model/cursor';
import { eventLabel } from '../model/labels';
import { aggregateLane, eventForClick, nearestInLane } from '../model/lanes';
import { shapePath, isHollow } from '../model/shapes';
import { spanStatusAt } from '../model/spans';
import type { SessionModel } from '../state/sessionModel';

const GUTTER = 132;
const AXIS_H = 20;
const LANE_H = 24;
const BUCKET_PX = 4;

const paths = new Map<Category, Path2D>();
function glyphPath(c: Category): Path2D {
  let p = paths.get(c);
  if (!p) {
    p = new Path2D(shapePath(CATEGORY_STYLES[c].shape, 4.5));
    paths.set(c, p);
  }
  return p;
}

interface Hover {
  x: number;
  y: number;
  text: string;
}

/**
 * The timeline: one lane per agent on a canvas (thousands of events cost one draw per frame),
 * events coloured by type and shaped per category, dense stretches aggregated into count bars,
 * spans as thin bars under their events, the cursor as a vertical line. Click to time-travel;
 * wheel zooms, drag pans, double-click fits.
 */
export function Timeline({ model, agentFilter }: { model: SessionModel; agentFilter: string | null }) {
  const wrap = useRef<HTMLDivElement>(null);
  const canvas = useRef<HTMLCanvasElement>(null);
  const domain = useRef<[number, number] | null>(null); // null = follow the whole session
  const drag = useRef<{ x: number; d: [number, number]; moved: boolean } | null>(null);
  const [hover, setHover] = useState<Hover | null>(null);
  const [summary, setSummary] = useState('');
  const redraw = useRef<() => void>(() => undefined);

  useEffect(() => {
    const c = canvas.current;
    const w = wrap.current;
    if (!c || !w) return;
    let frame: number | null = null;
    const schedule = () => {
      if (frame === null)
        frame = requestAnimationFrame(() => {
          frame = null;
          draw();
        });
    };
    redraw.current = schedule;

    const lanesShown = () =>
      model.agents.order.filter((a) => !agentFilter || a.id === agentFilter).map((a) => ({ id: a.id, events: model.lanes.lanes.get(a.id) ?? [] }));

    const scaleFor = (width: number) => {
      const lo = model.lanes.minTime;
      const hi = model.lanes.maxTime;
      const d = domain.current ?? [lo, Number.isFinite(hi) && hi > lo ? hi : lo + 1000];
      return scaleLinear().domain(d).range([GUTTER + 8, width - 10]);
    };

    const draw = () => {
      const width = w.clientWidth;
      const lanes = lanesShown();
      const height = AXIS_H + Math.max(1, lanes.length) * LANE_H + 4;
      const dpr = window.devicePixelRatio || 1;
      if (c.width !== Math.round(width * dpr) || c.height !== Math.round(height * dpr)) {
        c.width = Math.round(width * dpr);
        c.height = Math.round(height * dpr);
        c.style.width = `${width}px`;
        c.style.height = `${height}px`;
      }
      const ctx = c.getContext('2d');
      if (!ctx) return;
      ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
      ctx.clearRect(0, 0, width, height);
      ctx.fillStyle = '#1e1e1e';
      ctx.fillRect(0, 0, width, height);
      if (!Number.isFinite(model.lanes.minTime)) {
        ctx.fillStyle = '#858585';
        ctx.font = '12px system-ui, sans-serif';
        ctx.fillText('No events yet.', GUTTER + 10, AXIS_H + 16);
        return;
      }
      const x = scaleFor(width);
      const toX = (t: number) => x(t);
      const toTime = (px: number) => x.invert(px);
      const v = model.view.get();
      const seq = effectiveSeq(v.cursor);
      const hits = v.search.hits.length ? new Set(v.search.hits) : null;
      const origin = model.log.events[0]?.timestamp ?? model.lanes.minTime;

      // Axis.
      ctx.font = '10px ui-monospace, SFMono-Regular, Menlo, monospace';
      ctx.fillStyle = '#858585';
      ctx.strokeStyle = '#2d2d2d';
      ctx.lineWidth = 1;
      for (const t of x.ticks(Math.max(2, Math.floor((width - GUTTER) / 110)))) {
        const px = Math.round(x(t)) + 0.5;
        if (px < GUTTER) continue;
        ctx.beginPath();
        ctx.moveTo(px, AXIS_H - 4);
        ctx.lineTo(px, height);
        ctx.stroke();
        ctx.fillText(fmtOffset(t, origin), px + 3, 12);
      }

      const spansByLane = new Map<string, typeof model.spans.order>();
      const [d0, d1] = x.domain() as [number, number];
      for (const sp of model.spans.order) {
        if (sp.startSeq > seq) continue;
        const end = sp.endTime ?? sp.lastTime;
        if (end < d0 || sp.startTime > d1 || end - sp.startTime <= 0) continue;
        const k = sp.agentId ?? SESSION_LANE;
        const l = spansByLane.get(k);
        if (l) l.push(sp);
        else spansByLane.set(k, [sp]);
      }

      let shownEvents = 0;
      lanes.forEach((lane, i) => {
        const y = AXIS_H + i * LANE_H;
        const yc = y + LANE_H / 2 - 2;
        ctx.fillStyle = i % 2 ? '#222222' : '#1e1e1e';
        ctx.fillRect(GUTTER, y, width - GUTTER, LANE_H);
        // Spans: thin bars under the lane's events (open ones reach the cursor, dashed).
        for (const sp of spansByLane.get(lane.id) ?? []) {
          const st = spanStatusAt(sp, seq);
          const x0 = Math.max(GUTTER, x(sp.startTime));
          const endT = st === 'open' ? Math.min(model.log.atOrBefore(seq)?.timestamp ?? sp.lastTime, d1) : (sp.endTime ?? sp.lastTime);
          const x1 = Math.min(width, x(endT));
          if (x1 - x0 < 1) continue;
          ctx.fillStyle = st === 'error' ? 'rgba(244,67,54,0.55)' : 'rgba(156,220,254,0.28)';
          if (st === 'open') {
            ctx.setLineDash([3, 2]);
            ctx.strokeStyle = 'rgba(156,220,254,0.6)';
            ctx.strokeRect(x0, y + LANE_H - 6, x1 - x0, 3);
            ctx.setLineDash([]);
          } else ctx.fillRect(x0, y + LANE_H - 6, x1 - x0, 3);
        }
        const items = aggregateLane(lane.events, toX, toTime, GUTTER, width, BUCKET_PX, seq);
        for (let k = 0; k < items.length; k++) {
          const it = items[k] as (typeof items)[number];
          if (it.kind === 'event') {
            // Zoomed in far enough, events are labelled too (not only shape and colour).
            const nextItem = items[k + 1];
            const room = (nextItem ? (nextItem.kind === 'event' ? nextItem.x : nextItem.x0) : width) - it.x;
            if (room > 60) {
              ctx.globalAlpha = it.future ? 0.3 : 0.85;
              ctx.fillStyle = '#a0a0a0';
              ctx.font = '9.5px system-ui, sans-serif';
              const label = eventLabel(it.event);
              const max = Math.floor((room - 14) / 5.2);
              ctx.fillText(label.length > max ? `${label.slice(0, Math.max(1, max - 1))}…` : label, it.x + 7, yc + 3.5);
            }
            shownEvents++;
            const st = CATEGORY_STYLES[it.category];
            ctx.globalAlpha = it.future ? 0.3 : 1;
            ctx.save();
            ctx.translate(it.x, yc);
            const p = glyphPath(it.category);
            if (isHollow(st.shape)) {
              ctx.strokeStyle = st.color;
              ctx.lineWidth = 1.6;
              ctx.stroke(p);
            } else {
              ctx.fillStyle = st.color;
              ctx.fill(p);
            }
            if (hits?.has(it.event.seq)) {
              ctx.strokeStyle = '#ffd700';
              ctx.lineWidth = 1.5;
              ctx.beginPath();
              ctx.arc(0, 0, 7.5, 0, Math.PI * 2);
              ctx.stroke();
            }
            ctx.restore();
          } else {
            shownEvents += it.count;
            const st = CATEGORY_STYLES[it.category];
            const h = Math.min(LANE_H - 6, 4 + Math.log2(it.count) * 3);
            ctx.globalAlpha = it.future ? 0.3 : 0.9;
            ctx.fillStyle = st.color;
            ctx.fillRect(it.x0, yc - h / 2, Math.max(1, it.x1 - it.x0 - 1), h);
            if (it.errors) {
              // An error inside a dense bucket: the error's cross above the bar (shape, not just red).
              ctx.globalAlpha = 1;
              ctx.fillStyle = CATEGORY_STYLES.error.color;
              ctx.save();
              ctx.translate((it.x0 + it.x1) / 2, y + 4);
              ctx.scale(0.7, 0.7);
              ctx.fill(glyphPath('error'));
              ctx.restore();
            }
            if (hits) {
              for (let s = it.firstSeq; s <= it.lastSeq; s++) {
                if (hits.has(s)) {
                  ctx.strokeStyle = '#ffd700';
                  ctx.lineWidth = 1.2;
                  ctx.strokeRect(it.x0 - 1, yc - h / 2 - 1, it.x1 - it.x0 + 1, h + 2);
                  break;
                }
              }
            }
          }
        }
        ctx.globalAlpha = 1;
        // Lane label.
        ctx.fillStyle = '#252526';
        ctx.fillRect(0, y, GUTTER, LANE_H);
        ctx.fillStyle = '#cccccc';
        ctx.font = '11px system-ui, -apple-system, Segoe UI, sans-serif';
        const info = model.agents.agents.get(lane.id);
        const name = lane.id === SESSION_LANE ? 'session' : lane.id;
        ctx.fillText(name.length > 15 ? `${name.slice(0, 14)}…` : name, 8, y + 15);
        if (info?.agentType) {
          ctx.fillStyle = '#858585';
          ctx.font = '10px system-ui, sans-serif';
          const tw = ctx.measureText(info.agentType).width;
          if (tw < 44) ctx.fillText(info.agentType, GUTTER - tw - 6, y + 15);
        }
      });

      // The cursor.
      const cur = model.log.atOrBefore(seq);
      if (cur) {
        const cx = Math.round(x(cur.timestamp)) + 0.5;
        if (cx >= GUTTER && cx <= width) {
          ctx.strokeStyle = v.cursor.live ? '#4ec9b0' : '#ff9e64';
          ctx.lineWidth = 2;
          ctx.beginPath();
          ctx.moveTo(cx, AXIS_H - 6);
          ctx.lineTo(cx, height);
          ctx.stroke();
          ctx.fillStyle = ctx.strokeStyle;
          ctx.beginPath();
          ctx.moveTo(cx - 5, AXIS_H - 8);
          ctx.lineTo(cx + 5, AXIS_H - 8);
          ctx.lineTo(cx, AXIS_H - 2);
          ctx.fill();
        }
      }
      ctx.fillStyle = '#252526';
      ctx.fillRect(0, 0, GUTTER, AXIS_H);
      ctx.fillStyle = '#858585';
      ctx.font = '10px system-ui, sans-serif';
      ctx.fillText(domain.current ? 'zoomed · dbl-click fits' : 'whole session', 8, 13);
      setSummary(`${lanes.length} lanes, ${shownEvents} events in view, cursor at seq ${cur?.seq ?? 'none'}${v.cursor.live ? ' (live)' : ''}`);
    };

    const unsub = model.view.subscribe(schedule);
    const ro = new ResizeObserver(schedule);
    ro.observe(w);
    schedule();
    return () => {
      unsub();
      ro.disconnect();
      if (frame !== null) cancelAnimationFrame(frame);
    };
  }, [model, agentFilter]);

  /** The scale and lanes as drawn, for turning a pointer position into an event. */
  const geometry = () => {
    const c = canvas.current;
    if (!c) return null;
    const lanes = model.agents.order.filter((a) => !agentFilter || a.id === agentFilter).map((a) => model.lanes.lanes.get(a.id) ?? []);
    const lo = model.lanes.minTime;
    const hi = model.lanes.maxTime;
    const x = scaleLinear()
      .domain(domain.current ?? [lo, hi > lo ? hi : lo + 1000])
      .range([GUTTER + 8, c.clientWidth - 10]);
    return { c, lanes, x };
  };

  /** The event under the pointer (hover: within 8 px of a mark). */
  const pick = (clientX: number, clientY: number): StoredEvent | null => {
    const g = geometry();
    if (!g) return null;
    const r = g.c.getBoundingClientRect();
    const px = clientX - r.left;
    if (px < GUTTER) return null;
    const lane = g.lanes[Math.floor((clientY - r.top - AXIS_H) / LANE_H)];
    return lane ? nearestInLane(lane, (t) => g.x(t), (p) => g.x.invert(p), px, 8) : null;
  };

  /** Where a click time-travels to: anywhere in a lane or on the axis, not only on a mark. */
  const pickForClick = (clientX: number, clientY: number): StoredEvent | null => {
    const g = geometry();
    if (!g) return null;
    const r = g.c.getBoundingClientRect();
    const px = clientX - r.left;
    if (px < GUTTER) return null;
    const laneIndex = Math.floor((clientY - r.top - AXIS_H) / LANE_H);
    return eventForClick(g.lanes, laneIndex, px, (t) => g.x(t), (p) => g.x.invert(p));
  };

  const zoomAt = (px: number, k: number) => {
    const c = canvas.current;
    if (!c) return;
    const lo = model.lanes.minTime;
    const hi = model.lanes.maxTime;
    if (!Number.isFinite(lo)) return;
    const [d0, d1] = domain.current ?? [lo, hi > lo ? hi : lo + 1000];
    const x = scaleLinear().domain([d0, d1]).range([GUTTER + 8, c.clientWidth - 10]);
    const t = x.invert(px);
    let n0 = t - (t - d0) / k;
    let n1 = t + (d1 - t) / k;
    if (n1 - n0 < 5) return;
    if (n0 <= lo && n1 >= hi) {
      domain.current = null;
    } else {
      n0 = Math.max(n0, lo - (hi - lo));
      n1 = Math.min(n1, hi + (hi - lo));
      domain.current = [n0, n1];
    }
    redraw.current();
  };

  return (
    <section className="timeline" aria-label="timeline">
      <div className="timeline-head">
        <h2 className="panel-title">Timeline</h2>
        <span className="muted small timeline-hint">one lane per agent · shape + colour = type · click anywhere to time-travel · wheel zooms · drag pans</span>
        <span className="spacer" />
        <button type="button" className="btn icon" aria-label="zoom timeline in" onClick={() => zoomAt((canvas.current?.clientWidth ?? 800) / 2 + GUTTER / 2, 1.5)}>
          ⊕
        </button>
        <button type="button" className="btn icon" aria-label="zoom timeline out" onClick={() => zoomAt((canvas.current?.clientWidth ?? 800) / 2 + GUTTER / 2, 1 / 1.5)}>
          ⊖
        </button>
        <button
          type="button"
          className="btn icon"
          aria-label="fit timeline to the whole session"
          onClick={() => {
            domain.current = null;
            redraw.current();
          }}
        >
          ⤢
        </button>
      </div>
      <div className="timeline-canvas-wrap" ref={wrap}>
        <canvas
          ref={canvas}
          tabIndex={0}
          role="img"
          aria-label={`Timeline: ${summary}. Arrow keys move the cursor one event.`}
          data-testid="timeline-canvas"
          onWheel={(e) => {
            const r = e.currentTarget.getBoundingClientRect();
            zoomAt(e.clientX - r.left, e.deltaY < 0 ? 1.25 : 1 / 1.25);
          }}
          onMouseDown={(e) => {
            const lo = model.lanes.minTime;
            const hi = model.lanes.maxTime;
            drag.current = { x: e.clientX, d: domain.current ?? [lo, hi > lo ? hi : lo + 1000], moved: false };
          }}
          onMouseMove={(e) => {
            const d = drag.current;
            if (d && e.buttons === 1) {
              const dx = e.clientX - d.x;
              if (Math.abs(dx) > 3) d.moved = true;
              if (d.moved) {
                const span = d.d[1] - d.d[0];
                const wpx = (canvas.current?.clientWidth ?? 800) - GUTTER - 18;
                const dt = (-dx / wpx) * span;
                domain.current = [d.d[0] + dt, d.d[1] + dt];
                redraw.current();
              }
              return;
            }
            const ev = pick(e.clientX, e.clientY);
            const r = e.currentTarget.getBoundingClientRect();
            setHover(
              ev
                ? {
                    x: e.clientX - r.left,
                    y: e.clientY - r.top,
                    text: `${CATEGORY_STYLES[categoryOf(ev)].glyph} seq ${ev.seq} · ${ev.agent_id ?? 'session'} · ${ev.type}${ev.phase && ev.phase !== 'complete' ? ` (${ev.phase})` : ''} · ${eventLabel(ev)}`,
                  }
                : null,
            );
          }}
          onMouseLeave={() => setHover(null)}
          onMouseUp={(e) => {
            const d = drag.current;
            drag.current = null;
            if (d?.moved) return;
            const ev = pickForClick(e.clientX, e.clientY);
            if (ev) model.goto(ev.seq);
          }}
          onDoubleClick={() => {
            domain.current = null;
            redraw.current();
          }}
          onKeyDown={(e) => {
            const i = model.log.indexAtOrBefore(model.seq);
            if (e.key === 'ArrowRight') {
              e.preventDefault();
              model.gotoIndex(i + 1);
            } else if (e.key === 'ArrowLeft') {
              e.preventDefault();
              model.gotoIndex(i - 1);
            } else if (e.key === '+' || e.key === '=') zoomAt((canvas.current?.clientWidth ?? 800) / 2, 1.5);
            else if (e.key === '-') zoomAt((canvas.current?.clientWidth ?? 800) / 2, 1 / 1.5);
          }}
        />
        {hover && (
          <div className="tooltip" style={{ left: Math.min(hover.x + 12, (wrap.current?.clientWidth ?? 800) - 360), top: hover.y + 14 }} role="tooltip">
            {hover.text}
          </div>
        )}
      </div>
    </section>
  );
}
