import { useEffect, useMemo, useRef, useState } from 'react';
import { scaleLinear } from 'd3-scale';
import type { CostBreakdown, PerformanceReport } from '../api/types';
import { fmtCost, fmtDuration, fmtInt } from '../lib/format';
import { useStoreThrottled } from '../lib/store';
import { versionAndCursor } from '../state/throttle';
import { SESSION_LANE } from '../model/agents';
import { CATEGORY_STYLES } from '../model/categories';
import { layoutFlame, type FlameRect } from '../model/flame';
import type { SessionModel } from '../state/sessionModel';
import { useApi } from './context';
import { useLatest } from './useAsync';

const ROW = 18;

/** Profiling (seed phase 3): flame chart of spans, time per agent/type, tokens & cost, slowest calls. */
export function PerformanceView({ model }: { model: SessionModel }) {
  const api = useApi();
  const { version: v } = useStoreThrottled(model.view, versionAndCursor, () => 2000);
  const report = useLatest<PerformanceReport>((signal) => api.performance(model.sessionId, signal), [model.sessionId, v]);
  const r = report.data;

  return (
    <div className="perf">
      <FlameChart model={model} />
      {report.error && (
        <p className="error-box" role="alert">
          Performance report unavailable: {report.error}
        </p>
      )}
      {r && (
        <div className="perf-grid">
          <RateChart report={r} />
          <Breakdown title="Time per agent" rows={r.per_agent} metric="duration_ms" />
          <Breakdown title="Time per event type" rows={r.per_type} metric="duration_ms" />
          <Breakdown title="Tokens & cost per agent" rows={r.per_agent} metric="tokens" />
          <Breakdown title="Tokens & cost per model" rows={r.per_model} metric="tokens" />
          <section className="card">
            <h3>Slowest calls</h3>
            <table className="grid compact">
              <thead>
                <tr>
                  <th scope="col">call</th>
                  <th scope="col">agent</th>
                  <th scope="col" className="num">
                    duration
                  </th>
                </tr>
              </thead>
              <tbody>
                {r.slowest.map((s) => (
                  <tr key={`${s.event_id}`}>
                    <td>
                      <button type="button" className="link-btn" onClick={() => model.goto(s.seq)} title={`go to seq ${s.seq}`}>
                        {s.label || s.type}
                      </button>
                    </td>
                    <td>{s.agent_id ?? 'session'}</td>
                    <td className="num">{fmtDuration(s.duration_ms)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
            {!r.slowest.length && <p className="muted small">No timed calls.</p>}
          </section>
        </div>
      )}
    </div>
  );
}

function Breakdown({ title, rows, metric }: { title: string; rows: CostBreakdown[]; metric: 'duration_ms' | 'tokens' }) {
  const sorted = [...rows].sort((a, b) => b[metric] - a[metric]).slice(0, 15);
  const max = Math.max(1, ...sorted.map((r) => r[metric]));
  return (
    <section className="card">
      <h3>{title}</h3>
      <table className="grid compact bars">
        <thead>
          <tr>
            <th scope="col">key</th>
            <th scope="col" className="num">
              {metric === 'duration_ms' ? 'time' : 'tokens'}
            </th>
            <th scope="col" className="num">
              {metric === 'duration_ms' ? 'events' : 'cost'}
            </th>
          </tr>
        </thead>
        <tbody>
          {sorted.map((r) => (
            <tr key={r.key}>
              <td className="bar-cell">
                <span className="bar" style={{ width: `${(r[metric] / max) * 100}%` }} aria-hidden="true" />
                <span className="bar-label">{r.key}</span>
              </td>
              <td className="num">{metric === 'duration_ms' ? fmtDuration(r.duration_ms) : fmtInt(r.tokens)}</td>
              <td className="num">{metric === 'duration_ms' ? fmtInt(r.events) : fmtCost(r.cost)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {!sorted.length && <p className="muted small">Nothing measured.</p>}
    </section>
  );
}

function RateChart({ report }: { report: PerformanceReport }) {
  const w = report.windows;
  if (!w.length) return null;
  const W = 360;
  const H = 70;
  const x = scaleLinear()
    .domain([w[0]?.start_time ?? 0, w[w.length - 1]?.end_time ?? 1])
    .range([0, W]);
  const maxRate = Math.max(1, ...w.map((p) => p.event_rate));
  const y = scaleLinear().domain([0, maxRate]).range([H - 2, 4]);
  const d = w.map((p, i) => `${i ? 'L' : 'M'}${x(p.start_time).toFixed(1)},${y(p.event_rate).toFixed(1)}`).join('');
  return (
    <section className="card">
      <h3>
        Event rate <span className="muted small">peak {maxRate.toFixed(1)}/s · window {fmtDuration(report.window_ms)}</span>
      </h3>
      <svg width={W} height={H} role="img" aria-label={`event rate over time, peak ${maxRate.toFixed(1)} events per second`}>
        <path d={d} fill="none" stroke="#4fc1ff" strokeWidth={1.5} />
        {w.map((p) =>
          p.errors ? (
            <text key={p.start_time} x={x(p.start_time)} y={12} fill="#f44336" fontSize={10}>
              ✖
            </text>
          ) : null,
        )}
      </svg>
    </section>
  );
}

function FlameChart({ model }: { model: SessionModel }) {
  const { version: v } = useStoreThrottled(model.view, versionAndCursor, () => 1000);
  const wrap = useRef<HTMLDivElement>(null);
  const canvas = useRef<HTMLCanvasElement>(null);
  const [hover, setHover] = useState<{ x: number; y: number; r: FlameRect } | null>(null);
  const [width, setWidth] = useState(800);
  const layout = useMemo(() => layoutFlame(model.spans.order, model.lanes.maxTime), [model, v]); // eslint-disable-line react-hooks/exhaustive-deps
  const height = Math.min(360, Math.max(60, layout.rows * ROW + 4));

  useEffect(() => {
    const el = wrap.current;
    if (!el) return;
    const ro = new ResizeObserver(() => setWidth(el.clientWidth));
    ro.observe(el);
    return () => ro.disconnect();
  }, []);

  const x = useMemo(
    () => scaleLinear().domain([layout.minTime, Math.max(layout.maxTime, layout.minTime + 1)]).range([110, width - 8]),
    [layout, width],
  );

  useEffect(() => {
    const c = canvas.current;
    if (!c) return;
    const dpr = window.devicePixelRatio || 1;
    const fullH = layout.rows * ROW + 4;
    c.width = Math.round(width * dpr);
    c.height = Math.round(fullH * dpr);
    c.style.width = `${width}px`;
    c.style.height = `${fullH}px`;
    const ctx = c.getContext('2d');
    if (!ctx) return;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.fillStyle = '#1e1e1e';
    ctx.fillRect(0, 0, width, fullH);
    ctx.font = '10px system-ui, sans-serif';
    for (const b of layout.bands) {
      ctx.fillStyle = '#252526';
      ctx.fillRect(0, b.rowStart * ROW, 104, b.rows * ROW);
      ctx.fillStyle = '#cccccc';
      ctx.fillText(b.agentId === SESSION_LANE ? 'session' : b.agentId.slice(0, 16), 6, b.rowStart * ROW + 13);
      ctx.strokeStyle = '#333';
      ctx.beginPath();
      ctx.moveTo(0, b.rowStart * ROW + 0.5);
      ctx.lineTo(width, b.rowStart * ROW + 0.5);
      ctx.stroke();
    }
    for (const r of layout.rects) {
      const x0 = x(r.start);
      const x1 = Math.max(x0 + 1, x(r.end));
      const y = r.row * ROW + 1;
      const cat = r.span.status === 'error' ? 'error' : r.span.category;
      ctx.fillStyle = CATEGORY_STYLES[cat].color;
      ctx.globalAlpha = r.span.status === 'open' ? 0.55 : 0.85;
      ctx.fillRect(x0, y, x1 - x0, ROW - 2);
      ctx.globalAlpha = 1;
      if (x1 - x0 > 40) {
        ctx.fillStyle = '#111';
        ctx.save();
        ctx.beginPath();
        ctx.rect(x0, y, x1 - x0, ROW - 2);
        ctx.clip();
        ctx.fillText(`${CATEGORY_STYLES[cat].glyph} ${r.span.label}`, x0 + 3, y + 12);
        ctx.restore();
      }
    }
  }, [layout, width, x]);

  const find = (px: number, py: number): FlameRect | null => {
    const row = Math.floor(py / ROW);
    const t = x.invert(px);
    let best: FlameRect | null = null;
    for (const r of layout.rects) if (r.row === row && r.start <= t && r.end >= t) best = r;
    return best;
  };

  return (
    <section className="card flame">
      <h3>
        Flame chart of spans{' '}
        <span className="muted small">
          {layout.rects.length.toLocaleString()} spans · one band per agent · width = duration · click to jump
        </span>
      </h3>
      <div className="flame-wrap" ref={wrap} style={{ maxHeight: height + 10 }}>
        <canvas
          ref={canvas}
          role="img"
          aria-label={`flame chart of ${layout.rects.length} spans`}
          onMouseMove={(e) => {
            const b = e.currentTarget.getBoundingClientRect();
            const r = find(e.clientX - b.left, e.clientY - b.top);
            setHover(r ? { x: e.clientX - b.left, y: e.clientY - b.top, r } : null);
          }}
          onMouseLeave={() => setHover(null)}
          onClick={(e) => {
            const b = e.currentTarget.getBoundingClientRect();
            const r = find(e.clientX - b.left, e.clientY - b.top);
            if (r) {
              model.select({ kind: 'span', id: r.span.id });
              model.goto(r.span.startSeq);
            }
          }}
        />
        {hover && (
          <div className="tooltip" style={{ left: Math.min(hover.x + 10, width - 320), top: hover.y + 12 }}>
            {hover.r.span.label} · {hover.r.span.agentId ?? 'session'} · {fmtDuration(hover.r.end - hover.r.start)}
            {hover.r.span.status === 'open' ? ' (open)' : hover.r.span.status === 'error' ? ' ✖ error' : ''}
          </div>
        )}
      </div>
    </section>
  );
}
