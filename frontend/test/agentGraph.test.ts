import { describe, expect, it } from 'vitest';
import type { StoredEvent } from '../src/api/types';
import { aggregatePairs, boxesOverlap, edgeGeometry, layoutAgents, messageHistogram, placeEdgeLabels } from '../src/model/agentGraph';
import { InteractionIndex } from '../src/model/interaction';
import { ev } from './fixtures';

function message(seq: number, from: string, to: string[], id = `m${seq}`): StoredEvent {
  return ev(seq, { type: 'communication', agent_id: from, timestamp: 1000 + seq * 100, data: { message: { id, from, to } } });
}

function spawn(seq: number, agent: string, parent: string | null): StoredEvent {
  return ev(seq, { type: 'agent_spawn', agent_id: agent, data: parent ? { agent_type: 'coder', parent_agent_id: parent } : { agent_type: 'coordinator' } });
}

/** A swarm of n agents: spawned by a coordinator, which talks to all; neighbours talk too. */
function swarm(n: number): StoredEvent[] {
  const events: StoredEvent[] = [spawn(1, 'coord-1', null)];
  let seq = 2;
  for (let i = 1; i < n; i++) events.push(spawn(seq++, `agent-${String(i).padStart(2, '0')}`, 'coord-1'));
  for (let round = 0; round < 3; round++) {
    for (let i = 1; i < n; i++) {
      const a = `agent-${String(i).padStart(2, '0')}`;
      events.push(message(seq++, 'coord-1', [a]));
      events.push(message(seq++, a, ['coord-1']));
      if (i + 1 < n) events.push(message(seq++, a, [`agent-${String(i + 1).padStart(2, '0')}`]));
    }
  }
  return events;
}

describe('agents graph', () => {
  it('aggregates both directions of a pair into one edge, counted in the window', () => {
    const idx = new InteractionIndex();
    idx.apply([spawn(1, 'a', null), spawn(2, 'b', 'a'), message(3, 'a', ['b']), message(4, 'b', ['a']), message(5, 'a', ['b']), message(6, 'a', ['b'], 'm5')]);
    const all = aggregatePairs(idx, { kind: 'cursor', seq: 100 });
    expect(all.pairs).toHaveLength(1);
    expect(all.pairs[0]).toMatchObject({ a: 'a', b: 'b', ab: 2, ba: 1, total: 3, spawn: true, lastSeq: 5 });
    const early = aggregatePairs(idx, { kind: 'cursor', seq: 3 });
    expect(early.pairs[0]).toMatchObject({ ab: 1, ba: 0, total: 1, lastSeq: 3 });
    // A brushed time range counts the messages sent within it, whatever the cursor.
    const range = aggregatePairs(idx, { kind: 'range', from: 1000 + 3.5 * 100, to: 1000 + 4.5 * 100 });
    expect(range.pairs[0]).toMatchObject({ ab: 0, ba: 1, total: 1, lastSeq: 4 });
    expect(aggregatePairs(idx, { kind: 'cursor', seq: 1 }).nodes).toEqual(['a']);
  });

  it('lays out 50 agents with no agent covering another and no edge label covering an agent', () => {
    const idx = new InteractionIndex();
    idx.apply(swarm(50));
    const { nodes, pairs } = aggregatePairs(idx, { kind: 'cursor', seq: 1e9 });
    expect(nodes).toHaveLength(50);
    const laid = layoutAgents(
      nodes.map((id) => ({ id, label: id, sub: 'terminated · 12 ev' })),
      pairs,
    );
    const boxes = [...laid.values()];
    for (let i = 0; i < boxes.length; i++) {
      for (let j = i + 1; j < boxes.length; j++) {
        expect(boxesOverlap((boxes[i] as (typeof boxes)[number]).box, (boxes[j] as (typeof boxes)[number]).box), `${boxes[i]?.id} / ${boxes[j]?.id}`).toBe(false);
      }
    }
    const labels = placeEdgeLabels(pairs, laid);
    expect(labels.length).toBeGreaterThan(pairs.length / 3);
    for (const l of labels) for (const n of boxes) expect(boxesOverlap(l.box, n.box)).toBe(false);
    for (let i = 0; i < labels.length; i++)
      for (let j = i + 1; j < labels.length; j++) expect(boxesOverlap((labels[i] as (typeof labels)[number]).box, (labels[j] as (typeof labels)[number]).box)).toBe(false);
  });

  it('is deterministic and moves little when an agent joins', () => {
    const idx = new InteractionIndex();
    idx.apply(swarm(12));
    const { nodes, pairs } = aggregatePairs(idx, { kind: 'cursor', seq: 1e9 });
    const spec = nodes.map((id) => ({ id, label: id, sub: 'idle' }));
    const first = layoutAgents(spec, pairs);
    const again = layoutAgents(spec, pairs);
    expect([...again.values()].map((n) => [n.x, n.y])).toEqual([...first.values()].map((n) => [n.x, n.y]));
    const grown = layoutAgents([...spec, { id: 'late', label: 'late', sub: 'idle' }], pairs, first);
    const drift = Math.max(...nodes.map((id) => Math.hypot((grown.get(id)?.x ?? 0) - (first.get(id)?.x ?? 0), (grown.get(id)?.y ?? 0) - (first.get(id)?.y ?? 0))));
    expect(drift).toBeLessThan(120);
  });

  it('draws edges from circle to circle and counts messages over time', () => {
    const g = edgeGeometry(0, 0, 100, 0);
    expect(g.at(0).x).toBeGreaterThan(15);
    expect(g.at(1).x).toBeLessThan(85);
    const idx = new InteractionIndex();
    idx.apply([message(1, 'a', ['b']), message(2, 'a', ['b', 'c']), message(9, 'b', ['a'])]);
    // A message to two agents is two arrows.
    expect(messageHistogram(idx, 1100, 1900, 4)).toEqual([3, 0, 0, 1]);
  });
});
