import { useEffect, useState } from 'react';
import { itemsOf } from '../api/client';
import type { DeadLetter } from '../api/types';
import { fmtBytes, fmtDateTime } from '../lib/format';
import { useApi } from './context';
import { errorText } from './useAsync';

const REASONS = ['', 'invalid_json', 'invalid_utf8', 'schema_violation', 'too_large', 'invalid_subject'];

/** Dead letters: what ingest rejected, why, and a preview of the payload (as text). */
export function DeadLetters() {
  const api = useApi();
  const [reason, setReason] = useState('');
  const [items, setItems] = useState<DeadLetter[]>([]);
  const [error, setError] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  const [more, setMore] = useState(true);
  const [open, setOpen] = useState<number | null>(null);

  const load = async (before?: number) => {
    setLoading(true);
    try {
      const body = await api.dlq({ limit: 100, reason: reason || undefined, before_seq: before });
      const got = itemsOf(body);
      setItems((cur) => (before ? [...cur, ...got] : got));
      setMore(got.length === 100);
      setError(null);
    } catch (err) {
      setError(errorText(err));
    } finally {
      setLoading(false);
    }
  };

  useEffect(() => {
    void load();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [reason]);

  return (
    <div className="page">
      <div className="page-head">
        <h1>Dead letters</h1>
        <div className="toolbar">
          <label htmlFor="dlq-reason">Reason</label>
          <select id="dlq-reason" value={reason} onChange={(e) => setReason(e.target.value)}>
            {REASONS.map((r) => (
              <option key={r} value={r}>
                {r || 'any'}
              </option>
            ))}
          </select>
          <button type="button" className="btn" onClick={() => void load()}>
            Refresh
          </button>
          <span className="muted small">{loading ? 'loading…' : `${items.length} shown`}</span>
        </div>
      </div>
      {error && (
        <div className="error-box" role="alert">
          Could not load dead letters: {error}
        </div>
      )}
      <table className="grid dlq-table">
        <thead>
          <tr>
            <th scope="col">seq</th>
            <th scope="col">received</th>
            <th scope="col">reason</th>
            <th scope="col">subject</th>
            <th scope="col">error</th>
            <th scope="col" className="num">
              size
            </th>
            <th scope="col">payload</th>
          </tr>
        </thead>
        <tbody>
          {items.map((d) => (
            <tr key={d.seq}>
              <td className="mono">{d.seq}</td>
              <td className="nowrap">{fmtDateTime(d.received_at)}</td>
              <td>
                <span className="reason-tag">⚠ {d.reason}</span>
              </td>
              <td className="mono small">{d.subject ?? '—'}</td>
              <td className="small">{d.error ?? ''}</td>
              <td className="num">{fmtBytes(d.size)}</td>
              <td className="payload-cell">
                <button type="button" className="link-btn" aria-expanded={open === d.seq} onClick={() => setOpen(open === d.seq ? null : d.seq)}>
                  {open === d.seq ? 'fold' : 'show'}
                </button>
                {open === d.seq ? <pre className="payload">{d.payload_preview}</pre> : <span className="mono small preview">{d.payload_preview.slice(0, 80)}</span>}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {!loading && !items.length && !error && <p className="muted">No dead letters. Every message was accepted.</p>}
      {more && items.length > 0 && (
        <button type="button" className="btn load-more" onClick={() => void load(items[items.length - 1]?.seq)}>
          Load older
        </button>
      )}
    </div>
  );
}
