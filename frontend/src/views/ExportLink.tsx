import { useState } from 'react';
import { useApi } from './context';
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
