import { useState, type MouseEvent, type ReactNode } from 'react';
import { useApi } from './context';
import { errorText } from './useAsync';

/**
 * Downloads a session as JSONL. Without a key it is a plain download link. With a key the click
 * first gets a session-bound stream token and opens the link with it: the browser then streams the
 * export to disk itself (a fetched blob would hold a whole big session in memory first).
 */
export function ExportLink({
  sessionId,
  className = 'btn small',
  children = '⤓ Export',
}: {
  sessionId: string;
  className?: string;
  children?: ReactNode;
}) {
  const api = useApi();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const filename = `${sessionId}.jsonl`;

  const onClick = async (e: MouseEvent<HTMLAnchorElement>) => {
    if (!api.apiKey) return; // the plain link works
    e.preventDefault();
    if (busy) return;
    setBusy(true);
    setError(null);
    try {
      const a = document.createElement('a');
      a.href = await api.downloadUrl(sessionId);
      a.download = filename;
      document.body.appendChild(a);
      a.click();
      a.remove();
    } catch (err) {
      setError(`export failed: ${errorText(err)}`);
    } finally {
      setBusy(false);
    }
  };

  return (
    <>
      <a
        className={className}
        href={api.exportUrl(sessionId)}
        download={filename}
        aria-label={`export ${sessionId} as JSONL`}
        aria-busy={busy || undefined}
        data-testid="export-link"
        onClick={(e) => void onClick(e)}
      >
        {children}
      </a>
      {error && (
        <span className="err-text small" role="alert" data-testid="export-error">
          {error}
        </span>
      )}
    </>
  );
}
