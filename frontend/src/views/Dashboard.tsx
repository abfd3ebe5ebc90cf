import { lazy, memo, Suspense, useCallback, useEffect, useMemo, useRef, useState } from 'react';
import type { StepDirection, SystemState } from '../api/types';
import { onLinkClick, replaceQuery } from '../lib/router';
import { useStore, useStoreThrottled } from '../lib/store';
import { liveWait, versionAndCursor } from '../state/throttle';
import { effectiveSeq } from '../model/cursor';
import { SessionModel } from '../state/sessionModel';
import { AgentPanel } from './AgentPanel';
import { useApi } from './context';
import { DashHeader } from './DashHeader';
import { DebugPanel } from './DebugPanel';
import { EventList } from './EventList';
import { Timeline } from './Timeline';
import { TraceGraph, type GraphLayoutName } from './TraceGraph';
import { errorText, useLatest, useThrottled } from './useAsync';

// Panels re-render from their own (throttled) subscriptions, not whenever the dashboard does.
const AgentPanelM = memo(AgentPanel);
const DashHeaderM = memo(DashHeader);
const DebugPanelM = memo(DebugPanel);
const EventListM = memo(EventList);
const PerformanceViewM = memo(lazy(() => import('./PerformanceView').then((m) => ({ default: m.PerformanceView }))));
const TimelineM = memo(Timeline);

type CenterTab = 'graph' | 'events' | 'performance';
const LAYOUTS: GraphLayoutName[] = ['hierarchical', 'force', 'sequence', 'timeline'];
const TABS: CenterTab[] = ['graph', 'events', 'performance'];

declare global {
  interface Window {
    __swarmscope?: { model: SessionModel | null; firstRenderMs: number | null };
  }
}

function initialParams() {
  const q = new URLSearchParams(window.location.search);
  const seqRaw = q.get('seq');
  const seq = seqRaw !== null && /^\d+$/.test(seqRaw) ? Number(seqRaw) : null;
  const layout = (LAYOUTS as string[]).includes(q.get('layout') ?? '') ? (q.get('layout') as GraphLayoutName) : 'hierarchical';
  const tab = (TABS as string[]).includes(q.get('tab') ?? '') ? (q.get('tab') as CenterTab) : 'graph';
  return { seq, layout, tab, search: q.get('q') ?? '' };
}

/** The session dashboard (UI.md): header, agents, graph/events/profile, timeline, debugger. */
export function Dashboard({ sessionId }: { sessionId: string }) {
  const api = useApi();
  const init = useMemo(initialParams, [sessionId]);
  const [model, setModel] = useState<SessionModel | null>(null);
  const [layout, setLayout] = useState<GraphLayoutName>(init.layout);
  const [tab, setTab] = useState<CenterTab>(init.tab);
  const [agentFilter, setAgentFilter] = useState<string | null>(null);
  const t0 = useRef(performance.now());

  useEffect(() => {
    const m = new SessionModel(sessionId, api, init.seq);
    setModel(m);
    window.__swarmscope = { model: m, firstRenderMs: null };
    if (init.search) m.setSearch(init.search);
    void m.start();
    return () => {
      m.stop();
    };
  }, [sessionId, api, init]);

  if (!model) return <div className="page muted">Opening {sessionId}…</div>;
  return (
    <DashboardBody
      model={model}
      layout={layout}
      setLayout={setLayout}
      tab={tab}
      setTab={setTab}
      agentFilter={agentFilter}
      setAgentFilter={setAgentFilter}
      t0={t0.current}
    />
  );
}

function DashboardBody({
  model,
  layout,
  setLayout,
  tab,
  setTab,
  agentFilter,
  setAgentFilter,
  t0,
}: {
  model: SessionModel;
  layout: GraphLayoutName;
  setLayout: (l: GraphLayoutName) => void;
  tab: CenterTab;
  setTab: (t: CenterTab) => void;
  agentFilter: string | null;
  setAgentFilter: (a: string | null) => void;
  t0: number;
}) {
  const api = useApi();
  const { cursor } = useStoreThrottled(model.view, versionAndCursor, liveWait(300));
  const loading = useStore(model.view, (v) => v.loading);
  const loadError = useStore(model.view, (v) => v.error);
  const notice = useStore(model.view, (v) => v.notice);
  const missing = useStore(model.view, (v) => v.missing);
  const searchInput = useStore(model.view, (v) => v.search.input);
  const playing = useStore(model.view, (v) => v.playing);
  const seq = effectiveSeq(cursor);
  const stepping = useRef<Promise<void>>(Promise.resolve());

  // First render of a loaded session (bench: issue 7 §6): after the paint that shows the data.
  useEffect(() => {
    if (loading || !window.__swarmscope || window.__swarmscope.firstRenderMs !== null) return;
    requestAnimationFrame(() =>
      setTimeout(() => {
        if (window.__swarmscope && window.__swarmscope.firstRenderMs === null) {
          window.__swarmscope.firstRenderMs = performance.now() - t0;
          performance.mark('swarmscope:first-render');
        }
      }, 0),
    );
  }, [loading, t0]);

  // Deep link: the URL always names the instant on screen.
  const urlSeq = useThrottled(cursor.live ? null : cursor.seq, 250);
  useEffect(() => {
    replaceQuery({ seq: urlSeq, layout: layout === 'hierarchical' ? null : layout, tab: tab === 'graph' ? null : tab, q: searchInput || null });
  }, [urlSeq, layout, tab, searchInput]);

  // The swarm's state at the cursor: fetched at most ~7 times/s while stepping, ~1.5/s while live.
  // Asked at the event under the cursor (a deep link may name a seq of another session).
  const stateSeq = useThrottled(model.log.atOrBefore(seq)?.seq ?? seq, cursor.live || playing ? 600 : 120);
  const stateRes = useLatest<SystemState>(
    stateSeq > 0 ? (signal) => api.state(model.sessionId, stateSeq, signal) : null,
    [model.sessionId, stateSeq],
  );

  const step = useCallback(
    (direction: StepDirection) => {
      // Steps queue up: pressing F10 three times moves three events, each from the previous result.
      stepping.current = stepping.current.then(async () => {
        const ev = model.cursorEvent();
        if (!ev) return;
        try {
          const res = await api.step(model.sessionId, ev.id, direction);
          if (res.event) {
            model.ingest([res.event]);
            model.goto(res.event.seq);
          } else {
            model.goto(ev.seq);
            model.notify(`Step ${direction}: ${(res.reason ?? 'no further event').replace(/_/g, ' ')}`, 'info', { step: true });
          }
        } catch (err) {
          model.notify(`Step ${direction} failed: ${errorText(err)}`, 'error', { step: true });
        }
      });
    },
    [api, model],
  );

  // Debugger keyboard habits: F10 over, F11 into, Shift+F11 out, F5 resume live.
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.key === 'F10') {
        e.preventDefault();
        step('over');
      } else if (e.key === 'F11') {
        e.preventDefault();
        step(e.shiftKey ? 'out' : 'into');
      } else if (e.key === 'F5') {
        e.preventDefault();
        model.resume();
      } else if (e.key === 'F9' && e.shiftKey) {
        e.preventDefault();
        step('back');
      }
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [model, step]);

  return (
    <div className="dash">
      <DashHeaderM model={model} />
      {loadError && (
        <div className="error-box" role="alert">
          Could not load session {model.sessionId}: {loadError}
        </div>
      )}
      {missing && (
        <div className="notice-box" role="status" data-testid="session-missing">
          <strong>No session {model.sessionId}</strong> — the gateway does not know it (HTTP 404). This page keeps listening and fills in
          if its first events arrive;{' '}
          <a href="/" onClick={onLinkClick}>
            back to the sessions
          </a>
          .
        </div>
      )}
      <div className="dash-body">
        <AgentPanelM model={model} state={stateRes.data} agentFilter={agentFilter} setAgentFilter={setAgentFilter} />
        <section className="center" aria-label="trace">
          <div className="center-top">
            <div className="tabs" role="tablist" aria-label="main view">
              {TABS.map((t) => (
                <button
                  key={t}
                  type="button"
                  role="tab"
                  id={`tab-${t}`}
                  aria-selected={tab === t}
                  aria-controls={`panel-${t}`}
                  className={tab === t ? 'tab active' : 'tab'}
                  onClick={() => setTab(t)}
                >
                  {t === 'graph' ? 'Trace graph' : t === 'events' ? 'Events' : 'Performance'}
                </button>
              ))}
              {loading && (
                <span className="muted small loading-note" aria-live="polite">
                  loading {model.log.length.toLocaleString()} events…
                </span>
              )}
            </div>
            <div className="tab-panel" role="tabpanel" id={`panel-${tab}`} aria-labelledby={`tab-${tab}`}>
              {tab === 'graph' && <TraceGraph model={model} layout={layout} setLayout={setLayout} agentFilter={agentFilter} />}
              {tab === 'events' && <EventListM model={model} agentFilter={agentFilter} />}
              {tab === 'performance' && (
                <Suspense fallback={<p className="muted pad">Loading…</p>}>
                  <PerformanceViewM model={model} />
                </Suspense>
              )}
            </div>
          </div>
          <TimelineM model={model} agentFilter={agentFilter} />
        </section>
        <DebugPanelM model={model} state={stateRes} step={step} />
      </div>
      {notice && (
        <div className={`toast ${notice.kind}`} role={notice.kind === 'error' ? 'alert' : 'status'}>
          {notice.text}
          <button type="button" className="btn ghost small" onClick={() => model.dismissNotice()} aria-label="dismiss">
            ✕
          </button>
        </div>
      )}
    </div>
  );
}
