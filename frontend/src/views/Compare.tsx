import { useEffect, useState } from 'react';
import type { Json, JsonObject, SessionComparison, SessionOutcome, SessionSummary } from '../api/types';
import { fmtCost, fmtDateTime, fmtDuration, fmtInt } from '../lib/format';
import { navigate, onLinkClick } from '../lib/router';
import { taskStatusGlyph } from '../model/categories';
import { useApi } from './context';
import { useLatest } from './useAsync';

const STATUS_MARK: Record<string, string> = { same: '=', changed: '≠', only_a: '◧ A only', only_b: '◨ B only' };

/** Two sessions side by side: outcome, task differences and the aligned steps. */
export function Compare({ a, b }: { a: string | null; b: string | null }) {
  const api = useApi();
  const [sessions, setSessions] = useState<SessionSummary[]>([]);
  const [selA, setA] = useState(a ?? '');
  const [selB, setB] = useState(b ?? '');
  const [onlyDiff, setOnlyDiff] = useState(false);
  const [filter, setFilter] = useState('');
  const needle = filter.trim().toLowerCase();
  const shown = needle
    ? sessions.filter((s) => [s.id, s.name ?? '', s.objective ?? '', s.status].some((x) => x.toLowerCase().includes(needle)))
    : sessions;
  useEffect(() => {
    const ctl = new AbortController();
    api
      .sessions({ limit: 200, system: 'exclude' }, ctl.signal)
      .then((p) => setSessions(p.items))
      .catch(() => undefined);
    return () => ctl.abort();
  }, [api]);
  useEffect(() => {
    setA(a ?? '');
    setB(b ?? '');
  }, [a, b]);

  const res = useLatest<SessionComparison>(a && b ? (signal) => api.compare(a, b, signal) : null, [a, b]);
  const c = res.data;
  return (
    <div className="page compare-page">
      <div className="page-head">
        <h1>Compare sessions</h1>
        <form
          className="toolbar"
          onSubmit={(e) => {
            e.preventDefault();
            if (selA && selB) navigate(`/compare?a=${encodeURIComponent(selA)}&b=${encodeURIComponent(selB)}`);
          }}
        >
          <label htmlFor="cmp-filter" className="sr-only">
            Filter the sessions to choose from
          </label>
          <input id="cmp-filter" type="search" placeholder="filter sessions…" value={filter} onChange={(e) => setFilter(e.target.value)} />
          <label htmlFor="cmp-a">A</label>
          <SessionPicker id="cmp-a" value={selA} onChange={setA} sessions={shown} />
          <label htmlFor="cmp-b">B</label>
          <SessionPicker id="cmp-b" value={selB} onChange={setB} sessions={shown} />
          <button type="submit" className="btn primary" disabled={!selA || !selB}>
            Compare
          </button>
        </form>
      </div>
      {res.loading && <p className="muted">Comparing…</p>}
      {res.error && (
        <div className="error-box" role="alert">
          Could not compare: {res.error}
        </div>
      )}
      {!a || !b ? <p className="muted">Choose two sessions (or tick two in the sessions list).</p> : null}
      {c && (
        <>
          <div className="compare-cols" data-testid="compare-result">
            <Outcome o={c.a} side="A" />
            <Outcome o={c.b} side="B" />
          </div>
          <SummaryTable c={c} />
          {c.task_differences.length > 0 && <TaskDifferences c={c} />}
          <section className="card">
            <h3>
              Aligned steps <span className="muted small">{c.alignment.length}</span>{' '}
              <label className="small">
                <input type="checkbox" checked={onlyDiff} onChange={(e) => setOnlyDiff(e.target.checked)} /> differences only
              </label>
            </h3>
            <table className="grid compact align-table">
              <thead>
                <tr>
                  <th scope="col">step</th>
                  <th scope="col">status</th>
                  <th scope="col">A</th>
                  <th scope="col">B</th>
                </tr>
              </thead>
              <tbody>
                {c.alignment
                  .filter((s) => !onlyDiff || s.status !== 'same')
                  .slice(0, 2000)
                  .map((s, i) => (
                    <tr key={i} className={`align-${s.status}`}>
                      <td className="mono">{s.key}</td>
                      <td>
                        <span className={`align-mark align-${s.status}`}>{STATUS_MARK[s.status] ?? s.status}</span>
                      </td>
                      <td>
                        {s.a_seq !== null ? (
                          <a href={`/sessions/${encodeURIComponent(c.a.session_id)}?seq=${s.a_seq}`} onClick={onLinkClick}>
                            {s.a_summary ?? `seq ${s.a_seq}`}
                          </a>
                        ) : (
                          '—'
                        )}
                      </td>
                      <td>
                        {s.b_seq !== null ? (
                          <a href={`/sessions/${encodeURIComponent(c.b.session_id)}?seq=${s.b_seq}`} onClick={onLinkClick}>
                            {s.b_summary ?? `seq ${s.b_seq}`}
                          </a>
                        ) : (
                          '—'
                        )}
                      </td>
                    </tr>
                  ))}
              </tbody>
            </table>
          </section>
        </>
      )}
    </div>
  );
}

function Outcome({ o, side }: { o: SessionOutcome; side: string }) {
  return (
    <section className="card outcome" aria-label={`session ${side}`}>
      <h3>
        {side}:{' '}
        <a href={`/sessions/${encodeURIComponent(o.session_id)}`} onClick={onLinkClick}>
          {o.session_id}
        </a>
      </h3>
      <dl className="kv">
        <dt>status</dt>
        <dd>{o.status ?? '—'}</dd>
        <dt>duration</dt>
        <dd>{fmtDuration(o.duration_ms)}</dd>
        <dt>events</dt>
        <dd>{fmtInt(o.events)}</dd>
        <dt>errors</dt>
        <dd className={o.errors ? 'err-text' : ''}>{o.errors ? `⚠ ${o.errors}` : 0}</dd>
        <dt>tokens</dt>
        <dd>{fmtInt(o.tokens)}</dd>
        <dt>cost</dt>
        <dd>{fmtCost(o.cost)}</dd>
        <dt>agents</dt>
        <dd>
          {Object.entries(o.agents)
            .map(([id, t]) => `${id} (${t})`)
            .join(', ') || '—'}
        </dd>
      </dl>
      <h4>Tasks</h4>
      <ul className="task-list">
        {Object.entries(o.tasks).map(([id, st]) => (
          <li key={id}>
            <span aria-hidden="true">{taskStatusGlyph(st)}</span> <span className="mono">{id}</span> {st}
          </li>
        ))}
      </ul>
    </section>
  );
}

/** A session as a person recognises it: its name, when it ran and how it ended, then its id. */
export function sessionOptionLabel(s: SessionSummary): string {
  const name = s.name && s.name !== s.id ? s.name : null;
  return [name ?? s.id, fmtDateTime(s.start_time), s.status, name ? s.id : null].filter(Boolean).join(' · ');
}

function SessionPicker({
  id,
  value,
  onChange,
  sessions,
}: {
  id: string;
  value: string;
  onChange: (v: string) => void;
  sessions: SessionSummary[];
}) {
  const known = sessions.some((s) => s.id === value);
  return (
    <select id={id} className="session-picker" value={value} onChange={(e) => onChange(e.target.value)}>
      <option value="">choose…</option>
      {value && !known && <option value={value}>{value}</option>}
      {sessions.map((s) => (
        <option key={s.id} value={s.id}>
          {sessionOptionLabel(s)}
        </option>
      ))}
    </select>
  );
}

function signed(n: number | null | undefined, fmt: (x: number) => string): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return '—';
  if (n === 0) return '±0';
  return `${n > 0 ? '+' : '−'}${fmt(Math.abs(n))}`;
}

function num(v: Json | undefined): number | null {
  return typeof v === 'number' ? v : null;
}

/** The comparison summary as a table: how much of the runs aligned, and B's outcome against A's. */
function SummaryTable({ c }: { c: SessionComparison }) {
  const s = c.summary;
  const similarity = num(s.similarity);
  const roles = (side: 'a' | 'b') => (s[`agents_by_role_${side}`] ?? {}) as JsonObject;
  const allRoles = [...new Set([...Object.keys(roles('a')), ...Object.keys(roles('b'))])].sort();
  return (
    <section className="card" data-testid="compare-summary">
      <h3>
        Summary {similarity !== null && <span className="muted small">{Math.round(similarity * 100)} % of the steps the same</span>}
      </h3>
      <div className="summary-grid">
        <table className="grid compact">
          <tbody>
            <tr>
              <th scope="row">same steps</th>
              <td className="num">{fmtInt(num(s.same))}</td>
            </tr>
            <tr>
              <th scope="row">changed steps</th>
              <td className="num">{fmtInt(num(s.changed))}</td>
            </tr>
            <tr>
              <th scope="row">only in A</th>
              <td className="num">{fmtInt(num(s.only_a))}</td>
            </tr>
            <tr>
              <th scope="row">only in B</th>
              <td className="num">{fmtInt(num(s.only_b))}</td>
            </tr>
          </tbody>
        </table>
        <table className="grid compact">
          <thead>
            <tr>
              <th scope="col">B against A</th>
              <th scope="col" className="num">
                difference
              </th>
            </tr>
          </thead>
          <tbody>
            <tr>
              <th scope="row">duration</th>
              <td className="num">{signed(num(s.duration_ms_delta), fmtDuration)}</td>
            </tr>
            <tr>
              <th scope="row">events</th>
              <td className="num">{signed(num(s.events_delta), fmtInt)}</td>
            </tr>
            <tr>
              <th scope="row">errors</th>
              <td className={`num${(num(s.errors_delta) ?? 0) > 0 ? ' err-text' : ''}`}>{signed(num(s.errors_delta), fmtInt)}</td>
            </tr>
            <tr>
              <th scope="row">tokens</th>
              <td className="num">{signed(num(s.tokens_delta), fmtInt)}</td>
            </tr>
            <tr>
              <th scope="row">cost</th>
              <td className="num">{signed(num(s.cost_delta), fmtCost)}</td>
            </tr>
          </tbody>
        </table>
        {allRoles.length > 0 && (
          <table className="grid compact">
            <thead>
              <tr>
                <th scope="col">agents by role</th>
                <th scope="col" className="num">
                  A
                </th>
                <th scope="col" className="num">
                  B
                </th>
              </tr>
            </thead>
            <tbody>
              {allRoles.map((r) => (
                <tr key={r} className={num(roles('a')[r]) !== num(roles('b')[r]) ? 'differs' : undefined}>
                  <th scope="row">{r}</th>
                  <td className="num">{fmtInt(num(roles('a')[r]) ?? 0)}</td>
                  <td className="num">{fmtInt(num(roles('b')[r]) ?? 0)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </div>
      {(s.truncated_a === true || s.truncated_b === true) && (
        <p className="muted small">Aligned on the first {fmtInt(num(s.aligned_events_a))} and {fmtInt(num(s.aligned_events_b))} events: a session was longer than replay compares.</p>
      )}
    </section>
  );
}

function cell(v: Json | undefined): string {
  if (v === undefined || v === null) return '—';
  return typeof v === 'string' ? v : JSON.stringify(v);
}

/** Tasks that ended differently: one row per task and differing field, A beside B. */
function TaskDifferences({ c }: { c: SessionComparison }) {
  return (
    <section className="card" data-testid="task-differences">
      <h3>Task differences ({c.task_differences.length})</h3>
      <table className="grid compact">
        <thead>
          <tr>
            <th scope="col">task</th>
            <th scope="col">differs in</th>
            <th scope="col">A</th>
            <th scope="col">B</th>
          </tr>
        </thead>
        <tbody>
          {c.task_differences.map((d) => {
            const a = (d.a ?? null) as JsonObject | null;
            const b = (d.b ?? null) as JsonObject | null;
            const fields = Array.isArray(d.differs_in) ? (d.differs_in as Json[]).map(String) : [];
            const taskId = cell(d.task_id);
            if (!a || !b) {
              return (
                <tr key={taskId}>
                  <td className="mono">{taskId}</td>
                  <td>{a ? 'only in A' : 'only in B'}</td>
                  <td>{a ? `${cell(a.status)} (${cell(a.attempts)} attempts)` : '—'}</td>
                  <td>{b ? `${cell(b.status)} (${cell(b.attempts)} attempts)` : '—'}</td>
                </tr>
              );
            }
            return fields.map((f, i) => (
              <tr key={`${taskId}:${f}`}>
                <td className="mono">{i === 0 ? taskId : ''}</td>
                <td>{f}</td>
                <td className={f === 'status' ? `task-${cell(a[f])}` : undefined}>
                  {f === 'status' && <span aria-hidden="true">{taskStatusGlyph(cell(a[f]))} </span>}
                  {cell(a[f])}
                </td>
                <td className={f === 'status' ? `task-${cell(b[f])}` : undefined}>
                  {f === 'status' && <span aria-hidden="true">{taskStatusGlyph(cell(b[f]))} </span>}
                  {cell(b[f])}
                </td>
              </tr>
            ));
          })}
        </tbody>
      </table>
    </section>
  );
}
