import { lazy, Suspense, useEffect, useState } from 'react';
import type { CallStack, Json, StateDiff, StepDirection, StoredEvent, SystemState, WatchResult } from '../api/types';
import { fmtDuration, fmtOffset } from '../lib/format';
import { useStoreThrottled } from '../lib/store';
import { liveWait, versionAndCursor } from '../state/throttle';
import { CATEGORY_STYLES, categoryOf } from '../model/categories';
import { effectiveSeq } from '../model/cursor';
import { eventLabel } from '../model/labels';
import type { SessionModel } from '../state/sessionModel';
import { useApi } from './context';
import { JsonView } from './JsonView';
import { StateView } from './StateView';
import { useCompiled, type Compiled } from './useCompiled';
import { errorText, useLatest, useThrottled, type AsyncState } from './useAsync';

// Conversations and terminal runs show only at LLM and tool calls: loaded when first needed.
const EventBody = lazy(() => import('./EventBody').then((m) => ({ default: m.EventBody })));

interface Breakpoint {
  expr: string;
  enabled: boolean;
}

function usePersisted<T>(key: string, initial: T): [T, (v: T) => void] {
  const [v, setV] = useState<T>(() => {
    try {
      const raw = localStorage.getItem(key);
      return raw ? (JSON.parse(raw) as T) : initial;
    } catch {
      return initial;
    }
  });
  return [
    v,
    (next: T) => {
      setV(next);
      try {
        localStorage.setItem(key, JSON.stringify(next));
      } catch {
        // Storage full or disabled: the list still works for this page.
      }
    },
  ];
}

/** Right panel: stepping, the event at the cursor, call stack, state, watches, breakpoints, diff. */
export function DebugPanel({
  model,
  state,
  step,
}: {
  model: SessionModel;
  state: AsyncState<SystemState>;
  step: (d: StepDirection) => void;
}) {
  const { cursor } = useStoreThrottled(model.view, versionAndCursor, liveWait(150));
  const seq = effectiveSeq(cursor);
  const ev = model.log.atOrBefore(seq);
  const origin = model.log.events[0]?.timestamp ?? 0;
  const span = ev ? model.spans.get(ev.span_id || ev.id) : undefined;

  return (
    <aside className="debug-panel" aria-label="debugger">
      <div className="debug-controls" role="toolbar" aria-label="stepping">
        <button type="button" className="btn" onClick={() => step('into')} disabled={!ev} title="Step into (F11)" data-testid="step-into">
          <span aria-hidden="true">⤵</span> Into <kbd>F11</kbd>
        </button>
        <button type="button" className="btn" onClick={() => step('over')} disabled={!ev} title="Step over (F10)" data-testid="step-over">
          <span aria-hidden="true">⤳</span> Over <kbd>F10</kbd>
        </button>
        <button type="button" className="btn" onClick={() => step('out')} disabled={!ev} title="Step out (Shift+F11)" data-testid="step-out">
          <span aria-hidden="true">⤴</span> Out <kbd>⇧F11</kbd>
        </button>
        <button type="button" className="btn" onClick={() => step('back')} disabled={!ev} title="Step back (Shift+F9)" data-testid="step-back">
          <span aria-hidden="true">◀</span> Back
        </button>
        <button
          type="button"
          className={cursor.live ? 'btn on' : 'btn primary'}
          onClick={() => model.resume()}
          disabled={cursor.live}
          title="Resume live (F5)"
          data-testid="resume-live"
        >
          <span aria-hidden="true">▶</span> Live <kbd>F5</kbd>
        </button>
      </div>

      <div className="debug-scroll">
        <details open className="section">
          <summary>Current event</summary>
          {ev ? (
            <div className="current-event" data-testid="current-event">
              <div className="ce-title">
                <span className="glyph" style={{ color: CATEGORY_STYLES[categoryOf(ev)].color }} aria-hidden="true">
                  {CATEGORY_STYLES[categoryOf(ev)].glyph}
                </span>{' '}
                <strong>{ev.type}</strong> <span className="ce-label">{eventLabel(ev)}</span>{' '}
                {ev.phase && ev.phase !== 'complete' && <span className={`phase-tag phase-${ev.phase}`}>{ev.phase}</span>}
              </div>
              <div className="muted small mono">
                {ev.agent_id ?? 'session'} · seq <span data-testid="current-seq">{ev.seq}</span> · {fmtOffset(ev.timestamp, origin)}
                {ev.performance?.duration != null ? ` · ${fmtDuration(ev.performance.duration)}` : ''}
                {span ? ` · span ${span.id}` : ''}
              </div>
              {(ev.type === 'llm_call' || ev.type === 'tool_call') && (
                <Suspense fallback={null}>
                  <EventBody model={model} event={ev} />
                </Suspense>
              )}
              <JsonView
                value={ev.data ?? {}}
                name="data"
                expandDepth={ev.type === 'llm_call' || ev.type === 'tool_call' ? 1 : 3}
                label="event data"
              />
              <JsonView value={envelopeOf(ev)} name="envelope" expandDepth={0} label="event envelope" />
            </div>
          ) : (
            <p className="muted small">No event yet.</p>
          )}
        </details>

        <StackSection model={model} eventId={ev?.id ?? null} />
        <WatchSection model={model} seq={seq} live={cursor.live} />
        <BreakpointSection model={model} seq={seq} />
        <DiffSection model={model} seq={seq} prevSeq={cursor.prevSeq} live={cursor.live} />
        <StateView sessionId={model.sessionId} state={state} seq={ev?.seq ?? seq} />
      </div>
    </aside>
  );
}

/** The event without its payload: ids, causality, timing, cost. */
function envelopeOf(ev: StoredEvent): Omit<StoredEvent, 'data'> {
  const { data: _data, ...rest } = ev;
  void _data;
  return rest;
}

function StackSection({ model, eventId }: { model: SessionModel; eventId: string | null }) {
  const api = useApi();
  const id = useThrottled(eventId, 150);
  const res = useLatest<CallStack>(id ? (signal) => api.stack(model.sessionId, id, signal) : null, [model.sessionId, id]);
  return (
    <details open className="section">
      <summary>
        Call stack {res.data ? <span className="muted">{res.data.frames.length}</span> : null}
      </summary>
      {res.error && <p className="error-text small">{res.error}</p>}
      <ol className="stack" data-testid="call-stack">
        {res.data?.frames.map((f) => (
          <li key={f.span_id}>
            <button type="button" className="frame" onClick={() => model.goto(f.start_seq)} title={`go to the start of ${f.span_id} (seq ${f.start_seq})`}>
              <span className="frame-label">{f.label || f.type}</span>
              <span className="muted mono small">{f.span_id}</span>
              <span className="muted small">
                {f.agent_id ?? ''} · {fmtDuration(f.duration_so_far_ms)}
                {f.open ? ' · open' : ' · done'}
              </span>
            </button>
          </li>
        ))}
      </ol>
      {res.data && !res.data.frames.length && <p className="muted small">Top level: no enclosing span.</p>}
    </details>
  );
}

function noise(path: (string | number)[]): number {
  const head = String(path[0] ?? '');
  return head === 'seq' || head === 'timestamp' || head === 'counters' ? 1 : 0;
}

function opGlyph(op: string): string {
  return op === 'added' ? '+' : op === 'removed' ? '−' : '~';
}

function DiffSection({ model, seq, prevSeq, live }: { model: SessionModel; seq: number; prevSeq: number | null; live: boolean }) {
  const api = useApi();
  const idx = model.log.indexAtOrBefore(seq);
  const before = prevSeq ?? (idx > 0 ? (model.log.events[idx - 1]?.seq ?? 0) : 0);
  const pair = useThrottled(`${before}:${seq}`, live ? 800 : 150);
  const [fromS, toS] = pair.split(':').map(Number) as [number, number];
  const lo = Math.min(fromS, toS);
  const hi = Math.max(fromS, toS);
  const res = useLatest<StateDiff>(hi > 0 && lo !== hi ? (signal) => api.diff(model.sessionId, lo, hi, signal) : null, [model.sessionId, lo, hi]);
  // What the step did to the swarm first; the bookkeeping (seq, timestamp, counters) last.
  const changes = [...(res.data?.changes ?? [])].sort((a, b) => noise(a.path) - noise(b.path));
  return (
    <details open className="section">
      <summary>
        What changed{' '}
        <span className="muted small">
          seq {lo} → {hi}
          {fromS > toS ? ' (you stepped back)' : ''}
        </span>
      </summary>
      {res.error && <p className="error-text small">{res.error}</p>}
      <ul className="diff" data-testid="diff">
        {changes.slice(0, 200).map((c, i) => (
          <li key={i} className={`diff-${c.op}`}>
            <span className="diff-op" aria-label={c.op}>
              {opGlyph(c.op)}
            </span>{' '}
            <span className="mono">{c.path.join('.')}</span>
            {c.op !== 'added' && c.before !== undefined && <ValueInline v={c.before} label="before" />}
            {c.op === 'changed' && <span aria-hidden="true"> → </span>}
            {c.op !== 'removed' && c.after !== undefined && <ValueInline v={c.after} label="after" />}
          </li>
        ))}
      </ul>
      {changes.length > 200 && <p className="muted small">…and {changes.length - 200} more changes</p>}
      {res.data?.truncated && <p className="muted small">More changes follow: step in smaller moves to see each one.</p>}
      {res.data && !changes.length && <p className="muted small">No state change.</p>}
    </details>
  );
}

function ValueInline({ v, label }: { v: Json | undefined; label: string }) {
  if (v === null || typeof v !== 'object') {
    const s = JSON.stringify(v) ?? 'undefined';
    return (
      <span className="mono diff-val" aria-label={label}>
        {' '}
        {s.length > 120 ? `${s.slice(0, 120)}…` : s}
      </span>
    );
  }
  return (
    <span className="diff-obj">
      <JsonView value={v} expandDepth={0} label={label} />
    </span>
  );
}

function WatchSection({ model, seq, live }: { model: SessionModel; seq: number; live: boolean }) {
  const api = useApi();
  const [watches, setWatches] = usePersisted<string[]>('swarmscope.watches', ['state.counters.errors']);
  const [draft, setDraft] = useState('');
  const checked = useCompiled(api, [...watches, draft.trim()].filter(Boolean), 'watch');
  const draftCheck = draft.trim() ? checked.get(draft.trim()) : undefined;
  const at = useThrottled(seq, live ? 800 : 150);
  const key = watches.join('\u0000');
  const res = useLatest<WatchResult>(
    watches.length && at > 0 ? (signal) => api.watch(model.sessionId, at, watches, signal) : null,
    [model.sessionId, at, key],
  );
  return (
    <details open className="section">
      <summary>
        Watch <span className="muted small">{watches.length}</span>
      </summary>
      <form
        className="inline-form"
        onSubmit={async (e) => {
          e.preventDefault();
          const x = draft.trim();
          if (!x) return;
          const c = await checked.check(x);
          if (c && !c.ok) return; // the error is shown under the field
          if (!watches.includes(x)) setWatches([...watches, x]);
          setDraft('');
        }}
      >
        <label htmlFor="watch-input" className="sr-only">
          Add a watch expression (CEL over state)
        </label>
        <input
          id="watch-input"
          className={`mono${draftCheck && !draftCheck.ok ? ' invalid' : ''}`}
          placeholder='state.tasks["T3"].status'
          value={draft}
          onChange={(e) => setDraft(e.target.value)}
          aria-invalid={draftCheck ? !draftCheck.ok : undefined}
          aria-describedby="watch-error"
        />
        <button type="submit" className="btn small" disabled={!draft.trim() || (draftCheck !== undefined && !draftCheck.ok)}>
          Add
        </button>
      </form>
      <ExpressionError id="watch-error" source={draft.trim()} check={draftCheck} />
      {res.error && <p className="error-text small">{res.error}</p>}
      <ul className="watches" data-testid="watches">
        {watches.map((w, i) => {
          const v = res.data?.values[i];
          return (
            <li key={w}>
              <span className="mono watch-expr">{w}</span>
              <span className="watch-eq" aria-hidden="true">
                =
              </span>
              {v?.error ? (
                <span className="error-text small">⚠ {v.error}</span>
              ) : v ? (
                <ValueInline v={v.value} label="value" />
              ) : (
                <span className="muted">…</span>
              )}
              <button type="button" className="btn ghost icon" aria-label={`remove watch ${w}`} onClick={() => setWatches(watches.filter((x) => x !== w))}>
                ✕
              </button>
            </li>
          );
        })}
      </ul>
    </details>
  );
}

function BreakpointSection({ model, seq }: { model: SessionModel; seq: number }) {
  const api = useApi();
  const [bps, setBps] = usePersisted<Breakpoint[]>('swarmscope.breakpoints', [{ expr: 'event.type == "error"', enabled: true }]);
  const [draft, setDraft] = useState('');
  const checked = useCompiled(api, [...bps.map((b) => b.expr), draft.trim()].filter(Boolean), 'condition');
  const draftCheck = draft.trim() ? checked.get(draft.trim()) : undefined;
  const invalid = (b: Breakpoint) => checked.get(b.expr)?.ok === false;
  const [result, setResult] = useState<{ text: string; kind: 'hit' | 'miss' | 'error' } | null>(null);
  const [running, setRunning] = useState(false);
  useEffect(() => setResult(null), [model.sessionId]);

  const run = async (direction: 'forward' | 'backward') => {
    const skipped = bps.filter((b) => b.enabled && invalid(b)).length;
    const conditions = bps.filter((b) => b.enabled && !invalid(b)).map((b) => b.expr);
    if (!conditions.length) {
      setResult({ text: skipped ? 'Every enabled breakpoint has an error: fix or remove it.' : 'No breakpoint is enabled.', kind: 'miss' });
      return;
    }
    setRunning(true);
    try {
      const hit = await api.runBreakpoints(model.sessionId, seq, direction, conditions);
      // Conditions that failed to evaluate on some events (a missing key, say) did not hold there.
      const evalNote = hit.evaluation_errors ? ` · ${hit.evaluation_errors} evaluation errors, first: ${hit.first_error ?? '?'}` : '';
      if (hit.hit && hit.event) {
        model.ingest([hit.event]);
        model.goto(hit.event.seq);
        setResult({ text: `Stopped at seq ${hit.event.seq}: ${hit.condition ?? ''} (scanned ${hit.scanned})${evalNote}`, kind: 'hit' });
      } else {
        setResult({
          text: `No event ${direction === 'forward' ? 'after' : 'before'} seq ${seq} matches (scanned ${hit.scanned})${evalNote}.`,
          kind: 'miss',
        });
      }
    } catch (err) {
      setResult({ text: errorText(err), kind: 'error' });
    } finally {
      setRunning(false);
    }
  };

  return (
    <details open className="section">
      <summary>
        Breakpoints <span className="muted small">{bps.filter((b) => b.enabled && !invalid(b)).length} on</span>
      </summary>
      <form
        className="inline-form"
        onSubmit={async (e) => {
          e.preventDefault();
          const x = draft.trim();
          if (!x) return;
          // Validated on entry: a condition that does not compile is not added (its error stays
          // under the field until it is fixed).
          const c = await checked.check(x);
          if (c && !c.ok) return;
          if (!bps.some((b) => b.expr === x)) setBps([...bps, { expr: x, enabled: true }]);
          setDraft('');
        }}
      >
        <label htmlFor="bp-input" className="sr-only">
          Add a breakpoint condition (CEL)
        </label>
        <input
          id="bp-input"
          className={`mono${draftCheck && !draftCheck.ok ? ' invalid' : ''}`}
          placeholder='event.type == "tool_call" && event.agent_id == "tst-1"'
          value={draft}
          onChange={(e) => setDraft(e.target.value)}
          aria-invalid={draftCheck ? !draftCheck.ok : undefined}
          aria-describedby="bp-error"
        />
        <button type="submit" className="btn small" disabled={!draft.trim() || (draftCheck !== undefined && !draftCheck.ok)}>
          Add
        </button>
      </form>
      <ExpressionError id="bp-error" source={draft.trim()} check={draftCheck} />
      <ul className="breakpoints" data-testid="breakpoints">
        {bps.map((b, i) => {
          const bad = invalid(b);
          return (
            <li key={b.expr} className={bad ? 'bp-invalid' : undefined}>
              <div className="bp-line">
                <label>
                  <input
                    type="checkbox"
                    checked={b.enabled && !bad}
                    disabled={bad}
                    onChange={(e) => setBps(bps.map((x, j) => (j === i ? { ...x, enabled: e.target.checked } : x)))}
                  />{' '}
                  <span className="mono">{b.expr}</span>
                </label>
                <button type="button" className="btn ghost icon" aria-label={`remove breakpoint ${b.expr}`} onClick={() => setBps(bps.filter((_, j) => j !== i))}>
                  ✕
                </button>
              </div>
              {bad && <ExpressionError source={b.expr} check={checked.get(b.expr)} />}
            </li>
          );
        })}
      </ul>
      <div className="bp-actions">
        <button type="button" className="btn small" disabled={running} onClick={() => void run('backward')} data-testid="bp-prev">
          « Run to previous
        </button>
        <button type="button" className="btn small primary" disabled={running} onClick={() => void run('forward')} data-testid="bp-next">
          Run to next »
        </button>
      </div>
      {result && (
        <p className={`small bp-result ${result.kind === 'error' ? 'error-text' : result.kind === 'hit' ? 'ok-text' : 'muted'}`} role="status" data-testid="bp-result">
          {result.kind === 'hit' ? '● ' : result.kind === 'error' ? '⚠ ' : '○ '}
          {result.text}
        </p>
      )}
    </details>
  );
}

/** A compile error under its field: the parser's message, with a caret under the column. */
function ExpressionError({ id, source, check }: { id?: string; source: string; check: Compiled | undefined }) {
  if (!check || check.ok || !source) return <div id={id} className="expr-error-slot" />;
  const message = check.error ?? 'does not compile';
  // The parser's own caret lines (`| …` / `| ...^`) say where; shown as they are.
  const hasCaret = /\n\|/.test(message);
  return (
    <div id={id} className="expr-error-slot">
      <div className="expr-error error-text small" role="alert" data-testid="expression-error">
        <pre className="mono">
          {hasCaret || !check.column ? message : `${message}\n| ${source}\n| ${'.'.repeat(Math.max(0, check.column - 1))}^`}
        </pre>
      </div>
    </div>
  );
}
