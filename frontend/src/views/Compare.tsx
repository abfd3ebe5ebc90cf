import { useEffect, useState } from 'react';
import type { SessionComparison, SessionOutcome, SessionSummary } from '../api/types';
import { fmtCost, fmtDuration, fmtInt } from '../lib/format';
import { navigate, onLinkClick } from '../lib/router';
import { taskStatusGlyph } from '../model/categories';
import { useApi } from './context';
import { JsonView } from './JsonView';
import { useLatest } from './useAsync';

const STATUS_MARK: Record<string, string> = { same: '=', changed: '≠', only_a: '◧ A only', only_b: '◨ B only' };

/** Two sessions side by side: outcome, task differences and the aligned steps. */
export function Compare({ a, b }: { a: string | null; b: string | null }) {
  const api = useApi();
  const [sessions, setSessions] = useState<SessionSummary[]>([]);
  const [selA, setA] = useState(a ?? '');
  const [selB, setB] = useState(b ?? '');
  const [onlyDiff, setOnlyDiff] = useState(false);
  useEffect(() => {
    const ctl = new AbortController();
    api
      .sessions({ limit: 200 }, ctl.signal)
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
  const ids = new Set(sessions.map((s) => s.id));
  const opts = [...sessions.map((s) => s.id), ...[a, b].filter((x): x is string => !!x && !ids.has(x))];

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
          <label htmlFor="cmp-a">A</label>
          <select id="cmp-a" value={selA} onChange={(e) => setA(e.target.value)}>
            <option value="">choose…</option>
            {opts.map((id) => (
              <option key={id} value={id}>
                {id}
              </option>
            ))}
          </select>
          <label htmlFor="cmp-b">B</label>
          <select id="cmp-b" value={selB} onChange={(e) => setB(e.target.value)}>
            <option value="">choose…</option>
            {opts.map((id) => (
              <option key={id} value={id}>
                {id}
              </option>
            ))}
          </select>
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
          <section className="card">
            <h3>Summary</h3>
            <JsonView value={c.summary} expandDepth={1} label="comparison summary" />
          </section>
          {c.task_differences.length > 0 && (
            <section className="card">
              <h3>Task differences ({c.task_differences.length})</h3>
              <JsonView value={c.task_differences} expandDepth={4} label="task differences" />
            </section>
          )}
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
