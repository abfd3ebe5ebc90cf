import type { Json, StoredEvent } from '../api/types';
import { isErrorEvent } from './categories';
import { AGENT_INITIAL_STATUS, agentChange, explicitAgentStatus, explicitAgentTarget } from './semantics';

/** The lane key of events without an agent (session-level events). */
export const SESSION_LANE = '(session)';

export interface AgentInfo {
  id: string;
  agentType: string | null;
  name: string | null;
  parentAgentId: string | null;
  firstSeq: number;
  firstTime: number;
  lane: number;
}

function s(v: Json | undefined): string | null {
  return typeof v === 'string' ? v : null;
}

/** The agents of a session (one lane each), in order of first appearance. */
export class AgentIndex {
  readonly agents = new Map<string, AgentInfo>();
  readonly order: AgentInfo[] = [];

  apply(events: readonly StoredEvent[]): boolean {
    let added = false;
    for (const ev of events) {
      const id = ev.agent_id ?? SESSION_LANE;
      let info = this.agents.get(id);
      if (!info) {
        info = {
          id,
          agentType: null,
          name: null,
          parentAgentId: null,
          firstSeq: ev.seq,
          firstTime: ev.timestamp,
          lane: this.order.length,
        };
        this.agents.set(id, info);
        this.order.push(info);
        added = true;
      } else if (ev.seq < info.firstSeq) {
        info.firstSeq = ev.seq;
        info.firstTime = Math.min(info.firstTime, ev.timestamp);
      }
      if (ev.type === 'agent_spawn') {
        const d = ev.data ?? {};
        info.agentType = s(d.agent_type) ?? info.agentType;
        info.name = s(d.name) ?? info.name;
        info.parentAgentId = s(d.parent_agent_id) ?? info.parentAgentId;
      }
    }
    if (added) {
      // The session lane first, then agents in spawn order: a stable, readable lane order.
      this.order.sort((a, b) => (a.id === SESSION_LANE ? -1 : b.id === SESSION_LANE ? 1 : a.firstSeq - b.firstSeq));
      this.order.forEach((a, i) => (a.lane = i));
    }
    return added;
  }
}

export interface AgentActivity {
  events: number;
  errors: number;
  lastSeq: number;
  lastType: string | null;
  status: string | null;
  currentTask: string | null;
}

function activity(out: Map<string, AgentActivity>, id: string): AgentActivity {
  let a = out.get(id);
  if (!a) {
    // An agent is `idle` until an event states otherwise (the table's initial status); the
    // session lane is no agent and has none.
    const status = id === SESSION_LANE ? null : AGENT_INITIAL_STATUS;
    a = { events: 0, errors: 0, lastSeq: 0, lastType: null, status, currentTask: null };
    out.set(id, a);
  }
  return a;
}

/**
 * Per-agent counts and inferred status over events[0..index] (the swarm at the cursor). A linear
 * scan: ~0.2 ms for 10k events, cheaper than keeping prefix sums per agent.
 */
export function agentActivityUntil(events: readonly StoredEvent[], index: number): Map<string, AgentActivity> {
  const out = new Map<string, AgentActivity>();
  const n = Math.min(index, events.length - 1);
  for (let i = 0; i <= n; i++) {
    const ev = events[i] as StoredEvent;
    const id = ev.agent_id ?? SESSION_LANE;
    const a = activity(out, id);
    a.events += 1;
    if (isErrorEvent(ev)) a.errors += 1;
    a.lastSeq = ev.seq;
    a.lastType = ev.type;
    // Status and current task by the semantics table (as the store's agent summaries and replay).
    const d = ev.data ?? {};
    const change = agentChange(ev.type, ev.agent_id, d);
    if (change) {
      const t = activity(out, change.agentId);
      if (change.status !== null) t.status = change.status;
      if (change.task !== null) t.currentTask = change.task === '' ? null : change.task;
    }
    const explicit = explicitAgentStatus(ev.type, d);
    const target = explicit === null ? null : explicitAgentTarget(ev.type, ev.agent_id, d);
    if (explicit !== null && target !== null) activity(out, target).status = explicit;
  }
  return out;
}
