import type { Json, JsonObject, StoredEvent } from '../api/types';
import { countAtOrBelow } from './eventLog';

export interface InteractionEdge {
  key: string;
  source: string;
  target: string;
  type: 'message' | 'spawn';
  /** seqs of the events behind this edge, ascending: the count at any cursor is a binary search. */
  seqs: number[];
  /** Producer timestamps of those events, in the same order (a brushed time range counts them). */
  times: number[];
}

function ids(v: Json | undefined): string[] {
  if (typeof v === 'string') return [v];
  if (typeof v === 'number') return [String(v)];
  if (Array.isArray(v)) return v.flatMap((x) => (typeof x === 'string' || typeof x === 'number' ? [String(x)] : []));
  return [];
}

/**
 * The agent interaction graph (force layout): agents as nodes, messages and spawns as edges.
 * A message is counted once even when both its `sent` and `received` events are traced.
 */
export class InteractionIndex {
  readonly edges = new Map<string, InteractionEdge>();
  /** agent id → seq it first appeared (its node exists from then on). */
  readonly agentSince = new Map<string, number>();
  private readonly seenMessages = new Set<string>();
  version = 0;

  private edge(source: string, target: string, type: 'message' | 'spawn', seq: number, time: number): void {
    const key = `${type}:${source}->${target}`;
    let e = this.edges.get(key);
    if (!e) {
      e = { key, source, target, type, seqs: [], times: [] };
      this.edges.set(key, e);
    }
    const last = e.seqs[e.seqs.length - 1];
    if (last === undefined || last <= seq) {
      e.seqs.push(seq);
      e.times.push(time);
    } else {
      const at = countAtOrBelow(e.seqs, seq);
      e.seqs.splice(at, 0, seq);
      e.times.splice(at, 0, time);
    }
    this.touch(source, seq);
    this.touch(target, seq);
  }

  private touch(agent: string, seq: number): void {
    const since = this.agentSince.get(agent);
    if (since === undefined || seq < since) {
      this.agentSince.set(agent, seq);
      this.version++;
    }
  }

  apply(events: readonly StoredEvent[]): void {
    for (const ev of events) {
      if (ev.agent_id) this.touch(ev.agent_id, ev.seq);
      const d = ev.data ?? {};
      if (ev.type === 'communication') {
        const m = (d.message ?? {}) as JsonObject;
        const mid = typeof m.id === 'string' || typeof m.id === 'number' ? String(m.id) : `${ev.id}`;
        if (this.seenMessages.has(mid)) continue;
        this.seenMessages.add(mid);
        const from = ids(m.from)[0] ?? ev.agent_id;
        if (!from) continue;
        for (const to of ids(m.to)) this.edge(from, to, 'message', ev.seq, ev.timestamp);
        this.version++;
      } else if (ev.type === 'agent_spawn' && ev.agent_id) {
        const parent = ids(d.parent_agent_id)[0];
        if (parent) {
          this.edge(parent, ev.agent_id, 'spawn', ev.seq, ev.timestamp);
          this.version++;
        }
      }
    }
  }

  /** Nodes and edges as they were at `seq`. */
  at(seq: number): { nodes: string[]; edges: { edge: InteractionEdge; count: number }[] } {
    const nodes: string[] = [];
    for (const [a, since] of this.agentSince) if (since <= seq) nodes.push(a);
    const edges: { edge: InteractionEdge; count: number }[] = [];
    for (const e of this.edges.values()) {
      const count = countAtOrBelow(e.seqs, seq);
      if (count > 0) edges.push({ edge: e, count });
    }
    return { nodes, edges };
  }
}
