import { useState } from 'react';
import type { Json } from '../api/types';

const FOLD_CHARS = 240;
const FOLD_ITEMS = 100;

/**
 * A folding JSON viewer. Everything is rendered as React text nodes: a hostile string such as
 * `<img src=x onerror=…>` shows as those characters and is never parsed as HTML. Long strings and
 * long arrays are folded behind a toggle, never cut.
 */
export function JsonView({
  value,
  name,
  expandDepth = 1,
  label,
}: {
  value: unknown;
  name?: string;
  expandDepth?: number;
  label?: string;
}) {
  return (
    <div className="json" role="tree" aria-label={label ?? 'JSON value'}>
      <JsonNode value={value as Json} name={name} depth={0} expandDepth={expandDepth} />
    </div>
  );
}

function typeClass(v: Json): string {
  if (v === null) return 'j-null';
  switch (typeof v) {
    case 'string':
      return 'j-str';
    case 'number':
      return 'j-num';
    case 'boolean':
      return 'j-bool';
    default:
      return '';
  }
}

const PREVIEW_KEYS = ['status', 'type', 'agent_type', 'id', 'agent_id', 'current_task', 'version', 'value', 'from', 'to', 'content'];

/** A one-line preview of a folded object, like DevTools': its most telling primitive fields. */
export function previewOf(value: Json, max = 64): string {
  if (value === null || typeof value !== 'object') return '';
  if (Array.isArray(value)) return `${value.length} item${value.length === 1 ? '' : 's'}`;
  const entries = Object.entries(value);
  const prim = (v: Json) => v === null || typeof v !== 'object';
  const ordered = [
    ...PREVIEW_KEYS.filter((k) => k in value && prim(value[k] as Json)).map((k) => [k, value[k]] as [string, Json]),
    ...entries.filter(([k, v]) => !PREVIEW_KEYS.includes(k) && prim(v)),
  ];
  const parts: string[] = [];
  let len = 0;
  for (const [k, v] of ordered) {
    const text = `${k}: ${typeof v === 'string' ? JSON.stringify(v.length > 24 ? `${v.slice(0, 23)}…` : v) : String(v)}`;
    if (len + text.length > max && parts.length) break;
    parts.push(text);
    len += text.length + 2;
  }
  const rest = entries.length - parts.length;
  return parts.length ? `${parts.join(', ')}${rest > 0 ? ', …' : ''}` : `${entries.length} key${entries.length === 1 ? '' : 's'}`;
}

function LongString({ s }: { s: string }) {
  const [open, setOpen] = useState(false);
  if (s.length <= FOLD_CHARS && !s.includes('\n')) return <span className="j-str">&quot;{s}&quot;</span>;
  if (!open) {
    const head = s.split('\n', 1)[0] ?? '';
    return (
      <span className="j-str">
        &quot;{head.slice(0, FOLD_CHARS)}
        <button type="button" className="fold-btn" onClick={() => setOpen(true)} aria-label={`show all ${s.length} characters`}>
          … {s.length.toLocaleString()} chars
        </button>
        &quot;
      </span>
    );
  }
  return (
    <span className="j-str j-long">
      &quot;<span className="j-pre">{s}</span>&quot;
      <button type="button" className="fold-btn" onClick={() => setOpen(false)}>
        fold
      </button>
    </span>
  );
}

function Key({ name }: { name: string | undefined }) {
  if (name === undefined) return null;
  return (
    <>
      <span className="j-key">{name}</span>
      <span className="j-punct">: </span>
    </>
  );
}

function JsonNode({ value, name, depth, expandDepth }: { value: Json; name?: string | undefined; depth: number; expandDepth: number }) {
  const isObj = value !== null && typeof value === 'object';
  const [open, setOpen] = useState(depth < expandDepth);
  const [limit, setLimit] = useState(FOLD_ITEMS);
  if (!isObj) {
    return (
      <div className="j-row" role="treeitem" aria-selected={false}>
        <Key name={name} />
        {typeof value === 'string' ? <LongString s={value} /> : <span className={typeClass(value)}>{String(value)}</span>}
      </div>
    );
  }
  const entries: [string, Json][] = Array.isArray(value)
    ? value.map((v, i) => [String(i), v])
    : Object.entries(value as Record<string, Json>);
  const brackets = Array.isArray(value) ? ['[', ']'] : ['{', '}'];
  const summary = previewOf(value);
  if (!entries.length) {
    return (
      <div className="j-row" role="treeitem" aria-selected={false}>
        <Key name={name} />
        <span className="j-punct">
          {brackets[0]}
          {brackets[1]}
        </span>
      </div>
    );
  }
  return (
    <div className="j-node" role="treeitem" aria-expanded={open} aria-selected={false}>
      <button type="button" className="j-toggle" onClick={() => setOpen(!open)} aria-label={`${open ? 'fold' : 'unfold'} ${name ?? 'value'}`}>
        <span aria-hidden="true">{open ? '▾' : '▸'}</span>
      </button>
      <Key name={name} />
      {!open ? (
        // A span, not a button: a long preview wraps like text instead of jumping to its own line.
        <span
          role="button"
          tabIndex={0}
          className="j-summary"
          onClick={() => setOpen(true)}
          onKeyDown={(e) => {
            if (e.key === 'Enter' || e.key === ' ') {
              e.preventDefault();
              setOpen(true);
            }
          }}
        >
          {brackets[0]} {summary} {brackets[1]}
        </span>
      ) : (
        <>
          <span className="j-punct">{brackets[0]}</span>
          <div className="j-children" role="group">
            {entries.slice(0, limit).map(([k, v]) => (
              <JsonNode key={k} name={k} value={v} depth={depth + 1} expandDepth={expandDepth} />
            ))}
            {entries.length > limit && (
              <button type="button" className="fold-btn" onClick={() => setLimit(limit + FOLD_ITEMS * 5)}>
                show {Math.min(FOLD_ITEMS * 5, entries.length - limit)} more of {entries.length - limit} hidden
              </button>
            )}
          </div>
          <span className="j-punct">{brackets[1]}</span>
        </>
      )}
    </div>
  );
}
