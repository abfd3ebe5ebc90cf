import { useState } from 'react';
import type { StoredEvent } from '../api/types';
import { fmtCost, fmtDuration, fmtInt } from '../lib/format';
import { llmConversation, terminalRun, type ChatMessage } from '../model/conversation';
import type { SessionModel } from '../state/sessionModel';

const FOLD_CHARS = 1200;

/**
 * An LLM call as the conversation it was (system / user / assistant / tool messages, tokens and
 * cost), a tool call as a terminal run (command, exit code, output). Text only: every string is a
 * React text node, never parsed as HTML.
 */
export function EventBody({ model, event }: { model: SessionModel; event: StoredEvent }) {
  if (event.type !== 'llm_call' && event.type !== 'tool_call') return null;
  const events = model.spanEvents(event.span_id || event.id);
  const own = events.length ? events : [event];
  if (event.type === 'llm_call') {
    const conv = llmConversation(own);
    if (!conv || !conv.messages.length) return null;
    return (
      <div className="conversation" data-testid="conversation" aria-label={`LLM call to ${conv.model ?? 'a model'}`}>
        <div className="conv-head small">
          <strong>{conv.model ?? 'LLM'}</strong>
          {conv.inputTokens !== null && <span title="input tokens">{fmtInt(conv.inputTokens)} in</span>}
          {conv.outputTokens !== null && <span title="output tokens">{fmtInt(conv.outputTokens)} out</span>}
          {conv.cost !== null && <span title="cost">{fmtCost(conv.cost)}</span>}
          {conv.durationMs !== null && <span>{fmtDuration(conv.durationMs)}</span>}
          {conv.open && <span className="muted">waiting for the answer…</span>}
        </div>
        {conv.messages.map((m, i) => (
          <Message key={i} m={m} />
        ))}
        {conv.error && <div className="conv-error error-text small">✖ {conv.error}</div>}
      </div>
    );
  }
  const run = terminalRun(own);
  if (!run) return null;
  return (
    <div className="terminal" data-testid="terminal" aria-label={`${run.tool} run`}>
      <div className="term-head small">
        <span>⬢ {run.tool}</span>
        {run.exitCode !== null && (
          <span className={run.exitCode === 0 ? 'ok-text' : 'error-text'} data-testid="exit-code">
            exit {run.exitCode}
          </span>
        )}
        {run.durationMs !== null && <span className="muted">{fmtDuration(run.durationMs)}</span>}
        {run.open && <span className="muted">running…</span>}
      </div>
      <pre className="term-body">
        <span className="term-prompt">$ </span>
        <span className="term-cmd">{run.command}</span>
        {run.output ? `\n${run.output}` : ''}
        {run.error ? <span className="term-err">{`\n${run.error}`}</span> : null}
      </pre>
    </div>
  );
}

function Message({ m }: { m: ChatMessage }) {
  const [open, setOpen] = useState(false);
  const long = m.text.length > FOLD_CHARS;
  return (
    <div className={`msg msg-${m.role}`} data-role={m.role}>
      <div className="msg-role small">
        {m.role}
        {m.name ? ` · ${m.name}` : ''}
      </div>
      {m.text && (
        <div className="msg-text">
          {long && !open ? `${m.text.slice(0, FOLD_CHARS)}…` : m.text}
          {long && (
            <button type="button" className="fold-btn" onClick={() => setOpen(!open)}>
              {open ? 'fold' : `all ${m.text.length.toLocaleString()} chars`}
            </button>
          )}
        </div>
      )}
      {m.toolCalls?.map((c, i) => (
        <pre key={i} className="msg-tool-call small">
          ⬢ {c.name}({c.args})
        </pre>
      ))}
    </div>
  );
}
