import { useEffect, useRef, useState } from 'react';
import type { SessionSummary } from '../api/types';
import { fmtClock, fmtOffset } from '../lib/format';
import { navigate } from '../lib/router';
import { useStore, useStoreThrottled } from '../lib/store';
import { liveWait, versionAndCursor } from '../state/throttle';
import { sessionStatusGlyph } from '../model/categories';
import { liveButton, sessionDisplay } from '../model/sessionStatus';
import { effectiveSeq } from '../model/cursor';
import { advancePlayback, PLAYBACK_SPEEDS } from '../model/playback';
import type { SessionModel } from '../state/sessionModel';
import { useApi } from './context';
import { ExportLink } from './ExportLink';
import { SearchBox } from './SearchBox';

/** The dashboard header: session selector, live toggle, time controls with a scrubber, search. */
export function DashHeader({ model }: { model: SessionModel }) {
  const api = useApi();
  const { version, cursor } = useStoreThrottled(model.view, versionAndCursor, liveWait(150));
  const stream = useStore(model.view, (v) => v.stream);
  const summary = useStore(model.view, (v) => v.summary);
  const loading = useStore(model.view, (v) => v.loading);
  const missing = useStore(model.view, (v) => v.missing);
  const [sessions, setSessions] = useState<SessionSummary[]>([]);

  // The selector's list waits for the session's own history: it must not slow the first render.
  useEffect(() => {
    if (loading) return;
    const ctl = new AbortController();
    api
      .sessions({ limit: 100, system: 'exclude' }, ctl.signal)
      .then((p) => setSessions(p.items))
      .catch(() => undefined);
    return () => ctl.abort();
  }, [api, loading]);

  const seq = effectiveSeq(cursor);
  const n = model.log.length;
  const [playing, setPlaying] = usePlayback(model);
  const [speed, setSpeed] = useState<number>(4);
  const speedRef = useRef(speed);
  speedRef.current = speed;
  const idx = model.log.indexAtOrBefore(seq);
  const ev = idx >= 0 ? model.log.events[idx] : undefined;
  const origin = model.log.events[0]?.timestamp ?? 0;
  const agentCount = model.agents.order.filter((a) => a.id !== '(session)').length;
  const display = sessionDisplay({ missing, loading, endStatus: model.endStatus, summaryStatus: summary?.status });
  const status = display.status;
  const live = liveButton(cursor.live, display);
  void version;

  const options = sessions.some((s) => s.id === model.sessionId)
    ? sessions
    : [{ id: model.sessionId, status, event_count: n } as SessionSummary, ...sessions];

  return (
    <div className="dash-header">
      <div className="hgroup">
        <label htmlFor="session-select" className="sr-only">
          Session
        </label>
        <select
          id="session-select"
          className="session-select"
          value={model.sessionId}
          onChange={(e) => navigate(`/sessions/${encodeURIComponent(e.target.value)}`)}
        >
          {options.map((s) => (
            <option key={s.id} value={s.id}>
              {s.name && s.name !== s.id ? `${s.name} (${s.id})` : s.id}
            </option>
          ))}
        </select>
        <span className={`status-badge status-${status.replace(/\s+/g, '-')}`} data-testid="session-status">
          <span aria-hidden="true">{sessionStatusGlyph(status)}</span> {status}
        </span>
        <span className="muted small" data-testid="session-counts">
          {agentCount} agents · <span data-testid="event-count">{n.toLocaleString()}</span> events
        </span>
      </div>

      <div className="hgroup time-controls" role="group" aria-label="time controls">
        <button
          type="button"
          className={`btn live-toggle ${live.className}`}
          aria-pressed={cursor.live}
          onClick={() => (cursor.live ? model.dispatch({ type: 'pause' }) : model.resume())}
          title={live.title}
          data-testid="live-toggle"
        >
          {live.text}
        </button>
        <span className={`stream-dot stream-${stream}`} title={`stream ${stream}`}>
          <span className="sr-only">stream {stream}</span>
          <span aria-hidden="true">{stream === 'open' ? '⇅' : stream === 'reconnecting' ? '↻' : '·'}</span>
        </span>
        <button type="button" className="btn icon" aria-label="first event" title="first event" disabled={!n} onClick={() => model.gotoIndex(0)}>
          ⇤
        </button>
        <button
          type="button"
          className="btn icon"
          aria-label="previous event"
          title="previous event (in log order)"
          disabled={idx <= 0}
          onClick={() => model.gotoIndex(idx - 1)}
        >
          ◀
        </button>
        <button
          type="button"
          className="btn icon"
          aria-label="next event"
          title="next event (in log order)"
          disabled={idx >= n - 1}
          onClick={() => model.gotoIndex(idx + 1)}
        >
          ▶
        </button>
        <button type="button" className="btn icon" aria-label="last event" title="last event" disabled={!n} onClick={() => model.gotoIndex(n - 1)}>
          ⇥
        </button>
        <button
          type="button"
          className={playing ? 'btn icon on' : 'btn icon'}
          aria-pressed={playing}
          aria-label={playing ? 'pause playback' : 'play the session from the cursor'}
          title={playing ? 'Pause playback' : 'Play from the cursor at the chosen speed'}
          disabled={!n}
          onClick={() => setPlaying(!playing, speedRef)}
        >
          {playing ? '❚❚' : '▷'}
        </button>
        <label htmlFor="play-speed" className="sr-only">
          Playback speed
        </label>
        <select id="play-speed" className="speed" value={speed} onChange={(e) => setSpeed(Number(e.target.value))}>
          {PLAYBACK_SPEEDS.map((s) => (
            <option key={s} value={s}>
              {s}×
            </option>
          ))}
        </select>
        <label htmlFor="scrubber" className="sr-only">
          Scrub through the session
        </label>
        <input
          id="scrubber"
          className="scrubber"
          type="range"
          min={0}
          max={Math.max(0, n - 1)}
          step={1}
          value={Math.max(0, idx)}
          disabled={!n}
          onChange={(e) => model.gotoIndex(Number(e.target.value))}
          aria-valuetext={ev ? `event ${idx + 1} of ${n}, seq ${ev.seq}` : 'no events'}
        />
        <span className="cursor-readout mono" data-testid="cursor-readout">
          <span className="clock" title="producer time of the event at the cursor">{fmtClock(ev?.timestamp)}</span>{' '}
          <span className="muted">{ev ? fmtOffset(ev.timestamp, origin) : ''}</span>{' '}
          <span className="muted">
            seq <span data-testid="cursor-seq">{ev?.seq ?? '—'}</span>
          </span>
        </span>
      </div>

      <div className="hgroup">
        <SearchBox model={model} />
        <ExportLink sessionId={model.sessionId} />
      </div>
    </div>
  );
}

/**
 * Plays the session from the cursor in producer time × speed. Any cursor move made elsewhere (a
 * click, a step, F5) stops it, so the person is never fighting the player.
 */
function usePlayback(model: SessionModel): [boolean, (on: boolean, speed: React.MutableRefObject<number>) => void] {
  const [playing, setPlaying] = useState(false);
  const stopRef = useRef<(() => void) | null>(null);
  useEffect(() => () => stopRef.current?.(), []);
  const toggle = (on: boolean, speed: React.MutableRefObject<number>) => {
    stopRef.current?.();
    stopRef.current = null;
    if (!on) {
      setPlaying(false);
      model.view.set({ playing: false });
      return;
    }
    const events = model.log.events;
    let idx = Math.max(0, model.log.indexAtOrBefore(model.seq));
    if (idx >= events.length - 1) idx = 0; // at the end: play from the start
    const first = events[idx];
    if (!first) return;
    model.goto(first.seq);
    let mine = first.seq;
    let simTime = first.timestamp;
    let last = performance.now();
    let frame = 0;
    const tick = (now: number) => {
      const c = model.view.get().cursor;
      if (c.live || c.seq !== mine) return stop(); // someone else moved the cursor
      simTime += (now - last) * speed.current;
      last = now;
      idx = advancePlayback(model.log.events, idx, simTime);
      const ev = model.log.events[idx];
      if (ev && ev.seq !== mine) {
        mine = ev.seq;
        model.goto(ev.seq);
      }
      if (idx >= model.log.events.length - 1) return stop();
      frame = requestAnimationFrame(tick);
    };
    const stop = () => {
      cancelAnimationFrame(frame);
      stopRef.current = null;
      setPlaying(false);
      model.view.set({ playing: false });
    };
    stopRef.current = () => {
      cancelAnimationFrame(frame);
      model.view.set({ playing: false });
    };
    frame = requestAnimationFrame(tick);
    setPlaying(true);
    model.view.set({ playing: true });
  };
  return [playing, toggle];
}
