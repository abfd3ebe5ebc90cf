import { forceCollide, forceLink, forceManyBody, forceSimulation, forceX, forceY, type SimulationLinkDatum, type SimulationNodeDatum } from 'd3-force';
import { SESSION_LANE } from './agents';
import { countAtOrBelow } from './eventLog';
import type { InteractionIndex } from './interaction';

/**
 * The agents graph, made to stay legible to 50 agents: messages aggregated per pair of agents (one
 * edge, its width by count, an arrowhead at each end that received), a deterministic layout in which
 * no two agents (circle and label) overlap, and edge labels placed only where they cover no agent.
 */

/** Which messages count: those up to the cursor, or those within a brushed time range. */
export type GraphWindow = { kind: 'cursor'; seq: number } | { kind: 'range'; from: number; to: number };

export interface PairEdge {
  key: string;
  /** The pair, in a stable order (a < b). */
  a: string;
  b: string;
  /** Messages a → b and b → a in the window. */
  ab: number;
  ba: number;
  total: number;
  spawn: boolean;
  /** seq of the newest message of the pair in the window (click: time-travel to it). */
  lastSeq: number | null;
}

function inWindow(seqs: readonly number[], times: readonly number[], w: GraphWindow): { count: number; last: number | null } {
  if (w.kind === 'cursor') {
    const n = countAtOrBelow(seqs, w.seq);
    return { count: n, last: n ? (seqs[n - 1] as number) : null };
  }
  let count = 0;
  let last: number | null = null;
  for (let i = 0; i < times.length; i++) {
    const t = times[i] as number;
    if (t >= w.from && t <= w.to) {
      count++;
      const s = seqs[i] as number;
      if (last === null || s > last) last = s;
    }
  }
  return { count, last };
}

/** Agents present in the window (in order of first appearance) and their edges per unordered pair. */
export function aggregatePairs(index: InteractionIndex, w: GraphWindow): { nodes: string[]; pairs: PairEdge[] } {
  const pairs = new Map<string, PairEdge>();
  for (const e of index.edges.values()) {
    if (e.source === e.target) continue;
    const { count, last } = inWindow(e.seqs, e.times, w);
    // A spawn is structure: shown once it happened (any time, for a range).
    if (e.type === 'spawn' ? w.kind === 'cursor' && !count : !count) continue;
    const [a, b] = e.source < e.target ? [e.source, e.target] : [e.target, e.source];
    const key = `${a}\u0000${b}`;
    let p = pairs.get(key);
    if (!p) {
      p = { key, a, b, ab: 0, ba: 0, total: 0, spawn: false, lastSeq: null };
      pairs.set(key, p);
    }
    if (e.type === 'spawn') {
      p.spawn = true;
      continue;
    }
    if (e.source === a) p.ab += count;
    else p.ba += count;
    p.total += count;
    if (last !== null && (p.lastSeq === null || last > p.lastSeq)) p.lastSeq = last;
  }
  const nodes = [...index.agentSince]
    .filter(([agent, since]) => agent !== SESSION_LANE && (w.kind === 'range' || since <= w.seq))
    .sort((x, y) => x[1] - y[1])
    .map(([agent]) => agent);
  const present = new Set(nodes);
  return { nodes, pairs: [...pairs.values()].filter((p) => present.has(p.a) && present.has(p.b)) };
}

export interface Box {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}

export function boxesOverlap(a: Box, b: Box, pad = 0): boolean {
  return a.x0 < b.x1 + pad && b.x0 < a.x1 + pad && a.y0 < b.y1 + pad && b.y0 < a.y1 + pad;
}

export const NODE_R = 18;
const LABEL_CHAR_W = 7.2; // 11 px DejaVu Sans (the widest common UI font), with room to spare
const LABEL_GAP = 4;
const LINE_H = 13;

/** The box an agent occupies: its circle and the two label lines under it. */
export function nodeBox(x: number, y: number, label: string, sub: string): Box {
  const w = Math.max(NODE_R * 2, Math.max(label.length, sub.length * 0.9) * LABEL_CHAR_W);
  return { x0: x - w / 2, y0: y - NODE_R, x1: x + w / 2, y1: y + NODE_R + LABEL_GAP + 2 * LINE_H };
}

export interface LaidNode {
  id: string;
  x: number;
  y: number;
  box: Box;
}

interface Sim extends SimulationNodeDatum {
  id: string;
  hw: number;
  hh: number;
}

/**
 * Positions agents: a force layout (links pull talking agents together) started from the previous
 * positions, or from rings in spawn order, run to rest synchronously (no jitter, the same input
 * gives the same picture), then any remaining overlap between agent boxes is pushed apart.
 */
export function layoutAgents(
  nodes: readonly { id: string; label: string; sub: string }[],
  pairs: readonly PairEdge[],
  previous: ReadonlyMap<string, { x: number; y: number }> = new Map(),
  /** Width / height of the view: the layout is drawn to that shape, so a fit wastes no room. */
  aspect = 1.6,
): Map<string, LaidNode> {
  const a = Math.max(0.5, Math.min(3, aspect));
  const sims: Sim[] = nodes.map((n, i) => {
    const box = nodeBox(0, 0, n.label, n.sub);
    const prev = previous.get(n.id);
    // Rings of growing radius, in order: the first agent (usually the coordinator) in the middle.
    const { ring, pos, size } = ringOf(i);
    const angle = (2 * Math.PI * pos) / size + ring * 0.4;
    return {
      id: n.id,
      hw: (box.x1 - box.x0) / 2,
      hh: (box.y1 - box.y0) / 2,
      x: prev?.x ?? Math.cos(angle) * ring * 90 * Math.sqrt(a),
      y: prev?.y ?? (Math.sin(angle) * ring * 90) / Math.sqrt(a),
    };
  });
  const byId = new Map(sims.map((s) => [s.id, s]));
  const links: (SimulationLinkDatum<Sim> & { weight: number })[] = pairs
    .filter((p) => byId.has(p.a) && byId.has(p.b))
    .map((p) => ({ source: p.a, target: p.b, weight: p.total + (p.spawn ? 1 : 0) }));
  const warm = sims.every((s) => previous.has(s.id));
  const sim = forceSimulation<Sim>(sims)
    .force('charge', forceManyBody<Sim>().strength(-260).distanceMax(400))
    .force(
      'link',
      forceLink<Sim, SimulationLinkDatum<Sim> & { weight: number }>(links)
        .id((d) => d.id)
        .distance(100)
        .strength((l) => Math.min(0.7, 0.1 + Math.log1p(l.weight) * 0.08)),
    )
    .force('collide', forceCollide<Sim>((d) => Math.max(d.hw, d.hh) + 8).iterations(2))
    .force('x', forceX<Sim>(0).strength(0.12 / a))
    .force('y', forceY<Sim>(0).strength(0.12 * a))
    .stop();
  if (warm) sim.alpha(0.15);
  const ticks = warm ? 60 : 300;
  for (let i = 0; i < ticks; i++) sim.tick();
  if (!warm && sims.length > 2) {
    // Drawn to the view's shape: stretched one way, squeezed the other, then separated again.
    const xs = sims.map((d) => d.x ?? 0);
    const ys = sims.map((d) => d.y ?? 0);
    const w = Math.max(1, Math.max(...xs) - Math.min(...xs));
    const h = Math.max(1, Math.max(...ys) - Math.min(...ys));
    const stretch = Math.sqrt(a / (w / h));
    if (stretch > 1.1 || stretch < 0.9) for (const d of sims) {
      d.x = (d.x ?? 0) * stretch;
      d.y = (d.y ?? 0) / stretch;
    }
  }
  separate(sims);
  const out = new Map<string, LaidNode>();
  for (const n of nodes) {
    const s = byId.get(n.id) as Sim;
    const x = s.x ?? 0;
    const y = s.y ?? 0;
    out.set(n.id, { id: n.id, x, y, box: nodeBox(x, y, n.label, n.sub) });
  }
  return out;
}

function ringOf(i: number): { ring: number; pos: number; size: number } {
  let ring = 0;
  let start = 0;
  let size = 1;
  while (i >= start + size) {
    start += size;
    ring++;
    size = 6 * ring;
  }
  return { ring, pos: i - start, size };
}

/** Pushes overlapping boxes apart along their smaller overlap until none overlaps (bounded). */
function separate(sims: Sim[], pad = 8): void {
  for (let round = 0; round < 200; round++) {
    let moved = false;
    for (let i = 0; i < sims.length; i++) {
      const a = sims[i] as Sim;
      for (let j = i + 1; j < sims.length; j++) {
        const b = sims[j] as Sim;
        const dx = (b.x ?? 0) - (a.x ?? 0);
        const dy = (b.y ?? 0) - (a.y ?? 0);
        const ox = a.hw + b.hw + pad - Math.abs(dx);
        const oy = a.hh + b.hh + pad - Math.abs(dy);
        if (ox <= 0 || oy <= 0) continue;
        moved = true;
        if (ox < oy) {
          const push = (ox / 2 + 0.5) * (dx >= 0 ? 1 : -1);
          a.x = (a.x ?? 0) - push;
          b.x = (b.x ?? 0) + push;
        } else {
          const push = (oy / 2 + 0.5) * (dy >= 0 ? 1 : -1);
          a.y = (a.y ?? 0) - push;
          b.y = (b.y ?? 0) + push;
        }
      }
    }
    if (!moved) return;
  }
}

/** The curve of an edge between two agents: a gentle bend so that labels sit off the line. */
export function edgeGeometry(ax: number, ay: number, bx: number, by: number): { d: string; mid: { x: number; y: number }; normal: { x: number; y: number }; at: (t: number) => { x: number; y: number } } {
  const dx = bx - ax;
  const dy = by - ay;
  const len = Math.hypot(dx, dy) || 1;
  const nx = -dy / len;
  const ny = dx / len;
  const bend = Math.min(30, len * 0.12);
  const cx = (ax + bx) / 2 + nx * bend;
  const cy = (ay + by) / 2 + ny * bend;
  // Start and end on the circles, not in the centres (arrowheads stay visible).
  const sx = ax + (dx / len) * (NODE_R + 2);
  const sy = ay + (dy / len) * (NODE_R + 2);
  const ex = bx - (dx / len) * (NODE_R + 3);
  const ey = by - (dy / len) * (NODE_R + 3);
  const at = (t: number) => ({
    x: (1 - t) * (1 - t) * sx + 2 * (1 - t) * t * cx + t * t * ex,
    y: (1 - t) * (1 - t) * sy + 2 * (1 - t) * t * cy + t * t * ey,
  });
  return { d: `M${sx},${sy}Q${cx},${cy} ${ex},${ey}`, mid: at(0.5), normal: { x: nx, y: ny }, at };
}

export interface EdgeLabel {
  key: string;
  x: number;
  y: number;
  text: string;
  box: Box;
}

/**
 * Count labels of edges, each placed on its curve where its box covers no agent and no other label
 * (tried at the middle, then nearer either end); an edge with no such place has no label (its
 * counts are in its tooltip). Busiest edges are placed first.
 */
export function placeEdgeLabels(pairs: readonly PairEdge[], laid: ReadonlyMap<string, LaidNode>): EdgeLabel[] {
  const placed: EdgeLabel[] = [];
  const nodeBoxes = [...laid.values()].map((n) => n.box);
  const order = [...pairs].filter((p) => p.total > 0).sort((x, y) => y.total - x.total || (x.key < y.key ? -1 : 1));
  for (const p of order) {
    const a = laid.get(p.a);
    const b = laid.get(p.b);
    if (!a || !b) continue;
    const g = edgeGeometry(a.x, a.y, b.x, b.y);
    const text = p.ab && p.ba ? `${p.ab}⇄${p.ba}` : String(p.total);
    const w = text.length * 6.2 + 6;
    const h = 12;
    for (const t of [0.5, 0.38, 0.62, 0.28, 0.72]) {
      const at = g.at(t);
      const x = at.x + g.normal.x * 7;
      const y = at.y + g.normal.y * 7;
      const box = { x0: x - w / 2, y0: y - h / 2, x1: x + w / 2, y1: y + h / 2 };
      if (nodeBoxes.some((nb) => boxesOverlap(nb, box, 2)) || placed.some((l) => boxesOverlap(l.box, box, 1))) continue;
      placed.push({ key: p.key, x, y, text, box });
      break;
    }
  }
  return placed;
}

/** Message arrows over time (a message to two agents counts twice), for the brush under the graph. */
export function messageHistogram(index: InteractionIndex, t0: number, t1: number, buckets: number): number[] {
  const out = new Array<number>(Math.max(1, buckets)).fill(0);
  const span = Math.max(1, t1 - t0);
  for (const e of index.edges.values()) {
    if (e.type !== 'message') continue;
    for (const t of e.times) {
      const i = Math.min(out.length - 1, Math.max(0, Math.floor(((t - t0) / span) * out.length)));
      out[i] = (out[i] as number) + 1;
    }
  }
  return out;
}
