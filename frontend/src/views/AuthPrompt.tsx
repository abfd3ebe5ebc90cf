import { useEffect, useRef, useState } from 'react';

/**
 * Asks for the gateway API key (kept in sessionStorage for this tab only). `refused` is the
 * gateway's answer to the key given last: shown beside the field, so the person can correct it.
 */
export function AuthPrompt({ refused, onDone }: { refused: string | null; onDone: (key: string | null) => void }) {
  const [key, setKey] = useState('');
  const input = useRef<HTMLInputElement>(null);
  useEffect(() => input.current?.focus(), []);
  return (
    <div className="modal-backdrop" role="presentation">
      <form
        className="modal"
        role="dialog"
        aria-modal="true"
        aria-labelledby="auth-title"
        onSubmit={(e) => {
          e.preventDefault();
          onDone(key.trim() || null);
        }}
        onKeyDown={(e) => {
          if (e.key === 'Escape') onDone(null);
        }}
      >
        <h2 id="auth-title">API key required</h2>
        <p>This gateway requires an API key. It is kept for this browser tab only.</p>
        <label htmlFor="api-key">API key</label>
        <input
          id="api-key"
          ref={input}
          type="password"
          autoComplete="off"
          value={key}
          onChange={(e) => setKey(e.target.value)}
          aria-invalid={refused !== null || undefined}
          aria-describedby={refused !== null ? 'api-key-error' : undefined}
        />
        {refused !== null && (
          <p id="api-key-error" className="err-text small" role="alert" data-testid="api-key-error">
            The gateway refused that key: {refused}
          </p>
        )}
        <div className="modal-actions">
          <button type="button" className="btn ghost" onClick={() => onDone(null)}>
            Cancel
          </button>
          <button type="submit" className="btn primary" disabled={!key.trim()}>
            Use key
          </button>
        </div>
      </form>
    </div>
  );
}
