import { describe, expect, it } from 'vitest';
import { scaleLinear } from 'd3-scale';
import { LaneIndex, aggregateLane, eventForClick, latestAtOrBefore, nearestInLane } from '../src/model/lanes';
import { agentActivityUntil, AgentIndex } from '../src/model/agents';
import { ev, storedSwarm } from './fixtures';

describe('timeline lanes', () => {
  it('keeps one lane per agent sorted by time, even when events arrive late', () => {
    const lanes = new LaneIndex();
    lanes.apply([ev(1, { timestamp: 10 }), ev(2, { timestamp: 30 }), ev(3, { timestamp: 20 }), ev(4, { agent_id: 'b', timestamp: 5 })]);
    expect(lanes.lanes.get('a1')?.map((e) => e.timestamp)).toEqual([10, 20, 30]);
    expect(lanes.lanes.get('b')?.length).toBe(1);
    expect(lanes.minTime).toBe(5);
    expect(lanes.maxTime).toBe(30);
  });

  it('draws sparse events as glyphs and aggregates dense stretches into buckets', () => {
    const events = [
      ev(1, { timestamp: 0 }),
      ...Array.from({ length: 50 }, (_, i) => ev(2 + i, { timestamp: 500 + i * 0.05, type: i === 7 ? 'error' : 'tool_call' })),
      ev(60, { timestamp: 1000 }),
    ];
    const x = scaleLinear().domain([0, 1000]).range([0, 1000]);
    const items = aggregateLane(events, (t) => x(t), (p) => x.invert(p), 0, 1000, 4, 30);
    expect(items[0]?.kind).toBe('event');
    const bucket = items.find((i) => i.kind === 'bucket');
    expect(bucket && bucket.kind === 'bucket' && bucket.count).toBe(50);
    expect(bucket && bucket.kind === 'bucket' && bucket.errors).toBe(1);
    expect(bucket && bucket.kind === 'bucket' && bucket.category).toBe('error');
    expect(bucket && bucket.kind === 'bucket' && bucket.future).toBe(false);
    const last = items[items.length - 1];
    expect(last?.kind === 'event' && last.future).toBe(true); // seq 60 > cursor 30
  });

  it('only visits the visible slice', () => {
    const events = Array.from({ length: 10_000 }, (_, i) => ev(i + 1, { timestamp: i }));
    const x = scaleLinear().domain([5000, 5100]).range([0, 1000]);
    const items = aggregateLane(events, (t) => x(t), (p) => x.invert(p), 0, 1000, 4, 1e9);
    const seqs = items.flatMap((i) => (i.kind === 'event' ? [i.event.seq] : [i.firstSeq, i.lastSeq]));
    expect(Math.min(...seqs)).toBeGreaterThan(4990);
    expect(Math.max(...seqs)).toBeLessThan(5110);
  });

  it('picks the nearest event to a click within a few pixels', () => {
    const events = [ev(1, { timestamp: 100 }), ev(2, { timestamp: 200 }), ev(3, { timestamp: 300 })];
    const x = scaleLinear().domain([0, 400]).range([0, 400]);
    expect(nearestInLane(events, (t) => x(t), (p) => x.invert(p), 204, 8)?.seq).toBe(2);
    expect(nearestInLane(events, (t) => x(t), (p) => x.invert(p), 250, 8)).toBeNull();
  });
});

describe('agents', () => {
  it('orders lanes session first, then by first appearance, with spawn info', () => {
    const idx = new AgentIndex();
    idx.apply(storedSwarm('s'));
    expect(idx.order[0]?.id).toBe('(session)');
    const tst = idx.agents.get('tst-1');
    expect(tst?.agentType).toBe('tester');
    expect(tst?.parentAgentId).toBe('coord-1');
  });

  it('infers status, current task and counts at the cursor', () => {
    const events = storedSwarm('s');
    const start = events.findIndex((e) => e.type === 'task_start' && e.agent_id === 'tst-1');
    const at = agentActivityUntil(events, start);
    expect(at.get('tst-1')?.status).toBe('busy');
    expect(at.get('tst-1')?.currentTask).toBe('T3');
    const end = agentActivityUntil(events, events.length - 1);
    expect(end.get('tst-1')?.status).toBe('terminated');
    expect(end.get('tst-1')?.errors).toBeGreaterThan(0);
  });
});

describe('timeline clicks', () => {
  it('time-travel from empty lane space and from outside the lanes', () => {
    const a = [ev(1, { timestamp: 100 }), ev(3, { timestamp: 300 })];
    const b = [ev(2, { timestamp: 200 }), ev(4, { timestamp: 900 })];
    const toX = (t: number) => t;
    const toTime = (x: number) => x;
    // Far from any mark of lane 0 (x = 700): still its nearest event, not nothing.
    expect(eventForClick([a, b], 0, 700, toX, toTime)?.seq).toBe(3);
    expect(eventForClick([a, b], 1, 500, toX, toTime)?.seq).toBe(2);
    // Below the lanes: the swarm at that time.
    expect(eventForClick([a, b], 5, 850, toX, toTime)?.seq).toBe(3);
    expect(latestAtOrBefore([a, b], 50)).toBeNull();
    expect(latestAtOrBefore([a, b], 900)?.seq).toBe(4);
  });
});
