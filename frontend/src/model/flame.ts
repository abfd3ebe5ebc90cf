import type { Span } from './spans';
import { SESSION_LANE } from './agents';

export interface FlameRect {
  span: Span;
  row: number;
  start: number;
  end: number;
  depth: number;
}

export interface FlameBand {
  agentId: string;
  rowStart: number;
  rows: number;
}

export interface FlameLayout {
  rects: FlameRect[];
  bands: FlameBand[];
  rows: number;
  minTime: number;
  maxTime: number;
}

/**
 * A flame chart of spans: one band per agent, a span below its parent, and spans that overlap in
 * time at the same depth pushed to their own row (parallel work stays visible). Open spans extend
 * to `now`.
 */
export function layoutFlame(spans: readonly Span[], now: number): FlameLayout {
  const byId = new Map(spans.map((s) => [s.id, s]));
  const depthOf = new Map<string, number>();
  const depth = (s: Span): number => {
    const known = depthOf.get(s.id);
    if (known !== undefined) return known;
    let d = 0;
    let cur: Span | undefined = s;
    const chain: Span[] = [];
    let guard = 0;
    while (cur && guard++ < 256) {
      chain.push(cur);
      const p: Span | undefined = cur.parentId ? byId.get(cur.parentId) : undefined;
      // Cross-agent parents start a new stack in the child's band.
      if (!p || p.agentId !== cur.agentId) break;
      const pd = depthOf.get(p.id);
      if (pd !== undefined) {
        d = pd + 1;
        break;
      }
      cur = p;
    }
    for (let i = chain.length - 1; i >= 0; i--) {
      const c = chain[i] as Span;
      if (i === chain.length - 1) depthOf.set(c.id, d);
      else depthOf.set(c.id, (depthOf.get((chain[i + 1] as Span).id) ?? 0) + 1);
    }
    return depthOf.get(s.id) ?? 0;
  };

  const byAgent = new Map<string, Span[]>();
  let minTime = Infinity;
  let maxTime = -Infinity;
  for (const s of spans) {
    const k = s.agentId ?? SESSION_LANE;
    const l = byAgent.get(k);
    if (l) l.push(s);
    else byAgent.set(k, [s]);
  }
  const rects: FlameRect[] = [];
  const bands: FlameBand[] = [];
  let row = 0;
  for (const [agentId, list] of byAgent) {
    list.sort((a, b) => a.startTime - b.startTime || a.startSeq - b.startSeq);
    const rowEnds: number[] = []; // end time of the last span placed on each row of this band
    const rowOf = new Map<string, number>();
    for (const s of list) {
      const start = s.startTime;
      const end = Math.max(s.endTime ?? now, start);
      const d = depth(s);
      const parentRow = s.parentId ? rowOf.get(s.parentId) : undefined;
      let r = parentRow !== undefined ? parentRow + 1 : d;
      while ((rowEnds[r] ?? -Infinity) > start) r++;
      rowEnds[r] = end;
      rowOf.set(s.id, r);
      rects.push({ span: s, row: row + r, start, end, depth: d });
      if (start < minTime) minTime = start;
      if (end > maxTime) maxTime = end;
    }
    const rows = Math.max(1, rowEnds.length);
    bands.push({ agentId, rowStart: row, rows });
    row += rows;
  }
  return { rects, bands, rows: row, minTime: Number.isFinite(minTime) ? minTime : 0, maxTime: Number.isFinite(maxTime) ? maxTime : 0 };
}
