import { useEffect, useRef, useState } from 'react';
import type { ImportReport, Json } from '../api/types';
import { fmtBytes, fmtInt } from '../lib/format';
import { onLinkClick } from '../lib/router';
import { useApi } from './context';
import { JsonView } from './JsonView';
import { errorText } from './useAsync';

/** Import a JSONL file of events (one event per line) into TRACES_RAW through the gateway. */
export function ImportView() {
  const api = useApi();
  const input = useRef<HTMLInputElement>(null);
  const [file, setFile] = useState<File | null>(null);
  const [busy, setBusy] = useState(false);
  const [result, setResult] = useState<Json | null>(null);
  const [error, setError] = useState<string | null>(null);

  return (
    <div className="page import-page">
      <div className="page-head">
        <h1>Import events</h1>
      </div>
      <p className="muted">
        A JSONL file: one trace event per line (what <em>Export</em> or <code>swarmscope export</code> writes). Events are republished
        through ingest, so invalid lines land in dead letters and duplicates are stored once.
      </p>
      <form
        className="import-form"
        onSubmit={async (e) => {
          e.preventDefault();
          if (!file) return;
          setBusy(true);
          setError(null);
          setResult(null);
          try {
            setResult(await api.importJsonl(file, file.name.endsWith('.gz')));
          } catch (err) {
            setError(errorText(err));
          } finally {
            setBusy(false);
          }
        }}
      >
        <label htmlFor="import-file">JSONL file</label>
        <input
          id="import-file"
          ref={input}
          type="file"
          accept=".jsonl,.ndjson,.json,.gz,application/x-ndjson,application/json,application/gzip,text/plain"
          onChange={(e) => setFile(e.target.files?.[0] ?? null)}
        />
        {file && (
          <span className="muted small">
            {file.name} · {fmtBytes(file.size)}
          </span>
        )}
        <button type="submit" className="btn primary" disabled={!file || busy}>
          {busy ? 'Importing…' : 'Import'}
        </button>
      </form>
      {error && (
        <div className="error-box" role="alert">
          Import failed: {error}
        </div>
      )}
      {result !== null && <ImportResult result={result} />}
    </div>
  );
}

interface Settled {
  stored: number | null;
  settled: boolean;
}

/** The session's stored count, polled until it stops moving (the pipeline is asynchronous). */
function useSettledCount(sessionId: string, expect: number): Settled {
  const api = useApi();
  const [state, setState] = useState<Settled>({ stored: null, settled: false });
  useEffect(() => {
    const ctl = new AbortController();
    let last = -1;
    let still = 0;
    let timer: ReturnType<typeof setTimeout> | null = null;
    const started = Date.now();
    const poll = async () => {
      let count: number | null = null;
      try {
        count = (await api.session(sessionId, ctl.signal)).event_count;
      } catch {
        count = null;
      }
      if (ctl.signal.aborted) return;
      still = count !== null && count === last ? still + 1 : 0;
      last = count ?? -1;
      // Settled: every event accounted for, or no change for 3 s (the rest were duplicates), or 30 s.
      const settled = (count !== null && count >= expect) || still >= 3 || Date.now() - started > 30_000;
      setState({ stored: count, settled });
      if (!settled) timer = setTimeout(() => void poll(), 1000);
    };
    void poll();
    return () => {
      ctl.abort();
      if (timer) clearTimeout(timer);
    };
  }, [api, sessionId, expect]);
  return state;
}

function ImportedSessionRow({ s }: { s: NonNullable<ImportReport['sessions']>[number] }) {
  const before = s.stored_before ?? null;
  const { stored, settled } = useSettledCount(s.session_id, (before ?? 0) + s.events);
  const fresh = stored !== null && before !== null ? Math.max(0, stored - before) : null;
  const dupes = fresh !== null ? Math.max(0, s.events - fresh) : null;
  return (
    <tr data-session={s.session_id}>
      <td>
        <a href={`/sessions/${encodeURIComponent(s.session_id)}`} onClick={onLinkClick} data-testid="imported-session-link">
          {s.session_id}
        </a>
      </td>
      <td className="num">{fmtInt(s.events)}</td>
      <td className="num">{before === null ? '?' : fmtInt(before)}</td>
      <td className="num">{stored === null ? '…' : fmtInt(stored)}</td>
      <td data-testid="import-verdict">
        {!settled || fresh === null
          ? 'arriving…'
          : dupes
            ? `${fmtInt(fresh)} new · ${fmtInt(dupes)} already stored (duplicates are stored once)`
            : `${fmtInt(fresh)} new`}
        {before === 0 && settled ? ' · a new session' : ''}
      </td>
    </tr>
  );
}

/** What an import did: per session a link, what was new and what were duplicates; the rejects. */
function ImportResult({ result }: { result: Json }) {
  const r = result as unknown as ImportReport;
  if (!r || typeof r !== 'object' || typeof r.accepted !== 'number') {
    return (
      <section className="card" role="status" data-testid="import-result">
        <h3>Imported</h3>
        <JsonView value={result} expandDepth={2} label="import result" />
      </section>
    );
  }
  return (
    <section className="card import-result" role="status" data-testid="import-result">
      <h3>
        Imported {fmtInt(r.accepted)} event{r.accepted === 1 ? '' : 's'}
        {r.lines ? ` of ${fmtInt(r.lines)} lines` : ''}
        {r.rejected ? ` · ${fmtInt(r.rejected)} rejected` : ''}
      </h3>
      {r.sessions && r.sessions.length > 0 && (
        <table className="grid compact">
          <thead>
            <tr>
              <th scope="col">session</th>
              <th scope="col" className="num">
                events sent
              </th>
              <th scope="col" className="num">
                stored before
              </th>
              <th scope="col" className="num">
                stored now
              </th>
              <th scope="col">result</th>
            </tr>
          </thead>
          <tbody>
            {r.sessions.map((s) => (
              <ImportedSessionRow key={s.session_id} s={s} />
            ))}
          </tbody>
        </table>
      )}
      {r.rejects.length > 0 && (
        <>
          <h4>Rejected lines</h4>
          <table className="grid compact">
            <thead>
              <tr>
                <th scope="col" className="num">
                  line
                </th>
                <th scope="col">reason</th>
                <th scope="col">message</th>
              </tr>
            </thead>
            <tbody>
              {r.rejects.slice(0, 50).map((x, i) => (
                <tr key={i}>
                  <td className="num">{x.line ?? x.index ?? ''}</td>
                  <td className="mono">{x.code}</td>
                  <td>{x.message}</td>
                </tr>
              ))}
            </tbody>
          </table>
          {(r.rejects.length > 50 || r.rejects_truncated) && <p className="muted small">…and more: the gateway lists the first {r.rejects.length}.</p>}
        </>
      )}
      <details className="small">
        <summary>the gateway's answer</summary>
        <JsonView value={result} expandDepth={1} label="import result" />
      </details>
    </section>
  );
}
