import { useMemo } from 'react';
import type { SystemState } from '../api/types';
import { useStoreThrottled } from '../lib/store';
import { liveWait, versionAndCursor } from '../state/throttle';
import { agentActivityUntil, SESSION_LANE } from '../model/agents';
import { agentStatusGlyph } from '../model/categories';
import { effectiveSeq } from '../model/cursor';
import type { SessionModel } from '../state/sessionModel';

/** Left panel: each agent's type, status, current task and counts, at the cursor. */
export function AgentPanel({
  model,
  state,
  agentFilter,
  setAgentFilter,
}: {
  model: SessionModel;
  state: SystemState | null;
  agentFilter: string | null;
  setAgentFilter: (a: string | null) => void;
}) {
  const { version, cursor } = useStoreThrottled(model.view, versionAndCursor, liveWait(300));
  const seq = effectiveSeq(cursor);
  const idx = model.log.indexAtOrBefore(seq);
  const activity = useMemo(
    () => agentActivityUntil(model.log.events, idx),
    // version: the log grew; idx: the cursor moved.
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [model, version, idx],
  );
  const agents = model.agents.order.filter((a) => a.firstSeq <= seq);
  const stateFresh = state;

  return (
    <aside className="agent-panel" aria-label="agents">
      <h2 className="panel-title">
        Agents <span className="muted">{agents.filter((a) => a.id !== SESSION_LANE).length}</span>
      </h2>
      {agentFilter && (
        <button type="button" className="chip" onClick={() => setAgentFilter(null)} aria-label={`clear agent filter ${agentFilter}`}>
          only {agentFilter} ✕
        </button>
      )}
      <ul className="agent-list">
        {agents.map((a) => {
          const act = activity.get(a.id);
          const st = stateFresh?.agents?.[a.id];
          const status = st?.status ?? act?.status ?? (a.id === SESSION_LANE ? null : 'idle');
          const task = st?.current_task ?? act?.currentTask ?? null;
          const type = st?.agent_type ?? a.agentType;
          const active = agentFilter === a.id;
          return (
            <li key={a.id}>
              <button
                type="button"
                className={`agent-item status-${status ?? 'none'}${active ? ' active' : ''}`}
                aria-pressed={active}
                onClick={() => setAgentFilter(active ? null : a.id)}
                title={active ? 'Show all agents' : `Show only ${a.id}`}
                data-agent={a.id}
              >
                <span className="agent-line">
                  <span className="agent-glyph" aria-hidden="true">
                    {a.id === SESSION_LANE ? '▌' : agentStatusGlyph(status)}
                  </span>
                  <span className="agent-id">{a.id === SESSION_LANE ? 'session' : a.id}</span>
                  {status && <span className="agent-status">{status}</span>}
                </span>
                <span className="agent-line sub">
                  <span>{type ?? (a.id === SESSION_LANE ? 'session-level events' : 'agent')}</span>
                  {task && <span className="agent-task">· {task}</span>}
                </span>
                <span className="agent-line sub">
                  <span title="events up to the cursor">{(act?.events ?? 0).toLocaleString()} ev</span>
                  <span className={act?.errors ? 'err-text' : ''} title="errors up to the cursor">
                    ⚠ {act?.errors ?? 0}
                  </span>
                  {act?.lastType && <span className="muted ellipsis">last: {act.lastType}</span>}
                </span>
              </button>
            </li>
          );
        })}
      </ul>
      {!agents.length && <p className="muted small pad">No agents at this point.</p>}
    </aside>
  );
}
