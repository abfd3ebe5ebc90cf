import type { AgentInfo } from './agents';
import { SESSION_LANE } from './agents';
import type { Category } from './categories';
import type { Span } from './spans';

export interface TreeItem {
  key: string;
  kind: 'session' | 'agent' | 'span' | 'collapsed' | 'more';
  label: string;
  span?: Span;
  agentId?: string | null;
  /** For collapsed / more nodes: how many spans are folded into it. */
  hidden?: number;
  children: TreeItem[];
}

export interface TreeOptions {
  /** Spans deeper than this are folded into a "+N" node unless expanded (level of detail). */
  maxDepth: number;
  /** Siblings beyond this are folded into a "… N more" node unless the parent is expanded. */
  maxChildren: number;
  expanded: ReadonlySet<string>;
  agents: ReadonlySet<string> | null;
  categories: ReadonlySet<Category> | null;
  hideCompleted: boolean;
  /** Spans always shown whatever the level of detail: the span at the cursor and its ancestors. */
  pinned?: ReadonlySet<string>;
}

export const DEFAULT_TREE_OPTIONS: TreeOptions = {
  maxDepth: 5,
  maxChildren: 40,
  expanded: new Set(),
  agents: null,
  categories: null,
  hideCompleted: false,
};

/**
 * The call tree at the cursor: session → agents (by spawn parent) → spans (by metadata.parent_id).
 * Spans that started after the cursor do not exist yet; filtered-out spans hand their children to
 * the nearest shown ancestor. Level of detail keeps big sessions drawable: deep subtrees and long
 * sibling lists are folded into count nodes that expand on click.
 */
/** The span of an event and its ancestors: what the tree must show for the cursor. */
export function pinnedPath(spans: ReadonlyMap<string, Span>, spanId: string | null): Set<string> {
  const out = new Set<string>();
  let cur = spanId ? spans.get(spanId) : undefined;
  let guard = 0;
  while (cur && !out.has(cur.id) && guard++ < 256) {
    out.add(cur.id);
    cur = cur.parentId ? spans.get(cur.parentId) : undefined;
  }
  return out;
}

export function buildCallTree(
  spans: readonly Span[],
  agents: readonly AgentInfo[],
  cursorSeq: number,
  sessionLabel: string,
  opts: TreeOptions,
): { root: TreeItem; shown: number; total: number } {
  const visible = new Map<string, Span>();
  for (const sp of spans) {
    if (sp.startSeq > cursorSeq) continue;
    visible.set(sp.id, sp);
  }
  const agentShown = (id: string | null) => !opts.agents || opts.agents.has(id ?? SESSION_LANE);
  const passes = (sp: Span): boolean => {
    if (!agentShown(sp.agentId)) return false;
    if (opts.categories && !opts.categories.has(sp.category)) return false;
    if (opts.hideCompleted && sp.endSeq !== null && sp.endSeq <= cursorSeq && sp.ownErrorSeq === null) return false;
    return true;
  };

  const childMap = new Map<string, Span[]>();
  const push = (k: string, sp: Span) => {
    const l = childMap.get(k);
    if (l) l.push(sp);
    else childMap.set(k, [sp]);
  };
  const agentKey = (id: string | null) => `agent:${id ?? SESSION_LANE}`;
  const usedAgents = new Set<string>();
  for (const sp of visible.values()) {
    if (!passes(sp)) continue;
    let parent = sp.parentId ? visible.get(sp.parentId) : undefined;
    let guard = 0;
    while (parent && !passes(parent) && guard++ < 256) {
      parent = parent.parentId ? visible.get(parent.parentId) : undefined;
    }
    if (parent && parent.id !== sp.id) push(parent.id, sp);
    else {
      push(agentKey(sp.agentId), sp);
      usedAgents.add(sp.agentId ?? SESSION_LANE);
    }
  }

  let shown = 0;
  const countSubtree = (id: string): number => {
    let n = 0;
    const stack = [id];
    let guard = 0;
    while (stack.length && guard++ < 1_000_000) {
      const cur = stack.pop() as string;
      for (const c of childMap.get(cur) ?? []) {
        n++;
        stack.push(c.id);
      }
    }
    return n;
  };

  const build = (sp: Span, depth: number, seen: Set<string>): TreeItem => {
    shown++;
    const item: TreeItem = { key: sp.id, kind: 'span', label: sp.label, span: sp, agentId: sp.agentId, children: [] };
    const kids = childMap.get(sp.id) ?? [];
    if (!kids.length || seen.has(sp.id)) return item;
    seen.add(sp.id);
    if (depth >= opts.maxDepth && !opts.expanded.has(sp.id) && !(opts.pinned?.has(sp.id) && kids.some((k) => opts.pinned?.has(k.id)))) {
      const hidden = countSubtree(sp.id);
      item.children.push({ key: `${sp.id}#collapsed`, kind: 'collapsed', label: `+${hidden}`, hidden, children: [] });
      return item;
    }
    attach(item, sp.id, kids, depth + 1, seen);
    return item;
  };

  const attach = (item: TreeItem, key: string, kids: Span[], depth: number, seen: Set<string>) => {
    const limit = opts.expanded.has(`${key}#more`) ? Infinity : opts.maxChildren;
    let folded = 0;
    let hidden = 0;
    kids.forEach((k, i) => {
      if (i < limit || opts.pinned?.has(k.id)) item.children.push(build(k, depth, seen));
      else {
        folded++;
        hidden += 1 + countSubtree(k.id);
      }
    });
    if (folded > 0) {
      item.children.push({ key: `${key}#more`, kind: 'more', label: `… ${folded} more`, hidden, children: [] });
    }
  };

  // Agents hang under the agent that spawned them, so the tree also reads as the swarm's hierarchy.
  const agentById = new Map(agents.map((a) => [a.id, a]));
  const agentVisible = (a: AgentInfo) => a.firstSeq <= cursorSeq && agentShown(a.id);
  const agentChildren = new Map<string, AgentInfo[]>();
  const topAgents: AgentInfo[] = [];
  for (const a of agents) {
    if (!agentVisible(a)) continue;
    const p = a.parentAgentId ? agentById.get(a.parentAgentId) : undefined;
    if (p && agentVisible(p) && p.id !== a.id) {
      const l = agentChildren.get(p.id);
      if (l) l.push(a);
      else agentChildren.set(p.id, [a]);
    } else topAgents.push(a);
  }
  const seenAgents = new Set<string>();
  const buildAgent = (a: AgentInfo): TreeItem => {
    seenAgents.add(a.id);
    const item: TreeItem = {
      key: agentKey(a.id),
      kind: 'agent',
      label: a.id === SESSION_LANE ? 'session events' : `${a.id}${a.agentType ? ` · ${a.agentType}` : ''}`,
      agentId: a.id,
      children: [],
    };
    for (const c of agentChildren.get(a.id) ?? []) if (!seenAgents.has(c.id)) item.children.push(buildAgent(c));
    attach(item, agentKey(a.id), childMap.get(agentKey(a.id)) ?? [], 1, new Set());
    return item;
  };
  const root: TreeItem = { key: 'session', kind: 'session', label: sessionLabel, children: [] };
  for (const a of topAgents) {
    if (a.id === SESSION_LANE && !usedAgents.has(SESSION_LANE)) continue;
    root.children.push(buildAgent(a));
  }
  let total = 0;
  for (const sp of visible.values()) if (passes(sp)) total++;
  return { root, shown, total };
}
