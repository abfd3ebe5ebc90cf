import { useEffect, useMemo, useRef, useState } from 'react';
import { zoomIdentity } from 'd3-zoom';
import { fmtOffset } from '../lib/format';
import { useStore, useStoreThrottled } from '../lib/store';
import { liveWait, versionAndCursor } from '../state/throttle';
import { aggregatePairs, edgeGeometry, layoutAgents, messageHistogram, NODE_R, nodeBox, placeEdgeLabels, type GraphWindow, type LaidNode, type PairEdge } from '../model/agentGraph';
import { agentActivityUntil } from '../model/agents';
import { agentStatusGlyph } from '../model/categories';
import { effectiveSeq } from '../model/cursor';
import type { SessionModel } from '../state/sessionModel';
import { GraphFooter } from './GraphFooter';
import { useThrottled } from './useAsync';
import { useZoom } from './useZoom';

type WindowMode = 'cursor' | 'range';
const BRUSH_H = 30;
const BUCKETS = 120;

/**
 * The agents graph: one node per agent, one edge per pair of agents that talked (width by the
 * number of messages, an arrowhead at each end that received), spawns dashed. Counts are those of
 * a time window: the messages up to the cursor, or those within a range brushed on the strip
 * below. Hover or select an agent to see only its conversations; click an edge to go to the
 * pair's newest message in the window.
 */
export function AgentGraphView({
  model,
  agentFilter,
  zoomCmd,
}: {
  model: SessionModel;
  agentFilter: string | null;
  zoomCmd: React.MutableRefObject<{ zoomBy: (k: number) => void; fit: () => void } | null>;
}) {
  const { version, cursor } = useStoreThrottled(model.view, versionAndCursor, liveWait(250));
  const selection = useStore(model.view, (v) => v.selection);
  const seq = useThrottled(effectiveSeq(cursor), cursor.live ? 250 : 0);
  const svgRef = useRef<SVGSVGElement>(null);
  const layerRef = useRef<SVGGElement>(null);
  const { zoomBy, fit, apply } = useZoom(svgRef, layerRef);
  const [mode, setMode] = useState<WindowMode>('cursor');
  const [range, setRange] = useState<[number, number] | null>(null);
  const [hover, setHover] = useState<string | null>(null);
  const [edgeTip, setEdgeTip] = useState<{ pair: PairEdge; x: number; y: number } | null>(null);
  const positions = useRef(new Map<string, { x: number; y: number }>());

  const t0 = model.lanes.minTime;
  const t1 = model.lanes.maxTime;
  const win: GraphWindow = mode === 'range' && range ? { kind: 'range', from: range[0], to: range[1] } : { kind: 'cursor', seq };
  const data = useMemo(
    () => aggregatePairs(model.interaction, win),
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [model, version, seq, mode, range?.[0], range?.[1]],
  );
  const idx = model.log.indexAtOrBefore(seq);
  const activity = useMemo(() => agentActivityUntil(model.log.events, idx), [model, idx, version]); // eslint-disable-line react-hooks/exhaustive-deps

  const specs = data.nodes.map((id) => {
    const act = activity.get(id);
    // The status is the circle's colour and the label's glyph; the second line counts.
    return { id, label: `${agentStatusGlyph(act?.status ?? 'idle')} ${id}`, sub: `${act?.events ?? 0} ev${act?.errors ? ` · ⚠${act.errors}` : ''}` };
  });
  // Re-laid out when the set of agents or of edges changes, not when counts do: stepping keeps
  // every agent where it was.
  // (A label that grows past a width step re-lays out too, so that boxes never come to overlap.)
  const shapeKey = `${specs.map((s) => `${s.id}:${Math.ceil(Math.max(s.label.length, s.sub.length) / 6)}`).join('|')}#${data.pairs.map((p) => p.key).join('|')}`;
  const laid = useMemo(() => {
    const widest = specs.map((s) => ({ ...s, label: s.label.padEnd(Math.ceil(Math.max(s.label.length, s.sub.length) / 6) * 6) }));
    const el = svgRef.current;
    const aspect = el && el.clientHeight ? el.clientWidth / el.clientHeight : 1.8;
    const out = layoutAgents(widest, data.pairs, positions.current, aspect);
    positions.current = new Map([...out.values()].map((n) => [n.id, { x: n.x, y: n.y }]));
    return out;
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [shapeKey]);
  // Labels carry counts and statuses: boxes are re-measured at the same positions.
  const nodesNow = useMemo(() => {
    const out = new Map<string, LaidNode>();
    for (const s of specs) {
      const n = laid.get(s.id);
      if (n) out.set(s.id, { ...n, box: nodeBox(n.x, n.y, s.label, s.sub) });
    }
    return out;
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [laid, shapeKey]);
  const labels = useMemo(() => placeEdgeLabels(data.pairs, nodesNow), [data, nodesNow]);
  const labelByKey = new Map(labels.map((l) => [l.key, l]));

  const bounds = () => {
    const all = [...nodesNow.values()].map((n) => n.box);
    if (!all.length) return { x0: -100, y0: -100, x1: 100, y1: 100 };
    return {
      x0: Math.min(...all.map((b) => b.x0)) - 20,
      y0: Math.min(...all.map((b) => b.y0)) - 20,
      x1: Math.max(...all.map((b) => b.x1)) + 20,
      y1: Math.max(...all.map((b) => b.y1)) + 20,
    };
  };
  useEffect(() => {
    zoomCmd.current = { zoomBy, fit: () => fit(bounds(), 16, 1.4, 0.35) };
  });
  const fitted = useRef(0);
  useEffect(() => {
    // Fit when the number of agents changes (the first layout, an agent joining), never on counts.
    if (!nodesNow.size || fitted.current === nodesNow.size) return;
    fitted.current = nodesNow.size;
    const el = svgRef.current;
    if (el && !el.clientWidth) apply(zoomIdentity);
    fit(bounds(), 16, 1.4, 0.35);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [nodesNow]);

  const focus = hover ?? (selection?.kind === 'agent' ? selection.id : null) ?? agentFilter;
  const neighbours = useMemo(() => {
    if (!focus) return null;
    const s = new Set([focus]);
    for (const p of data.pairs) {
      if (p.a === focus) s.add(p.b);
      if (p.b === focus) s.add(p.a);
    }
    return s;
  }, [focus, data]);
  const maxTotal = Math.max(1, ...data.pairs.map((p) => p.total));
  const messages = data.pairs.reduce((n, p) => n + p.total, 0);
  const inRange = mode === 'range' && range;

  return (
    <div className="graph-svg-wrap agents-graph">
      <div className="graph-subbar small">
        <div className="seg" role="group" aria-label="time window">
          <button type="button" className={mode === 'cursor' ? 'seg-btn active' : 'seg-btn'} aria-pressed={mode === 'cursor'} onClick={() => setMode('cursor')}>
            up to the cursor
          </button>
          <button
            type="button"
            className={mode === 'range' ? 'seg-btn active' : 'seg-btn'}
            aria-pressed={mode === 'range'}
            onClick={() => {
              setMode('range');
              if (!range && Number.isFinite(t0)) setRange([t0, t1]);
            }}
          >
            time range
          </button>
        </div>
        <span className="muted" data-testid="agents-window">
          {inRange ? `messages ${fmtOffset(range[0], t0)} – ${fmtOffset(range[1], t0)} (drag on the strip below)` : `messages up to seq ${seq}`}
        </span>
      </div>
      <svg
        ref={svgRef}
        className="graph-svg"
        role="img"
        aria-label={`agents graph: ${nodesNow.size} agents, ${data.pairs.length} pairs, ${messages} messages in the window`}
        data-testid="agents-graph"
        onClick={(e) => {
          if (e.target === e.currentTarget) setEdgeTip(null);
        }}
      >
        <defs>
          {/* Fixed-size arrowheads (user space), whatever the width of the edge. */}
          <marker id="ag-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="9" markerHeight="9" markerUnits="userSpaceOnUse" orient="auto-start-reverse">
            <path d="M0,1L10,5L0,9Z" fill="#4fa3e8" />
          </marker>
        </defs>
        <g ref={layerRef}>
          {data.pairs.map((p) => {
            const a = nodesNow.get(p.a);
            const b = nodesNow.get(p.b);
            if (!a || !b) return null;
            const g = edgeGeometry(a.x, a.y, b.x, b.y);
            const lit = neighbours ? neighbours.has(p.a) && neighbours.has(p.b) && (p.a === focus || p.b === focus) : true;
            const w = p.total ? 1.2 + (Math.log1p(p.total) / Math.log1p(maxTotal)) * 5 : 1.2;
            return (
              <g key={p.key} className={`ag-edge${p.total ? ' message' : ' spawn'}${lit ? '' : ' dim'}`} data-pair={`${p.a}|${p.b}`}>
                <path d={g.d} strokeWidth={w} markerEnd={p.ab ? 'url(#ag-arrow)' : undefined} markerStart={p.ba ? 'url(#ag-arrow)' : undefined} className="ag-line" />
                {/* A wide invisible twin: thin edges stay easy to hover and click. */}
                <path
                  d={g.d}
                  className="ag-hit"
                  onMouseEnter={(e) => setEdgeTip({ pair: p, x: e.nativeEvent.offsetX, y: e.nativeEvent.offsetY })}
                  onMouseLeave={() => setEdgeTip(null)}
                  onClick={() => {
                    if (p.lastSeq !== null) model.goto(p.lastSeq);
                  }}
                  role="button"
                  aria-label={`${p.a} and ${p.b}: ${p.ab} messages ${p.a} to ${p.b}, ${p.ba} back${p.spawn ? ', spawned' : ''}`}
                />
              </g>
            );
          })}
          {labels.map((l) => {
            const p = data.pairs.find((x) => x.key === l.key);
            const lit = !neighbours || (p && (p.a === focus || p.b === focus));
            return (
              <text key={l.key} x={l.x} y={l.y + 4} textAnchor="middle" className={`ag-count${lit ? '' : ' dim'}`} data-testid="edge-label">
                {l.text}
              </text>
            );
          })}
          {[...nodesNow.values()].map((n) => {
            const spec = specs.find((s) => s.id === n.id);
            const act = activity.get(n.id);
            const status = act?.status ?? 'idle';
            const sel = selection?.kind === 'agent' && selection.id === n.id;
            const dim = neighbours && !neighbours.has(n.id);
            const a = model.agents.agents.get(n.id);
            return (
              <g
                key={n.id}
                className={`ag-node status-${status}${sel ? ' selected' : ''}${dim ? ' dim' : ''}${focus === n.id ? ' focus' : ''}`}
                transform={`translate(${n.x},${n.y})`}
                onMouseEnter={() => setHover(n.id)}
                onMouseLeave={() => setHover(null)}
                onClick={() => model.select(sel ? null : { kind: 'agent', id: n.id })}
                role="button"
                aria-label={`agent ${n.id}, ${a?.agentType ?? 'agent'}, ${status}`}
                data-agent={n.id}
              >
                <circle r={NODE_R} className="ag-circle" data-testid="agent-node" />
                <text y={4} className="ag-glyph" textAnchor="middle">
                  {(a?.agentType ?? n.id).slice(0, 4)}
                </text>
                <text y={NODE_R + 4 + 10} className="ag-label" textAnchor="middle" data-testid="agent-label">
                  {spec?.label}
                </text>
                <text y={NODE_R + 4 + 23} className="ag-sub" textAnchor="middle">
                  {spec?.sub}
                </text>
              </g>
            );
          })}
        </g>
      </svg>
      {edgeTip && (
        <div className="tooltip" style={{ left: edgeTip.x + 12, top: edgeTip.y + 40 }} role="tooltip">
          {edgeTip.pair.a} → {edgeTip.pair.b}: {edgeTip.pair.ab} · {edgeTip.pair.b} → {edgeTip.pair.a}: {edgeTip.pair.ba}
          {edgeTip.pair.spawn ? ' · spawned' : ''}
          {edgeTip.pair.lastSeq !== null ? ` · click: newest at seq ${edgeTip.pair.lastSeq}` : ''}
        </div>
      )}
      {mode === 'range' && Number.isFinite(t0) && <Brush model={model} t0={t0} t1={t1} range={range} setRange={setRange} version={version} />}
      <GraphFooter legend={false}>
        {nodesNow.size} agents · {data.pairs.filter((p) => p.total).length} talking pairs · {messages} messages
        {labelByKey.size < data.pairs.filter((p) => p.total).length ? ' · hover an edge for counts' : ''} · <span className="ag-key-msg">━</span> messages (width = count) · <span>┅</span> spawned
      </GraphFooter>
    </div>
  );
}

/** The strip under the graph: messages over the session's time; drag to choose the window. */
function Brush({
  model,
  t0,
  t1,
  range,
  setRange,
  version,
}: {
  model: SessionModel;
  t0: number;
  t1: number;
  range: [number, number] | null;
  setRange: (r: [number, number] | null) => void;
  version: number;
}) {
  const ref = useRef<SVGSVGElement>(null);
  const [width, setWidth] = useState(600);
  const drag = useRef<number | null>(null);
  useEffect(() => {
    const el = ref.current;
    if (!el) return;
    const ro = new ResizeObserver(() => setWidth(el.clientWidth || 600));
    ro.observe(el);
    return () => ro.disconnect();
  }, []);
  const hist = useMemo(() => messageHistogram(model.interaction, t0, t1, BUCKETS), [model, t0, t1, version]); // eslint-disable-line react-hooks/exhaustive-deps
  const max = Math.max(1, ...hist);
  const span = Math.max(1, t1 - t0);
  const toX = (t: number) => ((t - t0) / span) * width;
  const toT = (x: number) => t0 + (Math.max(0, Math.min(width, x)) / width) * span;
  const x = (e: React.PointerEvent) => e.clientX - (ref.current?.getBoundingClientRect().left ?? 0);
  return (
    <svg
      ref={ref}
      className="ag-brush"
      height={BRUSH_H}
      data-testid="agents-brush"
      role="slider"
      aria-label="time range of the messages counted: drag to choose"
      aria-valuetext={range ? `${fmtOffset(range[0], t0)} to ${fmtOffset(range[1], t0)}` : 'whole session'}
      onPointerDown={(e) => {
        drag.current = toT(x(e));
        (e.target as Element).setPointerCapture?.(e.pointerId);
      }}
      onPointerMove={(e) => {
        if (drag.current === null || !e.buttons) return;
        const t = toT(x(e));
        const lo = Math.min(drag.current, t);
        const hi = Math.max(drag.current, t);
        setRange([lo, Math.max(hi, lo + 1)]);
      }}
      onPointerUp={() => {
        drag.current = null;
      }}
      onDoubleClick={() => setRange([t0, t1])}
    >
      {hist.map((n, i) => {
        const h = (n / max) * (BRUSH_H - 6);
        return <rect key={i} x={(i / BUCKETS) * width} y={BRUSH_H - 2 - h} width={Math.max(1, width / BUCKETS - 1)} height={h} className="ag-brush-bar" />;
      })}
      {range && <rect x={toX(range[0])} y={0} width={Math.max(2, toX(range[1]) - toX(range[0]))} height={BRUSH_H} className="ag-brush-sel" />}
    </svg>
  );
}
