import { useRef, useState } from 'react';
import type { Json } from '../api/types';
import { fmtBytes } from '../lib/format';
import { useApi } from './context';
import { JsonView } from './JsonView';
import { errorText } from './useAsync';

/** Download a session as JSONL (fetched with the key when the gateway requires one). */
export function ExportLink({ sessionId }: { sessionId: string }) {
  const api = useApi();
  const [busy, setBusy] = useState(false);
  const href = api.exportUrl(sessionId);
  if (!api.apiKey) {
    return (
      <a className="btn small" href={href} download={`${sessionId}.jsonl`} aria-label={`export ${sessionId} as JSONL`}>
        ⤓ Export
      </a>
    );
  }
  return (
    <button
      type="button"
      className="btn small"
      disabled={busy}
      onClick={async () => {
        setBusy(true);
        try {
          const res = await api.raw(href);
          const blob = await res.blob();
          const url = URL.createObjectURL(blob);
          const a = document.createElement('a');
          a.href = url;
          a.download = `${sessionId}.jsonl`;
          a.click();
          setTimeout(() => URL.revokeObjectURL(url), 1000);
        } catch (err) {
          alert(`Export failed: ${errorText(err)}`);
        } finally {
          setBusy(false);
        }
      }}
    >
      ⤓ Export
    </button>
  );
}

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
      {result !== null && (
        <section className="card" role="status" data-testid="import-result">
          <h3>Imported</h3>
          <JsonView value={result} expandDepth={2} label="import result" />
        </section>
      )}
    </div>
  );
}
