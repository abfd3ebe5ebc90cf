import { useEffect, useMemo, useRef, useState } from 'react';
import type { StoredEvent } from '../api/types';
import { fmtOffset } from '../lib/format';
import { useStore, useStoreThrottled } from '../lib/store';
import { liveWait, versionAndCursor } from '../state/throttle';
import { SESSION_LANE } from '../model/agents';
import { CATEGORY_STYLES, categoryOf } from '../model/categories';
import { effectiveSeq } from '../model/cursor';
import { eventLabel } from '../model/labels';
import type { SessionModel } from '../state/sessionModel';

const ROW = 22;
const OVERSCAN = 12;

/** Every event of the session in log order, virtualized (only the visible rows exist in the DOM). */
export function EventList({ model, agentFilter }: { model: SessionModel; agentFilter: string | null }) {
  const { version, cursor } = useStoreThrottled(model.view, versionAndCursor, liveWait(150));
  const hits = useStore(model.view, (v) => v.search.hits);
  const [onlyHits, setOnlyHits] = useState(false);
  const seq = effectiveSeq(cursor);
  const scroller = useRef<HTMLDivElement>(null);
  const [scrollTop, setScrollTop] = useState(0);
  const [height, setHeight] = useState(400);

  const hitSet = useMemo(() => new Set(hits), [hits]);
  const rows: readonly StoredEvent[] = useMemo(() => {
    let list: readonly StoredEvent[] = model.log.events;
    if (agentFilter) list = list.filter((e) => (e.agent_id ?? SESSION_LANE) === agentFilter);
    if (onlyHits) list = list.filter((e) => hitSet.has(e.seq));
    return list === model.log.events ? list.slice() : list;
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [model, version, agentFilter, onlyHits, hitSet]);

  useEffect(() => {
    const el = scroller.current;
    if (!el) return;
    const ro = new ResizeObserver(() => setHeight(el.clientHeight));
    ro.observe(el);
    setHeight(el.clientHeight);
    return () => ro.disconnect();
  }, []);

  // Keep the cursor row in view (the list follows stepping and live mode).
  const cursorRow = useMemo(() => {
    let lo = 0;
    let hi = rows.length - 1;
    let ans = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if ((rows[mid] as StoredEvent).seq <= seq) {
        ans = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return ans;
  }, [rows, seq]);
  useEffect(() => {
    const el = scroller.current;
    if (!el || cursorRow < 0) return;
    const top = cursorRow * ROW;
    if (top < el.scrollTop || top + ROW > el.scrollTop + el.clientHeight) {
      el.scrollTop = Math.max(0, top - el.clientHeight / 2);
    }
  }, [cursorRow]);

  const first = Math.max(0, Math.floor(scrollTop / ROW) - OVERSCAN);
  const last = Math.min(rows.length, Math.ceil((scrollTop + height) / ROW) + OVERSCAN);
  const origin = model.log.events[0]?.timestamp ?? 0;
  const slice = rows.slice(first, last);

  return (
    <div className="event-list">
      <div className="list-toolbar">
        <span className="muted small">
          {rows.length.toLocaleString()} events{agentFilter ? ` of ${agentFilter}` : ''}
        </span>
        <label className="small">
          <input type="checkbox" checked={onlyHits} onChange={(e) => setOnlyHits(e.target.checked)} disabled={!hits.length} /> only search
          hits ({hits.length})
        </label>
      </div>
      <div className="list-head" aria-hidden="true">
        <span className="c-seq">seq</span>
        <span className="c-time">time</span>
        <span className="c-agent">agent</span>
        <span className="c-type">type</span>
        <span className="c-phase">phase</span>
        <span className="c-label">summary</span>
      </div>
      <div
        className="list-scroll"
        ref={scroller}
        onScroll={(e) => setScrollTop(e.currentTarget.scrollTop)}
        role="listbox"
        aria-label="events"
        tabIndex={0}
        aria-activedescendant={cursorRow >= 0 ? `ev-row-${rows[cursorRow]?.seq}` : undefined}
        onKeyDown={(e) => {
          if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
            e.preventDefault();
            const next = rows[Math.max(0, Math.min(rows.length - 1, cursorRow + (e.key === 'ArrowDown' ? 1 : -1)))];
            if (next) model.goto(next.seq);
          }
        }}
      >
        <div style={{ height: rows.length * ROW, position: 'relative' }}>
          {slice.map((ev, i) => {
            const row = first + i;
            const cat = categoryOf(ev);
            const st = CATEGORY_STYLES[cat];
            const cls = ['ev-row', ev.seq === seq ? 'current' : '', ev.seq > seq ? 'future' : '', hitSet.has(ev.seq) ? 'hit' : ''].join(' ');
            return (
              <div
                key={ev.seq}
                id={`ev-row-${ev.seq}`}
                role="option"
                aria-selected={ev.seq === seq}
                className={cls}
                style={{ top: row * ROW }}
                onClick={() => model.goto(ev.seq)}
                data-seq={ev.seq}
              >
                <span className="c-seq mono">{ev.seq}</span>
                <span className="c-time mono">{fmtOffset(ev.timestamp, origin)}</span>
                <span className="c-agent">{ev.agent_id ?? '—'}</span>
                <span className="c-type">
                  <span className="glyph" style={{ color: st.color }} aria-hidden="true">
                    {st.glyph}
                  </span>{' '}
                  {ev.type}
                </span>
                <span className={`c-phase phase-${ev.phase ?? 'complete'}`}>{ev.phase ?? 'complete'}</span>
                <span className="c-label">{eventLabel(ev)}</span>
              </div>
            );
          })}
        </div>
      </div>
    </div>
  );
}
