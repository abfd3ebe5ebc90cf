import { useEffect, useMemo, useRef, useState } from 'react';
import { forceCollide, forceLink, forceManyBody, forceSimulation, forceX, forceY, type Simulation, type SimulationLinkDatum, type SimulationNodeDatum } from 'd3-force';
import { useStore, useStoreThrottled } from '../lib/store';
import { liveWait, versionAndCursor } from '../state/throttle';
import { agentActivityUntil, SESSION_LANE } from '../model/agents';
import { agentStatusGlyph } from '../model/categories';
import { effectiveSeq } from '../model/cursor';
import type { SessionModel } from '../state/sessionModel';
import { zoomIdentity } from 'd3-zoom';
import { useThrottled } from './useAsync';
import { useZoom } from './useZoom';

interface SimNode extends SimulationNodeDatum {
  id: string;
}
interface SimLink extends SimulationLinkDatum<SimNode> {
  key: string;
  type: 'message' | 'spawn';
  count: number;
}

/**
 * The agent interaction graph: agents as nodes, messages (blue, solid, arrow) and spawns (grey,
 * dashed) as edges, weighted by count at the cursor. The simulation persists: new agents join
 * next to their peers and the layout settles, instead of starting over on every update.
 */
export function ForceView({
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
  const { transform, zoomBy, fit, apply } = useZoom(svgRef, layerRef);
  const sim = useRef<Simulation<SimNode, SimLink> | null>(null);
  const nodesRef = useRef(new Map<string, SimNode>());
  const [, setTick] = useState(0);
  const fresh = useRef(new Set<string>());
  const linkKeys = useRef('');

  const data = useMemo(() => model.interaction.at(seq), [model, seq, version]); // eslint-disable-line react-hooks/exhaustive-deps
  const idx = model.log.indexAtOrBefore(seq);
  const activity = useMemo(() => agentActivityUntil(model.log.events, idx), [model, idx, version]); // eslint-disable-line react-hooks/exhaustive-deps

  useEffect(() => {
    const s = forceSimulation<SimNode, SimLink>()
      .force('charge', forceManyBody<SimNode>().strength(-420))
      .force('collide', forceCollide<SimNode>(46))
      .force('x', forceX<SimNode>(0).strength(0.04))
      .force('y', forceY<SimNode>(0).strength(0.06))
      .alphaDecay(0.04);
    let frame: number | null = null;
    s.on('tick', () => {
      if (frame === null)
        frame = requestAnimationFrame(() => {
          frame = null;
          setTick((t) => t + 1);
        });
    });
    sim.current = s;
    return () => {
      s.stop();
      if (frame !== null) cancelAnimationFrame(frame);
    };
  }, []);

  useEffect(() => {
    const s = sim.current;
    if (!s) return;
    const map = nodesRef.current;
    const ids = data.nodes.filter((n) => n !== SESSION_LANE);
    let changed = false;
    const next = new Map<string, SimNode>();
    for (const id of ids) {
      let n = map.get(id);
      if (!n) {
        // Place a newcomer beside the agent it talks to or was spawned by.
        const peer = data.edges.find((e) => e.edge.target === id || e.edge.source === id);
        const other = peer ? (peer.edge.source === id ? peer.edge.target : peer.edge.source) : null;
        const anchor = other ? map.get(other) : undefined;
        n = { id, x: (anchor?.x ?? 0) + (Math.random() - 0.5) * 60, y: (anchor?.y ?? 0) + (Math.random() - 0.5) * 60 };
        if (map.size) fresh.current.add(id);
        changed = true;
      }
      next.set(id, n);
    }
    if (next.size !== map.size) changed = true;
    nodesRef.current = next;
    const links: SimLink[] = data.edges
      .filter((e) => next.has(e.edge.source) && next.has(e.edge.target) && e.edge.source !== e.edge.target)
      .map((e) => ({ key: e.edge.key, source: e.edge.source, target: e.edge.target, type: e.edge.type, count: e.count }));
    const oldKeys = linkKeys.current;
    const newKeys = links.map((l) => l.key).join('|');
    linkKeys.current = newKeys;
    s.nodes([...next.values()]);
    s.force(
      'link',
      forceLink<SimNode, SimLink>(links)
        .id((d) => d.id)
        .distance((l) => (l.type === 'spawn' ? 110 : 150))
        .strength((l) => (l.type === 'spawn' ? 0.5 : Math.min(0.9, 0.15 + Math.log1p(l.count) * 0.12))),
    );
    // Reheat only when the graph's shape changed; new message counts just redraw (a live swarm
    // does not keep the simulation, and the CPU, busy).
    if (changed) s.alpha(0.6).restart();
    else if (newKeys !== oldKeys) s.alpha(Math.max(s.alpha(), 0.2)).restart();
    else setTick((t) => t + 1);
  }, [data]);

  const simLinks = ((sim.current?.force('link') as ReturnType<typeof forceLink<SimNode, SimLink>> | undefined)?.links() ?? []) as SimLink[];
  const nodes = [...nodesRef.current.values()];

  useEffect(() => {
    zoomCmd.current = {
      zoomBy,
      fit: () => {
        if (!nodes.length) return;
        const xs = nodes.map((n) => n.x ?? 0);
        const ys = nodes.map((n) => n.y ?? 0);
        fit({ x0: Math.min(...xs) - 60, y0: Math.min(...ys) - 40, x1: Math.max(...xs) + 60, y1: Math.max(...ys) + 40 });
      },
    };
  });

  // Start centred on the origin, then fit once the first layout has settled.
  const fittedOnce = useRef(false);
  useEffect(() => {
    const el = svgRef.current;
    if (el) apply(zoomIdentity.translate(el.clientWidth / 2, el.clientHeight / 2));
  }, [apply]);
  useEffect(() => {
    if (fittedOnce.current || !nodes.length || (sim.current?.alpha() ?? 1) > 0.12) return;
    fittedOnce.current = true;
    zoomCmd.current?.fit();
  });

  const maxCount = Math.max(1, ...simLinks.map((l) => l.count));
  return (
    <div className="graph-svg-wrap">
      <svg ref={svgRef} className="graph-svg" role="img" aria-label={`agent interaction graph: ${nodes.length} agents, ${simLinks.length} edges`}>
        <defs>
          <marker id="arrow-msg" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
            <path d="M0,0L10,5L0,10Z" fill="#2196f3" />
          </marker>
          <marker id="arrow-spawn" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
            <path d="M0,0L10,5L0,10Z" fill="#8d9aa5" />
          </marker>
        </defs>
        <g ref={layerRef} transform={transform.toString()}>
          {simLinks.map((l) => {
            const s = l.source as SimNode;
            const t = l.target as SimNode;
            const sx = s.x ?? 0;
            const sy = s.y ?? 0;
            const tx = t.x ?? 0;
            const ty = t.y ?? 0;
            const dx = tx - sx;
            const dy = ty - sy;
            const len = Math.hypot(dx, dy) || 1;
            const r = 24;
            // Curve message edges so a→b and b→a stay apart.
            const bend = l.type === 'message' ? 0.18 : 0;
            const mx = (sx + tx) / 2 - dy * bend;
            const my = (sy + ty) / 2 + dx * bend;
            const ex = tx - (dx / len) * r;
            const ey = ty - (dy / len) * r;
            const bx = sx + (dx / len) * r;
            const by = sy + (dy / len) * r;
            const w = l.type === 'spawn' ? 1.5 : 1 + (Math.log1p(l.count) / Math.log1p(maxCount)) * 4;
            const involved = agentFilter && (s.id === agentFilter || t.id === agentFilter);
            return (
              <g key={l.key} className={`f-edge ${l.type}${agentFilter && !involved ? ' dim' : ''}`}>
                <path d={`M${bx},${by}Q${mx},${my} ${ex},${ey}`} strokeWidth={w} markerEnd={`url(#arrow-${l.type === 'spawn' ? 'spawn' : 'msg'})`} />
                {l.type === 'message' && (
                  <text x={(bx + 2 * mx + ex) / 4} y={(by + 2 * my + ey) / 4 - 3} className="edge-label">
                    ✉ {l.count}
                  </text>
                )}
              </g>
            );
          })}
          {nodes.map((n) => {
            const a = model.agents.agents.get(n.id);
            const act = activity.get(n.id);
            const status = act?.status ?? 'idle';
            const sel = selection?.kind === 'agent' && selection.id === n.id;
            const dim = agentFilter && agentFilter !== n.id;
            const isFresh = fresh.current.has(n.id);
            return (
              <g
                key={n.id}
                className={`f-node status-${status}${sel ? ' selected' : ''}${dim ? ' dim' : ''}${isFresh ? ' fresh anim' : ''}`}
                style={{ transform: `translate(${n.x ?? 0}px,${n.y ?? 0}px)` }}
                onClick={() => model.select({ kind: 'agent', id: n.id })}
                role="button"
                aria-label={`agent ${n.id}, ${a?.agentType ?? 'agent'}, ${status}`}
                onAnimationEnd={() => fresh.current.delete(n.id)}
              >
                <circle r={22} className="f-circle" />
                <text y={5} className="f-glyph" textAnchor="middle">
                  {(a?.agentType ?? n.id).slice(0, 3)}
                </text>
                <text y={38} className="f-label" textAnchor="middle">
                  {agentStatusGlyph(status)} {n.id}
                </text>
                <text y={51} className="f-sub" textAnchor="middle">
                  {status} · {act?.events ?? 0} ev{act?.errors ? ` · ⚠${act.errors}` : ''}
                </text>
              </g>
            );
          })}
        </g>
      </svg>
      <div className="graph-status muted small">
        {nodes.length} agents · <span style={{ color: '#2196f3' }}>━</span> messages (✉ count) · <span>┅</span> spawned
      </div>
    </div>
  );
}
