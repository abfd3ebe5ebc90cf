import { describe, expect, it } from 'vitest';
import { AgentIndex } from '../src/model/agents';
import { DEFAULT_TREE_OPTIONS, buildCallTree, type TreeItem } from '../src/model/hierarchy';
import { InteractionIndex } from '../src/model/interaction';
import { layoutFlame } from '../src/model/flame';
import { SpanIndex } from '../src/model/spans';
import { waterfallRows } from '../src/views/WaterfallView';
import type { StoredEvent } from '../src/api/types';
import { ev, findEvent, storedSwarm, type StoryEvent } from './fixtures';

function indexes(events: StoredEvent[] = storedSwarm('s')) {
  const spans = new SpanIndex();
  const agents = new AgentIndex();
  spans.apply(events);
  agents.apply(events);
  return { spans, agents, events };
}

function find(item: TreeItem, key: string): TreeItem | undefined {
  if (item.key === key) return item;
  for (const c of item.children) {
    const f = find(c, key);
    if (f) return f;
  }
  return undefined;
}

function count(item: TreeItem, kind: TreeItem['kind']): number {
  return (item.kind === kind ? 1 : 0) + item.children.reduce((n, c) => n + count(c, kind), 0);
}

describe('call tree', () => {
  it('nests agents by spawn parent and spans by parent_id', () => {
    const { spans, agents, events } = indexes();
    const { root, shown, total } = buildCallTree(spans.order, agents.order, events.length, 's', DEFAULT_TREE_OPTIONS);
    expect(shown).toBe(total);
    const coord = find(root, 'agent:coord-1');
    expect(coord?.children.some((c) => c.key === 'agent:tst-1')).toBe(true);
    const t3 = find(root, 'sp_T3_a1');
    const testRun = findEvent(events as StoryEvent[], 'tool_call', { agentId: 'tst-1', phase: 'error' }); // T3's first test run
    expect(t3?.children.map((c) => c.key)).toContain(testRun.span_id);
  });

  it('shows only spans that exist at the cursor', () => {
    const { spans, agents, events } = indexes();
    const at = events.findIndex((e) => e.type === 'task_start') + 1; // seq of the first task_start
    const { root } = buildCallTree(spans.order, agents.order, at, 's', DEFAULT_TREE_OPTIONS);
    expect(find(root, 'sp_T1_a1')).toBeDefined();
    expect(find(root, 'sp_T2_a1')).toBeUndefined();
    expect(find(root, 'agent:tst-1')).toBeDefined(); // spawned before the first task
  });

  it('folds deep subtrees and long sibling lists (level of detail) and expands on demand', () => {
    const events = [ev(1, { span_id: 'root', phase: 'start' })];
    for (let i = 0; i < 100; i++) events.push(ev(2 + i, { span_id: `c${i}`, metadata: { parent_id: 'root' } }));
    const { spans, agents } = indexes(events);
    const opts = { ...DEFAULT_TREE_OPTIONS, maxChildren: 10 };
    const { root, shown, total } = buildCallTree(spans.order, agents.order, 1000, 's', opts);
    expect(total).toBe(101);
    expect(shown).toBe(11);
    const more = find(root, 'root#more');
    expect(more?.hidden).toBe(90);
    const expanded = buildCallTree(spans.order, agents.order, 1000, 's', { ...opts, expanded: new Set(['root#more']) });
    expect(expanded.shown).toBe(101);
    const shallow = buildCallTree(spans.order, agents.order, 1000, 's', { ...opts, maxDepth: 1 });
    expect(count(shallow.root, 'collapsed')).toBe(1);
    expect(shallow.shown).toBe(1);
  });

  it('filters by agent and category, re-parenting children of hidden spans', () => {
    const { spans, agents, events } = indexes();
    const onlyTst = buildCallTree(spans.order, agents.order, events.length, 's', { ...DEFAULT_TREE_OPTIONS, agents: new Set(['tst-1']) });
    expect(find(onlyTst.root, 'agent:cod-1')).toBeUndefined();
    expect(find(onlyTst.root, 'sp_T3_a1')).toBeDefined();
    const noTasks = buildCallTree(spans.order, agents.order, events.length, 's', {
      ...DEFAULT_TREE_OPTIONS,
      categories: new Set(['tool', 'llm', 'error', 'memory', 'message', 'method', 'agent', 'session', 'decision', 'other']),
    });
    expect(find(noTasks.root, 'sp_T3_a1')).toBeUndefined();
    const story = events as StoryEvent[];
    const testRun = findEvent(story, 'tool_call', { agentId: 'tst-1', phase: 'error' });
    expect(find(noTasks.root, testRun.span_id)).toBeDefined();
    // Under the nearest shown ancestor: the tester's execute() method that ran the task.
    const method = findEvent(story, 'task_start', { task_id: 'T3', attempt: 1 }).metadata.parent_id as string;
    expect(find(noTasks.root, method)?.children.some((c) => c.key === testRun.span_id)).toBe(true);
  });
});

describe('agent interaction graph', () => {
  it('counts each message once and weights edges at the cursor', () => {
    const idx = new InteractionIndex();
    const msg = (seq: number, id: string, direction: string) =>
      ev(seq, { type: 'communication', agent_id: 'a', data: { message: { id, from: 'a', to: ['b', 'c'] }, direction } });
    idx.apply([msg(1, 'm1', 'sent'), msg(2, 'm1', 'received'), msg(3, 'm2', 'sent')]);
    const at1 = idx.at(1);
    expect(at1.edges.find((e) => e.edge.key === 'message:a->b')?.count).toBe(1);
    const at3 = idx.at(3);
    expect(at3.edges.find((e) => e.edge.key === 'message:a->b')?.count).toBe(2);
    expect(at3.nodes.sort()).toEqual(['a', 'b', 'c']);
  });

  it('adds spawn edges from parent_agent_id', () => {
    const idx = new InteractionIndex();
    idx.apply(storedSwarm('s'));
    const { edges } = idx.at(1e9);
    expect(edges.some((e) => e.edge.type === 'spawn' && e.edge.source === 'coord-1' && e.edge.target === 'tst-1')).toBe(true);
    // The reviewer's comments to the coder.
    expect(edges.some((e) => e.edge.type === 'message' && e.edge.source === 'rev-1' && e.edge.target === 'cod-1')).toBe(true);
  });
});

describe('flame chart and waterfall', () => {
  it('stacks children under parents and gives overlapping siblings their own rows', () => {
    const spans = new SpanIndex();
    spans.apply([
      ev(1, { span_id: 'p', phase: 'start', timestamp: 0 }),
      ev(2, { span_id: 'x', phase: 'start', timestamp: 10, metadata: { parent_id: 'p' } }),
      ev(3, { span_id: 'y', phase: 'start', timestamp: 20, metadata: { parent_id: 'p' } }),
      ev(4, { span_id: 'x', phase: 'complete', timestamp: 50, metadata: { parent_id: 'p' } }),
      ev(5, { span_id: 'y', phase: 'complete', timestamp: 60, metadata: { parent_id: 'p' } }),
      ev(6, { span_id: 'p', phase: 'complete', timestamp: 100 }),
    ]);
    const f = layoutFlame(spans.order, 100);
    const row = (id: string) => f.rects.find((r) => r.span.id === id)?.row;
    expect(row('p')).toBe(0);
    expect(row('x')).toBe(1);
    expect(row('y')).toBe(2); // overlaps x in time
    expect(f.bands).toHaveLength(1);
    expect(f.minTime).toBe(0);
    expect(f.maxTime).toBe(100);
  });

  it('extends open spans to now', () => {
    const spans = new SpanIndex();
    spans.apply([ev(1, { span_id: 'p', phase: 'start', timestamp: 0 })]);
    expect(layoutFlame(spans.order, 500).rects[0]?.end).toBe(500);
  });

  it('orders waterfall rows per agent lane, each span followed by its children', () => {
    const { spans, agents, events } = indexes();
    const rows = waterfallRows(spans.order, (a) => agents.agents.get(a)?.lane ?? 0, events.length, () => true);
    const i = rows.findIndex((r) => r.span.id === 'sp_T3_a1');
    expect(rows[i + 1]?.depth).toBe((rows[i]?.depth ?? -9) + 1);
    expect(rows[i + 1]?.span.parentId).toBe('sp_T3_a1');
    expect(rows.length).toBe(spans.spans.size);
  });
});

describe('call tree level of detail keeps the cursor visible', () => {
  it('never folds the span at the cursor or its ancestors', async () => {
    const { pinnedPath } = await import('../src/model/hierarchy');
    const events = [ev(1, { span_id: 'root', phase: 'start' })];
    for (let i = 0; i < 100; i++) events.push(ev(2 + i, { span_id: `c${i}`, metadata: { parent_id: 'root' } }));
    events.push(ev(200, { span_id: 'deep', metadata: { parent_id: 'c90' } }));
    const { spans, agents } = indexes(events);
    const pinned = pinnedPath(spans.spans, 'deep');
    expect([...pinned]).toEqual(['deep', 'c90', 'root']);
    const { root } = buildCallTree(spans.order, agents.order, 1000, 's', { ...DEFAULT_TREE_OPTIONS, maxChildren: 10, maxDepth: 2, pinned });
    expect(find(root, 'c90')).toBeDefined();
    expect(find(root, 'deep')).toBeDefined();
    expect(find(root, 'root#more')?.label).toBe('… 89 more');
  });
});
