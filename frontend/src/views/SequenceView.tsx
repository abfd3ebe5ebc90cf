import { useEffect, useMemo, useRef, useState } from 'react';
import { fmtOffset } from '../lib/format';
import { useStoreThrottled } from '../lib/store';
import { liveWait, versionAndCursor } from '../state/throttle';
import { effectiveSeq } from '../model/cursor';
import { lifelines, type SequenceItem } from '../model/sequence';
import type { SessionModel } from '../state/sessionModel';
import { GraphFooter } from './GraphFooter';

const ROW = 26;
const HEAD = 34;
const GUTTER = 92;
const MIN_COL = 92;
const OVERSCAN = 10;

/**
 * The message sequence view: agents as lifelines (columns), every message, task hand-off and
 * spawn as an arrow between them in log order (rows), replies linked to the message they answer,
 * and the cursor as a horizontal line that moves with stepping. Click an arrow to time-travel to it.
 * Rows are virtualized: a session of thousands of messages draws only what is on screen.
 */
export function SequenceView({
  model,
  agentFilter,
  zoomCmd,
}: {
  model: SessionModel;
  agentFilter: string | null;
  zoomCmd: React.MutableRefObject<{ zoomBy: (k: number) => void; fit: () => void } | null>;
}) {
  const { version, cursor } = useStoreThrottled(model.view, versionAndCursor, liveWait(250));
  const seq = effectiveSeq(cursor);
  const scroller = useRef<HTMLDivElement>(null);
  const [scroll, setScroll] = useState({ top: 0, left: 0 });
  const [size, setSize] = useState({ w: 800, h: 400 });
  const [hover, setHover] = useState<SequenceItem | null>(null);

  useEffect(() => {
    zoomCmd.current = null; // rows do not zoom: the toolbar's zoom is not shown for this layout
  });
  useEffect(() => {
    const el = scroller.current;
    if (!el) return;
    const ro = new ResizeObserver(() => setSize({ w: el.clientWidth, h: el.clientHeight }));
    ro.observe(el);
    return () => ro.disconnect();
  }, []);

  const items = useMemo(() => {
    const all = model.sequence.items;
    return agentFilter ? all.filter((i) => i.from === agentFilter || i.to.includes(agentFilter)) : all.slice();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [model, version, agentFilter]);
  const lanes = useMemo(() => lifelines(items, model.agents.order.map((a) => a.id)), [items, model]);
  const col = Math.max(MIN_COL, (size.w - GUTTER - 16) / Math.max(1, lanes.length));
  const laneX = useMemo(() => new Map(lanes.map((a, i) => [a, GUTTER + col * i + col / 2])), [lanes, col]);
  const width = GUTTER + col * lanes.length + 8;
  // Where each lifeline starts: the agent's first exchange.
  const firstRows = useMemo(() => {
    const out = new Map<string, number>();
    items.forEach((it, i) => {
      for (const a of [it.from, ...it.to]) if (!out.has(a)) out.set(a, i);
    });
    return out;
  }, [items]);
  const height = HEAD + items.length * ROW + 8;

  // Where the cursor is: after the last exchange at or before it.
  const cursorRow = useMemo(() => {
    let lo = 0;
    let hi = items.length - 1;
    let ans = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if ((items[mid] as SequenceItem).seq <= seq) {
        ans = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return ans;
  }, [items, seq]);
  const cursorY = HEAD + (cursorRow + 1) * ROW;

  // Stepping keeps the cursor line in view.
  useEffect(() => {
    const el = scroller.current;
    if (!el) return;
    const y = cursorY;
    if (y < el.scrollTop + HEAD + ROW || y > el.scrollTop + el.clientHeight - ROW) el.scrollTop = Math.max(0, y - el.clientHeight / 2);
  }, [cursorY]);

  const first = Math.max(0, Math.floor((scroll.top - HEAD) / ROW) - OVERSCAN);
  const last = Math.min(items.length, Math.ceil((scroll.top + size.h) / ROW) + OVERSCAN);
  const origin = model.log.events[0]?.timestamp ?? 0;
  const rowOf = (item: SequenceItem | undefined) => {
    if (!item) return -1;
    // Binary search by seq (items are in seq order).
    let lo = 0;
    let hi = items.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const s = (items[mid] as SequenceItem).seq;
      if (s === item.seq) return items[mid] === item ? mid : -1;
      if (s < item.seq) lo = mid + 1;
      else hi = mid - 1;
    }
    return -1;
  };
  const linked = hover ? new Set([hover, model.sequence.message(hover.replyTo), ...items.filter((i) => i.replyTo !== null && i.replyTo === hover.messageId)]) : null;

  const arrow = (it: SequenceItem, row: number) => {
    const y = HEAD + row * ROW + ROW / 2 + 4;
    const x1 = laneX.get(it.from) ?? GUTTER;
    const targets = it.to.map((t) => laneX.get(t)).filter((x): x is number => x !== undefined);
    const current = it.seq === seq;
    const reply = it.replyTo !== null && model.sequence.message(it.replyTo);
    const cls = `sq-row kind-${it.kind}${current ? ' current' : ''}${it.seq > seq ? ' future' : ''}${linked?.has(it) ? ' linked' : ''}${reply ? ' reply' : ''}`;
    const lo = Math.min(x1, ...targets);
    const hi = Math.max(x1, ...targets);
    const labelX = targets.length === 1 && (targets[0] as number) < x1 ? (targets[0] as number) + 6 : x1 + 6;
    return (
      <g
        key={`${it.seq}`}
        className={cls}
        onClick={() => model.goto(it.seq)}
        onMouseEnter={() => setHover(it)}
        onMouseLeave={() => setHover(null)}
        role="button"
        aria-label={`seq ${it.seq}: ${it.from} to ${it.to.join(', ')}, ${it.label}`}
        data-seq={it.seq}
        data-testid="sequence-arrow"
      >
        <rect x={0} y={HEAD + row * ROW} width={width} height={ROW} className="sq-bg" />
        <text x={6} y={HEAD + row * ROW + 16} className="sq-time">
          {fmtOffset(it.timestamp, origin)}
        </text>
        {targets.length ? <line x1={lo} x2={hi} y1={y} y2={y} className="sq-line" /> : null}
        {targets.map((tx) => {
          const dir = tx >= x1 ? 1 : -1;
          return <path key={tx} d={`M${tx},${y}l${-7 * dir},-4v8Z`} className="sq-head" />;
        })}
        <circle cx={x1} cy={y} r={2.5} className="sq-dot" />
        <text x={labelX} y={y - 5} className="sq-label">
          {reply ? '↩ ' : ''}
          {it.label}
        </text>
      </g>
    );
  };

  // The reply link: from a reply back up to its request, drawn when both rows exist.
  const links: React.ReactNode[] = [];
  for (let r = first; r < last; r++) {
    const it = items[r] as SequenceItem;
    if (it.replyTo === null) continue;
    const req = model.sequence.message(it.replyTo);
    const rr = rowOf(req);
    if (!req || rr < 0) continue;
    const xr = laneX.get(it.from) ?? GUTTER;
    const y1 = HEAD + rr * ROW + ROW / 2 + 4;
    const y2 = HEAD + r * ROW + ROW / 2 + 4;
    const bulge = Math.min(40, col / 3);
    links.push(
      <path
        key={`link-${it.seq}`}
        d={`M${xr},${y2}C${xr + bulge},${y2} ${xr + bulge},${y1} ${xr + 3},${y1}`}
        className={`sq-reply-link${linked?.has(it) ? ' linked' : ''}`}
        data-testid="reply-link"
      />,
    );
  }

  return (
    <div className="sequence" data-testid="sequence-view">
      <div className="sequence-scroll" ref={scroller} onScroll={(e) => setScroll({ top: e.currentTarget.scrollTop, left: e.currentTarget.scrollLeft })}>
        {/* Lifeline names stay on top while the rows scroll under them. */}
        <div className="sq-heads" style={{ width, height: HEAD }} aria-hidden="true">
          {lanes.map((a) => (
            <div key={a} className="sq-head-cell" style={{ left: (laneX.get(a) as number) - col / 2, width: col }} title={a} data-testid="lifeline">
              <span className="sq-head-id">{a}</span>
              <span className="muted">{model.agents.agents.get(a)?.agentType ?? ''}</span>
            </div>
          ))}
        </div>
        <svg width={width} height={height} style={{ marginTop: -HEAD }} role="img" aria-label={`message sequence: ${lanes.length} agents, ${items.length} exchanges`}>
          {lanes.map((a) => {
            const x = laneX.get(a) as number;
            return <line key={a} x1={x} x2={x} y1={HEAD + (firstRows.get(a) ?? 0) * ROW} y2={height} className="sq-lifeline" />;
          })}
          {links}
          {items.slice(first, last).map((it, i) => arrow(it, first + i))}
          <line x1={0} x2={width} y1={cursorY} y2={cursorY} className={cursor.live ? 'sq-cursor live' : 'sq-cursor'} data-testid="sequence-cursor" />
        </svg>
      </div>
      {!items.length && <p className="muted pad sq-empty">No messages, hand-offs or spawns at this point.</p>}
      <GraphFooter legend={false}>
        {lanes.length} agents · {items.length.toLocaleString()} exchanges · cursor after {cursorRow + 1} · <span className="sq-key-msg">→</span> message ·{' '}
        <span className="sq-key-handoff">→</span> hand-off · ↩ reply (linked to its request) · click an arrow to go there
      </GraphFooter>
    </div>
  );
}
